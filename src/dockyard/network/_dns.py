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
  servers the engine set for the client's address); the answer is relayed back. No answer
  within ``timeout`` → the next upstream; none left → SERVFAIL.
* Relaying resists off-path spoofing (RFC 5452): each relayed query goes out from its own
  fresh socket (a random ephemeral source port, closed after the answer) with an id from
  ``secrets``; an answer counts only on that socket, from an upstream it was sent to, with
  that id and the same question.
* ``interface`` (the network's bridge) binds the server socket to that device
  (``SO_BINDTODEVICE``): a query to the gateway address that arrives on any other interface
  (a LAN neighbour routing to the gateway through the host) is not answered. The network's
  nft rules drop such queries for every gateway too (``_nftrules.network_rules``).

The daemon runs it in its own event loop::

    dns = DnsResponder(state.gateway, upstreams=upstreams_from_resolv(host_resolv),
                       interface=state.bridge)
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
import secrets
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
_MAX_PENDING = 1024  # relayed queries in flight: one socket (one fd) each
_SPARE_SOCKETS = 16  # relay sockets made ahead, in one visit to the namespace
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
    """One relayed query: its own socket (a fresh random source port), its random id."""

    __slots__ = ("client", "handle", "ident", "orig_id", "query", "sock", "tried", "upstreams")

    def __init__(
        self, client: Addr, orig_id: int, query: bytes, upstreams: list[Addr], sock: socket.socket
    ) -> None:
        self.client = client
        self.orig_id = orig_id
        self.ident = struct.unpack_from("!H", query)[0]
        self.query = query
        self.upstreams = upstreams
        self.sock = sock
        self.tried = 0
        self.handle: asyncio.TimerHandle | None = None


def _same_question(a: bytes, b: bytes) -> bool:
    """Whether two messages ask the same question (name case-insensitive, type, class)."""
    try:
        qa, qb = parse_message(a), parse_message(b)
    except InvalidArgument:
        return False
    return (qa.name, qa.qtype, qa.qclass) == (qb.name, qb.qtype, qb.qclass)


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
        interface: str = "",
    ) -> None:
        self._bind = (address, port)
        self._interface = interface
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
        self._pending: dict[int, _Pending] = {}  # by the relay socket's fd
        self._spare: list[socket.socket] = []
        self._server: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        server_sock = in_netns(self._netns, self._server_socket)
        loop = asyncio.get_running_loop()
        try:
            self._server, _ = await loop.create_datagram_endpoint(
                lambda: _Proto(self._on_query), sock=server_sock
            )
        except BaseException:
            server_sock.close()
            raise
        self._loop = loop

    def _server_socket(self) -> socket.socket:
        server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            if self._interface:  # only queries that came in on this interface reach it
                server.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                  self._interface.encode())  # fmt: skip
            server.bind(self._bind)
        except OSError as e:
            server.close()
            where = f"start dns responder on {self._bind[0]}:{self._bind[1]}"
            raise _bind_error(e, where) from None
        server.setblocking(False)
        return server

    def _relay_socket(self) -> socket.socket:
        """A fresh UDP socket for one relayed query: its port is the kernel's random choice
        of an ephemeral port (one fixed relay port would let an off-path attacker aim forged
        answers at it, guessing only the 16-bit id: the Kaminsky attack). Made in batches
        in the responder's namespace, each used once."""
        if not self._spare:

            def batch() -> list[socket.socket]:
                made: list[socket.socket] = []
                try:
                    for _ in range(_SPARE_SOCKETS):
                        s = socket.socket(
                            socket.AF_INET,
                            socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                        )
                        made.append(s)
                        s.bind(("0.0.0.0", 0))
                except OSError:
                    if not made:
                        raise
                    made.pop().close()
                return made

            self._spare = in_netns(self._netns, batch)
        return self._spare.pop()

    async def close(self) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """:meth:`close` for callers outside the event loop (nothing in it awaits)."""
        for p in self._pending.values():
            if p.handle is not None:
                p.handle.cancel()
        for p in list(self._pending.values()):
            self._drop(p)
        self._pending.clear()
        for sock in self._spare:
            sock.close()
        self._spare.clear()
        if self._server is not None:
            self._server.close()
        self._server = None

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
        if not upstreams or len(self._pending) >= _MAX_PENDING or self._loop is None:
            self._fail(client, query)
            return
        try:
            sock = self._relay_socket()
        except (OSError, DockyardError):  # out of descriptors, the namespace gone
            self._fail(client, query)
            return
        orig = struct.unpack_from("!H", query)[0]
        ident = secrets.randbelow(65536)  # not random.random: its state can be recovered
        p = _Pending(client, orig, struct.pack("!H", ident) + query[2:], upstreams, sock)
        self._pending[sock.fileno()] = p
        self._loop.add_reader(sock.fileno(), self._on_reply, p)
        self._try_next(p)

    def _try_next(self, p: _Pending) -> None:
        if self._pending.get(p.sock.fileno()) is not p:
            return
        while p.tried < len(p.upstreams):
            upstream = p.upstreams[p.tried]
            p.tried += 1
            try:
                p.sock.sendto(p.query, upstream)
            except OSError:  # unreachable at once: the next one
                continue
            loop = asyncio.get_running_loop()
            p.handle = loop.call_later(self._timeout, self._try_next, p)
            return
        self._drop(p)
        self._fail(p.client, struct.pack("!H", p.orig_id) + p.query[2:])

    def _drop(self, p: _Pending) -> None:
        """Forget a relayed query: its timer, its reader, its socket."""
        if p.handle is not None:
            p.handle.cancel()
        fd = p.sock.fileno()
        if fd >= 0:
            self._pending.pop(fd, None)
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(fd)
        p.sock.close()

    def _on_reply(self, p: _Pending) -> None:
        """Answers on a query's own socket: accepted only from an upstream it was sent to,
        with its id and its question; anything else is read and ignored."""
        for _ in range(64):  # bounded: a flood on this port cannot hold the loop
            try:
                data, addr = p.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error for an earlier send: the timer moves on
                continue
            if len(data) < 12 or struct.unpack_from("!H", data)[0] != p.ident:
                continue
            if (str(addr[0]), int(addr[1])) not in p.upstreams[: p.tried]:
                continue
            if not _same_question(data, p.query):
                continue
            self._drop(p)
            self._send(p.client, struct.pack("!H", p.orig_id) + data[2:])
            return

    def _fail(self, client: Addr, query: bytes) -> None:
        try:
            q: Question = parse_message(query)
        except InvalidArgument:
            return
        self._send(client, build_response(query, q, rcode=SERVFAIL))
