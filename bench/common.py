"""Shared benchmark helpers: timing loops, medians, ratio tables, tool discovery, commands
that must succeed, waiting for a condition, a private dockyardd in a namespace holder
(:class:`Dockyard`), and removing a work directory with what is still mounted in it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
IMAGE_CACHE = REPO / ".cache" / "images"


@dataclass
class Result:
    name: str
    samples: list[float]
    error: str | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")


def time_command(
    name: str,
    argv_for: Callable[[int], Sequence[str]],
    runs: int,
    env: dict[str, str] | None = None,
    warmup: int = 3,
    after: Callable[[int], None] | None = None,
) -> Result:
    """Run ``argv_for(i)`` ``runs`` times (after warm-up), timing each run's wall clock."""
    samples: list[float] = []
    full_env = {**os.environ, **(env or {})}
    for i in range(-warmup, runs):
        argv = list(argv_for(i))
        t0 = time.perf_counter()
        proc = subprocess.run(argv, env=full_env, capture_output=True, text=True, check=False)
        dt = time.perf_counter() - t0
        if after is not None:
            after(i)
        if proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            return Result(name, samples, f"exit {proc.returncode}: {msg[-1] if msg else ''}")
        if i >= 0:
            samples.append(dt)
    return Result(name, samples)


@dataclass
class Tool:
    """One command line timed by :func:`time_round_robin`: ``argv_for(i)`` for run ``i``."""

    name: str
    argv_for: Callable[[int], Sequence[str]]
    env: dict[str, str] | None = None


def time_round_robin(tools: Sequence[Tool], runs: int, warmup: int = 3) -> list[Result]:
    """Time every tool ``runs`` times, alternating: each round runs each tool once, the
    order rotating by one every round, so a change in the machine's load (shared CPUs)
    falls on every tool alike and the ratios of one run stay fair. A tool that fails is
    dropped from later rounds and reported with its error."""
    samples: dict[str, list[float]] = {t.name: [] for t in tools}
    errors: dict[str, str] = {}
    envs = {t.name: {**os.environ, **(t.env or {})} for t in tools}
    for i in range(-warmup, runs):
        k = i % len(tools)
        for t in [*tools[k:], *tools[:k]]:
            if t.name in errors:
                continue
            argv = list(t.argv_for(i))
            t0 = time.perf_counter()
            proc = subprocess.run(
                argv, env=envs[t.name], capture_output=True, text=True, check=False
            )
            dt = time.perf_counter() - t0
            if proc.returncode != 0:
                msg = (proc.stderr or proc.stdout).strip().splitlines()
                errors[t.name] = f"exit {proc.returncode}: {msg[-1] if msg else ''}"
            elif i >= 0:
                samples[t.name].append(dt)
    return [Result(t.name, samples[t.name], errors.get(t.name)) for t in tools]


def tool(name: str) -> str | None:
    return shutil.which(name)


def run_ok(argv: Sequence[str], *, what: str = "", **kw: Any) -> str:
    """``argv``'s stdout; a non-zero exit raises RuntimeError with the end of its stderr
    (``what`` names the command in it, the whole command line by default)."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kw)
    if proc.returncode != 0:
        said = (proc.stderr or proc.stdout).strip()[-500:]
        raise RuntimeError(f"{what or ' '.join(argv)}: {said}")
    return str(proc.stdout)


def wait_for(fn: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``fn`` every ``interval`` seconds until it is true; RuntimeError after
    ``timeout`` seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def unmount_under(path: Path) -> None:
    """Lazily unmount whatever is still mounted beneath ``path`` (deepest first)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f if str(path) in line]
    for p in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True, check=False)


def remove_work(work: Path) -> None:
    """Remove a benchmark's work directory, unmounting what is still mounted in it first."""
    unmount_under(work)
    shutil.rmtree(work, ignore_errors=True)


HOLDER_SCRIPT = (
    "ip link set lo up && mount -t tmpfs -o mode=0755,size=64m dybench-run /run && "
    "echo ready && exec sleep 1000000"
)


