"""Rootless dockyard (issue 18 item 4): an ordinary user, made by this module, runs
``dockyard`` and its daemon inside a user namespace of its own (docs/rootless.md).

Two hosts, two expectations:

- a cgroup v2 host with systemd (the cgroup v2 guest, ``make test-cgroup2``): the user's
  commands run in a delegated scope of its systemd user manager (``systemd-run --user
  --scope -p Delegate=yes``, linger on), and ``--memory``/``--cpus`` show in the
  container's cgroup;
- anything else (cgroup v1 here): the same commands work, without limits, and say so in one
  line (``resource limits are not enforced: ...``) with no traceback.

Published ports go through slirp4netns; where it cannot start (``/dev/net/tun`` closed to
users, as on some hosts) the port test is skipped with the reason dockyard recorded.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from daemon_kit import TIME_SCALE

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / ".cache" / "images" / "busybox_latest.tar"
DOCKYARD = str(REPO / ".venv" / "bin" / "dockyard")
NOTICE = "resource limits are not enforced"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (creates a user)")


def _delegating_host() -> bool:
    """Pure cgroup v2 with systemd as PID 1: a user manager can delegate a subtree."""
    return (
        os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        and os.path.isdir("/run/systemd/system")
        and shutil.which("systemd-run") is not None
        and shutil.which("loginctl") is not None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sub_range() -> int:
    """A start for 65536 subordinate ids that overlaps no line of /etc/subuid or subgid."""
    end = 200000
    for path in ("/etc/subuid", "/etc/subgid"):
        with contextlib.suppress(FileNotFoundError):
            for line in Path(path).read_text().splitlines():
                parts = line.split(":")
                if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                    end = max(end, int(parts[1]) + int(parts[2]))
    return end


def _has_subids(name: str) -> bool:
    found = []
    for path in ("/etc/subuid", "/etc/subgid"):
        with contextlib.suppress(FileNotFoundError):
            found.append(
                any(ln.startswith(name + ":") for ln in Path(path).read_text().splitlines())
            )
    return len(found) == 2 and all(found)


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
    return pids


@dataclass
class User:
    """The test's ordinary user and how to run its commands."""

    name: str
    uid: int
    home: Path
    runtime_dir: Path
    delegated: bool
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, *args: str) -> list[str]:
        env = [f"{k}={v}" for k, v in self.env.items()]
        inner = ["env", "-i", *env, DOCKYARD, *args]
        if self.delegated:  # a scope of the user's manager that it may subdivide
            inner = ["env", "-i", *env, "systemd-run", "--user", "--scope", "--quiet",
                     "--collect", "-p", "Delegate=yes", "--", DOCKYARD, *args]  # fmt: skip
        return ["runuser", "-u", self.name, "--", *inner]

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        p = subprocess.run(self.argv(*args), check=False, capture_output=True, text=True,
                           timeout=timeout * TIME_SCALE, cwd=self.home)  # fmt: skip
        assert "Traceback" not in p.stderr, p.stderr
        if check:
            assert p.returncode == 0, f"dockyard {' '.join(args)}: rc {p.returncode}\n{p.stderr}"
        return p

    def holder(self) -> int:
        return int((self.runtime_dir / "dockyard" / "holder.pid").read_text())


