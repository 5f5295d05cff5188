"""Readers of the host's ``/proc`` files (proc(5)): CPU time and memory of the whole host.

* :func:`cpu_times`: the aggregate ``cpu`` line of ``/proc/stat``, in clock ticks (user,
  nice, system, idle, iowait, irq, softirq, steal, ...); two samples give the share of
  time the CPUs were busy between them (:func:`busy_fraction`);
* :func:`meminfo`: ``/proc/meminfo`` as ``{field: kB}`` (``MemTotal``, ``MemAvailable``…).

``root`` is the proc mount to read (``/proc``; a test passes a directory that poses as
one). A missing file raises the ``OSError`` of ``open``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["busy_fraction", "cpu_times", "meminfo"]


def cpu_times(root: str = "/proc") -> tuple[int, ...]:
    """The first line of ``stat``: the host's CPU time per state, in clock ticks."""
    with open(f"{root}/stat") as f:
        return tuple(int(x) for x in f.readline().split()[1:])


def busy_fraction(first: Sequence[int], second: Sequence[int]) -> float:
    """The share of CPU time between two :func:`cpu_times` samples that was not idle
    (idle and iowait count as idle); 0.0 when no time passed."""
    delta = [b - a for a, b in zip(first, second, strict=False)]
    total = sum(delta)
    if not total:
        return 0.0
    idle = delta[3] + (delta[4] if len(delta) > 4 else 0)
    return (total - idle) / total


def meminfo(root: str = "/proc") -> dict[str, int]:
    """``meminfo`` as ``{field: value}`` (the value's unit is kB for every size field)."""
    with open(f"{root}/meminfo") as f:
        return {line.split(":")[0]: int(line.split()[1]) for line in f if line.split()[1:]}