class NsHolder:
    """A private network + mount namespace, held by a ``sleep`` (``unshare --net --mount
    --propagation private``, ``lo`` up, a private tmpfs on ``/run``): what a benchmark
    runs in it (``wrap(argv)``: ``nsenter -t PID -n -m``) makes its bridges, veths,
    iptables/nft rules, ``ip_forward`` and ``/run`` state there, never in the host's
    namespaces. ``close()`` kills the holder by its PID; the namespaces go with the last
    process in them (stop what you started in them first)."""

    def __init__(self) -> None:
        if tool("unshare") is None or tool("nsenter") is None:
            raise RuntimeError("unshare/nsenter not installed")
        self.proc = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--",
             "sh", "-c", HOLDER_SCRIPT],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            self.close()
            raise RuntimeError(f"namespace holder did not start: {err.strip()}")
        self.pid = self.proc.pid  # sh exec'd sleep: the same process, in the namespaces
        for kind in ("net", "mnt"):
            if os.readlink(f"/proc/{self.pid}/ns/{kind}") == os.readlink(f"/proc/self/ns/{kind}"):
                self.close()
                raise RuntimeError(f"namespace holder shares our {kind} namespace")

    def wrap(self, argv: Sequence[str]) -> list[str]:
        return ["nsenter", "-t", str(self.pid), "-n", "-m", "--", *argv]

    def holds(self, pid: int) -> bool:
        """Whether ``pid`` runs in this holder's network namespace."""
        try:
            return os.readlink(f"/proc/{pid}/ns/net") == os.readlink(f"/proc/{self.pid}/ns/net")
        except OSError:
            return False

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


