"""dockyardd against podman, docker and runc, in one alternating run.

* ``dockyard run --rm busybox true`` through the daemon, with default networking and with
  ``--network none``; against ``podman run --rm`` (default network and ``--network none``),
  ``docker run --rm`` (bridge and ``--network none``; a private dockerd from
  :mod:`bench.refdocker`) and ``runc run`` of the same busybox bundle (issue 2's target);
* 50 x ``run -d busybox sleep`` of each engine (total seconds);
* host memory per idle running container: the one shim (RSS and PSS, total and the
  marginal cost of one more container) against podman's conmon (one per container).

Isolation (this host is shared): dockyardd and podman each run inside a private network +
mount namespace (:class:`bench.common.NsHolder`: ``unshare --net --mount --propagation
private``, a tmpfs on ``/run``; commands go in through ``nsenter -t HOLDER -n -m``), so
their bridges, veths, nft/iptables rules and ``ip_forward`` never touch the host's
namespaces; dockerd brings its own (see ``bench/refdocker.py``). Every case runs once per
round, the order rotating by one each round (``BENCH_RUNS`` rounds, at least 30), so load
changes on the shared CPUs fall on all alike; medians, p10/p90 and ratios to each target.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.common import (
    IMAGE_CACHE,
    VENV_BIN,
    NsHolder,
    Result,
    Tool,
    quantiles,
    remove_all,
    remove_work,
    report,
    run_ok,
    start_dockyardd,
    stop_dockyardd,
    time_round_robin,
    tool,
)
from bench.startup import PODMAN_CONF, _bundle

RUNS = max(30, int(os.environ.get("BENCH_RUNS", "30")))
DETACHED = int(os.environ.get("BENCH_DETACHED", "50"))
CLI = os.environ.get("DOCKYARD_BENCH_CLI", "").split() or [str(VENV_BIN / "dockyard")]

DY = "dockyard run --rm (default net)"
DY_NONE = "dockyard run --rm --network none"
PM = "podman run --rm (default net, private netns)"
PM_NONE = "podman run --rm --network none"
DK = "docker run --rm (bridge)"
DK_NONE = "docker run --rm --network none"
RUNC = "runc run (same busybox bundle)"


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


class Podman:
    """podman with its own root and run root, inside a private namespace holder."""

    def __init__(self, work: Path, holder: NsHolder, dockyard: list[str]) -> None:
        self.holder = holder
        conf = work / "containers.conf"
        conf.write_text(PODMAN_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        self.base = ["podman", "--root", str(work / "podman-root"), "--runroot",
                     str(work / "podman-run"), "--storage-driver", "overlay"]  # fmt: skip
        archive = work / "busybox-docker.tar"
        if not archive.exists():
            run_ok([*dockyard, "save", "--format", "docker", "-o", str(archive), "busybox:latest"])
        self.run("load", "-i", str(archive))
        try:  # crun refuses hybrid cgroup hosts with controllers on cgroup2: runc then
            self.run("run", "--rm", "--network", "none", "busybox:latest", "true")
        except RuntimeError:
            self.base += ["--runtime", "runc"]
            self.run("run", "--rm", "--network", "none", "busybox:latest", "true")

    def argv(self, *args: str) -> list[str]:
        return self.holder.wrap([*self.base, *args])

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True,
                              env=self.env, check=False)  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"podman {' '.join(args)}: {proc.stderr.strip()[-300:]}")
        return proc.stdout

    def conmons(self) -> list[int]:
        out = subprocess.run(["pgrep", "-x", "conmon"], capture_output=True, text=True,
                             check=False).stdout.split()  # fmt: skip
        return [int(p) for p in out if self.holder.holds(int(p))]

    def cleanup(self) -> None:
        self.run("rm", "-af", "-t", "0", check=False)
        self.run("system", "reset", "-f", check=False)


def _detached(argv_for: Callable[[int], Sequence[str]], env: dict[str, str] | None,
              n: int) -> float:  # fmt: skip
    t0 = time.perf_counter()
    for i in range(n):
        proc = subprocess.run(list(argv_for(i)), capture_output=True, text=True,
                              env=env, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv_for(i))}: {proc.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


def _holders(run_root: Path) -> tuple[list[int], list[int]]:
    """The holders of running containers and those of prepared ones (with their waiting
    inits), from the records under ``run_root`` (docs/decisions/0006-holders.md)."""
    import json

    running: list[int] = []
    prepared: list[int] = []
    for path in (run_root / "holders").glob("*.json"):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pid = int(rec.get("holder") or 0)
        if rec.get("spare"):
            prepared += [pid, int(rec.get("pid") or 0)]
        else:
            running.append(pid)
    return running, prepared


def _launcher_of(daemon: int) -> tuple[int, int]:
    """RSS and PSS of the daemon's launcher (engine/launcher.py), its only child."""
    kids: list[int] = []
    try:  # (started by one of its threads: each task lists its own children)
        for task in os.listdir(f"/proc/{daemon}/task"):
            with open(f"/proc/{daemon}/task/{task}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    total = [_rss_pss_kb(k) for k in kids]
    return sum(m[0] for m in total), sum(m[1] for m in total)


def _memory(dy: list[str], run_root: Path, podman: Podman | None) -> str:
    lines = [
        "== host memory per idle running container (RSS; PSS in brackets): its holder, plus"
        " the daemon's growth per container since 1 (the daemon and its launcher are not"
        " counted, as dockerd/containerd are not for docker: no running container needs them)"
    ]
    daemon_at: dict[int, tuple[int, int]] = {}
    for n in (1, 10, 50):
        have = len(run_ok([*dy, "ps", "-q"]).split())
        for _ in range(have, n):
            run_ok([*dy, "run", "-d", "--network", "none", "busybox", "sleep", "3600"])
        time.sleep(0.5)
        daemon = int((run_root / "dockyard.pid").read_text())
        daemon_at[n] = _rss_pss_kb(daemon)
        launcher = _launcher_of(daemon)
        running, prepared = _holders(run_root)
        held = [_rss_pss_kb(p) for p in running]
        held = [m for m in held if m[0] > 0]
        h_rss = sum(m[0] for m in held) / max(len(held), 1)
        h_pss = sum(m[1] for m in held) / max(len(held), 1)
        g_rss = g_pss = 0.0
        if n > 1:
            g_rss = (daemon_at[n][0] - daemon_at[1][0]) / (n - 1)
            g_pss = (daemon_at[n][1] - daemon_at[1][1]) / (n - 1)
        rss, pss = h_rss + max(g_rss, 0.0), h_pss + max(g_pss, 0.0)
        spare = [_rss_pss_kb(p) for p in prepared if p > 0]
        line = (f"dockyard, {n:>2} containers: holder {h_rss:6.0f} KB [{h_pss:6.0f}]"
                f" + daemon growth {g_rss:6.0f} KB [{g_pss:6.0f}] = {rss / 1024:5.3f} MB"
                f" [{pss / 1024:5.3f}] per container; daemon {daemon_at[n][0] / 1024:5.1f} MB;"
                f" launcher {launcher[0] / 1024:4.1f} MB [{launcher[1] / 1024:4.1f}];"
                f" {len(spare) // 2} prepared container(s) held for the next run"
                f" {sum(m[0] for m in spare) / 1024:5.1f} MB"
                f" [{sum(m[1] for m in spare) / 1024:5.1f}]")  # fmt: skip
        if podman is not None:
            have_p = len(podman.run("ps", "-q").split())
            for _ in range(have_p, n):
                podman.run("run", "-d", "--network", "none", "busybox:latest", "sleep", "3600")
            time.sleep(0.5)
            mem = [_rss_pss_kb(p) for p in podman.conmons()]
            mem = [m for m in mem if m[0] > 0]
            if mem:
                c_rss = sum(m[0] for m in mem) / len(mem)
                c_pss = sum(m[1] for m in mem) / len(mem)
                line += (f" | conmon: {c_rss / 1024:5.2f} MB [{c_pss / 1024:5.2f}] per container"
                         f" | ratio {rss / c_rss:.3f}x RSS, {pss / c_pss:.3f}x PSS"
                         " (target <= 1.0x)")  # fmt: skip
        lines.append(line)
    return "\n".join(lines)


def _docker_cases(env: object) -> list[Tool]:
    cli = env.cli  # type: ignore[attr-defined]
    return [
        Tool(DK, lambda i: cli("run", "--rm", "busybox", "true")),
        Tool(DK_NONE, lambda i: cli("run", "--rm", "--network", "none", "busybox", "true")),
    ]


def main() -> str:
    from bench.refdocker import docker_daemon

    work = Path(tempfile.mkdtemp(prefix="dyb-"))
    root, run_root = work / "root", work / "run"
    dy = [*CLI, "--root", str(root), "--run-root", str(run_root)]
    holders: list[NsHolder] = []
    podman: Podman | None = None
    out: list[str] = []
    why: list[str] = []
    try:
        dy_ns = NsHolder()
        holders.append(dy_ns)
        start_dockyardd(dy_ns, root, run_root)
        run_ok([*dy, "load", "-i", str(IMAGE_CACHE / "busybox_latest.tar")])
        tools = [
            Tool(DY, lambda i: [*dy, "run", "--rm", "busybox", "true"]),
            Tool(DY_NONE, lambda i: [*dy, "run", "--rm", "--network", "none", "busybox", "true"]),
        ]
        if tool("runc") and tool("umoci"):
            bundle = _bundle(work, dy)
            rr = work / "runc"
            tools.append(Tool(RUNC, lambda i: ["runc", "--root", str(rr), "run", "-b",
                                                 str(bundle), f"r{i}"]))  # fmt: skip
        if tool("podman"):
            pm_ns = NsHolder()
            holders.append(pm_ns)
            podman = Podman(work, pm_ns, dy)
            pm = podman
            tools += [
                Tool(PM, lambda i: pm.argv("run", "--rm", "busybox:latest", "true"), pm.env),
                Tool(PM_NONE, lambda i: pm.argv("run", "--rm", "--network", "none",
                                                 "busybox:latest", "true"), pm.env),
            ]  # fmt: skip
        with docker_daemon(work / "d", why) as denv:
            if denv is not None:
                tar = work / "busybox-docker.tar"
                if not tar.exists():
                    run_ok([*dy, "save", "--format", "docker", "-o", str(tar), "busybox:latest"])
                denv.load(tar)
                tools += _docker_cases(denv)
            results = time_round_robin(tools, RUNS)
            if denv is None:
                results += [Result(DK, [], f"skipped: {why[-1] if why else '?'}"),
                            Result(DK_NONE, [], "skipped")]  # fmt: skip
            out += [
                report("dockyard run --rm busybox true via dockyardd, default networking",
                       results, DY, {DK: 0.2, PM: 0.2, RUNC: 1.0}),
                report("... with --network none", results, DY_NONE,
                       {PM_NONE: 0.2, DK_NONE: 0.2, RUNC: 1.0}),
                report("issue 2: the same command against runc and podman --network none",
                       results, DY, {RUNC: 1.0, PM_NONE: 0.3}),
            ]  # fmt: skip
            # 50 x run -d, one engine after the other (each leaves its containers running)
            lines = [f"== {DETACHED} x run -d busybox sleep 3600 (total seconds)"]
            totals: dict[str, float] = {}
            engines: list[tuple[str, Callable[[int], Sequence[str]], dict[str, str] | None]] = [
                ("dockyard", lambda i: [*dy, "run", "-d", "busybox", "sleep", "3600"], None),
            ]
            if denv is not None:
                dcli = denv.cli
                engines.append(("docker", lambda i: dcli("run", "-d", "busybox", "sleep",
                                                          "3600"), None))  # fmt: skip
            if podman is not None:
                engines.append(("podman --network none",
                                lambda i: pm.argv("run", "-d", "--network", "none",
                                                  "busybox:latest", "sleep", "3600"),
                                pm.env))  # fmt: skip
            for name, argv_for, env in engines:
                try:
                    totals[name] = _detached(argv_for, env, DETACHED)
                    lines.append(f"{name:<24} {totals[name]:7.2f} s "
                                 f"({totals[name] / DETACHED * 1000:.0f} ms each)")  # fmt: skip
                except RuntimeError as e:
                    lines.append(f"{name:<24} n/a ({e})")
            for other, target in (("docker", 0.2), ("podman --network none", None)):
                if "dockyard" in totals and other in totals:
                    r = totals["dockyard"] / totals[other]
                    verdict = (
                        ""
                        if target is None
                        else (f" (target <= {target}x) {'ok' if r <= target else 'MISSED'}")
                    )
                    lines.append(f"ratio dockyard / {other}: {r:.2f}x{verdict}")
            out.append("\n".join(lines))
        run_ok([*dy, "rm", "-f", *run_ok([*dy, "ps", "-aq"]).split()])
        if podman is not None:
            podman.run("rm", "-af", "-t", "0", check=False)
        try:
            out.append(_memory(dy, run_root, podman))
        except (RuntimeError, OSError, ValueError) as e:
            out.append(f"== memory: n/a ({e})")
        med = {r.name: quantiles(r.samples)[0] for r in results if r.samples}
        if DY in med and DY_NONE in med:
            out.append(f"(medians, ms: {', '.join(f'{k} {v * 1000:.1f}' for k, v in med.items())})")
        return "\n\n".join(out)
    finally:
        _cleanup(dy, run_root, podman, holders, work)


def _cleanup(dy: list[str], run_root: Path, podman: Podman | None, holders: list[NsHolder],
             work: Path) -> None:  # fmt: skip
    if holders:  # the first holds dockyardd
        remove_all(holders[0], dy, run_root)
    stop_dockyardd(run_root)
    if podman is not None:
        podman.cleanup()
    time.sleep(1.0)
    for h in holders:  # the namespaces (and the mounts made in them) go with their last process
        h.close()
    remove_work(work)


if __name__ == "__main__":
    print(main())
