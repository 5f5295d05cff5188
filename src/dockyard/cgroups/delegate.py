"""Taking charge of a delegated cgroup v2 subtree (the cgroupfs driver on a v2 host).

cgroup v2's *no internal processes* rule: a cgroup (other than the root) that holds processes
cannot enable controllers for its children in ``cgroup.subtree_control`` (EBUSY), and one
whose ``cgroup.subtree_control`` is set cannot take processes. A daemon that creates its
containers beneath the cgroup it runs in therefore gets no memory, cpu or pids controller for
them (the bug measured on Debian 12: every ``--memory`` run failed).

Terms:

- the **base** is the delegated subtree the daemon was started in (a systemd unit with
  ``Delegate=yes``, a test's own cgroup): ``/system.slice/dockyard.service``;
- the **leaf** is ``<base>/dockyard-leaf``: the daemon moves itself there before it forks
  anything, so every process it starts (launcher, holders) lives there too and ``<base>``
  holds no process;
- containers are then placed beneath the base as the leaf's siblings:
  ``<base>/dockyard/<id>`` (:func:`dockyard.cgroups._paths.own_cgroups` reports the base,
  not the leaf, to every process running in a leaf).

Example on a systemd host::

    /system.slice/dockyard.service/              cgroup.subtree_control: cpu memory pids ...
        dockyard-leaf/                           dockyardd, the launcher, the holders
        dockyard/<id>/                           a container's processes

This is what systemd asks of a delegated unit (docs "Control Group APIs and Delegation":
processes only in leaves) and what podman and runc's cgroupfs driver do with
``--cgroup-parent``. :func:`enter_leaf` is idempotent: a daemon restarted into the unit's
top cgroup moves into the same leaf.

Errors are not raised for a subtree that cannot be delegated: the daemon still runs
containers, without limits; :attr:`Delegation.problem` says why in one line (shown by
``system info`` and in the error of any limited run).
"""

from __future__ import annotations

import errno
import os

from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._paths import LEAF, base_of, parse_proc_cgroup
from dockyard.errors import DockyardError
from dockyard.linux.fspath import FsPath

__all__ = ["DOMAIN_CONTROLLERS", "LEAF", "Delegation", "enter_leaf"]

# The controllers containers are limited and measured by (v2 names).
DOMAIN_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids")


class Delegation:
    """What :func:`enter_leaf` did: the base, the controllers enabled for its children, and
    ``problem`` (one line, "" when none) when containers cannot be limited there."""

    __slots__ = ("base", "enabled", "leaf", "problem")

    def __init__(self, base: str, leaf: str, enabled: list[str], problem: str = "") -> None:
        self.base = base
        self.leaf = leaf
        self.enabled = enabled
        self.problem = problem

    def __repr__(self) -> str:
        return f"Delegation(base={self.base!r}, enabled={self.enabled!r}, problem={self.problem!r})"


def _read(fs: CgroupFs, path: FsPath) -> str:
    try:
        return fs.read(path)
    except DockyardError:
        return ""


def enter_leaf(
    root: str | os.PathLike[str] = "/sys/fs/cgroup",
    *,
    pid: int | None = None,
    proc_cgroup: str | None = None,
    fs: CgroupFs | None = None,
) -> Delegation:
    """Move the calling process (``pid``) into ``<base>/dockyard-leaf`` and enable the
    domain controllers the base offers for its children.

    ``root`` is the cgroup2 mount; ``proc_cgroup`` the text of ``/proc/self/cgroup`` (read
    when None); ``fs`` the cgroupfs seam. Call it before forking any helper process: a
    child started earlier stays in the base and keeps the controllers off.
    """
    fs = fs or CgroupFs()
    pid = os.getpid() if pid is None else pid
    if proc_cgroup is None:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            proc_cgroup = f.read()
    own = parse_proc_cgroup(proc_cgroup).get("")
    if own is None:
        return Delegation("", "", [], "the daemon has no cgroup v2 membership")
    mount = FsPath(root)
    base = base_of(own)
    base_dir = mount / base.lstrip("/") if base != "/" else mount
    leaf = "" if base == "/" else f"{base.rstrip('/')}/{LEAF}"
    if leaf and own != leaf:  # the root cgroup may hold processes and still delegate
        try:
            fs.mkdir(base_dir / LEAF)
            fs.write(base_dir / LEAF / "cgroup.procs", str(pid))
        except DockyardError as e:
            return Delegation(base, "", [], f"cannot move the daemon into {leaf}: {e}")
    offered = _read(fs, base_dir / "cgroup.controllers").split()
    enabled = set(_read(fs, base_dir / "cgroup.subtree_control").split())
    wanted = [c for c in DOMAIN_CONTROLLERS if c in offered and c not in enabled]
    failed: list[str] = []
    for c in wanted:
        try:
            fs.write(base_dir / "cgroup.subtree_control", f"+{c}")
        except DockyardError:
            failed.append(c)
    enabled = set(_read(fs, base_dir / "cgroup.subtree_control").split())
    done = [c for c in DOMAIN_CONTROLLERS if c in enabled]
    problem = ""
    missing = [c for c in ("cpu", "memory", "pids") if c not in enabled]
    if failed:
        others = _others(fs, base_dir, pid)
        why = (
            f"it holds other processes (pids {', '.join(map(str, others[:5]))})"
            if others
            else f"the kernel refused ({errno.errorcode.get(errno.EBUSY, 'EBUSY')})"
        )
        problem = (
            f"cgroup {base}: cannot enable {', '.join(failed)} for containers: {why}; "
            "run the daemon in its own delegated cgroup (dockyard system install)"
        )
    elif missing:
        problem = (
            f"cgroup {base}: controller {', '.join(missing)} not delegated to it "
            "(a systemd unit needs Delegate=yes; dockyard system install writes one)"
        )
    return Delegation(base, leaf, done, problem)


def _others(fs: CgroupFs, base_dir: FsPath, pid: int) -> list[int]:
    return [int(p) for p in _read(fs, base_dir / "cgroup.procs").split() if int(p) != pid]
