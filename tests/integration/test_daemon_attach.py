"""Attaching to containers: Docker's hijacked ``POST /containers/{id}/attach`` driven by a
raw-socket HTTP client, a stock docker client against dockyardd, and the CLI's
interactive terminal (``run -it``, ``attach``, ``exec -it``) driven through a pty."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import socket
import struct
import subprocess
import termios
import time
from collections.abc import Iterator

import pytest
from daemon_kit import Daemonized, dyd

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]

MUX = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


# ---------------------------------------------------------------------- a raw HTTP client


class Hijacked:
    """One HTTP request on the daemon's socket; after the answer's headers the socket
    is the raw stream (``rest``: what came with the headers)."""

    def __init__(self, d: Daemonized, method: str, path: str, upgrade: bool = False,
                 body: bytes = b"") -> None:  # fmt: skip
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(20)
        self.sock.connect(str(d.run_root / "dockyard.sock"))
        head = f"{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: {len(body)}\r\n"
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else "Connection: close\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed before the headers: {buf!r}"
            buf += chunk
        raw, _, self.rest = buf.partition(b"\r\n\r\n")
        lines = raw.decode().split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}

    def read(self, n: int = 65536) -> bytes:
        if self.rest:
            out, self.rest = self.rest[:n], self.rest[n:]
            return out
        return self.sock.recv(n)

    def read_exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.read(n - len(out))
            if not chunk:
                raise EOFError(f"stream ended after {len(out)} of {n} bytes")
            out += chunk
        return out

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Docker's multiplexed frames until the stream ends."""
        while True:
            try:
                head = self.read_exactly(8)
            except EOFError:
                return
            assert head[1:4] == b"\0\0\0", head
            yield head[0], self.read_exactly(int.from_bytes(head[4:], "big"))

    def read_until(self, wanted: bytes, timeout: float = 20) -> bytes:
        out = b""
        deadline = time.monotonic() + timeout
        while wanted not in out:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.read()
            if not chunk:
                raise EOFError(f"stream ended before {wanted!r}: {out!r}")
            out += chunk
        return out

    def read_to_end(self) -> bytes:
        out = b""
        while chunk := self.read():
            out += chunk
        return out

    def close(self) -> None:
        self.sock.close()


