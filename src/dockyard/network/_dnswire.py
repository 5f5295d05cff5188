"""DNS messages, the few parts the container resolver needs (RFC 1035), with ``struct``.

Parsed: the header and the first question of a query. Built: queries (for tests and health
checks) and answers with A and SRV records, and any other record as its type and data
(:class:`RData`: PTR, CNAME, TXT for the cluster zone). Everything else the responder relays as
bytes, changing only the 16-bit id.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from ipaddress import IPv4Address

from dockyard.errors import InvalidArgument
from dockyard.records import record

__all__ = [
    "FORMERR",
    "NOERROR",
    "NXDOMAIN",
    "QTYPE_A",
    "QTYPE_AAAA",
    "QTYPE_CNAME",
    "QTYPE_PTR",
    "QTYPE_SRV",
    "QTYPE_TXT",
    "SERVFAIL",
    "Question",
    "RData",
    "Srv",
    "build_query",
    "build_response",
    "decode_name",
    "encode_name",
    "error_response",
    "parse_message",
    "parse_answers",
    "parse_srv_answers",
    "name_rdata",
    "txt_rdata",
]

QTYPE_A = 1
QTYPE_CNAME = 5
QTYPE_PTR = 12
QTYPE_TXT = 16
QTYPE_AAAA = 28
QTYPE_SRV = 33
QCLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN = 0, 1, 2, 3
_HEADER = struct.Struct("!HHHHHH")
_FLAG_QR = 0x8000
_FLAG_AA = 0x0400
_FLAG_RD = 0x0100
_FLAG_RA = 0x0080


@record
class Question:
    """A query's id, flags and first question; ``name`` is lower-case without the final dot."""

    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    end: int  # offset just past the question in the message

    @property
    def is_response(self) -> bool:
        return bool(self.flags & _FLAG_QR)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


@record
class Srv:
    """An SRV record's data (RFC 2782): the ``target`` host serves on ``port``."""

    priority: int
    weight: int
    port: int
    target: str


@record
class RData:
    """One record of another type than A and SRV: its type and its data, already encoded."""

    rtype: int
    data: bytes


def name_rdata(rtype: int, target: str) -> RData:
    """A record whose data is one domain name (PTR, CNAME), written out uncompressed."""
    return RData(rtype, encode_name(target))


def txt_rdata(*texts: str) -> RData:
    """A TXT record: each text a length-prefixed string of at most 255 bytes."""
    data = b""
    for t in texts:
        raw = t.encode()
        if len(raw) > 255:
            raise InvalidArgument(f"txt record {t[:20]!r}...: longer than 255 bytes")
        data += bytes([len(raw)]) + raw
    return RData(QTYPE_TXT, data)


def encode_name(name: str) -> bytes:
    """``web.local`` → ``\\x03web\\x05local\\x00``; InvalidArgument for labels over 63 bytes."""
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.strip(".") else []:
        raw = label.encode("idna" if not label.isascii() else "ascii")
        if not 0 < len(raw) <= 63:
            raise InvalidArgument(f"encode dns name {name!r}: bad label length")
        out += bytes([len(raw)]) + raw
    out += b"\x00"
    if len(out) > 255:
        raise InvalidArgument(f"encode dns name {name!r}: longer than 255 bytes")
    return bytes(out)