@pytest.fixture(scope="module")
def user() -> Iterator[User]:
    for tool in ("useradd", "userdel", "usermod", "runuser", "newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (the uidmap and passwd packages)")
    if not IMAGE.exists():
        pytest.skip(f"{IMAGE} missing (make images)")
    base = Path(tempfile.mkdtemp(prefix="dockyard-rootless-"))  # pytest's is 0700
    base.chmod(0o755)
    name = f"dyrl{os.getpid() % 100000}"
    home = base / "home"
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    delegated = _delegating_host()
    dropin = Path("/run/systemd/system/user@.service.d/dockyard-test-delegate.conf")
    try:
        pw = pwd.getpwnam(name)
        if not _has_subids(name):
            start = _sub_range()
            rng = f"{start}-{start + 65535}"
            subprocess.run(["usermod", "--add-subuids", rng, "--add-subgids", rng, name],
                           check=True)  # fmt: skip
        home.mkdir()
        os.chown(home, pw.pw_uid, pw.pw_gid)
        shutil.copy(IMAGE, home / "busybox.tar")
        os.chown(home / "busybox.tar", pw.pw_uid, pw.pw_gid)
        if delegated:  # the user's manager delegates cpu too (systemd 252 gives memory, pids)
            dropin.parent.mkdir(parents=True, exist_ok=True)
            dropin.write_text("[Service]\nDelegate=cpu cpuset io memory pids\n")
            subprocess.run(["systemctl", "daemon-reload"], check=True)
            subprocess.run(["loginctl", "enable-linger", name], check=True)
            runtime_dir = Path(f"/run/user/{pw.pw_uid}")
            deadline = time.monotonic() + 60 * TIME_SCALE
            while not (runtime_dir / "systemd" / "private").exists():  # its manager is up
                assert time.monotonic() < deadline, "user manager did not start"
                time.sleep(0.1)
        else:
            runtime_dir = base / "run"
            runtime_dir.mkdir(mode=0o700)
            os.chown(runtime_dir, pw.pw_uid, pw.pw_gid)
        env = {
            "HOME": str(home), "USER": name, "LOGNAME": name,
            "PATH": "/usr/local/bin:/usr/bin:/bin",  # a user's: no sbin (nft, ip are there)
            "XDG_RUNTIME_DIR": str(runtime_dir), "DOCKYARD_SPARES": "0",
            "DOCKYARD_SECURITY_WARNINGS": "0",
            "DOCKYARD_START_TIMEOUT": os.environ.get("DOCKYARD_START_TIMEOUT", "60"),
        }  # fmt: skip
        u = User(name, pw.pw_uid, home, runtime_dir, delegated, env)
        u.run("load", "-i", str(home / "busybox.tar"))
        yield u
    finally:
        uid = pwd.getpwnam(name).pw_uid
        for pid in _pids_of(uid):  # the holder, the daemon, its shims, slirp4netns
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if delegated:
            subprocess.run(["loginctl", "disable-linger", name], check=False)
            subprocess.run(["loginctl", "terminate-user", name], check=False,
                           capture_output=True)  # fmt: skip
            with contextlib.suppress(FileNotFoundError):
                dropin.unlink()
            subprocess.run(["systemctl", "daemon-reload"], check=False)
        deadline = time.monotonic() + 30
        while _pids_of(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_run_rm_id_is_root_inside_and_the_user_outside(user: User) -> None:
    p = user.run("run", "--rm", "busybox", "id")
    assert p.stdout.startswith("uid=0(root) gid=0(root)"), p.stdout
    # the namespace's root is the user on the host; 1.. are its subordinate ids
    uid_map = Path(f"/proc/{user.holder()}/uid_map").read_text().split()
    assert uid_map[:6] == ["0", str(user.uid), "1", "1", uid_map[4], "65536"], uid_map
    assert (NOTICE in p.stderr) is not user.delegated, p.stderr
    assert p.stderr.count(NOTICE) <= 1
    # state under the user's XDG directories, owned by the user
    data = user.home / ".local" / "share" / "dockyard"
    assert data.is_dir() and data.stat().st_uid == user.uid
    assert (user.runtime_dir / "dockyard" / "dockyard.sock").exists()
    info = user.run("info").stdout
    assert "name=rootless" in info
    assert (NOTICE in info) is not user.delegated, info


def test_detached_published_ps_logs_rm(user: User) -> None:
    port = _free_port()
    script = (
        "mkdir /www; echo hello-rootless > /www/index.html; echo started; httpd -f -p 80 -h /www"
    )
    limits = ["--memory", "64m", "--cpus", "0.5"]
    p = user.run("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", *limits,
                 "busybox", "sh", "-c", script)  # fmt: skip
    cid = p.stdout.strip()
    try:
        assert (NOTICE in p.stderr) is not user.delegated, p.stderr
        assert "web" in user.run("ps").stdout
        deadline = time.monotonic() + 30 * TIME_SCALE
        while "started" not in (logs := user.run("logs", "web").stdout):
            assert time.monotonic() < deadline, logs
            time.sleep(0.05)
        pid = int(user.run("inspect", "-f", "{{.State.Pid}}", "web").stdout)
        if user.delegated:  # the limits are in the container's own cgroup
            rel = next(ln[3:] for ln in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                       if ln.startswith("0::"))  # fmt: skip
            cg = Path("/sys/fs/cgroup") / rel.strip().lstrip("/")
            assert (cg / "memory.max").read_text().strip() == str(64 << 20)
            assert (cg / "cpu.max").read_text().split() == ["50000", "100000"]
        problem = user.runtime_dir / "dockyard" / "network.problem"
        if problem.exists():
            pytest.skip(f"no user-space network on this host: {problem.read_text().strip()}")
        body = _get(port, 30 * TIME_SCALE)
        assert "hello-rootless" in body
    finally:
        user.run("rm", "-f", cid)
    assert "web" not in user.run("ps", "-a").stdout
    _assert_free(port)  # the forward is gone with the container


def _assert_free(port: int) -> None:
    """Nothing listens on the host's 127.0.0.1:port (a closed connection's TIME_WAIT may
    stay: SO_REUSEADDR lets the bind through those, not through a listener)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


def _read_from(port: int, limit: float) -> bytes:
    """What 127.0.0.1:port sends first, once the forward's far side answers (slirp4netns
    accepts on the host at once and closes when the namespace's side is not there yet)."""
    deadline = time.monotonic() + limit
    while True:
        data = b""
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 5) as s:
            while chunk := s.recv(100):  # to the end: the stack may split the answer
                data += chunk
        if data:
            return data
        assert time.monotonic() < deadline, f"127.0.0.1:{port} sent nothing"
        time.sleep(0.05)


