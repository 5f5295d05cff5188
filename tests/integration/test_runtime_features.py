"""config.json features on the real kernel through ``dockyard-runtime``: terminals (the
console socket and a proxied foreground run), the six hook stages, ``update``/``ps``/
``pause``/``resume``, rlimits, and bad input leaving nothing behind.

Needs root. Each test has its own state root and container ids; the ``root`` fixture
force-deletes whatever a test left and asserts that no cgroup, state directory or mount
of its containers remains.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from support import (
    REPO,
    base_config,
    build_rootfs,
    cgroup_dirs,
    leftovers,
    parse_report,
    runtime_cli,
    write_bundle,
)

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    return build_rootfs(tmp_path_factory.mktemp("rootfs"))


class Ids:
    """Container ids handed out in one test, for the cleanup check."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def new(self, prefix: str = "f") -> str:
        cid = f"{prefix}-{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid


@pytest.fixture
def ids() -> Ids:
    return Ids()


@pytest.fixture
def root(tmp_path: Path, ids: Ids) -> Iterator[Path]:
    """A private state root; afterwards every container is force-deleted and nothing may
    be left of them."""
    state = tmp_path / "state"
    yield state
    for cid in ids.ids:
        runtime_cli(state, "delete", "--force", cid)
    left = [p for cid in ids.ids for p in leftovers(state, cid, tmp_path)]
    assert not left, f"left behind: {left}"


