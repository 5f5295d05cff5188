"""CrashLoopBackOff as the kubelet computes it (orchestrator/crashloop.py), by table."""

from __future__ import annotations

import pytest

from dockyard.orchestrator.crashloop import CrashLoop, after_restart, restart_delay


@pytest.mark.parametrize(
    ("entry", "finished", "now", "delay"),
    [
        (None, 100.0, 100.0, 0.0),  # a first exit: at once
        (CrashLoop(10.0, 100.0), 103.0, 103.0, 10.0),  # again soon: 10 s after the exit
        (CrashLoop(10.0, 100.0), 103.0, 108.0, 5.0),  # (asked again later: what is left)
        (CrashLoop(10.0, 100.0), 103.0, 114.0, 0.0),  # the back-off is over
        (CrashLoop(40.0, 100.0), 150.0, 150.0, 40.0),
        (CrashLoop(300.0, 100.0), 700.0, 700.0, 300.0),  # 600 s after: not yet expired
        (CrashLoop(300.0, 100.0), 700.5, 700.5, 0.0),  # expired: a stable container
    ],
)  # fmt: skip
def test_restart_delay(entry: CrashLoop | None, finished: float, now: float, delay: float) -> None:
    assert restart_delay(entry, finished, now) == delay


def test_the_backoff_doubles_to_its_cap_and_starts_over_when_expired() -> None:
    e = after_restart(None, 100.0, 100.0)
    assert e == CrashLoop(10.0, 100.0)
    seen = []
    t = 100.0
    for _ in range(7):
        t += 1.0  # crashes a second after each restart
        t_restart = t + restart_delay(e, t, t)
        e = after_restart(e, t, t_restart)
        seen.append(e.backoff)
        t = t_restart
    assert seen == [20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert after_restart(e, t + 601.0, t + 601.0) == CrashLoop(10.0, t + 601.0)


def test_a_lower_cap_bounds_the_first_delay_too() -> None:
    """kubelet's maxContainerRestartPeriod below 10 s: the initial delay is the cap."""
    assert after_restart(None, 0.0, 0.0, cap=2.0) == CrashLoop(2.0, 0.0)