def _get(port: int, limit: float) -> str:
    """GET / from 127.0.0.1:port on the real host, once the forward answers."""
    deadline = time.monotonic() + limit
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            if data:
                return data.decode(errors="replace")
        except OSError:
            pass
        assert time.monotonic() < deadline, f"127.0.0.1:{port} never answered"
        time.sleep(0.05)


def test_build_then_run(user: User) -> None:
    ctx = user.home / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN echo built-rootless > /hello && chown 1000:1000 /hello\n"
        'CMD ["cat", "/hello"]\n'
    )
    os.chown(ctx, user.uid, -1)
    user.run("build", "--network", "none", "-t", "rl-built", str(ctx), timeout=300)
    p = user.run("run", "--rm", "rl-built")
    assert p.stdout.strip() == "built-rootless"
    p = user.run("run", "--rm", "rl-built", "stat", "-c", "%u", "/hello")
    assert p.stdout.strip() == "1000"  # a subordinate id inside, as written
    user.run("rmi", "rl-built")


def test_build_run_step_with_the_default_network(user: User) -> None:
    """A RUN step on the build's own network (slirp4netns inside the user's namespace)."""
    problem = user.runtime_dir / "dockyard" / "network.problem"
    if problem.exists():
        pytest.skip(f"no user-space network on this host: {problem.read_text().strip()}")
    ctx = user.home / "ctx-net"
    ctx.mkdir(exist_ok=True)
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN ip -o -4 addr show eth0 > /addr\n")
    os.chown(ctx, user.uid, -1)
    user.run("build", "-t", "rl-net", str(ctx), timeout=300)
    p = user.run("run", "--rm", "rl-net", "cat", "/addr")
    assert "10.0.2.100" in p.stdout, p.stdout
    user.run("rmi", "rl-net")


def test_root_inside_cannot_write_a_root_owned_host_directory(user: User) -> None:
    """The attack: a container's root writes into a host directory owned by root (0755)
    through a bind mount. Rootless, that root is the user on the host: refused."""
    target = Path(tempfile.mkdtemp(prefix="dockyard-rootless-victim-"))
    try:
        target.chmod(0o755)
        (target / "file").write_text("host\n")
        p = user.run("run", "--rm", "-v", f"{target}:/victim", "busybox", "sh", "-c",
                     "echo pwned > /victim/file; echo pwned > /victim/new; "
                     "cat /victim/file", check=False)  # fmt: skip
        assert "Permission denied" in p.stderr or "Read-only" in p.stderr, p.stderr
        assert (target / "file").read_text() == "host\n"
        assert not (target / "new").exists()
    finally:
        shutil.rmtree(target, ignore_errors=True)


