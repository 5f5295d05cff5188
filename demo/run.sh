#!/usr/bin/env bash
# make demo: a container that shows its own isolation.
# Later issues grow this into the AI-inference case study.
set -euo pipefail
cd "$(dirname "$0")/.."
DY=".venv/bin/dockyard"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "images available (built offline from Debian packages)"
$DY images

step "a busybox container: its own PID 1, hostname, user, network and limits"
$DY run --rm --hostname demo-box --memory 64m --cpus 0.5 --pids-limit 50 -u 1000:1000 \
  busybox sh -c '
    echo "I am PID $$ in my own PID namespace; processes I can see:"; ps -o pid,user,comm
    echo "hostname: $(hostname)"
    echo "user: $(id)"
    echo "network interfaces: $(ls /sys/class/net | tr "\n" " ")"
    echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
    echo "cpu quota/period: $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cat /sys/fs/cgroup/cpu.max) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us 2>/dev/null)"
    echo "pids limit: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
    echo "trying to write /etc/passwd as uid 1000:"; echo x >> /etc/passwd || true'

step "exit codes pass through: sh -c 'exit 3'"
set +e; $DY run --rm busybox sh -c 'exit 3'; echo "exit code: $?"; set -e

step "a 64 MB container allocating 256 MB is OOM-killed"
set +e; $DY run --name demo-oom --memory 64m python:3.11-slim python3 -c 'b = bytearray(256 * 1024 * 1024); print("not killed?")'
echo "exit code: $?"; set -e
$DY inspect --format 'OOMKilled={{.State.OOMKilled}} ExitCode={{.State.ExitCode}}' demo-oom
$DY rm demo-oom >/dev/null

step "python:3.11-slim"
$DY run --rm python:3.11-slim python -c 'import sys, platform; print("Python", sys.version.split()[0], "on", platform.platform())'
