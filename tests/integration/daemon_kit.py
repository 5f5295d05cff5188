"""A private dockyardd per test: roots, the CLI against them, and a teardown that
stops only what the test started (containers, daemon, shim) by PID."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE_CACHE = REPO / ".cache" / "images"
CLI = os.environ.get("DOCKYARD_TEST_CLI", "").split() or [sys.executable, "-m", "dockyard.cli.main"]
# Deadlines are generous for this machine; an emulated host (the cgroup v2 guest under TCG,
# 10-20x slower) multiplies them (make test-cgroup2 sets 8).
TIME_SCALE = float(os.environ.get("DOCKYARD_TEST_TIME_SCALE") or 1)


class Daemonized:
    """The CLI bound to one (root, run root); the daemon starts on the first call.

    ``ns_pid``: run the CLI (and so the daemon it starts, its bridge, veths and nft tables)
    in the network and mount namespaces of that process (see :func:`ns_holder`), never in
    the real host's."""

    def __init__(
        self, root: Path, run_root: Path, ns_pid: int = 0, env: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.run_root = run_root
        self.ns_pid = ns_pid
        self.env = {**os.environ, **env} if env else None  # the CLI's (so the daemon's)

    def argv(self, *args: str) -> list[str]:
        cli = [*CLI, "--root", str(self.root), "--run-root", str(self.run_root), *args]
        if self.ns_pid:
            return ["nsenter", "-t", str(self.ns_pid), "-n", "-m", "--", *cli]
        return cli

    def run(self, *args: str, timeout: float = 60, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout * TIME_SCALE,
                              input=input, check=False, env=self.env)  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
        return proc

    def out(self, *args: str, timeout: float = 60) -> str:
        return self.run(*args, timeout=timeout, check=True).stdout.strip()

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)  # fmt: skip

    def pid_of(self, name: str) -> int:
        try:
            return int((self.run_root / name).read_text())
        except (OSError, ValueError):
            return 0

    def settle_spares(self, quiet: float = 1.5, timeout: float = 20.0) -> set[str]:
        """Wait until the set of spare containers has not changed for ``quiet`` seconds (a
        run's spare is prepared just after it); return it."""
        deadline = time.monotonic() + timeout
        last, since = spare_ids(self.root), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = spare_ids(self.root)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return now
        raise AssertionError("spare containers did not settle")

    def wait_for(self, fn: object, timeout: float = 20.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout * TIME_SCALE
        while time.monotonic() < deadline:
            if fn():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


def api_request(
    run_root: Path, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request to the daemon's API socket under ``run_root``: (status, headers, body)."""
    import http.client
    import socket

    sock_path = str(run_root / "dockyard.sock")

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock_path)

    c = Conn("localhost", timeout=30)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def wait_dead(pid: int, timeout: float = 20.0) -> None:
    """Wait until ``pid`` (signalled by the test) has exited: gone, or a zombie, whose
    files (the daemon's listening sockets among them) the kernel has already closed. A
    fixed sleep after ``kill`` races a slow machine: a CLI that connects to a daemon still
    dying is accepted by a socket that never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not exit")


def spare_ids(root: Path) -> set[str]:
    """Ids of the containers the daemon of ``root`` prepared ahead (status ``spare``,
    docs/decisions/0005): their cgroups, mounts and endpoints exist between runs."""
    import sqlite3

    db = root / "state.db"
    if not db.exists():
        return set()
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
        return {str(r[0]) for r in c.execute("SELECT id FROM containers WHERE status = 'spare'")}


def _kill(pid: int) -> None:
    if pid <= 0:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def kill_holders(run_root: Path) -> None:
    """SIGKILL the holders whose records are under ``run_root`` (dockyard.engine.holder)."""
    import json

    from dockyard.engine.holder import start_time

    for path in (run_root / "holders").glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            rec = json.loads(path.read_text())
            if start_time(int(rec["holder"])) == rec["holder_start"]:
                os.kill(int(rec["holder"]), signal.SIGKILL)


def teardown(d: Daemonized) -> None:
    """Remove containers, stop the daemon and the shim, undo mounts and cgroups."""
    if (d.run_root / "dockyard.sock").exists() and d.pid_of("dockyard.pid"):
        ids = d.run("ps", "-aq", "--no-trunc", timeout=30).stdout.split()
        if ids:
            d.run("rm", "-f", *ids, timeout=60)
    _kill(d.pid_of("dockyard.pid"))
    from dockyard.errors import DockyardError
    from dockyard.runtime import Runtime

    rt = Runtime(d.run_root / "runtime")
    for st in rt.list():  # containers a failed test left: kill and delete (cgroups too)
        with contextlib.suppress(DockyardError):
            rt.delete(st.id, force=True)
    kill_holders(d.run_root)
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        points = []
    for point in sorted(points, key=len, reverse=True):
        if point.startswith((str(d.root) + "/", str(d.run_root) + "/")):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", str(d.root), str(d.run_root)], check=False)


NS_SETUP = "ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward"  # in the new netns


def ns_holder(script: str = NS_SETUP, *flags: str) -> subprocess.Popen[str]:
    """A ``sleep`` in new namespaces (default: network + private mount) after ``script``
    ran there (default: loopback up, forwarding on, as on a host that runs containers);
    its PID names them for ``nsenter``. Stop it with :func:`stop_holder`."""
    flags = flags or ("--net", "--mount", "--propagation", "private")
    p = subprocess.Popen(["unshare", *flags, "--", "sh", "-c",
                          script + "; echo ready; exec sleep infinity"],
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert p.stdout is not None
    line = p.stdout.readline()
    if line.strip() != "ready":
        stop_holder(p)
        raise AssertionError(f"namespace holder failed: {line!r}")
    return p


def stop_holder(p: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    if p.stdout is not None:
        p.stdout.close()


def busybox_archive() -> Path:
    """The cached busybox image; the test is skipped without root or without it."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    archive = IMAGE_CACHE / "busybox_latest.tar"
    if not archive.is_file():
        pytest.skip(f"busybox is not cached in {IMAGE_CACHE} (make setup builds it)")
    return archive


@contextlib.contextmanager
def daemonized(tmp_path: Path, env: dict[str, str] | None = None) -> Iterator[Daemonized]:
    """A private root with busybox, a daemon started on demand (with ``env``) in private
    network and mount namespaces (its default bridge and nft tables never reach the
    host's), all stopped at the end."""
    archive = busybox_archive()
    holder = ns_holder()
    d = Daemonized(tmp_path / "root", tmp_path / "run", holder.pid, env)
    try:
        d.run("load", "-i", str(archive), check=True)
        yield d
    finally:
        try:
            teardown(d)
        finally:
            stop_holder(holder)


@pytest.fixture
def dyd(tmp_path: Path) -> Iterator[Daemonized]:
    """:func:`daemonized` (spares off, as in every test here but test_daemon_spares.py)."""
    with daemonized(tmp_path) as d:
        yield d


def own_cgroup_children(name: str = "memory") -> set[str]:
    """Container cgroups beneath our own (memory hierarchy)."""
    own = ""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.strip().split(":", 2)
            if name in ctrls.split(","):
                own = path
    base = Path("/sys/fs/cgroup") / name / own.lstrip("/") / "dockyard"
    try:
        return {p.name for p in base.iterdir() if p.is_dir()}
    except OSError:
        return set()


@contextlib.contextmanager
def registry_in(ns_pid: int, tmp_path: Path, *serve_args: str) -> Iterator[str]:
    """``dockyard registry serve`` on 127.0.0.1 (an ephemeral port) in the network
    namespace of ``ns_pid`` (a test daemon's: the daemon pulls and pushes, not the client);
    its ``host:port``. Stopped by PID at the end."""
    cli = [sys.executable, "-m", "dockyard.cli.main", "--root", str(tmp_path / "reg-state")]
    proc = subprocess.Popen(
        ["nsenter", "-t", str(ns_pid), "-n", "--", *cli, "registry", "serve",
         "--addr", "127.0.0.1:0", "--root", str(tmp_path / "reg"), "--access-log=",
         *serve_args],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert m, line
        yield f"127.0.0.1:{m.group(1)}"
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