def decode_name(msg: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end = -1
    jumps = 0
    pos = offset
    while True:
        if pos >= len(msg):
            raise InvalidArgument("decode dns name: truncated")
        length = msg[pos]
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(msg) or jumps > 16:
                raise InvalidArgument("decode dns name: bad compression pointer")
            if end < 0:
                end = pos + 2
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            jumps += 1
            continue
        if length & 0xC0:
            raise InvalidArgument("decode dns name: unknown label type")
        pos += 1
        if length == 0:
            break
        if pos + length > len(msg):
            raise InvalidArgument("decode dns name: truncated label")
        labels.append(msg[pos : pos + length].decode("ascii", "replace"))
        pos += length
    return ".".join(labels), (end if end >= 0 else pos)


def parse_message(msg: bytes) -> Question:
    """Header + first question; InvalidArgument when the message is malformed."""
    if len(msg) < _HEADER.size:
        raise InvalidArgument("parse dns message: shorter than a header")
    ident, flags, qdcount, _an, _ns, _ar = _HEADER.unpack_from(msg)
    if qdcount < 1:
        raise InvalidArgument("parse dns message: no question")
    name, pos = decode_name(msg, _HEADER.size)
    if pos + 4 > len(msg):
        raise InvalidArgument("parse dns message: truncated question")
    qtype, qclass = struct.unpack_from("!HH", msg, pos)
    return Question(ident, flags, name.lower(), qtype, qclass, pos + 4)


def build_query(ident: int, name: str, qtype: int = QTYPE_A, recursion: bool = True) -> bytes:
    """A standard query with one question."""
    flags = _FLAG_RD if recursion else 0
    header = _HEADER.pack(ident, flags, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, QCLASS_IN)


def build_response(
    query: bytes,
    q: Question,
    addresses: Sequence[str] = (),
    rcode: int = NOERROR,
    ttl: int = 600,
    srv: Sequence[Srv] = (),
    other: Sequence[RData] = (),
) -> bytes:
    """The answer to ``query``: its question echoed, one A record per address, then one
    SRV record per ``srv`` (targets written out in full, not compressed), then ``other``;
    every record is owned by the question's name.

    Additional records of the query (EDNS OPT) are dropped; answers are small.
    """
    flags = _FLAG_QR | _FLAG_AA | _FLAG_RA | (q.flags & (_FLAG_RD | 0x7800)) | (rcode & 0xF)
    header = _HEADER.pack(q.id, flags, 1, len(addresses) + len(srv) + len(other), 0, 0)
    answers = b"".join(
        struct.pack("!HHHIH", 0xC00C, QTYPE_A, QCLASS_IN, ttl, 4) + IPv4Address(a).packed
        for a in addresses
    )
    for s in srv:
        data = struct.pack("!HHH", s.priority, s.weight, s.port) + encode_name(s.target)
        answers += struct.pack("!HHHIH", 0xC00C, QTYPE_SRV, QCLASS_IN, ttl, len(data)) + data
    for r in other:
        answers += struct.pack("!HHHIH", 0xC00C, r.rtype, QCLASS_IN, ttl, len(r.data)) + r.data
    return header + query[_HEADER.size : q.end] + answers


def error_response(query: bytes, rcode: int) -> bytes:
    """An error answer for a query too broken to parse the question of (id kept if present)."""
    ident = struct.unpack_from("!H", query)[0] if len(query) >= 2 else 0
    flags = _FLAG_QR | _FLAG_RA | (rcode & 0xF)
    return _HEADER.pack(ident, flags, 0, 0, 0, 0)


def _records(msg: bytes) -> tuple[int, list[tuple[int, int, int]]]:
    """(rcode, [(type, data offset, data length)]) of a response's answer records."""
    q = parse_message(msg)
    _id, flags, _qd, ancount, _ns, _ar = _HEADER.unpack_from(msg)
    pos = q.end
    found: list[tuple[int, int, int]] = []
    for _ in range(ancount):
        _name, pos = decode_name(msg, pos)
        if pos + 10 > len(msg):
            raise InvalidArgument("parse dns answer: truncated record")
        rtype, _cls, _ttl, rdlen = struct.unpack_from("!HHIH", msg, pos)
        pos += 10
        if pos + rdlen > len(msg):
            raise InvalidArgument("parse dns answer: truncated data")
        found.append((rtype, pos, rdlen))
        pos += rdlen
    return flags & 0xF, found


def parse_answers(msg: bytes) -> tuple[int, list[str]]:
    """(rcode, A-record addresses) of a response; used by tests and health checks."""
    rcode, records = _records(msg)
    found = [str(IPv4Address(msg[pos : pos + 4]))
             for rtype, pos, n in records if rtype == QTYPE_A and n == 4]  # fmt: skip
    return rcode, found


def parse_srv_answers(msg: bytes) -> tuple[int, list[Srv]]:
    """(rcode, SRV records) of a response; used by tests."""
    rcode, records = _records(msg)
    found: list[Srv] = []
    for rtype, pos, n in records:
        if rtype == QTYPE_SRV and n >= 7:
            prio, weight, port = struct.unpack_from("!HHH", msg, pos)
            found.append(Srv(prio, weight, port, decode_name(msg, pos + 6)[0]))
    return rcode, found
