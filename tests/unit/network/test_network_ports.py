"""``-p``/``-P`` parsing and host port reservation (loopback only)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import PortBinding, PortSpec, parse_publish, publish_all
from dockyard.network._ports import reserve_ports


@pytest.mark.parametrize(
    ("value", "specs"),
    [
        ("80", [PortSpec(80)]),
        ("80/udp", [PortSpec(80, "udp")]),
        ("53/UDP", [PortSpec(53, "udp")]),
        ("8080:80", [PortSpec(80, "tcp", "", 8080)]),
        ("127.0.0.1:8080:80", [PortSpec(80, "tcp", "127.0.0.1", 8080)]),
        ("0.0.0.0:8080:80/tcp", [PortSpec(80, "tcp", "", 8080)]),
        ("127.0.0.1::80", [PortSpec(80, "tcp", "127.0.0.1")]),
        ("::80", [PortSpec(80)]),
        ("8000-8001:80-81/udp", [PortSpec(80, "udp", "", 8000), PortSpec(81, "udp", "", 8001)]),
        ("8000-8010:80", [PortSpec(80, "tcp", "", 8000, 8010)]),
        ("80-82", [PortSpec(80), PortSpec(81), PortSpec(82)]),
    ],
)
def test_parse_publish(value: str, specs: list[PortSpec]) -> None:
    assert parse_publish(value) == specs


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "expected"),
        ("8080:", "expected"),
        ("a:b:c:d", "expected"),
        ("80/sctp", "protocol must be tcp or udp"),
        ("x:80", "invalid port 'x'"),
        ("0:80", "out of range"),
        ("8080:70000", "out of range"),
        ("81-80", "out of range"),
        ("8000-8002:80-81", "ranges differ in size"),
        ("1.2.3:8080:80", "invalid host IP"),
        ("[::1]:8080:80", "IPv6"),
    ],
)
def test_parse_publish_errors(value: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match) as info:
        parse_publish(value)
    assert str(info.value).startswith(f"invalid -p {value!r}: ")


def test_publish_all() -> None:
    assert publish_all(["80/tcp", "53/udp", "9000"]) == [
        PortSpec(80), PortSpec(53, "udp"), PortSpec(9000)
    ]  # fmt: skip
    assert publish_all(["80/tcp"], "127.0.0.1") == [PortSpec(80, "tcp", "127.0.0.1")]


def test_binding_str() -> None:
    assert str(PortBinding("", 8080, 80)) == "0.0.0.0:8080->80/tcp"


@pytest.fixture
def busy_port() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    yield s.getsockname()[1]
    s.close()


def test_reserve_ephemeral_and_release() -> None:
    held = reserve_ports([PortSpec(80, "tcp", "127.0.0.1"), PortSpec(53, "udp", "127.0.0.1")], "c1")
    try:
        tcp, udp = (r.binding for r in held)
        assert tcp.host_port > 0 and tcp.container_port == 80 and udp.proto == "udp"
        with pytest.raises(Conflict, match="port is already allocated"):
            reserve_ports([PortSpec(80, "tcp", "127.0.0.1", tcp.host_port)], "c2")
    finally:
        for r in held:
            r.close()
    again = reserve_ports([PortSpec(80, "tcp", "127.0.0.1", tcp.host_port)], "c2")
    again[0].close()


def test_port_in_use_is_one_clear_line(busy_port: int) -> None:
    with pytest.raises(Conflict) as info:
        reserve_ports([PortSpec(80, "tcp", "127.0.0.1", busy_port)], "web")
    assert str(info.value) == (
        f"publish 127.0.0.1:{busy_port}/tcp for container web: port is already allocated"
    )


def test_reservation_is_all_or_nothing(busy_port: int) -> None:
    first = reserve_ports([PortSpec(1, "tcp", "127.0.0.1")], "x")
    free = first[0].binding.host_port
    first[0].close()
    with pytest.raises(Conflict):
        reserve_ports(
            [PortSpec(1, "tcp", "127.0.0.1", free), PortSpec(2, "tcp", "127.0.0.1", busy_port)],
            "x",
        )
    # the first port was given back
    reserve_ports([PortSpec(1, "tcp", "127.0.0.1", free)], "x")[0].close()


def _busy_pair() -> tuple[socket.socket, socket.socket]:
    """Two listening sockets on consecutive loopback ports (bounded search)."""
    for _ in range(50):
        a = socket.socket()
        a.bind(("127.0.0.1", 0))
        b = socket.socket()
        try:
            b.bind(("127.0.0.1", a.getsockname()[1] + 1))
        except OSError:
            a.close()
            b.close()
            continue
        a.listen()
        b.listen()
        return a, b
    pytest.skip("no two consecutive free loopback ports")


def test_host_range_takes_first_free() -> None:
    a, b = _busy_pair()
    port = a.getsockname()[1]
    b.close()
    try:
        held = reserve_ports([PortSpec(80, "tcp", "127.0.0.1", port, port + 1)], "x")
        assert held[0].binding.host_port == port + 1
        held[0].close()
    finally:
        a.close()


def test_range_all_busy() -> None:
    a, b = _busy_pair()
    port = a.getsockname()[1]
    try:
        with pytest.raises(Conflict, match=f"no free port in {port}-{port + 1}"):
            reserve_ports([PortSpec(80, "tcp", "127.0.0.1", port, port + 1)], "x")
    finally:
        a.close()
        b.close()


def test_non_local_host_ip() -> None:
    with pytest.raises(InvalidArgument, match=r"192\.0\.2\.77 is not an address of this host"):
        reserve_ports([PortSpec(80, "tcp", "192.0.2.77", 8080)], "x")
