"""bench/common.py's helpers that every benchmark shares (the timed parts run in ``make bench``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench.common import remove_work, run_ok, wait_for


def test_run_ok_returns_stdout_and_names_a_failure() -> None:
    assert run_ok([sys.executable, "-c", "print('hi')"]) == "hi\n"
    bad = [sys.executable, "-c", "import sys; sys.exit('no such thing')"]
    with pytest.raises(RuntimeError, match=r"^step 2: no such thing$"):
        run_ok(bad, what="step 2")


def test_wait_for_polls_until_true_and_times_out_naming_what() -> None:
    calls: list[int] = []
    wait_for(lambda: calls.append(1) is None and len(calls) == 3, 5, "three calls", 0)
    assert len(calls) == 3
    with pytest.raises(RuntimeError, match="waiting for the moon"):
        wait_for(lambda: False, 0, "the moon")


def test_remove_work_removes_the_tree(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "a" / "b").mkdir(parents=True)
    (work / "a" / "b" / "f").write_text("x")
    remove_work(work)
    assert not work.exists()
