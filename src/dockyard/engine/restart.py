"""Restart policies: whether a container that exited starts again, and when.

Pure functions, tested by table. Docker's rules: ``no`` never; ``always`` and
``unless-stopped`` unless the user stopped it; ``on-failure[:N]`` on a non-zero
exit, at most N times when N > 0. The delay doubles from 100 ms up to one
minute, and goes back to 100 ms once a run lasted at least 10 s.
"""

from __future__ import annotations

__all__ = ["BACKOFF_MAX", "BACKOFF_START", "next_delay", "should_restart"]

BACKOFF_START = 0.1
BACKOFF_MAX = 60.0
RESET_AFTER = 10.0


def should_restart(
    policy: str, max_retries: int, exit_code: int, restart_count: int, stopped_by_user: bool
) -> bool:
    if stopped_by_user or policy == "no":
        return False
    if policy in ("always", "unless-stopped"):
        return True
    if policy == "on-failure":
        if exit_code == 0:
            return False
        return max_retries <= 0 or restart_count < max_retries
    return False


def next_delay(previous: float, ran_for: float) -> float:
    """The wait before the next start, given the last wait and how long the run lasted."""
    if previous <= 0 or ran_for >= RESET_AFTER:
        return BACKOFF_START
    return min(previous * 2, BACKOFF_MAX)
