"""A probe cancelled by its timeout must not leave its socket's fd watched by the loop.

The network probe (now ``dockyard.engine.podsupport.net_probe``) closed its raw socket in
``finally`` even after ``asyncio.open_connection`` had given it to a transport. When the probe
timed out (a pod too busy to answer within ``timeoutSeconds``), the fd was freed while the
transport's reader stayed registered; the next probe's socket got the same fd and
``sock_connect`` raised ``RuntimeError: File descriptor N is used by transport``, which broke
the daemon's probe loop: under load, new pods never became ready (seen in ``make demo``'s
scale-out).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest

from dockyard.engine.podsupport import NetProbe, net_probe


def _server(answer: bytes | None) -> Iterator[int]:
    """A loopback HTTP server that answers ``answer`` or holds the connection silently."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.05)  # so that the thread sees stop
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            if answer is None:
                held.append(conn)
                continue
            conn.recv(4096)
            conn.sendall(answer)
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        t.join(5)
        srv.close()
        for c in held:
            c.close()


@pytest.fixture
def silent() -> Iterator[int]:
    yield from _server(None)


@pytest.fixture
def healthy() -> Iterator[int]:
    yield from _server(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def test_a_timed_out_probe_leaves_the_next_one_working(silent: int, healthy: int) -> None:
    async def scenario() -> list[bool]:
        results = []
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(net_probe(None, NetProbe("http", "127.0.0.1", silent)), 0.2)
            results.append(await net_probe(None, NetProbe("http", "127.0.0.1", healthy)))
        return results

    assert asyncio.run(scenario()) == [True, True, True]
