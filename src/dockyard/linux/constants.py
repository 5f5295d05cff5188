"""Kernel constants the runtime needs (from the Linux uapi headers)."""

from __future__ import annotations

import os

# clone / unshare flags
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

NAMESPACE_FLAGS = {
    "mount": CLONE_NEWNS,
    "cgroup": CLONE_NEWCGROUP,
    "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC,
    "user": CLONE_NEWUSER,
    "pid": CLONE_NEWPID,
    "network": CLONE_NEWNET,
    "time": CLONE_NEWTIME,
}
# the file under /proc/<pid>/ns/ for each namespace type
NAMESPACE_FILES = {
    "mount": "mnt",
    "cgroup": "cgroup",
    "uts": "uts",
    "ipc": "ipc",
    "user": "user",
    "pid": "pid",
    "network": "net",
    "time": "time",
}

# mount(2) flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MNT_DETACH = 2

# prctl options
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1

SECCOMP_FILTER_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 32,
}

PER_LINUX = 0x0000
PER_LINUX32 = 0x0008

_MACHINE = os.uname().machine
# syscall numbers glibc has no wrapper for
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(_MACHINE, 155)
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}.get(_MACHINE, 317)
SYS_CLOSE_RANGE = 436
SYS_MOUNT_SETATTR = 442  # the same number on every architecture (new syscall table)
AT_FDCWD = -100
AT_RECURSIVE = 0x8000

# mount_setattr(2) attributes, and runc's recursive mount options that set them:
# option -> (attributes to clear, attributes to set)
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
RECURSIVE_MOUNT_ATTRS = {
    "rro": (0, MOUNT_ATTR_RDONLY),
    "rrw": (MOUNT_ATTR_RDONLY, 0),
    "rnosuid": (0, MOUNT_ATTR_NOSUID),
    "rsuid": (MOUNT_ATTR_NOSUID, 0),
    "rnodev": (0, MOUNT_ATTR_NODEV),
    "rdev": (MOUNT_ATTR_NODEV, 0),
    "rnoexec": (0, MOUNT_ATTR_NOEXEC),
    "rexec": (MOUNT_ATTR_NOEXEC, 0),
    "rnodiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rrelatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME),
    "rnorelatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME),  # as runc
    "rnoatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME),
    "ratime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME),  # as runc
    "rstrictatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME),
    "rnosymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
}

# ioctl for bringing a link up
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414
TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431

# mount option name -> (clear, flag); "clear" means the option removes the flag
MOUNT_FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "mand": (False, MS_MANDLOCK),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "sync": (False, MS_SYNCHRONOUS),
    "lazytime": (False, MS_LAZYTIME),
    "nolazytime": (True, MS_LAZYTIME),
    "loud": (True, MS_SILENT),
}

PROPAGATION_FLAGS = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}
