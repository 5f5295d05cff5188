"""When a pod's exited container is restarted in place: the kubelet's CrashLoopBackOff.

A container of a pod whose ``restartPolicy`` asks for it (``Always``; ``OnFailure`` after a
non-zero exit) is restarted in the same pod (same name, ``restartCount`` + 1), never
replaced by a new pod. The delay follows the kubelet (``pkg/kubelet/kuberuntime``'s
``doBackOff`` over ``client-go/util/flowcontrol.Backoff``, initial 10 s, max 300 s):

* each container has at most one *entry*: its current ``backoff`` and ``last_update``
  (when it was last restarted);
* an exit with no entry, or whose exit came more than ``2 x max`` after ``last_update``
  (the container was stable: the entry *expired*), is restarted at once, and the entry
  starts at ``initial``;
* otherwise the restart waits until ``backoff`` seconds after the exit (the container is
  ``waiting``, reason ``CrashLoopBackOff``), and the backoff doubles (at most ``max``).

Example (initial 10, max 300)::

    e = None
    restart_delay(e, finished=100, now=100) -> 0      (first exit: at once)
    e = after_restart(e, finished=100, now=100)       e.backoff 10, last_update 100
    restart_delay(e, finished=103, now=103) -> 10     (back at 113)
    e = after_restart(e, finished=103, now=113)       e.backoff 20
    restart_delay(e, finished=800, now=800) -> 0      (800 - 113 > 600: expired)

Everything here is pure; the backend keeps the entries and the clock.
"""

from __future__ import annotations

from dockyard.records import record

__all__ = ["INITIAL", "MAX", "CrashLoop", "after_restart", "restart_delay"]

INITIAL = 10.0
MAX = 300.0


@record
class CrashLoop:
    """One container's back-off entry."""

    backoff: float
    last_update: float


def _expired(entry: CrashLoop | None, finished: float, cap: float) -> bool:
    return entry is None or finished - entry.last_update > 2 * cap


def restart_delay(entry: CrashLoop | None, finished: float, now: float, cap: float = MAX) -> float:
    """Seconds from ``now`` until a container that exited at ``finished`` may restart."""
    if entry is None or _expired(entry, finished, cap):
        return 0.0
    return max(0.0, finished + entry.backoff - now)


def after_restart(
    entry: CrashLoop | None,
    finished: float,
    now: float,
    initial: float = INITIAL,
    cap: float = MAX,
) -> CrashLoop:
    """The entry once the container that exited at ``finished`` is restarted at ``now``."""
    if entry is None or _expired(entry, finished, cap):
        return CrashLoop(min(initial, cap), now)
    return CrashLoop(min(entry.backoff * 2, cap), now)
