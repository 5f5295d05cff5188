"""The container DNS responder: one small asyncio UDP server per user-defined network.

It listens on the network's gateway address, port 53, in the host network namespace, so every
container of the network reaches it as ``nameserver <gateway>`` (``render_resolv_conf``).

* A query for a name the engine registered (container name, short id, ``--network-alias``)
  gets the A records of that name on this network (several containers with one alias give
  several records: the simplest load balancing); AAAA and other types for such a name get an
  empty NOERROR answer, so clients do not wait.
* Records of other types (``set_data``: PTR, CNAME, TXT) answer queries of their type; a
  name with a CNAME answers every type with that CNAME alone (the client follows it). A
  ``synthesize`` function gives A records for names no table could list (the cluster
  zone's ``<a-b-c-d>.<ns>.pod.<zone>``).
* A name in one of its ``zones`` (the cluster DNS serves ``cluster.local``) that it has no
  record of gets NXDOMAIN at once: it is the authority there, never relayed. SRV records
  (``set_srv``) answer SRV queries for their names.
* Any other query is relayed to an upstream server (the host's resolvers, or the ``--dns``
  servers the engine set for the client's address) with a fresh id; the answer is relayed back.
  No answer within ``timeout`` → the next upstream; none left → SERVFAIL.

The daemon runs it in its own event loop::

    dns = DnsResponder(state.gateway, upstreams=upstreams_from_resolv(host_resolv))
    await dns.start()
    dns.set_records({"web": ["172.18.0.2"], "db": ["172.18.0.3"]})
    ...
    await dns.close()

TCP (needed for answers over 512 bytes) is not served: relayed answers keep their TC bit and a
client that retries over TCP fails. See docs/network.md.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import struct
from collections.abc import Callable, Mapping, Sequence
from ipaddress import ip_address

from dockyard.errors import (
    Conflict,
    DockyardError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    PermissionDenied,
)
from dockyard.network._dnswire import (
    FORMERR,
    NOERROR,
    NXDOMAIN,
    QTYPE_A,
    QTYPE_CNAME,
    QTYPE_SRV,
    SERVFAIL,
    Question,
    RData,
    Srv,
    build_response,
    error_response,
    parse_message,
)
from dockyard.network._etc import ResolvConf
from dockyard.network._netns import in_netns

__all__ = ["DnsResponder", "upstreams_from_resolv"]

_NOTIMP = 4
_MAX_PENDING = 4096
Addr = tuple[str, int]


def upstreams_from_resolv(conf: ResolvConf, exclude: Sequence[str] = ()) -> list[Addr]:
    """The IPv4 nameservers of ``conf`` as (ip, 53), without ``exclude`` (our own gateways)."""
    out: list[Addr] = []
    for server in conf.nameservers:
        try:
            addr = ip_address(server)
        except ValueError:
            continue
        if addr.version == 4 and server not in exclude:
            out.append((server, 53))
    return out


def _bind_error(e: OSError, what: str) -> DockyardError:
    reason = (e.strerror or str(e)).lower()
    if e.errno == errno.EADDRINUSE:
        return Conflict(f"{what}: {reason}")
    if e.errno == errno.EADDRNOTAVAIL:
        return FailedPrecondition(f"{what}: {reason} (is the network's bridge up?)")
    if e.errno in (errno.EACCES, errno.EPERM):
        return PermissionDenied(f"{what}: {reason}")
    return Internal(f"{what}: {reason}")


class _Pending:
    __slots__ = ("client", "handle", "orig_id", "query", "tried", "upstreams")

    def __init__(self, client: Addr, orig_id: int, query: bytes, upstreams: list[Addr]) -> None:
        self.client = client
        self.orig_id = orig_id
        self.query = query
        self.upstreams = upstreams
        self.tried = 0
        self.handle: asyncio.TimerHandle | None = None


class _Proto(asyncio.DatagramProtocol):
    def __init__(self, on_packet: object) -> None:
        self.on_packet = on_packet

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.on_packet(data, addr)  # type: ignore[operator]

    def error_received(self, exc: Exception) -> None:  # ICMP errors: the timer retries
        pass


class DnsResponder:
    """Answers container names of one network; relays the rest. See the module docstring."""

    def __init__(
        self,
        address: str,
        *,
        port: int = 53,
        upstreams: Sequence[Addr] = (),
        netns: str | None = None,
        ttl: int = 600,
        timeout: float = 2.0,
        zones: Sequence[str] = (),
        synthesize: Callable[[str], list[str] | None] | None = None,
    ) -> None:
        self._bind = (address, port)
        self._synthesize = synthesize
        self._data: dict[str, list[RData]] = {}
        self._zones = tuple(z.lower().strip(".") for z in zones)
        self._srv: dict[str, list[Srv]] = {}
        self._netns = netns
        self._ttl = ttl
        self._timeout = timeout
        self._upstreams = [u for u in upstreams if u != (address, port)]  # never ourselves
        self._client_upstreams: dict[str, list[Addr]] = {}
        self._records: dict[str, list[str]] = {}
        self._pending: dict[int, _Pending] = {}
        self._server: asyncio.DatagramTransport | None = None
        self._relay: asyncio.DatagramTransport | None = None

    # --- records -------------------------------------------------------------------------
    def set_records(self, records: Mapping[str, Sequence[str]]) -> None:
        """Replace every name → addresses mapping (names are case-insensitive)."""
        fresh: dict[str, list[str]] = {}
        for name, addrs in records.items():
            fresh.setdefault(name.lower().rstrip("."), []).extend(addrs)
        self._records = fresh

    def set_srv(self, records: Mapping[str, Sequence[Srv]]) -> None:
        """Replace every name → SRV records mapping."""
        self._srv = {name.lower().rstrip("."): list(srvs) for name, srvs in records.items()}

    def set_data(self, records: Mapping[str, Sequence[RData]]) -> None:
        """Replace every name → records of other types (PTR, CNAME, TXT) mapping."""
        self._data = {name.lower().rstrip("."): list(rs) for name, rs in records.items()}

    def in_zone(self, name: str) -> bool:
        """Whether ``name`` lies in one of the zones this responder is the authority of."""
        key = name.lower().rstrip(".")
        return any(key == z or key.endswith("." + z) for z in self._zones)

    def add(self, name: str, address: str) -> None:
        self._records.setdefault(name.lower().rstrip("."), []).append(address)

    def remove(self, name: str, address: str) -> None:
        key = name.lower().rstrip(".")
        addrs = [a for a in self._records.get(key, []) if a != address]
        if addrs:
            self._records[key] = addrs
        else:
            self._records.pop(key, None)

    def set_client_upstreams(self, client: str, upstreams: Sequence[Addr]) -> None:
        """Relay ``client``'s other queries to ``upstreams`` (its ``--dns``); empty: default.

        This responder itself is left out (a client whose ``--dns`` names it would loop)."""
        upstreams = [u for u in upstreams if u != self._bind]
        if upstreams:
            self._client_upstreams[client] = list(upstreams)
        else:
            self._client_upstreams.pop(client, None)

    def lookup(self, name: str) -> list[str] | None:
        return self._records.get(name.lower().rstrip("."))

    # --- lifecycle -----------------------------------------------------------------------
    @property
    def address(self) -> Addr:
        """Where it listens (the real port when it was created with port 0)."""
        if self._server is None:
            raise FailedPrecondition(f"dns responder {self._bind[0]}: not started")
        host, port = self._server.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def start(self) -> None:
        """Bind the server and relay sockets (in ``netns``) and start serving."""
        if self._server is not None:
            raise FailedPrecondition(f"dns responder {self._bind[0]}: already started")
        server_sock, relay_sock = in_netns(self._netns, self._sockets)
        loop = asyncio.get_running_loop()
        try:
            self._server, _ = await loop.create_datagram_endpoint(
                lambda: _Proto(self._on_query), sock=server_sock
            )
            self._relay, _ = await loop.create_datagram_endpoint(
                lambda: _Proto(self._on_reply), sock=relay_sock
            )
        except BaseException:
            server_sock.close()
            relay_sock.close()
            if self._server is not None:
                self._server.close()
            raise

    def _sockets(self) -> tuple[socket.socket, socket.socket]:
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        relay = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            server.bind(self._bind)
            relay.bind(("0.0.0.0", 0))
        except OSError as e:
            server.close()
            relay.close()
            where = f"start dns responder on {self._bind[0]}:{self._bind[1]}"
            raise _bind_error(e, where) from None
        server.setblocking(False)
        relay.setblocking(False)
        return server, relay

    async def close(self) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """:meth:`close` for callers outside the event loop (nothing in it awaits)."""
        for p in self._pending.values():
            if p.handle is not None:
                p.handle.cancel()
        self._pending.clear()
        for t in (self._server, self._relay):
            if t is not None:
                t.close()
        self._server = self._relay = None

    # --- serving -------------------------------------------------------------------------
    def answer(self, query: bytes) -> bytes | None:
        """The local answer to ``query``, or None when it must be relayed (pure, for tests).

        The caller drops responses (QR set) before asking.
        """
        try:
            q = parse_message(query)
        except InvalidArgument:
            return error_response(query, FORMERR) if len(query) >= 2 else None
        if q.opcode != 0:
            return build_response(query, q, rcode=_NOTIMP)
        if q.qclass != 1:
            return None
        name = q.name.rstrip(".")
        addrs = self.lookup(name)
        if addrs is None and self._synthesize is not None:
            addrs = self._synthesize(name)
        srv = self._srv.get(name)
        data = self._data.get(name)
        if addrs is None and srv is None and data is None:
            if self.in_zone(name):
                return build_response(query, q, rcode=NXDOMAIN, ttl=self._ttl)
            return None
        cname = [r for r in data or () if r.rtype == QTYPE_CNAME]
        if cname:
            return build_response(query, q, rcode=NOERROR, ttl=self._ttl, other=cname[:1])
        shown = addrs if addrs is not None and q.qtype == QTYPE_A else []
        srvs = srv if srv is not None and q.qtype == QTYPE_SRV else []
        other = [r for r in data or () if r.rtype == q.qtype]
        return build_response(
            query, q, random.sample(shown, len(shown)), NOERROR, self._ttl, srv=srvs, other=other
        )

    def _on_query(self, data: bytes, addr: tuple[str | object, int]) -> None:
        client = (str(addr[0]), int(addr[1]))
        if len(data) >= 3 and data[2] & 0x80:  # a response sent to us: never answer one
            return
        reply = self.answer(data)
        if reply is not None:
            self._send(client, reply)
            return
        self._forward(client, data)

    def _send(self, client: Addr, data: bytes) -> None:
        if self._server is not None:
            self._server.sendto(data, client)

    def _forward(self, client: Addr, query: bytes) -> None:
        upstreams = self._client_upstreams.get(client[0], self._upstreams)
        if not upstreams or len(self._pending) >= _MAX_PENDING:
            self._fail(client, query)
            return
        ident = random.randrange(65536)
        while ident in self._pending:
            ident = random.randrange(65536)
        orig = struct.unpack_from("!H", query)[0]
        pending = _Pending(client, orig, struct.pack("!H", ident) + query[2:], upstreams)
        self._pending[ident] = pending
        self._try_next(ident)

    def _try_next(self, ident: int) -> None:
        p = self._pending.get(ident)
        if p is None:
            return
        if p.tried >= len(p.upstreams) or self._relay is None:
            del self._pending[ident]
            self._fail(p.client, struct.pack("!H", p.orig_id) + p.query[2:])
            return
        self._relay.sendto(p.query, p.upstreams[p.tried])
        p.tried += 1
        p.handle = asyncio.get_running_loop().call_later(self._timeout, self._try_next, ident)

    def _on_reply(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if len(data) < 12:
            return
        ident = struct.unpack_from("!H", data)[0]
        p = self._pending.get(ident)
        if p is None or (str(addr[0]), int(addr[1])) not in p.upstreams:
            return
        del self._pending[ident]
        if p.handle is not None:
            p.handle.cancel()
        self._send(p.client, struct.pack("!H", p.orig_id) + data[2:])

    def _fail(self, client: Addr, query: bytes) -> None:
        try:
            q: Question = parse_message(query)
        except InvalidArgument:
            return
        self._send(client, build_response(query, q, rcode=SERVFAIL))
