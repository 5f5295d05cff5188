"""/proc readers (linux/procfs.py): a directory that poses as /proc, then the real one."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.linux.procfs import busy_fraction, cpu_times, meminfo

STAT = "cpu  100 5 50 800 40 3 2 0 0 0\ncpu0 50 2 25 400 20 1 1 0 0 0\nintr 1 2 3\n"
MEMINFO = "MemTotal:        2048000 kB\nMemFree:          512000 kB\nMemAvailable:    1024000 kB\nHugePages_Total:       0\n"  # noqa: E501


def test_readers_on_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text(STAT)
    (tmp_path / "meminfo").write_text(MEMINFO)
    assert cpu_times(str(tmp_path)) == (100, 5, 50, 800, 40, 3, 2, 0, 0, 0)
    info = meminfo(str(tmp_path))
    assert info["MemTotal"] == 2048000 and info["MemAvailable"] == 1024000
    assert info["HugePages_Total"] == 0


@pytest.mark.parametrize(
    ("first", "second", "busy"),
    [
        ((100, 0, 0, 100, 0), (150, 0, 0, 150, 0), 0.5),  # half busy
        ((0, 0, 0, 0, 0), (0, 0, 0, 100, 100), 0.0),  # idle and iowait are idle
        ((0, 0, 0, 0, 0), (30, 10, 10, 50, 0), 0.5),  # user, nice, system are busy
        ((5, 5, 5, 5), (5, 5, 5, 5), 0.0),  # no time passed
        ((0, 0, 0, 0), (25, 0, 0, 75), 0.25),  # a kernel without iowait
    ],
)
def test_busy_fraction(first: tuple[int, ...], second: tuple[int, ...], busy: float) -> None:
    assert busy_fraction(first, second) == busy


def test_the_real_proc() -> None:
    times = cpu_times()
    assert len(times) >= 4 and all(t >= 0 for t in times)
    assert 0.0 <= busy_fraction(times, cpu_times()) <= 1.0
    info = meminfo()
    assert 0 < info["MemAvailable"] <= info["MemTotal"]


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cpu_times(str(tmp_path))
