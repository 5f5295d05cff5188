"""A terminal cannot be hijacked (issue 13, item 5).

For ``run -it`` / ``exec -it`` the runtime sends the pty master to a console socket. The
shim used to listen on an abstract unix socket of the host's network namespace and
accept the first caller: any local user, a ``--network host`` container or a build step
could connect first, hand in a descriptor of its own and read what is typed. Now the
holder listens at ``<run_root>/consoles/<pid>.sock`` (a directory only root may enter)
and takes the master only from a connection whose ``SO_PEERCRED`` is itself (the
runtime's send runs in the holder); any other is closed unread.
"""

from __future__ import annotations

import array
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import Daemonized, daemonized
from test_daemon_attach import PROMPT, term

from dockyard.engine import launcher
from dockyard.runtime.console import accept_from, recv_fd

pytestmark = [pytest.mark.root]


def _send(sock: socket.socket, fd: int) -> None:
    sock.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                   array.array("i", [fd]).tobytes())])  # fmt: skip


def _ident(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


# In another process: connect to argv[1], send one end of a socketpair, say "sent", and
# wait to be killed.
FIRST_CALLER = """
import array, socket, sys, time
a, b = socket.socketpair()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
fds = array.array("i", [a.fileno()]).tobytes()
s.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
print("sent", flush=True)
time.sleep(60)
"""


@pytest.fixture
def first_caller(tmp_path: Path) -> Iterator[tuple[socket.socket, str, subprocess.Popen[str]]]:
    """A console listener with another process's call already queued (it came first)."""
    path = str(tmp_path / "c.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    p = subprocess.Popen([sys.executable, "-c", FIRST_CALLER, path], stdout=subprocess.PIPE,
                         text=True)  # fmt: skip
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "sent"
        yield listener, path, p
    finally:
        p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()
        listener.close()


def test_only_the_expected_caller_hands_the_terminal_in(
    first_caller: tuple[socket.socket, str, subprocess.Popen[str]],
) -> None:
    listener, path, _ = first_caller
    r, w = os.pipe()  # what "the runtime" (this process) sends: its identity is known
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            _send(s, w)
        got = accept_from(listener, os.getpid(), 5.0)
        try:
            assert _ident(got) == _ident(w)
        finally:
            os.close(got)
    finally:
        os.close(r)
        os.close(w)


def test_without_the_peer_check_the_first_caller_wins(
    first_caller: tuple[socket.socket, str, subprocess.Popen[str]],
) -> None:
    """The defence switched off (accept the first caller, as the shim did): the other
    process's descriptor is taken for the terminal."""
    listener, path, _ = first_caller
    r, w = os.pipe()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(path)
            _send(s, w)
        conn, _ = listener.accept()
        with conn:
            got = recv_fd(conn)
        try:
            assert _ident(got) != _ident(w)
            assert os.fstat(got).st_mode & 0o170000 == 0o140000  # the attacker's socket
        finally:
            os.close(got)
    finally:
        os.close(r)
        os.close(w)


def test_an_unprivileged_user_cannot_reach_the_console_socket() -> None:
    """``setpriv --reuid nobody``: the holder's socket (under a run root any user may
    traverse) refuses the connection; an abstract socket, what the shim used, let it in."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
             "name = sys.argv[1].replace('@', chr(0), 1)\n"
             "try:\n    s.connect(name); print('connected')\n"
             "except OSError as e:\n    print(type(e).__name__)\n")  # fmt: skip

    def as_nobody(path: str) -> str:
        out = subprocess.run(["setpriv", "--reuid", "nobody", "--regid", "nogroup",
                              "--clear-groups", sys.executable, "-I", "-c", probe, path],
                             capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    with tempfile.TemporaryDirectory(prefix="dy-term-") as base:
        os.chmod(base, 0o755)  # nothing but the consoles directory is in the way
        run_root = os.path.join(base, "run")
        os.mkdir(run_root, 0o755)
        listener, path, dfd = launcher._console_socket(run_root)
        try:
            st = os.stat(os.path.join(run_root, "consoles"))
            assert (st.st_uid, st.st_mode & 0o777) == (0, 0o700)
            assert as_nobody(path) == "PermissionError"
        finally:
            listener.close()
            os.close(dfd)
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            name = f"dockyard-test-{uuid.uuid4().hex}"
            abstract.bind("\0" + name)
            abstract.listen(1)
            assert as_nobody("@" + name) == "connected"
        finally:
            abstract.close()


class Racer(threading.Thread):
    """Connects to every console socket that shows up under ``<run_root>/consoles``, as
    fast as it can, and hands in one end of a socketpair: if a terminal were taken from
    it, what is typed would arrive on the other end."""

    def __init__(self, run_root: Path) -> None:
        super().__init__(daemon=True)
        self.dir = run_root / "consoles"
        self.stop = threading.Event()
        self.handed: list[socket.socket] = []  # our ends of what we handed in
        self.connected = 0
        self.errors: list[str] = []

    def run(self) -> None:
        tried: set[str] = set()
        while not self.stop.is_set():
            try:
                names = os.listdir(self.dir)
            except OSError:
                names = []
            for name in names:
                if name in tried:
                    continue
                a, b = socket.socketpair()
                try:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                        s.connect(str(self.dir / name))
                        _send(s, a.fileno())
                    self.connected += 1
                    self.handed.append(b)
                    tried.add(name)
                except ConnectionRefusedError:  # bound, not listening yet: again
                    b.close()
                except OSError as e:
                    self.errors.append(f"{name}: {e}")
                    tried.add(name)
                    b.close()
                finally:
                    a.close()
            time.sleep(0.0005)

    def leaks(self, timeout: float = 5.0) -> list[bytes]:
        """What arrived on the ends we kept: EOF on each (the holder closed our call
        unread, so the end we handed in is gone) and no byte."""
        got: list[bytes] = []
        deadline = time.monotonic() + timeout
        for b in self.handed:
            b.setblocking(False)
            while True:
                ready, _, _ = select.select([b], [], [], max(deadline - time.monotonic(), 0))
                if not ready:
                    got.append(b"<no EOF: the descriptor is still held>")
                    break
                data = b.recv(65536)
                if not data:
                    break
                got.append(data)
        return got

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        for b in self.handed:
            b.close()


@pytest.fixture
def dyd() -> Iterator[Daemonized]:
    """A daemon whose roots live where the racer (this process) can reach them."""
    with tempfile.TemporaryDirectory(prefix="dy-term-") as base, daemonized(Path(base)) as d:
        yield d


def test_run_it_and_exec_it_work_while_a_racer_calls_first(dyd: Daemonized) -> None:
    racer = Racer(dyd.run_root)
    racer.start()
    try:
        with term(dyd, "run", "-it", "--name", "t1", "busybox", "sh") as t:
            t.expect(PROMPT)
            t.send(b"echo secret-$((6*7))\r")
            t.expect(b"secret-42\r\n")
            with term(dyd, "exec", "-it", "t1", "sh") as e:
                e.expect(PROMPT)
                e.send(b"echo exec-$((6*7)); exit 3\r")
                e.expect(b"exec-42\r\n")
                assert e.wait() == 3
            t.send(b"exit 4\r")
            assert t.wait() == 4
    finally:
        racer.stop.set()
        racer.join(5)
    try:
        assert racer.connected >= 1, f"the racer never reached a console socket: {racer.errors}"
        assert racer.leaks() == []
    finally:
        racer.close()
