"""The systemd cgroup driver: each container in a transient scope unit.

On a host where systemd is PID 1 and the hierarchy is cgroup v2, systemd owns the tree: a
process that makes cgroups outside a subtree delegated to it races with systemd. runc's and
crun's systemd drivers, podman and dockerd therefore ask systemd, over D-Bus, for a
*transient scope* per container: ``StartTransientUnit("dockyard-<id>.scope", "fail",
[PIDs=[init], Slice=system.slice, Delegate=yes, *Accounting=yes, MemoryMax=...])``. systemd
moves the init into the scope's cgroup, enables the controllers the accounting properties ask
for up the slice, and the scope ends when its last process does.

Terms: the container's cgroup *path* has runc's systemd form ``<slice>:<prefix>:<name>``
(``system.slice:dockyard:abc123``) → unit ``dockyard-abc123.scope`` in ``system.slice``, cgroup
``/system.slice/dockyard-abc123.scope``. A slice named ``a-b.slice`` nests as
``a.slice/a-b.slice`` (systemd's rule).

Inside the scope (delegated to us) the container's processes live in a child,
``<scope>/container``, which carries the limits, stats, freezer and kill. Where the caller is a
holder (``DOCKYARD_SCOPE_KEEPER=1``, set by the engine's launcher) the holder joins the scope too,
in ``<scope>/supervisor``: the scope then outlives the container's last process until the
engine lets the holder go, so its ``memory.events`` (the OOM count) is still there when the exit
is handled. Without it, systemd removes an empty scope's cgroup at once, before anyone reads it
(the race conmon and containerd have with systemd scopes). ``dockyard-runtime`` (podman) starts
no keeper, as runc.

Lifecycle, as the :class:`~dockyard.cgroups.Manager` protocol's: ``create()`` makes nothing
(a scope needs a process); ``apply(r)`` before the scope exists is kept and applied when
``add(init)`` starts the scope (before the init is released to exec, so no user code runs
unlimited); after that ``apply`` (``update``) sets the unit's properties and writes the files.
Everything else (stats, freeze, kill, BPF device filter, unified keys) is the cgroup v2
manager's, on the scope's directory. ``destroy()`` stops the unit and removes the directory.

Errors: :class:`Unavailable` when systemd cannot be reached or refuses the unit (its D-Bus
error name and message in the line); the v2 manager's errors otherwise.
"""

from __future__ import annotations

from dockyard.cgroups._base import Clock
from dockyard.cgroups._fs import CgroupFs
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from pathlib import Path
    from typing import Any, Protocol

    from dockyard.cgroups.stats import CgroupStats
    from dockyard.cgroups.v2.manager import V2Manager
    from dockyard.oci.resources import LinuxResources

    Property = tuple[str, tuple[str, Any]]

    class Bus(Protocol):
        """The few systemd Manager calls the driver makes (a fake in unit tests)."""

        def start_scope(self, unit: str, properties: list[Property]) -> None: ...
        def set_properties(self, unit: str, properties: list[Property]) -> None: ...
        def stop_unit(self, unit: str) -> None: ...
else:
    Bus = object

__all__ = ["SystemdManager", "is_systemd_path", "parse_systemd_path", "slice_dir"]

_SIGKILL = 9
CHILD = "container"  # the container's processes, beneath the scope
SUPERVISOR = "supervisor"  # the holder that keeps the scope until its exit is read
DOMAIN = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids")


def is_systemd_path(path: str) -> bool:
    """``slice:prefix:name``, runc's form for the systemd driver."""
    return "/" not in path and path.count(":") == 2


def parse_systemd_path(path: str) -> tuple[str, str]:
    """(slice, unit) of ``slice:prefix:name``; an empty slice is ``system.slice``."""
    slice_, prefix, name = path.split(":")
    slice_ = slice_ or "system.slice"
    bad = [p for p in (slice_, prefix, name) if not p or any(c in p for c in "/\0\n ")]
    if not name or bad or not slice_.endswith(".slice"):
        raise InvalidArgument(f"cgroup path {path!r}: expected <slice>.slice:<prefix>:<name>")
    unit = f"{prefix}-{name}.scope" if not name.endswith(".scope") else name
    return slice_, unit


def slice_dir(slice_: str) -> str:
    """``a-b-c.slice`` → ``a.slice/a-b.slice/a-b-c.slice``; ``-.slice`` is the root."""
    if slice_ == "-.slice":
        return ""
    stem = slice_.removesuffix(".slice")
    parts = stem.split("-")
    return "/".join("-".join(parts[: i + 1]) + ".slice" for i in range(len(parts)))


# systemd enables these controllers up the slice for a unit that asks for their accounting
_ACCOUNTING: list[Property] = [
    ("MemoryAccounting", ("b", True)),
    ("CPUAccounting", ("b", True)),
    ("TasksAccounting", ("b", True)),
    ("IOAccounting", ("b", True)),
]


