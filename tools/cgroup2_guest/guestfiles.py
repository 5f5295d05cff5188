"""The files written into the guest's root file system after debootstrap.

How a run reaches the command (lifecycle):

1. the host boots the kernel with ``console=ttyS0 cg2guest.root=CHECKOUT cg2guest.run=ID``;
2. systemd (PID 1) starts ``serial-getty@ttyS0`` (the getty generator, from ``console=``),
   which logs root in automatically: ``login`` opens a PAM session, ``pam_systemd``
   registers it with logind, and the shell lands in ``user-0.slice/session-N.scope``
   — the cgroup a root login shell has on every systemd distribution;
3. root's ``.bash_profile`` execs ``cgroup2-guest-run`` once (only on ttyS0, only when
   the kernel command line names a run);
4. the runner mounts the checkout (virtio-9p tag ``checkout``) at CHECKOUT, reads
   ``CHECKOUT/.cache/cgroup2-guest/runs/ID/request.json`` (argv, cwd, env), runs the
   command with stdout and stderr on the virtio port ``org.dockyard.out``, reports
   ``started``/``exit RC`` lines on the port ``org.dockyard.status``, and powers off.

The root disk is opened with ``snapshot=on``: nothing a run writes outside the share
survives it, so every run boots the same clean guest.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

MOUNT_TAG = "checkout"
OUT_PORT = "org.dockyard.out"
STATUS_PORT = "org.dockyard.status"
HOSTNAME = "cgroup2-guest"

RUNNER = """\
#!/bin/bash
# Written by tools/cgroup2-guest build. Runs the host's command in this login session,
# then powers the guest off (see tools/cgroup2_guest/guestfiles.py).
set -u
exec </dev/null
status=/dev/virtio-ports/{status_port}
out=/dev/virtio-ports/{out_port}
param() {{
    local word
    for word in $(cat /proc/cmdline); do
        case $word in "$1="*) printf '%s\\n' "${{word#*=}}";; esac
    done
}}
udevadm settle --timeout=30
exec 3>"$status" || {{ echo "cgroup2-guest-run: no status port" >&2; poweroff -f; }}
fail() {{ echo "error $*" >&3; exec 3>&-; poweroff -f; }}
root=$(param cg2guest.root)
run=$(param cg2guest.run)
[ -n "$root" ] && [ -n "$run" ] || fail "no cg2guest.root or cg2guest.run in /proc/cmdline"
modprobe -q 9pnet_virtio; modprobe -q 9p
mkdir -p "$root"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap {tag} "$root" \\
    || fail "mount the checkout at $root over 9p"
request="$root/.cache/cgroup2-guest/runs/$run/request.json"
[ -r "$request" ] || fail "no request at $request"
echo "started $(cut -d' ' -f1 /proc/uptime) $(cat /proc/self/cgroup)" >&3
python3 - "$request" >"$out" 2>&1 <<'PY'
import json, os, sys
with open(sys.argv[1]) as f:
    request = json.load(f)
os.chdir(request["cwd"])
env = dict(os.environ)
env.update(request["env"])
try:
    os.execvpe(request["argv"][0], request["argv"], env)
except OSError as e:
    print(f"cgroup2-guest: {{request['argv'][0]}}: {{e.strerror}}", file=sys.stderr)
    sys.exit(127)
PY
rc=$?
echo "exit $rc" >&3
exec 3>&-
sync
poweroff -f
"""

BASH_PROFILE = """\
# Written by tools/cgroup2-guest build: the autologin shell on ttyS0 runs the host's
# command once per boot; any other login gets a normal shell.
if [ "$(tty)" = /dev/ttyS0 ] && grep -q 'cg2guest.run=' /proc/cmdline \\
        && mkdir /run/cgroup2-guest-ran 2>/dev/null; then
    exec /usr/local/sbin/cgroup2-guest-run
fi
[ -f ~/.bashrc ] && . ~/.bashrc
"""

AUTOLOGIN = """\
# Written by tools/cgroup2-guest build: root logs in on the serial console by itself.
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 %I $TERM
"""

FSTAB = "/dev/vda / ext4 rw,errors=remount-ro 0 1\n"

# A small initramfs: only what mounts /dev/vda. Debian's MODULES=most packs ~130 MB
# (uncompressed) of drivers that TCG then decompresses and unpacks on every boot.
INITRAMFS_CONF = "MODULES=list\nCOMPRESS=gzip\n"
INITRAMFS_MODULES = "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n"

# Units that only slow a TCG boot down or would touch the network/disk periodically.
MASKED = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-timesyncd.service",
    "getty@tty1.service",
)


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def install(rootfs: Path) -> None:
    """Write the guest's configuration into a debootstrapped tree."""
    _write(rootfs / "etc/hostname", HOSTNAME + "\n")
    _write(rootfs / "etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n")
    _write(rootfs / "etc/fstab", FSTAB)
    runner = RUNNER.format(status_port=STATUS_PORT, out_port=OUT_PORT, tag=MOUNT_TAG)
    _write(rootfs / "usr/local/sbin/cgroup2-guest-run", runner, 0o755)
    _write(rootfs / "root/.bash_profile", BASH_PROFILE)
    dropin = rootfs / "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
    _write(dropin, AUTOLOGIN)
    _write(rootfs / "etc/initramfs-tools/conf.d/cgroup2-guest.conf", INITRAMFS_CONF)
    _write(rootfs / "etc/initramfs-tools/modules", INITRAMFS_MODULES)
    units = rootfs / "etc/systemd/system"
    for unit in MASKED:
        link = units / unit
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink("/dev/null", link)
    wanted = units / "getty.target.wants/getty@tty1.service"
    if wanted.is_symlink():
        wanted.unlink()
    # A fixed machine-id: an empty one would make every boot a "first boot", whose
    # systemd-firstboot prompts on the console and waits.
    (rootfs / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")


def fingerprint() -> str:
    """Everything above that changes the image, for the build's cache key."""
    parts = [RUNNER, BASH_PROFILE, AUTOLOGIN, FSTAB, INITRAMFS_CONF, INITRAMFS_MODULES]
    return "\n".join([*parts, *MASKED, HOSTNAME])
