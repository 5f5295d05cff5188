"""The stage scheduler: independent stages at the same time, output and errors in plan order."""

from __future__ import annotations

import threading

import pytest

from dockyard.build.schedule import OrderedLog, Scheduler
from dockyard.errors import FailedPrecondition


class Out:
    """What an :class:`OrderedLog` writes, as the progress lines a build prints."""

    def __init__(self, n: int) -> None:
        self.lines: list[str] = []
        self.memo: list[str] = []
        self.vertex = 0
        self.log = OrderedLog(n, self.emit_line, self.emit_status, self.memo.append,
                              lambda: self.memo.append("C"))  # fmt: skip

    def emit_line(self, text: str) -> int:
        self.vertex += 1
        self.lines.append(f"#{self.vertex} {text}")
        return self.vertex

    def emit_status(self, vertex: int, text: str) -> None:
        self.lines.append(f"#{vertex} {text}")


def test_a_later_stage_waits_for_the_earlier_ones_to_be_written() -> None:
    out = Out(2)
    b = out.log.line(1, "[b 1/1] FROM busybox")  # stage 1 runs first, but is buffered
    out.log.status(1, b, "DONE 0.1s")
    a = out.log.line(0, "[a 1/1] FROM busybox")
    assert out.lines == ["#1 [a 1/1] FROM busybox"]  # stage 0 is written at once
    out.log.status(0, a, "CACHED")
    out.log.cached(0)
    out.log.finish(0)
    assert out.lines == [
        "#1 [a 1/1] FROM busybox",
        "#1 CACHED",
        "#2 [b 1/1] FROM busybox",
        "#2 DONE 0.1s",
    ]
    assert out.memo == ["[a 1/1] FROM busybox", "C", "[b 1/1] FROM busybox"]
    out.log.line(1, "[b 2/2] RUN true")  # stage 1 is the head now: written at once
    assert out.lines[-1] == "#3 [b 2/2] RUN true"


def test_nothing_after_a_failed_stage_is_written() -> None:
    out = Out(3)
    out.log.line(1, "[b 1/1] FROM busybox")
    out.log.line(0, "[a 1/1] FROM busybox")
    out.log.finish(1)
    out.log.finish(0, ok=False)
    out.log.line(2, "[c 1/1] FROM busybox")
    out.log.finish(2)
    assert out.lines == ["#1 [a 1/1] FROM busybox"]


def _scheduler(deps: list[set[int]], fn: object) -> tuple[Scheduler[str], Out]:
    out = Out(len(deps))
    aborted: list[bool] = []

    def build_one(pos: int) -> str:
        out.log.line(pos, f"[s{pos}] FROM scratch")
        return fn(pos)  # type: ignore[operator,no-any-return]

    return Scheduler(deps, build_one, out.log, lambda: aborted.append(True)), out


def test_independent_stages_run_at_the_same_time() -> None:
    both = threading.Barrier(2, timeout=10)  # broken (an error) unless 0 and 1 overlap

    def fn(pos: int) -> str:
        if pos < 2:
            both.wait()
        return f"built {pos}"

    sched, out = _scheduler([set(), set(), {0, 1}], fn)
    assert sched.run() == {0: "built 0", 1: "built 1", 2: "built 2"}
    assert out.lines == ["#1 [s0] FROM scratch", "#2 [s1] FROM scratch",
                         "#3 [s2] FROM scratch"]  # fmt: skip


def test_a_stage_starts_after_what_it_needs() -> None:
    finished: list[int] = []

    def fn(pos: int) -> str:
        assert finished == list(range(pos)), pos  # 0 -> 1 -> 2, a chain
        finished.append(pos)
        return str(pos)

    sched, _ = _scheduler([set(), {0}, {1}], fn)
    sched.run()


def test_the_first_failure_in_plan_order_wins_whatever_the_timing() -> None:
    second_failed = threading.Event()

    def fn(pos: int) -> str:
        if pos == 0:
            assert second_failed.wait(10)  # stage 1 fails first
            raise FailedPrecondition("stage 0 failed")
        second_failed.set()
        raise FailedPrecondition("stage 1 failed")

    sched, out = _scheduler([set(), set()], fn)
    with pytest.raises(FailedPrecondition, match="stage 0 failed"):
        sched.run()
    assert out.lines == ["#1 [s0] FROM scratch"]


def test_after_a_failure_earlier_stages_finish_and_later_ones_never_start() -> None:
    second_failed = threading.Event()
    started: list[int] = []

    def fn(pos: int) -> str:
        started.append(pos)
        if pos == 1:
            second_failed.set()
            raise FailedPrecondition("stage 1 failed")
        if pos == 0:
            assert second_failed.wait(10)
        return str(pos)

    sched, out = _scheduler([set(), set(), {0}], fn)  # 2 is ready once 0 is built
    with pytest.raises(FailedPrecondition, match="stage 1 failed"):
        sched.run()
    assert sched.results == {0: "0"}
    assert sorted(started) == [0, 1]
    assert out.lines == ["#1 [s0] FROM scratch", "#2 [s1] FROM scratch"]
