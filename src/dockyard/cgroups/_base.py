"""What v1 and v2 managers share: directory lifecycle, membership, killing, waiting."""

from __future__ import annotations

import errno
import os
import time

from dockyard.cgroups._controller import StatsFields
from dockyard.cgroups._fs import CgroupFs, os_error
from dockyard.cgroups.stats import CgroupStats
from dockyard.errors import DockyardError, FailedPrecondition, Internal, NotFound, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.records import replace

__all__ = ["BaseManager", "Clock"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_SIGKILL = 9  # signal.SIGKILL (the signal module imports enum: too slow to start)


class Clock:
    """Time as the managers see it; tests pass one that advances without sleeping."""

    def __init__(
        self,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.monotonic = monotonic
        self.sleep = sleep


class BaseManager:
    """Shared lifecycle. Subclasses fill :meth:`_chains` and the freezer/membership hooks."""

    freeze_timeout = 5.0
    kill_timeout = 10.0
    destroy_timeout = 2.0
    poll_interval = 0.01

    def __init__(
        self,
        path: str,
        rel: FsPath,
        fs: CgroupFs | None = None,
        clock: Clock | None = None,
        kill: Callable[[int, int], None] = os.kill,
    ) -> None:
        self.path = path
        self._rel = rel
        self._fs = fs if fs is not None else CgroupFs()
        self._clock = clock if clock is not None else Clock()
        self._kill = kill
        self._created: set[FsPath] = set()

    # -- what subclasses provide -------------------------------------------------------

    def _leaves(self) -> list[tuple[FsPath, bool]]:
        """Every distinct leaf directory, and whether failing to create it is tolerated."""
        raise NotImplementedError

    def _procs_dir(self) -> FsPath | None:
        """The directory whose ``cgroup.procs`` lists the members."""
        raise NotImplementedError

    def _after_mkdir(self, d: FsPath, leaf: bool) -> None:
        """Hook after a directory of the chain is created (cpuset copy, v2 controllers)."""

    # -- lifecycle ---------------------------------------------------------------------

    def _own_of(self, leaf: FsPath) -> FsPath:
        own = leaf
        for _ in self._rel.parts:
            own = own.parent
        return own

    def _create_chain(self, leaf: FsPath) -> None:
        own = self._own_of(leaf)
        if not self._fs.exists(own):
            raise NotFound(f"create cgroup {self.path}: parent cgroup {own} does not exist")
        for attempt in range(3):
            try:
                self._mkdir_chain(own)
                return
            except (NotFound, Unavailable):
                # ENOENT: another container's destroy removed a shared, empty parent between our
                # mkdirs (see destroy): build the chain again
                if attempt == 2:
                    raise

    def _mkdir_chain(self, own: FsPath) -> None:
        d = own
        for i, part in enumerate(self._rel.parts):
            d = d / part
            is_leaf = i == len(self._rel.parts) - 1
            if self._fs.mkdir(d):
                self._created.add(d)
            self._after_mkdir(d, is_leaf)

    def create(self) -> None:
        for leaf, optional in self._leaves():
            try:
                self._create_chain(leaf)
            except DockyardError:
                if not optional:
                    raise
                self._skip(leaf)

    def _skip(self, leaf: FsPath) -> None:
        """An optional leaf could not be created: forget it."""

    def destroy(self) -> None:
        for leaf, _ in self._leaves():
            self._rmdir(leaf, wait=True)
            # The parents between our own cgroup and the leaf (``dockyard/`` for
            # ``dockyard/<id>``) are shared by containers: remove each once it is empty, so
            # the last container leaves nothing behind; a busy one stays for the others.
            own = self._own_of(leaf)
            d = leaf.parent
            while d != own and str(d).startswith(str(own) + "/"):
                if not self._rmdir_if_empty(d):
                    break
                d = d.parent

    def _rmdir_if_empty(self, d: FsPath) -> bool:
        try:
            self._fs.rmdir(d)
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno in (errno.EBUSY, errno.ENOTEMPTY):
                return False
            raise os_error(f"destroy cgroup {d}", exc) from exc
        self._created.discard(d)
        return True

    def _rmdir(self, d: FsPath, *, wait: bool) -> None:
        deadline = self._clock.monotonic() + self.destroy_timeout
        while True:
            try:
                self._fs.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
                    raise os_error(f"destroy cgroup {d}", exc) from exc
                if not wait:
                    return  # a shared parent still in use by another container
                if self._clock.monotonic() >= deadline:
                    raise FailedPrecondition(
                        f"destroy cgroup {d}: still busy after {self.destroy_timeout}s"
                    ) from exc
                self._clock.sleep(self.poll_interval)
                continue
            self._created.discard(d)
            return

    # -- membership --------------------------------------------------------------------

    def add(self, pid: int) -> None:
        if pid <= 0:
            raise Internal(f"add pid {pid} to cgroup {self.path}: not a process id")
        for leaf, optional in self._leaves():
            if optional and not self._fs.exists(leaf):
                continue
            self._fs.write(leaf / "cgroup.procs", str(pid))

    def pids(self) -> list[int]:
        d = self._procs_dir()
        if d is None:
            return []
        try:
            raw = self._fs.read(d / "cgroup.procs")
        except NotFound:
            return []
        return sorted({int(x) for x in raw.split()})

    # -- freezing and killing ----------------------------------------------------------

    def _freezable(self) -> bool:
        raise NotImplementedError

    def _request_freeze(self, frozen: bool) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def freeze(self) -> None:
        if not self._freezable():
            raise Unavailable(f"freeze cgroup {self.path}: no freezer")
        deadline = self._clock.monotonic() + self.freeze_timeout
        while True:
            self._request_freeze(True)
            if self.frozen():
                return
            if self._clock.monotonic() >= deadline:
                self._request_freeze(False)
                raise Unavailable(
                    f"freeze cgroup {self.path}: not frozen after {self.freeze_timeout}s"
                )
            self._clock.sleep(self.poll_interval)

    def thaw(self) -> None:
        if not self._freezable():
            raise Unavailable(f"thaw cgroup {self.path}: no freezer")
        self._request_freeze(False)

    def _kill_file(self) -> FsPath | None:
        return None

    def kill_all(self, sig: int = _SIGKILL) -> None:
        if os.getpid() in self.pids():
            raise FailedPrecondition(f"kill cgroup {self.path}: the calling process is a member")
        deadline = self._clock.monotonic() + self.kill_timeout
        kill_file = self._kill_file()
        if sig == _SIGKILL and kill_file is not None:
            self._fs.write(kill_file, "1")
            if not self._wait_empty(deadline):
                raise self._left_over()
            return
        while True:
            self._signal_once(sig)
            if sig != _SIGKILL:
                return
            now = self._clock.monotonic()
            if self._wait_empty(min(now + 0.2, deadline)):
                return
            if self._clock.monotonic() >= deadline:
                raise self._left_over()

    def _left_over(self) -> Unavailable:
        return Unavailable(f"kill cgroup {self.path}: processes left after {self.kill_timeout}s")

    def _signal_once(self, sig: int) -> None:
        freeze = self._freezable() and not self.frozen()
        if freeze:
            self.freeze()  # no fork escapes while we signal
        try:
            for pid in self.pids():
                try:  # not contextlib.suppress: slow to import
                    self._kill(pid, sig)
                except ProcessLookupError:
                    pass
        finally:
            if freeze or (sig == _SIGKILL and self._freezable()):
                self._request_freeze(False)

    def _wait_empty(self, until: float) -> bool:
        while self.pids():
            if self._clock.monotonic() >= until:
                return False
            self._clock.sleep(self.poll_interval)
        return True

    # -- stats -------------------------------------------------------------------------

    @staticmethod
    def _merge(st: CgroupStats, fields: StatsFields) -> CgroupStats:
        changes: dict[str, Any] = dict(fields)
        return replace(st, **changes)
