"""Keep the kernel's cgroup migration lock on its fast path while a container starts.

Every write to a ``cgroup.procs`` (or ``tasks``) takes the global ``cgroup_threadgroup_rwsem``
for writing. After a quiet spell that lock's ``rcu_sync`` is idle, and the first writer waits
for an RCU grace period (7-15 ms on these machines), holding ``cgroup_mutex`` meanwhile, so a
``mkdir`` of a new cgroup waits too; writes that follow within a grace period take ~0.1 ms.

:class:`SharedWarmer` moves the calling process into its own cgroup (a no-op move) every
2 ms on a thread, for at most half a second after the last hold: held from when a start
request arrives, the grace
period passes while the daemon makes the container's root and bundle, and the runtime's
mkdirs and ``cgroup.procs`` write of the new init find the fast path. Only a process's own
cgroup is written, with its own pid: nothing changes for anyone.
"""

from __future__ import annotations

import os
import time

__all__ = ["SharedWarmer", "own_procs_file"]

_PERIOD = 0.002
_LIMIT = 250  # writes: 0.5 s at most


def own_procs_file() -> str:
    """A writable ``cgroup.procs`` of this process's own cgroup ("" when there is none)."""
    try:
        with open("/proc/self/cgroup", "rb") as fh:
            lines = fh.read().decode().splitlines()
    except OSError:
        return ""
    for line in lines:
        _n, controllers, path = line.split(":", 2)
        for name in [controllers, *controllers.split(",")] if controllers else [""]:
            d = os.path.join("/sys/fs/cgroup", name.removeprefix("name="), path.lstrip("/"))
            procs = os.path.join(d, "cgroup.procs")
            if os.access(procs, os.W_OK):
                return procs
    return ""


class SharedWarmer:
    """One warming thread for any number of overlapping starts (a 50-pod scale-up must not
    run 50):
    :meth:`hold` returns a handle whose ``stop()`` lets go; the thread runs while anyone
    holds it, for at most 0.5 s after the last :meth:`hold`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._holders = 0
        self._until = 0.0
        self._running = False

    def hold(self) -> _Hold:
        self._holders += 1
        self._until = time.monotonic() + _PERIOD * _LIMIT
        if self.path and not self._running:
            import _thread

            self._running = True
            _thread.start_new_thread(self._loop, ())
        return _Hold(self)

    def _release(self) -> None:
        self._holders = max(0, self._holders - 1)

    def _loop(self) -> None:
        data = str(os.getpid()).encode()
        try:
            while self._holders > 0 and time.monotonic() < self._until:
                fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                time.sleep(_PERIOD)
        except OSError:
            pass
        finally:
            self._running = False


class _Hold:
    def __init__(self, owner: SharedWarmer) -> None:
        self._owner: SharedWarmer | None = owner

    def stop(self) -> None:
        if self._owner is not None:
            self._owner._release()
            self._owner = None
