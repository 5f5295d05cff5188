"""The DNS responder, served on loopback and queried with hand-written packets."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from dockyard.errors import Conflict, FailedPrecondition
from dockyard.network import DnsResponder, ResolvConf, upstreams_from_resolv
from dockyard.network._dnswire import (
    FORMERR,
    NOERROR,
    QTYPE_AAAA,
    SERVFAIL,
    build_query,
    build_response,
    parse_answers,
    parse_message,
)

Addr = tuple[str, int]


class Upstream(asyncio.DatagramProtocol):
    """A fake upstream resolver: answers every A query with 198.51.100.7 (or stays silent)."""

    def __init__(self, silent: bool = False) -> None:
        self.silent = silent
        self.seen: list[tuple[int, str]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        q = parse_message(data)
        self.seen.append((q.id, q.name))
        if not self.silent and self.transport is not None:
            self.transport.sendto(build_response(data, q, ["198.51.100.7"]), addr)


async def _upstream(silent: bool = False) -> tuple[Upstream, Addr, asyncio.DatagramTransport]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: Upstream(silent), local_addr=("127.0.0.1", 0)
    )
    return proto, transport.get_extra_info("sockname")[:2], transport


async def _ask(server: Addr, msg: bytes, timeout: float = 3.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.bind(("127.0.0.1", 0))
        await loop.sock_sendto(sock, msg, server)
        try:
            return await asyncio.wait_for(loop.sock_recv(sock, 4096), timeout)
        except TimeoutError:
            return None
    finally:
        sock.close()


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 20))


def test_answers_registered_names() -> None:
    async def body() -> None:
        dns = DnsResponder("127.0.0.1", port=0)
        await dns.start()
        try:
            dns.set_records({"Web": ["10.0.0.2"], "svc": ["10.0.0.3", "10.0.0.4"]})
            reply = await _ask(dns.address, build_query(0x4242, "web."))
            assert reply is not None and reply[:2] == b"\x42\x42"
            assert parse_answers(reply) == (NOERROR, ["10.0.0.2"])
            reply = await _ask(dns.address, build_query(1, "SVC"))
            assert reply is not None
            _rcode, addrs = parse_answers(reply)
            assert sorted(addrs) == ["10.0.0.3", "10.0.0.4"]
            reply = await _ask(dns.address, build_query(2, "web", QTYPE_AAAA))
            assert reply is not None and parse_answers(reply) == (NOERROR, [])
        finally:
            await dns.close()

    run(body)


def test_add_and_remove() -> None:
    dns = DnsResponder("127.0.0.1", port=0)
    dns.add("db", "10.0.0.5")
    dns.add("DB", "10.0.0.6")
    dns.remove("db", "10.0.0.5")
    assert dns.lookup("db.") == ["10.0.0.6"]
    dns.remove("db", "10.0.0.6")
    assert dns.lookup("db") is None
    reply = dns.answer(build_query(3, "db"))
    assert reply is None  # unknown: relay


def test_relays_other_names_with_a_fresh_id() -> None:
    async def body() -> None:
        up, addr, transport = await _upstream()
        dns = DnsResponder("127.0.0.1", port=0, upstreams=[addr])
        await dns.start()
        try:
            reply = await _ask(dns.address, build_query(0x0101, "example.com"))
            assert reply is not None and reply[:2] == b"\x01\x01"
            assert parse_answers(reply) == (NOERROR, ["198.51.100.7"])
            assert up.seen[0][1] == "example.com"
        finally:
            await dns.close()
            transport.close()

    run(body)


def test_silent_upstream_then_next_then_servfail() -> None:
    async def body() -> None:
        silent, silent_addr, t1 = await _upstream(silent=True)
        good, good_addr, t2 = await _upstream()
        dns = DnsResponder("127.0.0.1", port=0, upstreams=[silent_addr, good_addr], timeout=0.2)
        await dns.start()
        try:
            reply = await _ask(dns.address, build_query(9, "example.org"))
            assert reply is not None and parse_answers(reply) == (NOERROR, ["198.51.100.7"])
            assert len(silent.seen) == 1 and len(good.seen) == 1
            dns.set_client_upstreams("127.0.0.1", [silent_addr])
            reply = await _ask(dns.address, build_query(10, "example.org"))
            assert reply is not None and parse_answers(reply)[0] == SERVFAIL
            assert reply[:2] == struct.pack("!H", 10)
            dns.set_client_upstreams("127.0.0.1", [])
        finally:
            await dns.close()
            t1.close()
            t2.close()

    run(body)


def test_no_upstream_is_servfail_and_garbage_is_formerr() -> None:
    async def body() -> None:
        dns = DnsResponder("127.0.0.1", port=0)
        await dns.start()
        try:
            reply = await _ask(dns.address, build_query(5, "nowhere.test"))
            assert reply is not None and parse_answers(reply)[0] == SERVFAIL
            reply = await _ask(dns.address, b"\x00\x07\x01")
            assert reply is not None and reply[:2] == b"\x00\x07" and reply[3] & 0xF == FORMERR
            # a response sent to the responder is dropped, never answered (no loops)
            response = build_response(build_query(6, "x"), parse_message(build_query(6, "x")))
            assert await _ask(dns.address, response, timeout=0.3) is None
        finally:
            await dns.close()

    run(body)


def test_lifecycle_errors() -> None:
    async def body() -> None:
        dns = DnsResponder("127.0.0.1", port=0)
        with pytest.raises(FailedPrecondition, match="not started"):
            _ = dns.address
        await dns.start()
        try:
            with pytest.raises(FailedPrecondition, match="already started"):
                await dns.start()
            taken = DnsResponder("127.0.0.1", port=dns.address[1])
            with pytest.raises(Conflict, match=r"start dns responder on 127\.0\.0\.1:"):
                await taken.start()
        finally:
            await dns.close()
        missing = DnsResponder("192.0.2.55", port=0)
        with pytest.raises(FailedPrecondition, match="bridge up"):
            await missing.start()

    run(body)


def test_upstreams_from_resolv() -> None:
    conf = ResolvConf(("10.0.0.2", "::1", "127.0.0.53", "172.18.0.1", "bogus"))
    assert upstreams_from_resolv(conf, exclude=["172.18.0.1"]) == [
        ("10.0.0.2", 53), ("127.0.0.53", 53)
    ]  # fmt: skip


class Forger(asyncio.DatagramProtocol):
    """An upstream that, before its true answer, sends what an attacker would: an answer
    with another id, one for another question (the right id), one from another port; each
    says 203.0.113.66. Records the source port and id of every query it got."""

    def __init__(self) -> None:
        self.queries: list[tuple[int, int]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other.bind(("127.0.0.1", 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        q = parse_message(data)
        self.queries.append((addr[1], q.id))
        assert self.transport is not None
        bad = ["203.0.113.66"]
        wrong_id = struct.pack("!H", (q.id + 1) % 65536) + data[2:]
        self.transport.sendto(build_response(wrong_id, parse_message(wrong_id), bad), addr)
        other_q = struct.pack("!H", q.id) + build_query(0, "evil.example")[2:]
        self.transport.sendto(build_response(other_q, parse_message(other_q), bad), addr)
        self.other.sendto(build_response(data, q, bad), addr)
        self.transport.sendto(build_response(data, q, ["198.51.100.7"]), addr)


def test_relay_takes_only_the_true_answer_from_a_fresh_port_each_time() -> None:
    """Issue 19 item 4: forged answers (wrong id, wrong question, wrong source port) are
    ignored; each relayed query leaves from its own port with a random id."""

    async def body() -> None:
        loop = asyncio.get_running_loop()
        transport, forger = await loop.create_datagram_endpoint(Forger, local_addr=("127.0.0.1", 0))
        addr = transport.get_extra_info("sockname")[:2]
        dns = DnsResponder("127.0.0.1", port=0, upstreams=[addr])
        await dns.start()
        try:
            for i in range(20):
                reply = await _ask(dns.address, build_query(i, f"n{i}.example.com"))
                assert reply is not None and reply[:2] == struct.pack("!H", i)
                assert parse_answers(reply) == (NOERROR, ["198.51.100.7"])
            ports = [p for p, _ in forger.queries]
            ids = [i for _, i in forger.queries]
            assert len(ports) == 20 and len(set(ports)) == 20  # a fresh port per query
            assert len(set(ids)) >= 19 and ids != sorted(ids)  # random ids
            assert dns._pending == {}  # every relay socket closed with its answer
        finally:
            await dns.close()
            transport.close()
            forger.other.close()

    run(body)
