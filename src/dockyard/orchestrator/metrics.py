"""Pod resource metrics: what the HPA and ``top`` read, and the CPU rate sampler behind it.

A cgroup reports CPU as a *cumulative* counter of nanoseconds (``cpu.stat usage_usec``
on v2, ``cpuacct.usage`` on v1; :class:`dockyard.cgroups.stats.CgroupStats.cpu_usage_ns`).
Usage is a rate: the counter's growth over a window, in millicores (1000 = one CPU
busy for the whole window)::

    millicores = (usage_ns[t1] - usage_ns[t0]) / (t1 - t0) / 1e6

The daemon samples every pod's cgroup now and then (every few seconds), feeds
:meth:`CpuSampler.add`, and answers ``PodBackend.pod_metrics`` with :meth:`CpuSampler.rate`
and the current memory (working set, bytes). Everything here is pure: time is the
caller's ``timestamp`` (seconds), nothing reads the clock or the kernel.
"""

from __future__ import annotations

from dockyard.records import field, record

__all__ = ["ContainerMetrics", "CpuSample", "CpuSampler", "PodMetrics", "cpu_millicores"]


@record
class CpuSample:
    timestamp: float  # seconds
    usage_ns: int  # cumulative CPU time


@record
class ContainerMetrics:
    cpu_millicores: int
    memory_bytes: int


@record
class PodMetrics:
    """One pod's usage: CPU over ``window`` seconds ending at ``timestamp``, memory now.

    ``containers`` (optional) splits it per container, for ContainerResource metrics."""

    cpu_millicores: int
    memory_bytes: int
    timestamp: float
    window: float = 30.0
    containers: dict[str, ContainerMetrics] = field(default_factory=dict)


def cpu_millicores(earlier: CpuSample, later: CpuSample) -> int | None:
    """The rate between two samples in millicores, rounded to nearest; ``None`` when the
    interval is not positive or the counter went backwards (the cgroup was recreated)."""
    elapsed = later.timestamp - earlier.timestamp
    used = later.usage_ns - earlier.usage_ns
    if elapsed <= 0 or used < 0:
        return None
    return round(used / elapsed / 1e6)


class CpuSampler:
    """Cumulative CPU samples per key (a pod or container id), the rate over a window.

    ``window`` is the span the rate is computed over (the newest sample against the
    oldest one no older than ``window`` before it); older samples are dropped. A counter
    that goes backwards starts the key afresh."""

    def __init__(self, window: float = 30.0) -> None:
        self.window = window
        self._samples: dict[str, list[CpuSample]] = {}

    def add(self, key: str, timestamp: float, usage_ns: int) -> None:
        samples = self._samples.setdefault(key, [])
        if samples and (usage_ns < samples[-1].usage_ns or timestamp <= samples[-1].timestamp):
            if usage_ns < samples[-1].usage_ns:
                samples.clear()
            else:
                return  # a duplicate or out-of-order sample
        samples.append(CpuSample(timestamp, usage_ns))
        cutoff = timestamp - self.window
        while len(samples) > 2 and samples[1].timestamp <= cutoff:
            samples.pop(0)

    def rate(self, key: str) -> tuple[int, float, float] | None:
        """``(millicores, window covered, timestamp of the newest sample)``; ``None``
        until two samples exist."""
        samples = self._samples.get(key)
        if not samples or len(samples) < 2:
            return None
        first, last = samples[0], samples[-1]
        value = cpu_millicores(first, last)
        if value is None:
            return None
        return value, last.timestamp - first.timestamp, last.timestamp

    def forget(self, key: str) -> None:
        self._samples.pop(key, None)

    def keys(self) -> list[str]:
        return sorted(self._samples)