def cli(root: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return runtime_cli(root, *args, **kw)  # type: ignore[no-any-return]


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, f"{r.args[4:]}: exit {r.returncode}: {r.stderr}"
    return r


def wait_for(pred: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


# ---------------------------------------------------------------------------- terminal


def _read_until(fd: int, want: bytes, timeout: float = 15.0) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while want not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {want!r} from the pty; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave side is gone
            break
        if not chunk:
            break
        buf += chunk
    return buf


def test_console_socket_pty(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    """The test is the console-socket listener: it gets the pty master over SCM_RIGHTS,
    drives an interactive sh and sees its exit status through the foreground run."""
    import fcntl
    import struct
    import termios

    from dockyard.runtime.console import recv_fd

    cfg = base_config(rootfs, ["sh"], terminal=True, env=["PATH=/bin", "TERM=dumb"])
    cfg["process"]["consoleSize"] = {"height": 33, "width": 101}
    bundle = write_bundle(tmp_path / "b", cfg)
    sock_path = tmp_path / "console.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sock_path))
    listener.listen(1)
    listener.settimeout(30)
    cid = ids.new("tty")
    argv = [sys.executable, "-m", "dockyard.cli.runtime_main", "--root", str(root), "run",
            "--console-socket", str(sock_path), "--bundle", str(bundle), cid]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    err_file = tmp_path / "run.err"
    with (
        open(err_file, "w") as err,
        subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env
        ) as p,
    ):
        master = -1
        try:
            conn, _ = listener.accept()
            with conn:
                master = recv_fd(conn)
            rows, cols, _, _ = struct.unpack(
                "HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8)
            )
            assert (rows, cols) == (33, 101)
            os.write(master, b"tty; echo hi; exit 5\n")
            out = _read_until(master, b"\nhi\r\n")
            assert b"tty; echo hi; exit 5" in out  # the pty echoed our input
            # the pty is of the container's own devpts, as runc makes it: tty names it
            assert b"\n/dev/pts/0\r\n" in out, out
            assert p.wait(30) == 5, err_file.read_text()
        finally:
            if master >= 0:
                os.close(master)
            listener.close()
            if p.poll() is None:
                p.kill()
    assert not (root / cid).exists()


def test_terminal_foreground_run_proxies_stdio(
    root: Path, ids: Ids, tmp_path: Path, rootfs: Path
) -> None:
    """process.terminal without a console socket: the pty is proxied to run's stdio."""
    cfg = base_config(rootfs, ["sh"], terminal=True, env=["PATH=/bin", "TERM=dumb"])
    cfg["process"]["consoleSize"] = {"height": 40, "width": 120}
    bundle = write_bundle(tmp_path / "b", cfg)
    cid = ids.new("tty")
    stdin = tmp_path / "in"
    stdin.write_bytes(b"stty size; tty; echo hi; exit 5\n")
    with open(stdin, "rb") as f:
        r = cli(root, "run", "--bundle", str(bundle), cid, stdin=f)
    assert r.returncode == 5, r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()]
    assert "40 120" in lines
    assert "/dev/pts/0" in lines  # not "not a tty": the container's own devpts
    assert "hi" in lines


# ---------------------------------------------------------------------------- hooks


STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop")  # fmt: skip
HOOK_SCRIPT = 'cat > "$1/$2.json"; echo "$2 $0 $HOOKVAR ${HOME-nohome}" >> "$1/order"'


def _hook(stage: str, out_dir: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": "/bin/sh",
        "args": ["sh", "-c", HOOK_SCRIPT, f"argv0-{stage}", out_dir, stage],
        "env": [f"HOOKVAR=v-{stage}", "PATH=/bin:/usr/bin"],
        **extra,
    }


def test_hooks_all_six_stages(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    out = tmp_path / "hooks"
    out.mkdir()
    cfg = base_config(rootfs, ["sleep", "30"])
    # startContainer runs inside the container: its path and files are the container's
    cfg["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(out),
                          "options": ["rbind", "rw"]})  # fmt: skip
    cfg["hooks"] = {
        s: [_hook(s, "/hooks" if s == "startContainer" else str(out), timeout=20)] for s in STAGES
    }
    bundle = write_bundle(tmp_path / "b", cfg)
    cid = ids.new("hk")
    pid_file = tmp_path / "pid"
    ok(cli(root, "create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid))
    pid = int(pid_file.read_text())

    def ran() -> list[str]:
        return [line.split()[0] for line in (out / "order").read_text().splitlines()]

    assert ran() == ["prestart", "createRuntime", "createContainer"]
    ok(cli(root, "start", cid))
    assert ran() == ["prestart", "createRuntime", "createContainer", "startContainer",
                     "poststart"]  # fmt: skip
    ok(cli(root, "kill", cid, "KILL"))
    wait_for(lambda: json.loads(cli(root, "state", cid).stdout)["status"] == "stopped",
             what="stopped")  # fmt: skip
    ok(cli(root, "delete", cid))
    assert ran() == list(STAGES)
    want_status = {"prestart": "creating", "createRuntime": "creating",
                   "createContainer": "creating", "startContainer": "created",
                   "poststart": "running", "poststop": "stopped"}  # fmt: skip
    for stage in STAGES:
        st = json.loads((out / f"{stage}.json").read_text())
        assert st["id"] == cid, stage
        assert st["bundle"] == str(bundle), stage
        assert st["status"] == want_status[stage], stage
        assert st["pid"] == (0 if stage == "poststop" else pid), stage
        assert st["ociVersion"], stage
    for line in (out / "order").read_text().splitlines():
        stage, argv0, var, home = line.split()
        assert (argv0, var, home) == (f"argv0-{stage}", f"v-{stage}", "nohome")


@pytest.mark.parametrize("stage", ["prestart", "createContainer"])
def test_hook_timeout_kills_hook_and_fails_create(
    root: Path, ids: Ids, tmp_path: Path, rootfs: Path, stage: str
) -> None:
    """A hanging hook is killed after its timeout (with what it started); create fails
    with the stage, the hook and the timeout named, and leaves nothing behind."""
    # createContainer hooks run in the container's pid namespace: find the hook's child
    # by its unique command line, not by a pid it could report
    nap = f"1000.{uuid.uuid4().int % 10**9}"
    cfg = base_config(rootfs, ["true"])
    cfg["hooks"] = {
        stage: [{"path": "/bin/sh", "timeout": 1,
                 "args": ["sh", "-c", f"sleep {nap} & wait"]}]
    }  # fmt: skip
    bundle = write_bundle(tmp_path / "b", cfg)
    cid = ids.new("hto")
    t0 = time.monotonic()
    r = cli(root, "create", "--bundle", str(bundle), cid)
    assert time.monotonic() - t0 < 15
    msg = one_line_error(r)
    assert r.returncode == 1
    assert f"{stage}[0] hook /bin/sh: timed out after 1s" in msg, msg
    assert msg.startswith(f"create container {cid}") or msg.startswith("run "), msg
    wait_for(lambda: not _sleepers(nap), 5, "the hook's child to die")
    assert leftovers(root, cid, tmp_path, rootfs) == []


def _sleepers(nap: str) -> list[int]:
    """Live processes running ``sleep NAP``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{name}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if argv[:2] == [b"sleep", nap.encode()] and not zombie:
            found.append(int(name))
    return found


def test_failing_hook_message(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    cfg = base_config(rootfs, ["true"])
    hook = {"path": "/bin/sh", "args": ["sh", "-c", "echo no way >&2; exit 3"]}
    cfg["hooks"] = {"createRuntime": [hook]}
    cid = ids.new("hf")
    r = cli(root, "run", "--bundle", str(write_bundle(tmp_path / "b", cfg)), cid)
    msg = one_line_error(r)
    assert msg == "createRuntime[0] hook /bin/sh: exit status 3: no way" or msg.endswith(
        "run createRuntime[0] hook /bin/sh: exit status 3: no way"
    ), msg
    assert leftovers(root, cid, tmp_path, rootfs) == []


# ---------------------------------------------------------------------------- update / ps


def _start(root: Path, cid: str, bundle: Path) -> int:
    pid_file = bundle / "init.pid"
    ok(cli(root, "create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid))
    ok(cli(root, "start", cid))
    return int(pid_file.read_text())


def _inside_cgroup(root: Path, cid: str) -> dict[str, Any]:
    r = ok(cli(root, "exec", cid, "/checker.sh", "cgroup"))
    return parse_report(r.stdout)


def _cg_file(cid: str, controller: str, name: str) -> str:
    d = next(d for d in cgroup_dirs(cid) if f"/{controller}/" in d)
    return (Path(d) / name).read_text().strip()


def _quota(r: dict[str, Any]) -> str:
    if "cg_cpu_cpu_cfs_quota_us" in r:
        return str(r["cg_cpu_cpu_cfs_quota_us"])
    return str(r.get("cg_cpu_max", "-")).split()[0]


def test_update_memory_cpu_pids(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    bundle = write_bundle(tmp_path / "b", base_config(rootfs, ["sleep", "300"]))
    cid = ids.new("up")
    _start(root, cid, bundle)
    ok(cli(root, "update", "--memory", "64m", "--cpu-quota", "20000", "--cpu-period", "100000",
           "--cpu-share", "256", "--pids-limit", "30", cid))  # fmt: skip
    r = _inside_cgroup(root, cid)
    assert r.get("cg_memory_memory_limit_in_bytes", r.get("cg_memory_max")) == str(64 << 20)
    assert _quota(r) == "20000"
    assert r.get("cg_pids_pids_max", r.get("cg_pids_max")) == "30"
    if "cg_cpu_cpu_shares" in r:
        assert r["cg_cpu_cpu_shares"] == "256"
    # --resources FILE (runc's -r), then flags override the file
    res = tmp_path / "res.json"
    res.write_text(json.dumps({"memory": {"limit": 128 << 20}, "pids": {"limit": 40},
                               "cpu": {"quota": 30000}}))  # fmt: skip
    ok(cli(root, "update", "-r", str(res), "--pids-limit", "50", cid))
    r = _inside_cgroup(root, cid)
    assert r.get("cg_memory_memory_limit_in_bytes", r.get("cg_memory_max")) == str(128 << 20)
    assert r.get("cg_pids_pids_max", r.get("cg_pids_max")) == "50"
    assert _quota(r) == "30000"
    # and from outside, the cgroup files themselves
    if any("/memory/" in d for d in cgroup_dirs(cid)):
        assert _cg_file(cid, "memory", "memory.limit_in_bytes") == str(128 << 20)
        assert _cg_file(cid, "pids", "pids.max") == "50"
    # from stdin, and a bad value is a one-line error
    with open(res, "rb") as f:
        ok(cli(root, "update", "--resources", "-", cid, stdin=f))
    bad = cli(root, "update", "--memory", "lots", cid)
    assert "invalid size 'lots'" in one_line_error(bad)


def test_ps_lists_container_processes(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    cfg = base_config(rootfs, ["sh", "-c", "sleep 300 & sleep 301 & wait"])
    cid = ids.new("ps")
    pid = _start(root, cid, write_bundle(tmp_path / "b", cfg))

    def three() -> list[int] | None:
        pids = json.loads(ok(cli(root, "ps", "--format", "json", cid)).stdout)
        return pids if len(pids) == 3 else None

    pids = wait_for(three, what="3 processes")
    assert pid in pids
    table = ok(cli(root, "ps", cid)).stdout.splitlines()
    assert "PID" in table[0].split()
    body = "\n".join(table[1:])
    assert "sleep 300" in body and "sleep 301" in body
    assert len(table) == 4
    assert str(os.getpid()) not in [line.split()[1] for line in table[1:]]


def test_pause_resume_stops_counting(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    loop = "i=0; while :; do i=$((i+1)); echo $i > {d}/c.tmp; mv {d}/c.tmp {d}/c; sleep 0.02; done"
    cfg = base_config(rootfs, ["sh", "-c", loop.format(d="/out")])
    cfg["mounts"].append({"destination": "/out", "type": "bind", "source": str(out),
                          "options": ["rbind", "rw"]})  # fmt: skip
    cid = ids.new("pz")
    _start(root, cid, write_bundle(tmp_path / "b", cfg))
    # the same loop outside the container: while it counts on, the paused one had the
    # time and the CPU to count too (a fixed wait proves nothing on a loaded machine)
    (tmp_path / "w").mkdir()
    witness = subprocess.Popen(["sh", "-c", loop.format(d=tmp_path / "w")])

    def count(d: Path = out) -> int:
        f = d / "c"
        return int(f.read_text() or 0) if f.exists() else 0

    try:
        wait_for(lambda: count() > 3, what="counting")
        ok(cli(root, "pause", cid))
        assert json.loads(ok(cli(root, "state", cid)).stdout)["status"] == "paused"
        assert "paused" in ok(cli(root, "list")).stdout
        r = cli(root, "pause", cid)
        assert "container is paused" in one_line_error(r)
        c1, w1, t1 = count(), count(tmp_path / "w"), time.monotonic()
        wait_for(lambda: count(tmp_path / "w") > w1 + 10 and time.monotonic() - t1 > 0.6,
                 what="the witness loop to count 10 more")  # fmt: skip
        assert count() == c1, "counted while paused"
    finally:
        witness.kill()
        witness.wait()
    assert len(json.loads(ok(cli(root, "ps", "--format", "json", cid)).stdout)) >= 1
    ok(cli(root, "resume", cid))
    assert json.loads(ok(cli(root, "state", cid)).stdout)["status"] == "running"
    wait_for(lambda: count() > c1 + 3, what="counting again")
    r = cli(root, "resume", cid)
    assert "container is running" in one_line_error(r)
    ok(cli(root, "pause", cid))  # delete --force of a paused container thaws it first
    ok(cli(root, "delete", "--force", cid))


# ---------------------------------------------------------------------------- rlimits


def _has_cap(bit: int) -> bool:
    with open("/proc/self/status") as f:
        eff = next(line.split()[1] for line in f if line.startswith("CapEff:"))
    return bool(int(eff, 16) & (1 << bit))


def test_rlimit_raise_hard_fails_naming_cap(
    root: Path, ids: Ids, tmp_path: Path, rootfs: Path
) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or _has_cap(24):
        pytest.skip("this caller may raise the hard limit (CAP_SYS_RESOURCE or unlimited)")
    cfg = base_config(rootfs, ["true"])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard + 1000}]
    bundle = write_bundle(tmp_path / "b", cfg)
    for cmd in ("run", "create"):
        cid = ids.new("rl")
        r = cli(root, cmd, "--bundle", str(bundle), cid)
        msg = one_line_error(r)
        assert r.returncode == 1
        assert msg == (
            f"{cmd} container {cid}: set rlimit RLIMIT_NOFILE to {hard}:{hard + 1000}: raising "
            f"the hard limit above {hard} needs CAP_SYS_RESOURCE, which this runtime does not "
            "have"
        ), msg
        assert leftovers(root, cid, tmp_path, rootfs) == []


def test_rlimit_lowering_works(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    cfg = base_config(rootfs, ["/checker.sh", "limits"])
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                                 {"type": "RLIMIT_NPROC", "soft": 50, "hard": 60}]  # fmt: skip
    r = ok(cli(root, "run", "--bundle", str(write_bundle(tmp_path / "b", cfg)), ids.new("rl")))
    rep = parse_report(r.stdout)
    assert rep["rlimit_Max_open_files"] == "100 200"
    assert rep["rlimit_Max_processes"] == "50 60"


# ---------------------------------------------------------------------------- bad input


def _bad_bundle(tmp_path: Path, rootfs: Path, case: str) -> Path:
    b = tmp_path / "b"
    b.mkdir()
    cfg = base_config(rootfs, ["true"])
    if case == "malformed":
        (b / "config.json").write_text('{"ociVersion": "1.2.0", "process": {')
        return b
    if case == "schema":
        cfg["process"]["user"]["uid"] = "x"
    elif case == "rootfs":
        cfg["root"]["path"] = str(tmp_path / "no-such-rootfs")
    elif case == "namespace":
        cfg["linux"]["namespaces"].append({"type": "bogus"})
    elif case == "process":
        del cfg["process"]
    return write_bundle(b, cfg)


BAD = {
    "malformed": "invalid json",
    "schema": "process.user.uid: expected an integer",
    "rootfs": "no-such-rootfs: no such directory",
    "namespace": "].type: unknown namespace 'bogus'",
    "process": "process: required",
}


@pytest.mark.parametrize("cmd", ["create", "run"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_input(root: Path, ids: Ids, tmp_path: Path, rootfs: Path, case: str, cmd: str) -> None:
    bundle = _bad_bundle(tmp_path, rootfs, case)
    cid = ids.new("bad")
    log = tmp_path / "log.json"
    r = cli(Path(root), "--log", str(log), "--log-format", "json", cmd, "--bundle",
            str(bundle), cid)  # fmt: skip
    msg = one_line_error(r)
    assert r.returncode == 1
    assert BAD[case] in msg, msg
    assert "Traceback" not in r.stderr
    assert json.loads(log.read_text().splitlines()[-1])["msg"] == msg
    assert leftovers(root, cid, tmp_path, rootfs) == []


def test_duplicate_id(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    bundle = write_bundle(tmp_path / "b", base_config(rootfs, ["sleep", "30"]))
    cid = ids.new("dup")
    ok(cli(root, "create", "--bundle", str(bundle), cid))
    before = sorted(p.name for p in (root / cid).iterdir())
    cgroups = cgroup_dirs(cid)
    for cmd in ("create", "run"):
        r = cli(root, cmd, "--bundle", str(bundle), cid)
        assert one_line_error(r) == f"create container {cid}: id already in use"
        assert r.returncode == 1
    # the first container is untouched
    assert json.loads(ok(cli(root, "state", cid)).stdout)["status"] == "created"
    assert sorted(p.name for p in (root / cid).iterdir()) == before
    assert cgroup_dirs(cid) == cgroups
    ok(cli(root, "delete", "--force", cid))
    assert leftovers(root, cid, tmp_path, rootfs) == []


# ---------------------------------------------------------------------------- time namespace


def test_time_namespace_offsets(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("the kernel has no time namespaces")
    cfg = base_config(rootfs, ["cat", "/proc/uptime"])
    cfg["linux"]["namespaces"].append({"type": "time"})
    cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 1_000_000, "nanosecs": 0},
                                   "monotonic": {"secs": 2_000_000, "nanosecs": 5}}  # fmt: skip
    bundle = write_bundle(tmp_path / "b", cfg)
    r = ok(cli(root, "run", "--bundle", str(bundle), ids.new("tns")))
    host = float(Path("/proc/uptime").read_text().split()[0])
    inside = float(r.stdout.split()[0])
    assert 1_000_000 - 60 < inside - host < 1_000_000 + 60
    # offsets without a new time namespace are refused before anything is made
    del cfg["linux"]["namespaces"][-1]
    cid = ids.new("tns")
    r = cli(root, "run", "--bundle", str(write_bundle(tmp_path / "b2", cfg)), cid)
    assert one_line_error(r).endswith("linux.timeOffsets: needs a new time namespace")
    cfg["linux"]["timeOffsets"] = {"realtime": {"secs": 1}}
    r = cli(root, "run", "--bundle", str(write_bundle(tmp_path / "b3", cfg)), cid)
    assert "linux.timeOffsets: unknown clock 'realtime'" in one_line_error(r)
    assert leftovers(root, cid, tmp_path, rootfs) == []


# ---------------------------------------------------------------------------- recursive flags


def test_recursive_readonly_bind(root: Path, ids: Ids, tmp_path: Path, rootfs: Path) -> None:
    """``rro``/``rnosuid`` (mount_setattr AT_RECURSIVE) reach a mount below the bind
    source, which plain ``ro`` leaves writable. The submount is made in a private mount
    namespace of the runtime's caller, so the host never sees it."""
    import shlex
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) is not installed")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    script = ("touch /data/x; echo top=$?; touch /data/sub/y; echo sub=$?; "
              "/checker.sh mounts")  # fmt: skip
    results = {}
    for opt in ("ro", "rro"):
        cfg = base_config(rootfs, ["sh", "-c", script])
        cfg["mounts"].append({"destination": "/data", "type": "bind", "source": str(src),
                              "options": ["rbind", opt, "rnosuid", "rprivate"]})  # fmt: skip
        bundle = write_bundle(tmp_path / f"b-{opt}", cfg)
        runtime = [sys.executable, "-m", "dockyard.cli.runtime_main", "--root", str(root),
                   "run", "--bundle", str(bundle), ids.new("rro")]  # fmt: skip
        inner = (
            f"mount -t tmpfs tmpfs {shlex.quote(str(src / 'sub'))} && exec {shlex.join(runtime)}"
        )
        done = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", inner],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        results[opt] = parse_report(done.stdout.replace("=", ": "))
    assert results["ro"]["top"] == "1" and results["ro"]["sub"] == "0"
    assert results["rro"]["top"] == "1" and results["rro"]["sub"] == "1"
    from support import mount_opts

    sub = mount_opts(results["rro"], "/data/sub") or []
    assert "ro" in sub and "nosuid" in sub
    assert not (src / "sub" / "y").exists()
