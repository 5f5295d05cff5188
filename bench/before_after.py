"""``python -m bench.before_after [BEFORE [AFTER]]``: one commit's Service path against another's.

Made for issue 19's acceptance ("Service throughput and ``run`` latency unchanged within
noise, same run, before/after"). Both commits are checked out as ``git worktree``s in
``/tmp`` (removed at the end), so edits in progress in this checkout change neither; each runs
with this venv (``PYTHONPATH`` for its daemon, a copy of the fast launcher for its CLI:
:class:`bench.deploy.Dockyard`). ``BEFORE`` defaults to the parent of the first commit whose
message names "(issue 19 item" under ``src/dockyard/network``; ``AFTER`` to ``HEAD``.

Both daemons run at once, each in its own :class:`bench.common.NsHolder`, each with 3 nginx
pods behind a NodePort Service (the backend of ``python -m bench deploy``). Then:

1. ``wrk`` straight to one pod, through the ClusterIP and through the NodePort, for both
   commits: ``BENCH_WRK_ROUNDS`` rounds (default 7), every round runs all six once, the order
   rotating, so the shared machine's load falls on both alike. Medians, spread, and after /
   before per path.
2. ``dockyard run --rm busybox true`` (the Service removed first), the two commits
   alternating for ``BENCH_RUNS`` rounds (default 60): medians, p10/p90, after / before.

Last runs (653e06f against HEAD, 2026-12-06; 3 x 15 rounds of 3 s): after / before, the
median of 45 paired ratios: direct 1.03x, ClusterIP 1.00x, NodePort 0.96x (quartiles about
0.8-1.2); ``run --rm`` 1.03x, 0.96x, 0.97x. Unchanged within noise (docs/network.md).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    IMAGE_CACHE,
    REPO,
    Dockyard,
    NsHolder,
    Tool,
    report,
    time_round_robin,
    tool,
    unmount_under,
)
from bench.deploy import (
    DIRECT,
    Point,
    deploy_web,
    load_backend,
    measure_rates,
    median_of,
    paired,
    rate_lines,
    remove_web,
)

WRK_ROUNDS = int(os.environ.get("BENCH_WRK_ROUNDS", "7"))
RUNS = int(os.environ.get("BENCH_RUNS", "60"))
MARK = "(issue 19 item"


def git(*args: str) -> str:
    p = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True,
                       check=False)  # fmt: skip
    if p.returncode != 0:
        why = p.stderr.strip().splitlines()
        raise RuntimeError(f"git {' '.join(args)}: {why[0] if why else p.returncode}")
    return p.stdout.strip()


def default_before() -> str:
    """The parent of the oldest commit under src/dockyard/network that names issue 19."""
    found = git("log", "--reverse", "--format=%H", "--fixed-strings", f"--grep={MARK}",
                 "--", "src/dockyard/network").split()  # fmt: skip
    if not found:
        raise RuntimeError(f"no commit under src/dockyard/network mentions {MARK!r}")
    return git("rev-parse", f"{found[0]}^")


@contextlib.contextmanager
def worktree(commit: str, label: str) -> Iterator[Path]:
    """``commit`` checked out (detached) in a new directory under /tmp, removed after."""
    path = Path(tempfile.mkdtemp(prefix=f"wt-{label}-", dir="/tmp"))
    try:
        git("worktree", "add", "--detach", str(path), commit)
        yield path
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)],
                       capture_output=True, check=False)  # fmt: skip
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True,
                       check=False)  # fmt: skip
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Variant:
    label: str
    commit: str
    dy: Dockyard


def _throughput(variants: list[Variant], work: Path) -> str:
    notes: list[str] = []
    targets: dict[str, dict[str, str]] = {}
    for v in variants:
        backend = load_backend(v.dy, work)
        if backend.note:
            notes.append(f"{v.label}: {backend.note}")
        _ips, targets[v.label] = deploy_web(v.dy, backend)
    paths = list(targets[variants[0].label])
    # before and after of one path side by side in the rotation: each round's pair ran
    # seconds apart, under about the same load
    points = [Point(f"{v.label}: {path}", v.dy.holder, targets[v.label][path])
              for path in paths for v in variants]  # fmt: skip
    rates, errors = measure_rates(points, WRK_ROUNDS)
    lines = [
        f"== Service throughput before/after: wrk (requests/s), {WRK_ROUNDS} alternating "
        f"rounds, {backend.name} backend, both daemons side by side",
        *rate_lines(rates, errors),
        "after / before per path: the median of the rounds' paired ratios (p25-p75), then "
        "the ratio of the medians",
    ]
    for path in paths:
        b = rates.get(f"{variants[0].label}: {path}", [])
        a = rates.get(f"{variants[1].label}: {path}", [])
        if a and b:
            lines.append(
                f"  {path:<40} {paired(b, a)}, {statistics.median(a) / statistics.median(b):.2f}x"
            )
    for v in variants:
        d = median_of(rates.get(f"{v.label}: {DIRECT}", []))
        for path in paths:
            m = median_of(rates.get(f"{v.label}: {path}", []))
            if d and m is not None and path != DIRECT:
                lines.append(f"{v.label}: {path} / direct: {m / d:.2f}x")
    return "\n".join(lines + notes)


def _run_rm(dy: Dockyard, _i: int) -> list[str]:
    """The CLI straight to the daemon's socket, as ``bench/startup.py`` (no ``nsenter``)."""
    return [*dy.cli, "--root", str(dy.root), "--run-root", str(dy.run_root),
            "run", "--rm", "busybox", "true"]  # fmt: skip