def _limits(r: LinuxResources | None) -> list[Property]:
    """The unit properties for the limits systemd itself knows (the files carry the rest)."""
    props: list[Property] = []
    if r is None:
        return props
    if r.memory is not None and r.memory.limit is not None and r.memory.limit > 0:
        props.append(("MemoryMax", ("t", r.memory.limit)))
    if r.pids is not None and r.pids.limit is not None and r.pids.limit > 0:
        props.append(("TasksMax", ("t", r.pids.limit)))
    cpu = r.cpu
    if cpu is not None and cpu.quota is not None and cpu.quota > 0:
        period = cpu.period or 100_000
        props.append(("CPUQuotaPerSecUSec", ("t", cpu.quota * 1_000_000 // period)))
    return props


class SystemdManager:
    """One container's transient scope (see the module's docstring)."""

    def __init__(
        self,
        path: str,
        *,
        root: str | os.PathLike[str] = "/sys/fs/cgroup",
        fs: CgroupFs | None = None,
        clock: Clock | None = None,
        bus: Bus | None = None,
    ) -> None:
        import os as _os

        from dockyard.cgroups.v2.manager import V2Manager

        self.path = path
        self.slice, self.unit = parse_systemd_path(path)
        rel = "/".join(p for p in (slice_dir(self.slice), self.unit, CHILD) if p)
        self._v2: V2Manager = V2Manager(rel, root=root, own={"": "/"}, fs=fs, clock=clock)
        self._fs = fs or CgroupFs()
        self._bus = bus
        self._pending: LinuxResources | None = None
        self._keeper = _os.environ.get("DOCKYARD_SCOPE_KEEPER") == "1"

    def _dir(self) -> FsPath:
        """The container's cgroup, ``<scope>/container``."""
        return FsPath(str(self._v2.paths()[""]))

    def _scope_dir(self) -> FsPath:
        return FsPath(self._dir().rsplit("/", 1)[0])

    def _started(self) -> bool:
        return self._fs.exists(self._dir() / "cgroup.procs")

    def _client(self) -> Bus:
        if self._bus is None:
            from dockyard.cgroups.systemd_bus import shared

            self._bus = shared()
        return self._bus

    # -- the Manager protocol ------------------------------------------------------------

    def create(self) -> None:
        """Nothing yet: a scope is made with its first process (:meth:`add`)."""
        return None

    def apply(self, resources: LinuxResources) -> None:
        if not self._started():
            self._pending = resources
            return
        self._client().set_properties(self.unit, _limits(resources))
        self._v2.apply(resources)

    def add(self, pid: int) -> None:
        if self._started():
            self._v2.add(pid)
            return
        import os

        keeper = os.getpid() if self._keeper and os.getpid() != pid else 0
        props: list[Property] = [
            ("Description", ("s", f"dockyard container {self.unit}")),
            ("Slice", ("s", self.slice)),
            ("PIDs", ("au", [pid, keeper] if keeper else [pid])),
            ("Delegate", ("b", True)),
            ("CollectMode", ("s", "inactive-or-failed")),
            *_ACCOUNTING,
            *_limits(self._pending),
        ]
        self._client().start_scope(self.unit, props)
        scope = self._scope_dir()
        if not self._fs.exists(scope / "cgroup.procs"):
            raise Unavailable(f"start unit {self.unit}: no cgroup at {scope}")
        # the scope's own cgroup keeps no process (no internal processes): the container
        # in <scope>/container, the keeper in <scope>/supervisor
        self._fs.mkdir(self._dir())
        self._fs.write(self._dir() / "cgroup.procs", str(pid))
        if keeper:
            self._fs.mkdir(scope / SUPERVISOR)
            self._fs.write(scope / SUPERVISOR / "cgroup.procs", str(keeper))
        offered = (self._fs.read(scope / "cgroup.controllers") or "").split()
        wanted = [c for c in DOMAIN if c in offered]
        if wanted:
            self._fs.write(scope / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))
        if self._pending is not None:
            self._v2.apply(self._pending)
            self._pending = None

    def pids(self) -> list[int]:
        return self._v2.pids() if self._started() else []

    def freeze(self) -> None:
        self._v2.freeze()

    def thaw(self) -> None:
        self._v2.thaw()

    def frozen(self) -> bool:
        return self._v2.frozen() if self._started() else False

    def stats(self) -> CgroupStats:
        if not self._started():
            from dockyard.cgroups.stats import CgroupStats

            return CgroupStats()
        return self._v2.stats()

    def oom_kill_count(self) -> int:
        return self._v2.oom_kill_count() if self._started() else 0

    def kill_all(self, sig: int = _SIGKILL) -> None:
        if self._started():
            self._v2.kill_all(sig)

    def destroy(self) -> None:
        """Stop the unit (its processes are already gone, or get SIGKILL), remove its
        directory; idempotent."""
        if self._started():
            self._v2.kill_all()
            try:
                self._client().stop_unit(self.unit)
            except Unavailable:
                pass  # already gone (collected when its last process ended)
        self._v2.destroy()
        for d in (self._scope_dir() / SUPERVISOR, self._scope_dir()):
            try:
                self._fs.rmdir(d)
            except OSError:
                pass  # systemd removes it when the unit stops; or a keeper is still there

    def paths(self) -> dict[str, Path]:
        return self._v2.paths()

    def joined(self) -> list[str]:
        return [""]
