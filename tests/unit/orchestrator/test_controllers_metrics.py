"""CPU rate from cumulative cgroup counters."""

from __future__ import annotations

import pytest

from dockyard.orchestrator.metrics import CpuSample, CpuSampler, cpu_millicores


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        (CpuSample(0.0, 0), CpuSample(1.0, 1_000_000_000), 1000),  # one CPU busy
        (CpuSample(0.0, 0), CpuSample(10.0, 2_500_000_000), 250),
        (CpuSample(5.0, 100), CpuSample(5.0, 200), None),  # no time passed
        (CpuSample(0.0, 500), CpuSample(1.0, 100), None),  # counter reset
    ],
)
def test_cpu_millicores(a: CpuSample, b: CpuSample, want: int | None) -> None:
    assert cpu_millicores(a, b) == want


def test_sampler_rate_over_window() -> None:
    s = CpuSampler(window=30.0)
    assert s.rate("p") is None
    for t in range(0, 61, 5):  # 500m steady
        s.add("p", float(t), t * 500_000_000)
    millicores, covered, stamp = s.rate("p") or (0, 0.0, 0.0)
    assert (millicores, stamp) == (500, 60.0)
    assert 30.0 <= covered <= 35.0


def test_sampler_restarts_after_a_counter_reset_and_ignores_duplicates() -> None:
    s = CpuSampler()
    s.add("p", 0.0, 10_000_000_000)
    s.add("p", 1.0, 11_000_000_000)
    s.add("p", 1.0, 12_000_000_000)  # same timestamp: ignored
    assert s.rate("p") == (1000, 1.0, 1.0)
    s.add("p", 2.0, 100)  # the cgroup was recreated
    assert s.rate("p") is None
    s.add("p", 4.0, 1_000_000_100)
    assert s.rate("p") == (500, 2.0, 4.0)
    assert s.keys() == ["p"]
    s.forget("p")
    assert s.keys() == []