def start_dockyardd(holder: NsHolder, root: Path, run_root: Path) -> int:
    """Start dockyardd for (root, run_root) inside ``holder``'s namespaces (the CLI then
    finds it and does not start one in ours); its PID once both sockets answer."""
    import socket

    root.mkdir(parents=True, exist_ok=True)
    run_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(root / "daemon.log", "ab") as log:
        proc = subprocess.Popen(
            holder.wrap([str(VENV_BIN / "python"), "-m", "dockyard.api.server",
                         "--root", str(root), "--run-root", str(run_root)]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockyardd exited {proc.returncode} (see {root / 'daemon.log'})")
        ok = 0
        for name in ("dockyard.sock", "dockyard-stdio.sock"):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(run_root / name))
                    ok += 1
                except OSError:
                    pass
        if ok == 2:
            return proc.pid
        time.sleep(0.05)
    raise RuntimeError("dockyardd did not answer within 60 s")


def remove_all(holder: NsHolder, cli: Sequence[str], run_root: Path) -> None:
    """``rm -f`` every container of the daemon of ``run_root``: only while that daemon runs
    (the CLI would start one otherwise) and inside ``holder`` (so that even then it would
    not be in the host's namespaces)."""
    try:
        os.kill(int((run_root / "dockyard.pid").read_text()), 0)
    except (OSError, ValueError):
        return
    ids = subprocess.run(holder.wrap([*cli, "ps", "-aq"]), capture_output=True, text=True,
                         check=False).stdout.split()  # fmt: skip
    if ids:
        subprocess.run(holder.wrap([*cli, "rm", "-f", *ids]), capture_output=True, check=False)


def stop_dockyardd(run_root: Path) -> None:
    """SIGTERM to the daemon of ``run_root``, by the PID it wrote (its shim is a thread)."""
    import signal

    try:
        os.kill(int((run_root / "dockyard.pid").read_text()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def quantiles(samples: Sequence[float]) -> tuple[float, float, float]:
    """(median, p10, p90) of ``samples``."""
    if not samples:
        return float("nan"), float("nan"), float("nan")
    if len(samples) < 2:
        return samples[0], samples[0], samples[0]
    qs = statistics.quantiles(samples, n=10, method="inclusive")
    return statistics.median(samples), qs[0], qs[-1]


def report(title: str, results: list[Result], baseline: str, targets: dict[str, float]) -> str:
    """A table of medians and the ratio of the first result to each other one."""
    lines = [f"== {title}", f"{'tool':<40} {'runs':>5} {'median ms':>10} {'p10':>8} {'p90':>8}"]
    by_name = {r.name: r for r in results}
    for r in results:
        if r.error:
            lines.append(f"{r.name:<40} {'-':>5} {'n/a':>10}  ({r.error})")
            continue
        qs = (statistics.quantiles(r.samples, n=10, method="inclusive")  # within the samples
              if len(r.samples) >= 2 else [r.median] * 9)  # fmt: skip
        lines.append(
            f"{r.name:<40} {len(r.samples):>5} {r.median * 1000:>10.1f} "
            f"{qs[0] * 1000:>8.1f} {qs[-1] * 1000:>8.1f}"
        )
    base = by_name.get(baseline)
    if base is not None and not base.error:
        for other, target in targets.items():
            o = by_name.get(other)
            if o is None or o.error or not o.samples:
                lines.append(f"ratio {baseline} / {other}: n/a (target <= {target}x)")
                continue
            ratio = base.median / o.median
            verdict = "ok" if ratio <= target else "MISSED"
            lines.append(
                f"ratio {baseline} / {other}: {ratio:.2f}x (target <= {target}x) {verdict}"
            )
    return "\n".join(lines)


CLI = [str(VENV_BIN / "dockyard")]


class Dockyard:
    """dockyardd in ``holder``'s namespaces; the CLI goes in with ``nsenter``.

    ``src``: run another checkout's ``src`` (an older commit's worktree) with this venv: the
    daemon gets it first on ``PYTHONPATH`` (its launchers inherit its ``sys.path``), the CLI
    is a copy of the venv's fast launcher with that ``src`` in place of this one's."""

    def __init__(self, holder: NsHolder, work: Path, *settings: str,
                 src: Path | None = None) -> None:  # fmt: skip
        self.holder = holder
        self.root, self.run_root = work / "root", work / "run"
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = None
        self.cli = CLI
        if src is not None:
            env = {**os.environ, "PYTHONPATH": str(src)}
            self.cli = [str(_launcher(src, work / "dockyard"))]
        with open(self.root / "daemon.log", "ab") as log:
            self.proc = subprocess.Popen(
                holder.wrap([str(VENV_BIN / "python"), "-m", "dockyard.api.server",
                             "--root", str(self.root), "--run-root", str(self.run_root),
                             *settings]),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited (see {self.root / 'daemon.log'})")
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(self.run_root / "dockyard.sock"))
                    return
                except OSError:
                    time.sleep(0.05)
        raise RuntimeError("dockyardd did not answer within 60 s")

    def argv(self, *args: str) -> list[str]:
        return self.holder.wrap(
            [*self.cli, "--root", str(self.root), "--run-root", str(self.run_root), *args]
        )

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, input=input,
                              check=False, timeout=300)  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"dockyard {' '.join(args)}: {proc.stderr.strip()[-300:]}")
        return proc.stdout

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            self.run("get", "pods", "-o", "json", "-l", selector)
        )["items"]
        return items

    def ready(self, selector: str) -> int:
        return sum(
            1
            for p in self.pods(selector)
            if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
            and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
        )

    def api(self, path: str) -> Any:
        """GET ``path`` from the daemon's API socket (cheaper than a CLI process per poll)."""
        import http.client

        sock_path = str(self.run_root / "dockyard.sock")

        class Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(sock_path)

        c = Conn("localhost", timeout=30)
        try:
            c.request("GET", path)
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def ready_replicas(self, name: str) -> int:
        d = self.api(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        return int((d.get("status") or {}).get("readyReplicas") or 0)

    def close(self) -> None:
        ids = self.run("ps", "-aq", check=False).split()
        if ids:
            self.run("rm", "-f", *ids, check=False)
        stop_dockyardd(self.run_root)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        sweep(self.run_root)


def sweep(run_root: Path) -> None:
    """After the daemon stopped: delete the containers still in its runtime's state (a
    controller may have made one after ``ps``; a stopped daemon leaves containers running,
    as dockerd with live-restore) with their cgroups, and SIGKILL its holders. A bench run
    leaves nothing on the shared machine."""
    from dockyard.engine.holder import start_time
    from dockyard.errors import DockyardError
    from dockyard.runtime import Runtime

    with contextlib.suppress(DockyardError, OSError):
        rt = Runtime(run_root / "runtime")
        for st in rt.list():
            with contextlib.suppress(DockyardError, OSError):
                rt.delete(st.id, force=True)
    for path in (run_root / "holders").glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            rec = json.loads(path.read_text())
            if start_time(int(rec["holder"])) == rec["holder_start"]:
                os.kill(int(rec["holder"]), signal.SIGKILL)


def _launcher(src: Path, dest: Path) -> Path:
    """The venv's ``dockyard`` launcher (tools/write-launchers.py) running ``src``."""
    text = (VENV_BIN / "dockyard").read_text()
    mine = f"sys.path[:0] = [{str(REPO / 'src')!r}]"
    if mine not in text:
        raise RuntimeError(f"{VENV_BIN / 'dockyard'}: not a launcher of {REPO} (make setup)")
    dest.write_text(text.replace(mine, f"sys.path[:0] = [{str(src)!r}]"))
    dest.chmod(0o755)
    return dest