def call(d: Daemonized, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    """A plain request; (status, body)."""
    data = json.dumps(body).encode() if body is not None else b""
    h = Hijacked(d, method, path, body=data)
    try:
        raw = h.read_to_end()
    finally:
        h.close()
    if h.headers.get("transfer-encoding") != "chunked":
        return h.status, raw
    out = b""
    while raw:
        size, _, raw = raw.partition(b"\r\n")
        out += raw[: int(size, 16)]
        raw = raw[int(size, 16) + 2 :]
    return h.status, out


@contextlib.contextmanager
def hijack(d: Daemonized, path: str, upgrade: bool = True) -> Iterator[Hijacked]:
    h = Hijacked(d, "POST", path, upgrade=upgrade)
    try:
        yield h
    finally:
        h.close()


def status_of(d: Daemonized, name: str) -> str:
    return d.out("inspect", "-f", "{{.State.Status}}", name)


# ---------------------------------------------------------------------- the HTTP endpoint


def test_attach_non_tty_upgrades_and_multiplexes(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "-i", "--name", "echoer", "busybox", "sh", "-c",
            'while read l; do echo "out $l"; echo "err $l" >&2; done; echo bye')  # fmt: skip
    path = "/v1.43/containers/echoer/attach?stream=1&stdin=1&stdout=1&stderr=1"
    with hijack(dyd, path) as h:
        assert h.status_line == "HTTP/1.1 101 UPGRADED"
        assert h.headers["content-type"] == MUX
        assert h.headers["connection"].lower() == "upgrade" and h.headers["upgrade"] == "tcp"
        h.sock.sendall(b"hello\n")
        got: dict[int, bytes] = {1: b"", 2: b""}
        frames = h.frames()
        while b"out hello\n" not in got[1] or b"err hello\n" not in got[2]:
            kind, data = next(frames)
            got[kind] += data
        h.sock.shutdown(socket.SHUT_WR)  # stdin ends: the loop ends, the container exits
        for kind, data in frames:  # until the daemon closes the stream
            got[kind] += data
    assert got[1] == b"out hello\nbye\n" and got[2] == b"err hello\n"
    dyd.wait_for(lambda: status_of(dyd, "echoer") == "exited", 10, "exit")


def test_attach_before_start_misses_nothing_and_logs_replay(dyd: Daemonized) -> None:
    """Docker's ``run``: create, attach, start; then ``logs=1&stream=0`` replays."""
    dyd.out("create", "--name", "early", "busybox", "sh", "-c", "echo first; echo second >&2")
    # API 1.41: the same framing, named raw-stream (as Docker does before 1.42); no upgrade
    with hijack(dyd, "/v1.41/containers/early/attach?stream=1&stdout=1&stderr=1",
                upgrade=False) as h:  # fmt: skip
        assert h.status == 200 and h.headers["content-type"] == RAW
        assert call(dyd, "POST", "/containers/early/start")[0] == 204
        frames = list(h.frames())
    assert frames == [(1, b"first\n"), (2, b"second\n")]
    with hijack(dyd, "/containers/early/attach?logs=1&stdout=1") as h:
        assert h.headers["content-type"] == MUX
        assert list(h.frames()) == [(1, b"first\n")]  # stdout only, then the end


def test_attach_tty_is_raw_resizes_and_detaches_with_custom_keys(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "-it", "--name", "term", "busybox", "sh")
    assert call(dyd, "POST", "/containers/term/resize?h=33&w=101")[0] == 200
    path = "/containers/term/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-a,a"
    with hijack(dyd, path, upgrade=False) as h:
        assert h.status_line == "HTTP/1.1 200 OK" and h.headers["content-type"] == RAW
        h.sock.sendall(b"stty size; echo $((6*7))\r")
        out = h.read_until(b"42")
        assert b"33 101" in out
        h.sock.sendall(b"\x10\x11")  # not the keys asked for: they reach the shell
        h.sock.sendall(b"\x15echo still $((2*3))\r")  # ctrl-u: a clean line
        h.read_until(b"still 6")
        h.sock.sendall(b"\x01a")
        h.read_to_end()  # the daemon ends the stream
    assert status_of(dyd, "term") == "running"
    status, body = call(dyd, "POST", "/containers/term/attach?stream=1&detachKeys=ctrl-p,x-y")
    assert status == 400 and "detach keys" in json.loads(body)["message"]
    with hijack(dyd, "/containers/term/attach?stream=1&stdin=1&stdout=1") as h:
        h.sock.sendall(b"exit 3\r")
        h.read_to_end()
    assert call(dyd, "POST", "/containers/term/wait")[1] == b'{"StatusCode": 3, "Error": null}'


def test_attach_errors_before_the_answer(dyd: Daemonized) -> None:
    dyd.out("ps")  # the daemon runs
    status, body = call(dyd, "POST", "/containers/nosuch/attach?stream=1&stdout=1")
    assert status == 404 and json.loads(body)["kind"] == "NotFound"
    dyd.out("run", "-d", "--name", "frozen", "busybox", "sleep", "60")
    dyd.out("pause", "frozen")
    status, body = call(dyd, "POST", "/containers/frozen/attach?stream=1&stdout=1")
    assert status == 409 and "paused" in json.loads(body)["message"]
    dyd.out("unpause", "frozen")
    status, _ = call(dyd, "POST", "/containers/frozen/resize?h=10&w=10")
    assert status == 409  # no terminal


# ---------------------------------------------------------------------- a stock docker client


DOCKER_CLIENTS = [p for p in ("/usr/local/bin/docker", "/usr/bin/docker") if os.access(p, os.X_OK)]


def _docker(d: Daemonized, exe: str, *args: str, input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": f"unix://{d.run_root / 'dockyard.sock'}"}
    env.pop("DOCKER_API_VERSION", None)
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, input=input, check=False)  # fmt: skip


@pytest.mark.parametrize("exe", DOCKER_CLIENTS or ["docker"])
def test_stock_docker_client_attach_logs_exec_and_run(dyd: Daemonized, exe: str) -> None:
    """The docker CLI (28.x from docker.com, 20.10 from Debian's docker.io) against
    dockyardd: it negotiates API 1.43 (or 1.41) and uses the hijacked endpoints."""
    if not DOCKER_CLIENTS:
        pytest.skip("no docker client installed (the docker.io package has one)")
    dyd.out("run", "-d", "--name", "talker", "busybox", "sh", "-c",
            "echo hello; echo oops >&2; sleep 3; echo later; exit 4")  # fmt: skip
    version = _docker(dyd, exe, "version", "--format", "{{.Server.APIVersion}}")
    if version.returncode != 0:
        pytest.skip(f"{exe} cannot talk to dockyardd: {version.stderr.strip()}")
    p = _docker(dyd, exe, "exec", "talker", "sh", "-c", "echo x; echo y >&2; exit 3")
    assert (p.returncode, p.stdout, p.stderr) == (3, "x\n", "y\n")
    p = _docker(dyd, exe, "exec", "-i", "talker", "cat", input="piped\n")
    assert (p.returncode, p.stdout) == (0, "piped\n")
    p = _docker(dyd, exe, "attach", "--no-stdin", "talker")
    assert (p.returncode, p.stdout) == (4, "later\n"), p.stderr
    logs = _docker(dyd, exe, "logs", "talker")
    assert logs.stdout == "hello\nlater\n" and logs.stderr == "oops\n"
    dyd.out("create", "--name", "starter", "busybox", "sh", "-c", "echo started; exit 2")
    p = _docker(dyd, exe, "start", "-a", "starter")
    assert (p.returncode, p.stdout) == (2, "started\n"), p.stderr
    p = _docker(dyd, exe, "run", "-i", "--rm", "busybox", "sh", "-c", "cat; exit 6",
                input="through run\n")  # fmt: skip
    assert (p.returncode, p.stdout) == (6, "through run\n"), p.stderr
    p = _docker(dyd, exe, "exec", "nosuch", "true")
    assert p.returncode != 0 and "nosuch" in p.stderr and "{" not in p.stderr  # message only


# ---------------------------------------------------------------------- the CLI on a terminal


class Term:
    """The CLI on a new pty as its controlling terminal (``setsid -c``): what a user types
    and sees. ``expect`` reads until a pattern shows up in what came since the last one."""

    def __init__(self, argv: list[str], rows: int, cols: int) -> None:
        self.master, slave = os.openpty()
        self.set_size(rows, cols)
        try:
            self.proc = subprocess.Popen(["setsid", "-c", *argv], stdin=slave, stdout=slave,
                                         stderr=slave, close_fds=True)  # fmt: skip
        finally:
            os.close(slave)
        self.seen = b""
        self.code: int | None = None

    def set_size(self, rows: int, cols: int) -> None:
        """As a terminal window does: the kernel sends SIGWINCH to the CLI."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the CLI closed the terminal
            data = b""
        self.seen += data
        return bool(data)

    def expect(self, wanted: bytes, timeout: float = 20) -> bytes:
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"no {wanted!r} on the terminal; it shows {self.seen!r}")
        before, _, self.seen = self.seen.partition(wanted)
        return before

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait_raw(self, timeout: float = 20) -> None:
        """Until the CLI has put the terminal in raw mode: what is typed from then on
        waits for the container (earlier, the mode change would discard it)."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & termios.ECHO:
            assert time.monotonic() < deadline, f"the terminal stayed cooked: {self.seen!r}"
            self._read(0.05)

    def wait(self, timeout: float = 20) -> int:
        """The CLI's exit code (what it still writes is read meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the CLI did not exit; the terminal shows {self.seen!r}")
            self._read(0.1)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.master)


@contextlib.contextmanager
def term(d: Daemonized, *args: str, rows: int = 24, cols: int = 80) -> Iterator[Term]:
    t = Term(d.argv(*args), rows, cols)
    try:
        yield t
    finally:
        t.close()


PROMPT = b"# "  # busybox sh as root


def size_becomes(t: Term, want: bytes) -> None:
    """``stty size`` in the shell shows ``want`` (soon: the client resizes after the start
    and after SIGWINCH, so the shell may run a command before the size reaches the pty)."""
    deadline = time.monotonic() + 15
    while True:
        t.send(b"stty size; echo m$((1+1))k\r")  # the echo of the line is not m2k
        now = t.expect(b"m2k\r\n").split(b"\r\n")[-2]
        t.expect(PROMPT)
        if now == want or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert now == want


def test_run_it_types_resizes_and_exits_with_the_shells_code(dyd: Daemonized) -> None:
    with term(dyd, "run", "-it", "--name", "tty1", "busybox", "sh", rows=30, cols=100) as t:
        t.expect(PROMPT)

        size_becomes(t, b"30 100")
        t.set_size(40, 120)  # SIGWINCH → resize: the shell sees it from then on
        size_becomes(t, b"40 120")
        t.send(b"echo hi; exit 3\r")
        t.expect(b"\r\nhi\r\n")
        assert t.wait() == 3
    assert status_of(dyd, "tty1") == "exited"


def test_detach_keys_leave_it_running_and_attach_comes_back(dyd: Daemonized) -> None:
    with term(dyd, "run", "-it", "--name", "tty2", "busybox", "sh") as t:
        t.expect(PROMPT)
        t.send(b"\x10\x11")  # ctrl-p ctrl-q
        assert t.wait() == 0
    assert status_of(dyd, "tty2") == "running"
    with term(dyd, "attach", "tty2") as t:
        t.wait_raw()
        t.send(b"echo back$((1+1))\r")
        t.expect(b"back2\r\n")
        t.send(b"exit 4\r")
        assert t.wait() == 4
    assert status_of(dyd, "tty2") == "exited"


def test_detach_keys_flag_on_run_attach_and_exec(dyd: Daemonized) -> None:
    with term(dyd, "run", "-it", "--detach-keys", "ctrl-x,x", "--name", "tty3", "busybox",
              "sh") as t:  # fmt: skip
        t.expect(PROMPT)
        t.send(b"\x10\x11")  # not the keys any more: they reach the shell
        t.send(b"\x15echo still$((2+2))\r")  # ctrl-u: a clean line
        t.expect(b"still4\r\n")
        t.send(b"\x18x")  # ctrl-x x
        assert t.wait() == 0
    with term(dyd, "attach", "--detach-keys", "ctrl-e,e", "tty3") as t:
        t.wait_raw()
        t.send(b"echo again$((3+3))\r")
        t.expect(b"again6\r\n")
        t.send(b"\x05e")
        assert t.wait() == 0
    with term(dyd, "exec", "-it", "--detach-keys", "ctrl-k,k", "tty3", "sh") as t:
        t.expect(PROMPT)
        t.send(b"echo ex$((4+4))\r")
        t.expect(b"ex8\r\n")
        t.send(b"\x0bk")
        assert t.wait() == 0
    assert status_of(dyd, "tty3") == "running"
    p = dyd.run("run", "--rm", "-it", "--detach-keys", "ctrl-", "busybox", "true")
    assert p.returncode != 0 and "detach keys" in p.stderr and "Traceback" not in p.stderr


def test_exec_it_has_a_terminal_and_its_exit_code(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "host", "busybox", "sleep", "60")
    with term(dyd, "exec", "-it", "host", "sh", rows=25, cols=90) as t:
        t.expect(PROMPT)
        size_becomes(t, b"25 90")
        t.send(b"[ -t 0 ] && echo is$((1))tty; exit 5\r")
        t.expect(b"is1tty\r\n")
        assert t.wait() == 5


@pytest.mark.parametrize("exe", DOCKER_CLIENTS or ["docker"])
def test_stock_docker_client_run_it_detaches_and_attaches(dyd: Daemonized, exe: str) -> None:
    if not DOCKER_CLIENTS:
        pytest.skip("no docker client installed (the docker.io package has one)")
    dyd.out("ps")  # the daemon runs
    argv = ["env", f"DOCKER_HOST=unix://{dyd.run_root / 'dockyard.sock'}", exe]
    t = Term([*argv, "run", "-it", "--name", "dk", "busybox", "sh"], 30, 100)
    try:
        t.expect(PROMPT)
        size_becomes(t, b"30 100")  # the client's resize after its attach and start
        t.send(b"\x10\x11")
        assert t.wait() == 0
    finally:
        t.close()
    assert status_of(dyd, "dk") == "running"
    t = Term([*argv, "attach", "dk"], 30, 100)
    try:
        t.wait_raw()
        t.send(b"echo a$((1+1))\r")
        t.expect(b"a2\r\n")
        t.send(b"exit 7\r")
        assert t.wait() == 7
    finally:
        t.close()
