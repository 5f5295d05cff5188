"""engine/podsupport.py: the engine's side of the orchestrator's ports, without a daemon.

The probe is run against loopback servers in the test's own network namespace (``netns``
None); the namespace paths and the records come from a stand-in daemon that has just the
attributes PodSupport reads."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.engine.podsupport import NetProbe, PodSupport, _request, net_probe
from dockyard.errors import Unavailable


@pytest.fixture
def server() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback HTTP server answering 204 to each request; yields (port, requests seen)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    seen: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                seen.append(data)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1], seen
    finally:
        stop.set()
        t.join()
        srv.close()


def test_tcp_and_http_probes_pass_and_http_sends_the_kubelet_s_request(
    server: tuple[int, list[bytes]],
) -> None:
    port, seen = server
    assert asyncio.run(net_probe(None, NetProbe("tcp", "127.0.0.1", port)))
    probe = NetProbe("http", "127.0.0.1", port, "/healthz", headers=(("X-Probe", "1"),))
    assert asyncio.run(net_probe(None, probe))
    request = seen[-1].decode()
    assert request.startswith("GET /healthz HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in request and "X-Probe: 1\r\n" in request
    assert "User-Agent: kube-probe/1.30\r\n" in request


def test_a_given_host_header_replaces_the_default() -> None:
    text = _request(NetProbe("http", "10.0.0.2", 80, "", headers=(("host", "web"),))).decode()
    assert text.startswith("GET / HTTP/1.1\r\n") and "Host: 10.0.0.2" not in text
    assert "host: web\r\n" in text


def test_a_closed_port_raises_and_grpc_fails() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(OSError):
        asyncio.run(net_probe(None, NetProbe("tcp", "127.0.0.1", port)))


def test_grpc_is_not_supported(server: tuple[int, list[bytes]]) -> None:
    assert not asyncio.run(net_probe(None, NetProbe("grpc", "127.0.0.1", server[0])))


def _daemon(tmp_path: Path, net: Any) -> Any:
    return SimpleNamespace(net=net, engine=SimpleNamespace(db=SimpleNamespace()))


def test_netns_path_prefers_networking_s_file_then_proc(tmp_path: Path) -> None:
    rec = SimpleNamespace(id="abc", pid=4242)
    assert PodSupport(_daemon(tmp_path, None)).netns_path(rec) == "/proc/4242/ns/net"  # type: ignore[arg-type]
    held = tmp_path / "netns-abc"
    net = SimpleNamespace(netns_path=lambda cid: str(tmp_path / f"netns-{cid}"), broken=False)
    support = PodSupport(_daemon(tmp_path, net))
    assert support.netns_path(rec) == "/proc/4242/ns/net"  # type: ignore[arg-type]
    held.write_text("")
    assert support.netns_path(rec) == str(held)  # type: ignore[arg-type]


def test_without_networking_the_service_calls_say_so(tmp_path: Path) -> None:
    for net in (None, SimpleNamespace(broken=True)):
        support = PodSupport(_daemon(tmp_path, net))
        assert not support.networking
        with pytest.raises(Unavailable):
            support.used_subnets()
        with pytest.raises(Unavailable):
            support.service_ipam()
