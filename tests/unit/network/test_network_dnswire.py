"""DNS wire format: names, queries and answers, built and parsed with ``struct``."""

from __future__ import annotations

import struct

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network._dnswire import (
    FORMERR,
    NOERROR,
    NXDOMAIN,
    QTYPE_AAAA,
    build_query,
    build_response,
    decode_name,
    encode_name,
    error_response,
    parse_answers,
    parse_message,
)


def test_encode_name() -> None:
    assert encode_name("web.local") == b"\x03web\x05local\x00"
    assert encode_name("web.local.") == b"\x03web\x05local\x00"
    assert encode_name(".") == b"\x00"


@pytest.mark.parametrize("name", ["a" * 64, "a..b", ".".join(["abcdefgh"] * 30)])
def test_encode_name_rejects(name: str) -> None:
    with pytest.raises(InvalidArgument):
        encode_name(name)


def test_query_round_trip() -> None:
    msg = build_query(0x1234, "Web.Local")
    # header: id, RD, one question
    assert msg[:12] == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q = parse_message(msg)
    assert (q.id, q.name, q.qtype, q.qclass, q.end) == (0x1234, "web.local", 1, 1, len(msg))
    assert not q.is_response and q.opcode == 0


def test_hand_written_query_with_edns() -> None:
    # dig-style query: id 0xbeef, RD+AD, 1 question, 1 additional (OPT)
    msg = (
        struct.pack("!HHHHHH", 0xBEEF, 0x0120, 1, 0, 0, 1)
        + b"\x02db\x00"
        + struct.pack("!HH", 1, 1)
        + b"\x00"
        + struct.pack("!HHIH", 41, 1232, 0, 0)
    )
    q = parse_message(msg)
    assert q.name == "db" and q.end == 12 + 4 + 4
    reply = build_response(msg, q, ["10.0.0.7", "10.0.0.8"], ttl=30)
    ident, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", reply)
    assert (ident, qd, an, ns, ar) == (0xBEEF, 1, 2, 0, 0)
    assert flags & 0x8000 and flags & 0x0400 and flags & 0x0100 and flags & 0x0080
    assert flags & 0xF == NOERROR
    # answer: pointer to the question name, A, IN, ttl 30, 4 bytes
    assert reply[q.end : q.end + 12] == struct.pack("!HHHIH", 0xC00C, 1, 1, 30, 4)
    assert reply[q.end + 12 : q.end + 16] == bytes([10, 0, 0, 7])
    assert parse_answers(reply) == (NOERROR, ["10.0.0.7", "10.0.0.8"])


def test_nxdomain_response() -> None:
    msg = build_query(7, "x", QTYPE_AAAA)
    reply = build_response(msg, parse_message(msg), rcode=NXDOMAIN)
    assert parse_answers(reply) == (NXDOMAIN, [])
    assert parse_message(reply).is_response


def test_decode_compressed_and_loops() -> None:
    msg = b"\x00" * 12 + b"\x03foo\x03bar\x00" + b"\x03baz\xc0\x0c"
    assert decode_name(msg, 12) == ("foo.bar", 21)
    assert decode_name(msg, 21) == ("baz.foo.bar", 27)
    loop = b"\x00" * 12 + b"\xc0\x0c"
    with pytest.raises(InvalidArgument, match="compression"):
        decode_name(loop, 12)


@pytest.mark.parametrize(
    "msg",
    [
        b"\x00\x01",
        struct.pack("!HHHHHH", 1, 0, 0, 0, 0, 0),
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x03ab",
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x01a\x00\x00",
        struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x81a\x00\x00\x01\x00\x01",
    ],
)
def test_malformed(msg: bytes) -> None:
    with pytest.raises(InvalidArgument):
        parse_message(msg)


def test_error_response_keeps_id() -> None:
    reply = error_response(b"\xab\xcd\x00", FORMERR)
    assert struct.unpack("!HHHHHH", reply) == (0xABCD, 0x8080 | FORMERR, 0, 0, 0, 0)
