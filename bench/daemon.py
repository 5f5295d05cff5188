"""dockyardd: ``dockyard run --rm busybox true`` through the daemon against
``podman run --rm`` (and ``docker run --rm`` when a dockerd already runs: none is
started), with default networking and with ``--network none``; 50 ``run -d sleep``;
host memory per idle container (the shim's RSS divided over its containers)
against podman's conmon (one per container). Round-robin alternation, medians.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import IMAGE_CACHE, VENV_BIN, Result, report, tool
from bench.startup import _podman, _run

RUNS = max(30, int(os.environ.get("BENCH_RUNS", "30")))
CLI = os.environ.get("DOCKYARD_BENCH_CLI", "").split() or [str(VENV_BIN / "dockyard")]


def _alternate(
    cases: list[tuple[str, Callable[[int], Sequence[str]], dict[str, str]]], runs: int
) -> list[Result]:
    """Run each case once per round, round after round, so load drifts hit all alike."""
    samples: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    errors: dict[str, str] = {}
    for i in range(-2, runs):
        for name, argv_for, env in cases:
            if name in errors:
                continue
            t0 = time.perf_counter()
            proc = subprocess.run(list(argv_for(i)), env={**os.environ, **env},
                                  capture_output=True, text=True, check=False)  # fmt: skip
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                msg = (proc.stderr or proc.stdout).strip().splitlines()
                errors[name] = f"exit {proc.returncode}: {msg[-1] if msg else ''}"
            elif i >= 0:
                samples[name].append(dt)
    return [Result(name, samples[name], errors.get(name)) for name, _, _ in cases]


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _conmon_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "conmon"], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def _memory(dy: list[str], run_root: Path, podman: tuple[list[str], dict[str, str]] | None) -> str:
    lines = ["== host memory per idle container (RSS; PSS in brackets)"]
    base_conmon = set(_conmon_pids())
    for n in (1, 10, 50):
        have = len(_run([*dy, "ps", "-q"]).split())
        for _ in range(have, n):
            _run([*dy, "run", "-d", "busybox", "sleep", "3600"])
        time.sleep(0.5)
        shim = int((run_root / "shim.pid").read_text())
        rss, pss = _rss_kb(shim), _pss_kb(shim)
        line = (f"dockyard shim, {n:>2} containers: {rss / 1024:6.1f} MB total, "
                f"{rss / n / 1024:5.2f} MB [{pss / n / 1024:5.2f}] per container")  # fmt: skip
        if podman is not None:
            base, env = podman
            pe = {**os.environ, **env}
            have_p = len(subprocess.run([*base, "ps", "-q"], capture_output=True, text=True,
                                        env=pe, check=False).stdout.split())  # fmt: skip
            for _ in range(have_p, n):
                subprocess.run(
                    [*base, "run", "-d", "--network", "none", "busybox:latest", "sleep", "3600"],
                    capture_output=True,
                    env=pe,
                    check=False,
                )
            time.sleep(0.5)
            pids = [p for p in _conmon_pids() if p not in base_conmon and _rss_kb(p) > 0]
            if pids:
                c_rss = statistics.mean(_rss_kb(p) for p in pids)
                c_pss = statistics.mean(_pss_kb(p) for p in pids)
                line += f" | conmon: {c_rss / 1024:5.2f} MB [{c_pss / 1024:5.2f}] per container"
                line += f" | ratio {rss / n / c_rss:.2f}x"
        lines.append(line)
    return "\n".join(lines)


def main() -> str:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-daemon-"))
    root, run_root = work / "root", work / "run"
    dy = [*CLI, "--root", str(root), "--run-root", str(run_root)]
    podman = None
    try:
        _run([*dy, "load", "-i", str(IMAGE_CACHE / "busybox_latest.tar")])
        podman = _podman(work, dy) if tool("podman") else None
        cases: list[tuple[str, Callable[[int], Sequence[str]], dict[str, str]]] = [
            ("dockyard run --rm (default net)",
             lambda i: [*dy, "run", "--rm", "busybox", "true"], {}),
            ("dockyard run --rm --network none",
             lambda i: [*dy, "run", "--rm", "--network", "none", "busybox", "true"], {}),
        ]  # fmt: skip
        if podman is not None:
            base, env = podman
            cases += [
                ("podman run --rm (default net)",
                 lambda i: [*base, "run", "--rm", "busybox:latest", "true"], env),
                ("podman run --rm --network none",
                 lambda i: [*base, "run", "--rm", "--network", "none", "busybox:latest", "true"],
                 env),
            ]  # fmt: skip
        docker = shutil.which("docker")
        if docker and subprocess.run([docker, "info"], capture_output=True,
                                     check=False).returncode == 0:  # fmt: skip
            cases.append(("docker run --rm (default net)",
                          lambda i: [docker, "run", "--rm", "busybox", "true"], {}))  # fmt: skip
        results = _alternate(cases, RUNS)
        out = [
            report("dockyard run --rm busybox true via dockyardd, default networking", results,
                   "dockyard run --rm (default net)",
                   {"docker run --rm (default net)": 0.2,
                    "podman run --rm (default net)": 0.2}),
            report("... with --network none", results, "dockyard run --rm --network none",
                   {"podman run --rm --network none": 0.2}),
        ]  # fmt: skip
        t0 = time.perf_counter()
        for _ in range(50):
            _run([*dy, "run", "-d", "busybox", "sleep", "3600"])
        total = time.perf_counter() - t0
        line = f"== 50 x dockyard run -d busybox sleep: {total:.2f} s total"
        if podman is not None:
            base, env = podman
            t0 = time.perf_counter()
            for _ in range(50):
                subprocess.run([*base, "run", "-d", "--network", "none", "busybox:latest",
                                "sleep", "3600"], capture_output=True, check=False,
                               env={**os.environ, **env})  # fmt: skip
            ptotal = time.perf_counter() - t0
            line += f"; podman run -d --network none: {ptotal:.2f} s ({total / ptotal:.2f}x)"
        out.append(line)
        _run([*dy, "rm", "-f", *_run([*dy, "ps", "-aq"]).split()])
        if podman is not None:
            base, env = podman
            subprocess.run([*base, "rm", "-af", "-t", "0"], capture_output=True, check=False,
                           env={**os.environ, **env})  # fmt: skip
        try:
            out.append(_memory(dy, run_root, podman))
        except (RuntimeError, OSError, ValueError) as e:
            out.append(f"== memory: n/a ({e})")
        return "\n\n".join(out)
    finally:
        _cleanup(dy, run_root, podman, work)


def _cleanup(dy: list[str], run_root: Path, podman: object, work: Path) -> None:
    ids = subprocess.run([*dy, "ps", "-aq"], capture_output=True, text=True, check=False)
    if ids.stdout.split():
        subprocess.run([*dy, "rm", "-f", *ids.stdout.split()], capture_output=True, check=False)
    for name in ("dockyard.pid", "shim.pid"):
        try:
            os.kill(int((run_root / name).read_text()), 15)
        except (OSError, ValueError):
            pass
    if podman is not None:
        base, env = podman  # type: ignore[misc]
        subprocess.run([*base, "rm", "-af", "-t", "0"], capture_output=True, check=False,
                       env={**os.environ, **env})  # fmt: skip
        subprocess.run([*base, "system", "reset", "-f"], capture_output=True, check=False,
                       env={**os.environ, **env})  # fmt: skip
    subprocess.run(["umount", "-R", str(work / "podman-root")], capture_output=True, check=False)
    time.sleep(0.5)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if str(work) in line]
    for p in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True, check=False)
    shutil.rmtree(work, ignore_errors=True)
