"""Running a plan's stages: independent stages at the same time, output in plan order.

Terms
-----
*position*: a stage's place in the plan (:attr:`dockyard.build.plan.Plan.stages`,
dependencies first).  *Ready*: every stage it builds on or reads (``FROM <stage>``,
``COPY --from``, ``RUN --mount=from=``) is built.

Protocol::

    log = OrderedLog(len(deps), emit_line, emit_status, on_line, on_cached)
    scheduler = Scheduler(deps, build_one, log, abort)
    results = scheduler.run()            # {position: result}; raises like a sequential build

``build_one(position)`` runs on a worker thread as soon as the stage is ready, so two
stages that do not depend on each other are built at the same time.  What they print
goes through :class:`OrderedLog`: the lines of the first unfinished stage (in plan order)
are written at once, those of a later stage wait in its buffer until every stage before it
has finished.  The progress is therefore what a one-at-a-time build prints, whatever the
timing; vertex numbers are given when a line is written.

Errors are those of a sequential build too.  When a stage fails, no stage after it (in
plan order) is started, the stages before it still run (one of them could fail as well),
and the error of the first failed stage in plan order is raised once nothing runs any
more; the lines of the stages after it are never written.  An interrupt of the caller (Ctrl-C)
calls ``abort`` (which stops the containers of running steps) and waits for the workers
before it is raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

__all__ = ["OrderedLog", "Scheduler"]

_T = TypeVar("_T")
_Event = tuple[str, int, str]  # ("L", handle, text) | ("S", handle, status) | ("C", 0, "")


class OrderedLog:
    """Per-stage progress of ``n`` stages, written in plan order; see the module docstring.

    ``emit_line(text) -> vertex`` writes a new vertex line, ``emit_status(vertex, text)``
    a status line of it (``CACHED``, ``DONE 0.1s``); ``on_line(text)`` and ``on_cached()``
    see the vertex lines and the ``cached`` events in the order written (the memo
    records them).
    """

    def __init__(
        self,
        n: int,
        emit_line: Callable[[str], int],
        emit_status: Callable[[int, str], None],
        on_line: Callable[[str], None],
        on_cached: Callable[[], None],
    ) -> None:
        self._emit_line = emit_line
        self._emit_status = emit_status
        self._on_line = on_line
        self._on_cached = on_cached
        self._lock = threading.Lock()
        self._buffers: list[list[_Event]] = [[] for _ in range(n)]
        self._finished = [False] * n
        self._failed: set[int] = set()
        self._head = 0
        self._handles = 0
        self._vertices: dict[int, int] = {}

    def line(self, pos: int, text: str) -> int:
        """A new vertex of stage ``pos``; returns its handle (for :meth:`status`)."""
        with self._lock:
            self._handles += 1
            self._add(pos, ("L", self._handles, text))
            return self._handles

    def status(self, pos: int, handle: int, text: str) -> None:
        with self._lock:
            self._add(pos, ("S", handle, text))

    def cached(self, pos: int) -> None:
        with self._lock:
            self._add(pos, ("C", 0, ""))

    def finish(self, pos: int, *, ok: bool = True) -> None:
        """Stage ``pos`` is built: the stages after it may be written.  A failed stage is
        written, and nothing after it ever is (a sequential build would stop there)."""
        with self._lock:
            self._finished[pos] = True
            if not ok:
                self._failed.add(pos)
            while self._head < len(self._finished):
                self._flush(self._head)
                if not self._finished[self._head] or self._head in self._failed:
                    break
                self._head += 1

    def _add(self, pos: int, event: _Event) -> None:
        self._buffers[pos].append(event)
        if pos == self._head:
            self._flush(pos)

    def _flush(self, pos: int) -> None:
        events, self._buffers[pos] = self._buffers[pos], []
        for kind, handle, text in events:
            if kind == "L":
                self._on_line(text)
                self._vertices[handle] = self._emit_line(text)
            elif kind == "S":
                self._emit_status(self._vertices[handle], text)
            else:
                self._on_cached()


class Scheduler(Generic[_T]):
    """Builds stages on worker threads as they become ready; see the module docstring."""

    def __init__(self, deps: list[set[int]], build_one: Callable[[int], _T], log: OrderedLog,
                 abort: Callable[[], None]) -> None:  # fmt: skip
        self.deps = deps  # per position: the positions it needs
        self.build_one = build_one
        self.log = log
        self.abort = abort
        self.results: dict[int, _T] = {}
        self.failed: dict[int, BaseException] = {}

    def run(self) -> Mapping[int, _T]:
        n = len(self.deps)
        waiting = set(range(n))
        running: dict[Future[_T], int] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(n, 8)),
                                thread_name_prefix="stage") as pool:  # fmt: skip
            try:
                while True:
                    for pos in self._ready(waiting):
                        waiting.discard(pos)
                        running[pool.submit(self.build_one, pos)] = pos
                    if not running:
                        break
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for fut in sorted(done, key=lambda f: running[f]):
                        self._collect(running.pop(fut), fut)
            except BaseException:
                self.abort()
                wait(running)
                raise
        if self.failed:
            raise self.failed[min(self.failed)]
        return self.results

    def _ready(self, waiting: set[int]) -> list[int]:
        limit = min(self.failed, default=len(self.deps))
        return [p for p in sorted(waiting)
                if p < limit and all(d in self.results for d in self.deps[p])]  # fmt: skip

    def _collect(self, pos: int, fut: Future[_T]) -> None:
        try:
            self.results[pos] = fut.result()
        except BaseException as exc:
            self.failed[pos] = exc
        self.log.finish(pos, ok=pos not in self.failed)