def test_bad_subids_one_line_error(user: User) -> None:
    """A user without /etc/subuid entries gets one line naming the file, no traceback."""
    name = f"dyrn{os.getpid() % 100000}"
    base = Path(tempfile.mkdtemp(prefix="dockyard-rootless-"))
    base.chmod(0o755)
    home = base / "h"
    subprocess.run(["useradd", "-M", "-d", str(home), "-s", "/bin/sh", name], check=True)
    try:
        subprocess.run(["usermod", "--del-subuids", "0-4294967294", "--del-subgids",
                        "0-4294967294", name], check=False, capture_output=True)  # fmt: skip
        home.mkdir()
        pw = pwd.getpwnam(name)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        run_dir = home / "run"
        run_dir.mkdir(mode=0o700)
        os.chown(run_dir, pw.pw_uid, pw.pw_gid)
        p = subprocess.run(["runuser", "-u", name, "--", "env", "-i", f"HOME={home}",
                            f"XDG_RUNTIME_DIR={run_dir}", "PATH=/usr/bin:/bin", DOCKYARD, "ps"],
                           check=False, capture_output=True, text=True,
                           timeout=60 * TIME_SCALE)  # fmt: skip
        assert p.returncode == 125
        assert p.stderr.strip().splitlines() == [
            f"dockyard: rootless: no subordinate ids for user {name} in /etc/subuid "
            f"(add a line such as '{name}:100000:65536')"
        ], p.stderr
        assert not (home / ".local").exists()  # no partial state
    finally:
        for pid in _pids_of(pwd.getpwnam(name).pw_uid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["userdel", name], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _slirp_on_new_netns(tmp_path: Path, loopback_defence: bool = True) -> Iterator[tuple[int, str]]:
    """A user + network namespace (``unshare --user --map-root-user --net sleep``) with
    slirp4netns on it, started with dockyard's own command line (``slirp_argv``);
    ``loopback_defence`` False drops ``--disable-host-loopback`` (the attack's control)."""
    from dockyard.engine.rootless import slirp_argv

    exe = shutil.which("slirp4netns")
    if exe is None:
        pytest.skip("slirp4netns is not installed (make setup installs it)")
    holder = subprocess.Popen(["unshare", "--user", "--map-root-user", "--net", "--",
                               "sh", "-c", "echo ready; exec sleep infinity"],
                              stdout=subprocess.PIPE)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == b"ready\n"
    api = str(tmp_path / "slirp.sock")
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    argv = slirp_argv(exe, api, holder.pid, ready_w, exit_r)
    if not loopback_defence:
        argv.remove("--disable-host-loopback")
    slirp = subprocess.Popen(argv, pass_fds=(ready_w, exit_r), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip
    os.close(ready_w)
    os.close(exit_r)
    try:
        assert os.read(ready_r, 1) == b"1", "slirp4netns did not come up"
        yield holder.pid, api
    finally:
        os.close(ready_r)
        os.close(exit_w)  # slirp4netns ends with its exit fd, as with the real holder
        slirp.wait(timeout=30)
        holder.kill()
        holder.wait()
        holder.stdout.close()


@pytest.fixture
def slirp_netns(tmp_path: Path) -> Iterator[tuple[int, str]]:
    yield from _slirp_on_new_netns(tmp_path)


def _in_netns_connect(pid: int, addr: str, port: int) -> str:
    """Connect from inside ``pid``'s namespaces to addr:port; what came back, or the error."""
    code = (
        "import socket\ntry:\n"
        f" s=socket.create_connection(({addr!r},{port}),5);print(s.recv(100).decode())\n"
        "except OSError as e:\n print('error', e)"
    )
    p = subprocess.run(["nsenter", "-t", str(pid), "-U", "-n", "--preserve-credentials",
                        sys.executable, "-c", code], capture_output=True, text=True,
                       check=False, timeout=60 * TIME_SCALE)  # fmt: skip
    return p.stdout.strip() or p.stderr.strip()


@pytest.mark.parametrize("defence", [True, False], ids=["defended", "defence-off"])
def test_container_cannot_reach_host_loopback_through_the_gateway(
    tmp_path: Path, defence: bool
) -> None:
    """The attack: from the user's namespace (where its containers route out), reach a
    service the host serves on 127.0.0.1 only, through slirp4netns's gateway 10.0.2.2.
    dockyard's command line refuses it; without --disable-host-loopback it gets through."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        answer = threading.Thread(target=_answer_once, args=(srv,), daemon=True)
        answer.start()
        gen = _slirp_on_new_netns(tmp_path, loopback_defence=defence)
        pid, _ = next(gen)
        try:
            seen = _in_netns_connect(pid, "10.0.2.2", port)
        finally:
            with contextlib.suppress(StopIteration):
                next(gen)
    if defence:
        assert "host-only-secret" not in seen and seen.startswith("error"), seen
    else:
        assert seen == "host-only-secret", seen


def _answer_once(srv: socket.socket) -> None:
    with contextlib.suppress(OSError):
        c, _ = srv.accept()
        with c:
            c.sendall(b"host-only-secret")


def test_slirp_forward_reaches_the_namespace_and_goes_away(slirp_netns: tuple[int, str]) -> None:
    """The host half of ``-p``: slirp4netns's forward from the real host's 127.0.0.1:P to
    10.0.2.100:P in the namespace; adopted when it is already there; removed after."""
    from dockyard.network import slirp

    pid, api = slirp_netns
    port = _free_port()
    server = subprocess.Popen(
        ["nsenter", "-t", str(pid), "-n", sys.executable, "-c",
         "import socket\ns=socket.socket()\n"
         f"s.bind(('0.0.0.0',{port}));s.listen();print('ready',flush=True)\n"
         "while True:\n c,_=s.accept();c.sendall(b'from-the-namespace');c.close()"],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        fwd = slirp.add_forward(api, "tcp", "127.0.0.1", port)
        again = slirp.add_forward(api, "tcp", "127.0.0.1", port)  # a restarted daemon's
        assert again.id == fwd.id
        assert _read_from(port, 30 * TIME_SCALE) == b"from-the-namespace"
        entries = slirp.forwards(api)
        assert [(e["host_addr"], e["host_port"]) for e in entries] == [("127.0.0.1", port)]
        fwd.close()
        assert slirp.forwards(api) == []
        _assert_free(port)
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