def _run_latency(variants: list[Variant]) -> str:
    tools = [Tool(f"{v.label}: run --rm busybox true", functools.partial(_run_rm, v.dy))
             for v in variants]  # fmt: skip
    results = time_round_robin(tools, RUNS)
    return report(
        f"dockyard run --rm busybox true, before/after ({RUNS} alternating rounds)",
        results, tools[1].name, {tools[0].name: 1.1},
    )  # fmt: skip


def compare(before: str, after: str) -> str:
    if os.geteuid() != 0:
        return "== before/after: n/a (needs root)"
    if not tool("wrk"):
        return "== before/after: n/a (wrk is not installed: apt-get install wrk)"
    work = Path(tempfile.mkdtemp(prefix="dyba-"))
    variants: list[Variant] = []
    holders: list[NsHolder] = []
    try:
        with worktree(before, "before") as wb, worktree(after, "after") as wa:
            for label, commit, tree in (("before", before, wb), ("after", after, wa)):
                holder = NsHolder()
                holders.append(holder)
                dy = Dockyard(holder, work / label, src=tree / "src")
                variants.append(Variant(label, git("rev-parse", "--short", commit), dy))
                dy.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"))
            head = [f"== before = {variants[0].commit}, after = {variants[1].commit}"]
            try:
                out = [_throughput(variants, work)]
            finally:
                for v in variants:
                    remove_web(v.dy)
            for v in variants:
                _gone(v.dy)
            out.append(_run_latency(variants))
            return "\n\n".join(head + out)
    finally:
        for v in variants:
            v.dy.close()
        time.sleep(1.0)  # the holders' last processes leave with their daemons
        for h in holders:
            h.close()
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


def _gone(dy: Dockyard) -> None:
    deadline = time.monotonic() + 60
    while dy.pods("app=web") and time.monotonic() < deadline:
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> str:
    """``argv``: [BEFORE [AFTER]]; else ``BENCH_BEFORE`` / ``BENCH_AFTER`` (so that
    ``python -m bench before_after``, which calls ``main()``, works too)."""
    args = argv or []
    try:
        before = args[0] if args else os.environ.get("BENCH_BEFORE") or default_before()
        after = args[1] if len(args) > 1 else os.environ.get("BENCH_AFTER", "HEAD")
        return compare(git("rev-parse", before), git("rev-parse", after))
    except RuntimeError as e:
        return f"== before/after: failed: {e}"


if __name__ == "__main__":
    print(main(sys.argv[1:]))
