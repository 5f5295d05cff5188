"""``-p``/``-P`` parsing (pure) and host port reservation (binds a socket in the host netns)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, ip_address
from typing import TYPE_CHECKING

from dockyard.errors import Conflict, InvalidArgument
from dockyard.network import slirp
from dockyard.network._model import PortBinding, PortSpec
from dockyard.network._netns import in_netns

if TYPE_CHECKING:
    from dockyard.network.slirp import HostForward

__all__ = ["PortReservation", "parse_publish", "port_spec", "publish_all", "reserve_ports"]

_PROTOS = ("tcp", "udp")


def _port_range(text: str, what: str) -> tuple[int, int]:
    lo_s, sep, hi_s = text.partition("-")
    try:
        lo = int(lo_s)
        hi = int(hi_s) if sep else lo
    except ValueError:
        raise InvalidArgument(f"{what}: invalid port {text!r}") from None
    if not (1 <= lo <= hi <= 65535):
        raise InvalidArgument(f"{what}: port {text!r} out of range 1-65535")
    return lo, hi


def _host_ip(text: str, what: str) -> str:
    if text.startswith("["):
        raise InvalidArgument(f"{what}: IPv6 host addresses are not supported yet")
    if not text:
        return ""
    try:
        addr = ip_address(text)
    except ValueError:
        raise InvalidArgument(f"{what}: invalid host IP {text!r}") from None
    return "" if addr == IPv4Address("0.0.0.0") else str(addr)


def parse_publish(value: str) -> list[PortSpec]:
    """One ``-p`` value → its mappings (a range gives one per port).

    Forms: ``80``, ``80/udp``, ``8080:80``, ``127.0.0.1:8080:80``, ``127.0.0.1::80``,
    ``8000-8002:80-82``, ``8000-8010:80`` (first free host port of the range), ``80-82``.
    """
    what = f"invalid -p {value!r}"
    rest, sep, proto = value.rpartition("/")
    if not sep:
        rest, proto = value, "tcp"
    proto = proto.lower()
    if proto not in _PROTOS:
        raise InvalidArgument(f"{what}: protocol must be tcp or udp")
    if rest.startswith("["):
        raise InvalidArgument(f"{what}: IPv6 host addresses are not supported yet")
    parts = rest.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise InvalidArgument(f"{what}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]")
    host_ip = _host_ip(parts[0], what) if len(parts) == 3 else ""
    c_lo, c_hi = _port_range(parts[-1], what)
    host = parts[-2] if len(parts) >= 2 else ""
    if not host:
        return [PortSpec(p, proto, host_ip) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _port_range(host, what)
    if c_lo == c_hi and h_hi > h_lo:
        return [PortSpec(c_lo, proto, host_ip, h_lo, h_hi)]
    if h_hi - h_lo != c_hi - c_lo:
        raise InvalidArgument(f"{what}: host and container port ranges differ in size")
    return [PortSpec(c, proto, host_ip, h_lo + i) for i, c in enumerate(range(c_lo, c_hi + 1))]


def port_spec(
    container_port: int, proto: str = "tcp", host_ip: str = "", host_port: int = 0
) -> PortSpec:
    """One mapping from typed parts (a pod's ``ports[]``), checked as :func:`parse_publish`
    checks its text: ports in 1-65535 (host port 0: any), tcp or udp, an IPv4 host address."""
    shown = f"{host_ip}:" if host_ip else ""
    what = f"invalid -p '{shown}{host_port or ''}:{container_port}/{proto}'"
    proto = proto.lower()
    if proto not in _PROTOS:
        raise InvalidArgument(f"{what}: protocol must be tcp or udp")
    _port_range(str(container_port), what)
    if host_port:
        _port_range(str(host_port), what)
    return PortSpec(container_port, proto, _host_ip(host_ip, what), host_port)


def publish_all(exposed: Iterable[str], host_ip: str = "") -> list[PortSpec]:
    """``-P``: every exposed port (image ``ExposedPorts`` keys ``80/tcp``) on a free host port."""
    specs = []
    for item in exposed:
        port, _, proto = item.partition("/")
        for spec in parse_publish(f"{port}/{proto or 'tcp'}"):
            specs.append(PortSpec(spec.container_port, spec.proto, host_ip))
    return specs


class PortReservation:
    """A host port held by a bound (not listening) socket so no other program takes it.

    The engine keeps it while the container is published and calls :meth:`close` after
    unpublishing. ``binding`` is the resolved mapping.
    """

    def __init__(
        self, binding: PortBinding, sock: socket.socket, forward: HostForward | None = None
    ) -> None:
        self.binding = binding
        self._sock = sock
        self._forward = forward  # rootless: slirp4netns's half on the real host

    def close(self) -> None:
        self._sock.close()
        if self._forward is not None:
            self._forward.close()
            self._forward = None

    def __repr__(self) -> str:
        return f"PortReservation({self.binding})"


def _bind(ip: str, port: int, proto: str) -> socket.socket:
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
    try:
        sock.bind((ip or "0.0.0.0", port))
    except BaseException:
        sock.close()
        raise
    return sock


def _reserve_one(spec: PortSpec, container: str) -> PortReservation:
    ip = spec.host_ip
    last = spec.host_port_end or spec.host_port
    where = f"{ip or '0.0.0.0'}:{spec.host_port}" if spec.host_port else (ip or "0.0.0.0")
    what = f"publish {where}/{spec.proto} for container {container}"
    api = slirp.active()  # rootless: the host address is slirp4netns's, the port ours too
    for port in range(spec.host_port, last + 1) if spec.host_port else [0]:
        try:
            sock = _bind("" if api else ip, port, spec.proto)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                continue
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(f"{what}: {ip} is not an address of this host") from None
            raise Conflict(f"{what}: {(e.strerror or str(e)).lower()}") from None
        bound = sock.getsockname()[1]
        forward = None
        if api:
            try:
                forward = slirp.add_forward(api, spec.proto, ip, bound)
            except Conflict:
                sock.close()
                if last != spec.host_port:
                    continue
                raise Conflict(f"{what}: port is already allocated on the host") from None
            except BaseException:
                sock.close()
                raise
        binding = PortBinding(ip, bound, spec.container_port, spec.proto)
        return PortReservation(binding, sock, forward)
    if last != spec.host_port:
        raise Conflict(f"{what}: no free port in {spec.host_port}-{last}")
    raise Conflict(f"{what}: port is already allocated")


def reserve_ports(
    specs: Sequence[PortSpec], container: str, netns: str | None = None
) -> list[PortReservation]:
    """Bind every spec's host port in ``netns`` (None: ours); all or nothing.

    Raises Conflict (``publish 0.0.0.0:8080/tcp for container c1: port is already
    allocated``) or InvalidArgument (the host IP is not local).
    """

    def run() -> list[PortReservation]:
        held: list[PortReservation] = []
        try:
            for spec in specs:
                held.append(_reserve_one(spec, container))
        except BaseException:
            for r in held:
                r.close()
            raise
        return held

    return in_netns(netns, run) if specs else []
