"""Terminals: hand a pty master over a unix socket, or proxy it to our stdio.

``--console-socket`` follows runc: connect to the AF_UNIX stream socket and send
one message whose payload is the name of the pty and whose SCM_RIGHTS carries
the master fd. Without a socket, a foreground ``run``/``exec`` copies between its
own stdin/stdout and the master in a background thread (:class:`Proxy`).
"""

from __future__ import annotations

import contextlib
import os
import threading

from dockyard.errors import InvalidArgument

__all__ = ["Proxy", "accept_from", "send_fd"]


def send_fd(socket_path: str, fd: int) -> None:
    """Send ``fd`` (a pty master) to the console socket at ``socket_path``."""
    import array
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(socket_path)
            fds = array.array("i", [fd])
            s.sendmsg([b"/dev/ptmx"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
        except OSError as e:
            raise InvalidArgument(
                f"send console to {socket_path}: {(e.strerror or str(e)).lower()}"
            ) from None


def accept_from(listener: object, pid: int, timeout: float) -> int:
    """The fd sent on ``listener`` by process ``pid`` (running as our uid): a connection
    from anyone else is closed unread (``SO_PEERCRED`` names who called ``connect``), so
    a process that connects first cannot hand its own pty in and read what is typed.
    Unavailable when ``pid`` has not called within ``timeout`` seconds."""
    import socket
    import struct
    import time

    from dockyard.errors import Unavailable

    assert isinstance(listener, socket.socket)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unavailable("receive console: the runtime did not call")
        listener.settimeout(left)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            peer, uid, _gid = struct.unpack("3i", creds)
            if peer == pid and uid == os.geteuid():
                conn.settimeout(max(deadline - time.monotonic(), 0.1))
                return recv_fd(conn)


def recv_fd_from(fd: int, what: str) -> int:
    """The pty master the container's init sent on the socketpair end ``fd``."""
    import socket

    sock = socket.socket(fileno=os.dup(fd))
    try:
        return recv_fd(sock)
    except OSError as e:
        raise InvalidArgument(f"{what}: receive the terminal: {e}") from None
    except InvalidArgument:
        raise InvalidArgument(f"{what}: the init sent no terminal") from None
    finally:
        sock.close()


def open_pty_inside(size: tuple[int, int] | None) -> tuple[int, int, str]:
    """A pty of the devpts instance at ``/dev/pts`` as this process sees it (the
    container's, after its mounts): ``(master, slave, slave path)``."""
    import fcntl
    import struct

    from dockyard.linux import constants as c

    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        reason = (e.strerror or str(e)).lower()
        raise InvalidArgument(
            f"terminal: open /dev/ptmx: {reason} (the container needs a devpts at /dev/pts)"
        ) from None
    try:
        fcntl.ioctl(master, c.TIOCSPTLCK, struct.pack("i", 0))
        n = struct.unpack("I", fcntl.ioctl(master, c.TIOCGPTN, b"\0" * 4))[0]
        path = f"/dev/pts/{n}"
        slave = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
        if size is not None:
            fcntl.ioctl(slave, c.TIOCSWINSZ, struct.pack("HHHH", size[0], size[1], 0, 0))
    except OSError as e:
        os.close(master)
        raise InvalidArgument(f"terminal: {(e.strerror or str(e)).lower()}") from None
    return master, slave, path


def send_master(sock_fd: int, master: int, path: str) -> None:
    """Send the pty master (and its slave's name) on the socketpair end ``sock_fd``."""
    import array
    import socket

    with socket.socket(fileno=sock_fd) as s:
        fds = array.array("i", [master])
        s.sendmsg([path.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])


def recv_fd(sock: object) -> int:
    """Receive one fd sent by :func:`send_fd` on an accepted socket (for tests, tools)."""
    import array
    import socket

    assert isinstance(sock, socket.socket)
    fds = array.array("i")
    _, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    for level, typ, data in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            fds.frombytes(data[: fds.itemsize])
    if not fds:
        raise InvalidArgument("receive console: no file descriptor in the message")
    return int(fds[0])


class Proxy:
    """Copy stdin → master and master → stdout until the master reports EOF/EIO."""

    def __init__(self, master: int, stdin: int = 0, stdout: int = 1) -> None:
        self.master = master
        self._out = threading.Thread(target=self._pump, args=(master, stdout), daemon=True)
        self._in = threading.Thread(target=self._pump, args=(stdin, master), daemon=True)
        self._out.start()
        self._in.start()

    @staticmethod
    def _pump(src: int, dst: int) -> None:
        while True:
            try:
                data = os.read(src, 65536)
            except OSError:
                return
            if not data:
                return
            try:
                os.write(dst, data)
            except OSError:
                return

    def wait(self, timeout: float = 2.0) -> None:
        """Wait for the output side to drain (after the process exited)."""
        self._out.join(timeout)
        with contextlib.suppress(OSError):
            os.close(self.master)
