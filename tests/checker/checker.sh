#!/bin/sh
# dockyard in-container checker: reports what the container sees, one "key: value" per line.
# Runs under busybox sh (busybox has no python). Sections are selected by arguments;
# with none, everything is printed. Usage: checker.sh [all|ids|caps|mounts|limits|cgroup|net]

report() { printf '%s: %s\n' "$1" "$2"; }

ids() {
    report pid "$$"
    report ppid "$PPID"
    report hostname "$(hostname)"
    report domainname "$(cat /proc/sys/kernel/domainname 2>/dev/null)"
    report uid "$(id -u)"
    report gid "$(id -g)"
    report groups "$(id -G)"
    report umask "$(umask)"
    report cwd "$(pwd)"
}

caps() {
    for k in CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp; do
        report "$k" "$(awk -v k="$k:" '$1 == k {print $2}' /proc/self/status)"
    done
}

mounts() {
    # mount point and its per-mount options (field 6 of mountinfo), plus fs type
    awk '{ for (i = 7; $i != "-"; i++); print "mount: " $5 " " $6 " " $(i+1) }' /proc/self/mountinfo
}

limits() {
    awk 'NR > 1 {
        name = ""; for (i = 1; i <= NF - 3; i++) name = name (name ? "_" : "") $i
        print "rlimit_" name ": " $(NF-2) " " $(NF-1)
    }' /proc/self/limits
    report oom_score_adj "$(cat /proc/self/oom_score_adj)"
}

cgroup() {
    report cgroup_self "$(cat /proc/self/cgroup | tr '\n' ' ')"
    for f in memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us \
             cpu/cpu.shares pids/pids.max memory.max cpu.max pids.max; do
        [ -r "/sys/fs/cgroup/$f" ] && report "cg_$(echo "$f" | tr '/.' '__')" "$(cat "/sys/fs/cgroup/$f")"
    done
    return 0
}

net() {
    report links "$(ls /sys/class/net 2>/dev/null | tr '\n' ' ')"
    report lo_flags "$(cat /sys/class/net/lo/flags 2>/dev/null)"
}

[ $# -eq 0 ] && set -- all
for section in "$@"; do
    case "$section" in
        all) ids; caps; mounts; limits; cgroup; net ;;
        ids|caps|mounts|limits|cgroup|net) "$section" ;;
        *) echo "checker: unknown section $section" >&2; exit 2 ;;
    esac
done
