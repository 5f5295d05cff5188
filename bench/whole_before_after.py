"""``python -m bench.whole_before_after BEFORE [AFTER] [-- NAME ...]``: ``make bench`` for two
commits in one run.

Made for issue 17's acceptance ("``make bench`` figures within noise of before, same run,
before/after commits"). ``bench/before_after.py`` runs one daemon per commit side by side on
the Service path; this one runs every benchmark (``bench/__main__.py``'s list, or the NAMEs
given) that both commits have, each commit's own ``bench/NAME.py`` against its own ``src``:

* both commits are checked out as ``git worktree``s under ``/tmp`` (removed at the end),
  each with a *shadow* of this checkout's venv (``pyvenv.cfg`` copied, ``lib`` and every
  script linked, the fast launchers written anew by that commit's
  ``tools/write-launchers.py`` so that they run its ``src``) and this checkout's ``.cache``
  (the base images) linked in; ``PYTHONPATH`` puts its ``src`` before the editable install's;
* each benchmark runs once per commit, one right after the other, the order alternating
  from one benchmark to the next, so a noisy minute of the shared machine falls on both;
* the report: each benchmark's two outputs in full, then every ``ratio ...: N.NNx`` line of
  the pair side by side (each ratio is dockyard against a reference tool *in the same
  run*, which cancels most of the machine's drift) and after / before of the two ratios.

``BENCH_*`` variables pass through (fewer rounds: ``BENCH_RUNS=20`` …).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench.__main__ import BENCHES
from bench.before_after import git, worktree
from bench.common import REPO

_RATIO = re.compile(r"^ratio (.+?): ([0-9.]+)x")


def shadow_venv(tree: Path) -> Path:
    """A venv for the checkout ``tree`` that shares this one's packages: the interpreter
    finds ``tree/.venv/pyvenv.cfg`` next to the link it was started through."""
    venv, mine = tree / ".venv", REPO / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy2(mine / "pyvenv.cfg", venv / "pyvenv.cfg")
    for name in ("lib", "lib64", "include"):
        if (mine / name).exists():
            (venv / name).symlink_to((mine / name).resolve())
    for script in (mine / "bin").iterdir():
        (venv / "bin" / script.name).symlink_to(script)
    for launcher in ("dockyard", "dockyard-runtime", "dockyardd"):
        with contextlib.suppress(FileNotFoundError):
            (venv / "bin" / launcher).unlink()
    subprocess.run([str(venv / "bin" / "python"), str(tree / "tools" / "write-launchers.py"),
                    str(venv)], check=True, capture_output=True, cwd=tree)  # fmt: skip
    return venv


@contextlib.contextmanager
def checkout(commit: str, label: str) -> Iterator[Path]:
    """``commit`` in a worktree under /tmp (:func:`bench.before_after.worktree`) with a
    shadow venv and this ``.cache``."""
    with worktree(commit, label) as path:
        shadow_venv(path)
        (path / ".cache").symlink_to(REPO / ".cache")
        yield path


def run_bench(tree: Path, name: str) -> tuple[str, float]:
    """``python -m bench NAME`` in ``tree``: its output and how long it took (s)."""
    t0 = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}  # before the editable install's
    p = subprocess.run([str(tree / ".venv" / "bin" / "python"), "-m", "bench", name],
                       cwd=tree, env=env, capture_output=True, text=True, check=False)  # fmt: skip
    out = p.stdout + (f"\n[exit {p.returncode}] {p.stderr.strip()[-2000:]}" if p.returncode else "")
    return out, time.monotonic() - t0


def ratios(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        m = _RATIO.match(line.strip())
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def compare(before: str, after: str, names: list[str]) -> Iterator[str]:
    b_short, a_short = git("rev-parse", "--short", before), git("rev-parse", "--short", after)
    yield f"== make bench, before = {b_short}, after = {a_short}"
    with checkout(before, "before") as wb, checkout(after, "after") as wa:
        for i, name in enumerate(names):
            have = [t for t in (wb, wa) if (t / "bench" / f"{name}.py").is_file()]
            if len(have) < 2:
                yield f"\n== {name}: skipped (not in both commits)"
                continue
            order = [("before", wb), ("after", wa)]
            if i % 2:
                order.reverse()
            outs: dict[str, str] = {}
            for label, tree in order:
                outs[label], took = run_bench(tree, name)
                yield f"\n==== {name}, {label} ({took:.0f} s)\n{outs[label].rstrip()}"
            rb, ra = ratios(outs["before"]), ratios(outs["after"])
            lines = [f"\n== {name}: ratios, before | after | after/before"]
            for key in [k for k in rb if k in ra]:
                rel = f"{ra[key] / rb[key]:.2f}" if rb[key] else "n/a"
                lines.append(f"  {key[:90]:<90} {rb[key]:6.2f}x | {ra[key]:6.2f}x | {rel}")
            yield "\n".join(lines)


def main(argv: list[str]) -> int:
    if "--" in argv:
        cut = argv.index("--")
        argv, names = argv[:cut], argv[cut + 1 :]
    else:
        names = list(BENCHES)
    if not argv:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    before, after = argv[0], argv[1] if len(argv) > 1 else "HEAD"
    try:
        for chunk in compare(git("rev-parse", before), git("rev-parse", after), names):
            print(chunk, flush=True)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"== make bench before/after: failed: {e}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
