"""Image builds: ``dockyard build`` against ``buildah bud --layers`` (and ``docker build``
on a private dockerd from :mod:`bench.refdocker`) on the same context and Dockerfile.

The context: 200 files of 1 KiB and one 50 MiB file (random bytes); a two-stage
Dockerfile (WORKDIR, two COPYs, two RUNs; then COPY --from, a RUN and a CMD) on
busybox.  Four scenarios, each timed ``BENCH_BUILD_RUNS`` times (default 3) on a
fresh store: cold, rebuild with no change, rebuild after ``touch`` of every
file, rebuild after a content edit of one small file.  *Cold* means the same for
every tool: the base image is in the store, unpacked (``dockyard load`` unpacks
its layers as ``docker load`` does), and there is no build cache (a fresh
dockyard root; ``docker builder prune -af`` before docker's).  Ratios are dockyard's
median over the reference's.  buildah runs with ``--runtime runc`` (crun refuses
this host's hybrid cgroups) and ``--network host`` (as dockyard's RUN).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import IMAGE_CACHE, VENV_BIN, Result, report, tool
from bench.common import run_ok as _run
from bench.refdocker import DockerEnv, docker_daemon

RUNS = int(os.environ.get("BENCH_BUILD_RUNS", "3"))
DOCKER_TARGETS = {"cold": 0.8, "no change": 0.3, "touch": 0.3, "content edit": 0.7}
SMALL_FILES = 200
BIG_MIB = 50

DOCKERFILE = """\
FROM busybox AS build
WORKDIR /src
COPY big.bin ./
COPY small/ ./small/
RUN cat small/* | wc -c > /src/small.count
RUN sha256sum big.bin > /src/big.sha
FROM busybox
COPY --from=build /src /app
RUN ls /app > /app/list
CMD ["cat", "/app/list"]
"""
SCENARIOS = ("cold", "no change", "touch", "content edit")


def make_context(ctx: Path) -> None:
    (ctx / "small").mkdir(parents=True)
    for i in range(SMALL_FILES):
        (ctx / "small" / f"f{i:03d}.txt").write_bytes(os.urandom(512).hex().encode())
    with open(ctx / "big.bin", "wb") as f:
        for _ in range(BIG_MIB):
            f.write(os.urandom(1 << 20))
    (ctx / "Dockerfile").write_text(DOCKERFILE)


def _touch(ctx: Path) -> None:
    now = time.time()
    for p in ctx.rglob("*"):
        if p.is_file() and p.name != "Dockerfile":
            os.utime(p, (now, now))


def _edit(ctx: Path, n: int) -> None:
    (ctx / "small" / "f007.txt").write_text(f"edited {n}\n")


class Tool:
    """One builder: ``setup`` makes a fresh store with busybox, ``build`` builds the context."""

    def __init__(self, name: str, setup: Callable[[Path], list[str]], cleanup: Callable[[Path],
                 None]) -> None:  # fmt: skip
        self.name = name
        self.setup = setup
        self.cleanup = cleanup


def _dockyard(work: Path) -> Tool:
    archive = work / "busybox.tar"
    shutil.copy(IMAGE_CACHE / "busybox_latest.tar", archive)

    def setup(d: Path) -> list[str]:
        base = [str(VENV_BIN / "dockyard"), "--root", str(d / "root"), "--run-root",
                str(d / "run")]  # fmt: skip
        _run([*base, "load", "-i", str(archive)])
        return [*base, "build", "-q", "-t", "bench:1"]

    def cleanup(d: Path) -> None:
        shutil.rmtree(d, ignore_errors=True)

    return Tool("dockyard build", setup, cleanup)


def _buildah(work: Path) -> Tool | None:
    if tool("buildah") is None:
        return None
    archive = work / "busybox-docker.tar"
    dockyard = [str(VENV_BIN / "dockyard"), "--root", str(work / "export"), "--run-root",
                str(work / "export-run")]  # fmt: skip
    _run([*dockyard, "load", "-i", str(IMAGE_CACHE / "busybox_latest.tar")])
    _run([*dockyard, "save", "--format", "docker", "-o", str(archive), "busybox:latest"])

    def base(d: Path) -> list[str]:
        return ["buildah", "--root", str(d / "root"), "--runroot", str(d / "run"),
                "--storage-driver", "overlay"]  # fmt: skip

    def setup(d: Path) -> list[str]:
        _run([*base(d), "pull", "-q", f"docker-archive:{archive}"])
        return [*base(d), "bud", "--layers", "-q", "--runtime", "runc", "--network", "host",
                "-t", "bench:1"]  # fmt: skip

    def cleanup(d: Path) -> None:
        subprocess.run([*base(d), "rmi", "-af"], capture_output=True, check=False)
        subprocess.run(["umount", "-R", str(d / "root")], capture_output=True, check=False)
        shutil.rmtree(d, ignore_errors=True)

    return Tool("buildah bud --layers", setup, cleanup)


def _docker(work: Path, env: DockerEnv) -> Tool:
    """``docker build`` against a private dockerd (:func:`bench.refdocker.docker_daemon`),
    busybox loaded from the same image as the others; the build cache pruned per run."""
    archive = work / "busybox-docker.tar"
    if not archive.exists():
        dockyard = [str(VENV_BIN / "dockyard"), "--root", str(work / "export"), "--run-root",
                    str(work / "export-run")]  # fmt: skip
        _run([*dockyard, "load", "-i", str(IMAGE_CACHE / "busybox_latest.tar")])
        _run([*dockyard, "save", "--format", "docker", "-o", str(archive), "busybox:latest"])
    env.load(archive)

    def setup(d: Path) -> list[str]:
        d.mkdir(parents=True, exist_ok=True)
        env.run("rmi", "-f", "dockyard-bench:1", check=False)
        env.run("builder", "prune", "-af", check=False)
        return env.cli("build", "-q", "-t", "dockyard-bench:1")

    return Tool("docker build", setup, lambda d: None)


def _measure(t: Tool, work: Path, ctx: Path) -> dict[str, Result]:
    samples: dict[str, list[float]] = {s: [] for s in SCENARIOS}
    for n in range(RUNS):
        d = work / f"{t.name.split()[0]}-{n}"
        d.mkdir()
        try:
            argv = [*t.setup(d), str(ctx)]
            for scenario in SCENARIOS:
                if scenario == "touch":
                    _touch(ctx)
                elif scenario == "content edit":
                    _edit(ctx, n)
                t0 = time.perf_counter()
                _run(argv)
                samples[scenario].append(time.perf_counter() - t0)
        except RuntimeError as exc:
            return {s: Result(f"{t.name} ({s})", [], str(exc)[-200:]) for s in SCENARIOS}
        finally:
            t.cleanup(d)
    return {s: Result(f"{t.name} ({s})", v) for s, v in samples.items()}


def main() -> str:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-build-"))
    try:
        ctx = work / "ctx"
        make_context(ctx)
        tools = [t for t in (_dockyard(work), _buildah(work)) if t is not None]
        measured = {t.name: _measure(t, work, ctx) for t in tools}
        why: list[str] = []
        with docker_daemon(work / "d", why) as denv:  # a private dockerd, torn down after
            if denv is not None:
                docker = _docker(work, denv)
                measured[docker.name] = _measure(docker, work, ctx)
        out = []
        for scenario in SCENARIOS:
            results = [m[scenario] for m in measured.values()]
            base = f"dockyard build ({scenario})"
            # issue 4's targets against docker; buildah is shown for comparison (≤ 1.0x)
            targets = {f"{name} ({scenario})": DOCKER_TARGETS[scenario] if name == "docker build"
                       else 1.0 for name in measured if name != "dockyard build"}  # fmt: skip
            out.append(report(f"build: {scenario} ({RUNS} runs)", results, base, targets))
        if "docker build" not in measured:
            out.append(f"docker build: skipped ({why[-1] if why else 'no dockerd'})")
        return "\n\n".join(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(main())
