"""Pure planning: subnet choice, network validation, interface names, ``--network`` parsing.

Nothing here touches the kernel: the caller passes the host's routes (``NetworkManager.routes()``)
and the networks it already stores, and gets a :class:`NetworkState` back.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, Unavailable
from dockyard.network._model import NetworkMode, NetworkSpec, NetworkState

__all__ = [
    "DEFAULT_BRIDGE",
    "DEFAULT_NETWORK",
    "bridge_name",
    "choose_subnet",
    "default_candidates",
    "parse_network_mode",
    "plan_network",
    "veth_name",
]

DEFAULT_NETWORK = "bridge"
DEFAULT_BRIDGE = "dockyard0"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
_RESERVED = {"host", "none", "default"}


def default_candidates() -> Iterator[IPv4Network]:
    """172.17.0.0/16 … 172.31.0.0/16, then 10.0.0.0/24 … 10.255.255.0/24 (lazily)."""
    for b in range(17, 32):
        yield IPv4Network(f"172.{b}.0.0/16")
    for b in range(256):
        for c in range(256):
            yield IPv4Network(f"10.{b}.{c}.0/24")


def choose_subnet(
    used: Iterable[IPv4Network], candidates: Iterable[IPv4Network] | None = None
) -> IPv4Network:
    """The first candidate that overlaps none of ``used`` (routes, addresses, other networks).

    A default route (``0.0.0.0/0``) in ``used`` is ignored: it overlaps everything.
    """
    taken = [n for n in used if n.prefixlen > 0]
    for cand in default_candidates() if candidates is None else candidates:
        if not any(cand.overlaps(n) for n in taken):
            return cand
    raise Unavailable("choose subnet: every candidate subnet overlaps a route or a network")


def bridge_name(network_id: str) -> str:
    """``dy-<12 hex of the id>`` (15 characters, the kernel's limit)."""
    return f"dy-{network_id[:12]}"


def veth_name(container_id: str, ifname: str) -> str:
    """The host end of a container's veth: ``dy<12 chars of the id>`` for ``eth0``.

    For another interface (``eth1``…) the last two characters are a hash of the interface
    name, so every endpoint of one container has its own stable name.
    """
    if ifname == "eth0":
        return f"dy{container_id[:12]}"
    tag = hashlib.sha256(ifname.encode()).hexdigest()[:2]
    return f"dy{container_id[:10]}{tag}"


def _network_id(name: str) -> str:
    return hashlib.sha256(f"dockyard-network:{name}".encode()).hexdigest()


def _parse_subnet(spec: NetworkSpec) -> IPv4Network:
    try:
        net = ip_network(spec.subnet, strict=True)
    except ValueError as e:
        raise InvalidArgument(
            f"create network {spec.name}: invalid subnet {spec.subnet}: {e}"
        ) from None
    if not isinstance(net, IPv4Network):
        raise InvalidArgument(f"create network {spec.name}: IPv6 subnets are not supported yet")
    if net.prefixlen > 30:
        raise InvalidArgument(f"create network {spec.name}: subnet {net} is too small (max /30)")
    return net


def _gateway(spec: NetworkSpec, net: IPv4Network) -> IPv4Address:
    if not spec.gateway:
        return net.network_address + 1
    try:
        gw = ip_address(spec.gateway)
    except ValueError:
        raise InvalidArgument(
            f"create network {spec.name}: invalid gateway {spec.gateway}"
        ) from None
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise InvalidArgument(
            f"create network {spec.name}: gateway {gw} is not a host address of subnet {net}"
        )
    assert isinstance(gw, IPv4Address)
    return gw


def _check_name(spec: NetworkSpec, existing: Sequence[NetworkState], default: bool) -> None:
    if not _NAME.fullmatch(spec.name):
        raise InvalidArgument(
            f"create network {spec.name!r}: invalid name (letters, digits, '_', '.', '-'; 64 max)"
        )
    if spec.name in _RESERVED or (spec.name == DEFAULT_NETWORK and not default):
        raise InvalidArgument(f"create network {spec.name}: the name is reserved")
    if any(n.name == spec.name for n in existing):
        raise AlreadyExists(f"create network {spec.name}: a network with that name exists")
    if spec.bridge and not _IFNAME.fullmatch(spec.bridge):
        raise InvalidArgument(f"create network {spec.name}: invalid bridge name {spec.bridge}")


def plan_network(
    spec: NetworkSpec,
    existing: Sequence[NetworkState],
    routes: Iterable[IPv4Network],
    *,
    default: bool = False,
) -> NetworkState:
    """Validate ``spec`` against the stored networks and the host's routes; resolve it.

    ``default`` plans the default network (name ``bridge``, bridge ``dockyard0``, no DNS).
    Raises InvalidArgument (bad name/subnet/gateway), AlreadyExists (name taken), Conflict
    (an explicit subnet overlaps another network), Unavailable (no free subnet).
    """
    _check_name(spec, existing, default)
    others = [ip_network(n.subnet) for n in existing]
    if spec.subnet:
        net = _parse_subnet(spec)
        for other in existing:
            if net.overlaps(ip_network(other.subnet)):
                raise Conflict(
                    f"create network {spec.name}: subnet {net} overlaps network "
                    f"{other.name} ({other.subnet})"
                )
    else:
        if spec.gateway:
            raise InvalidArgument(f"create network {spec.name}: --gateway needs --subnet")
        used = [*routes, *others]
        net = choose_subnet(n for n in used if isinstance(n, IPv4Network))
    gw = _gateway(spec, net)
    nid = _network_id(spec.name)
    bridge = spec.bridge or (DEFAULT_BRIDGE if default else bridge_name(nid))
    if any(n.bridge == bridge for n in existing):
        raise AlreadyExists(f"create network {spec.name}: bridge {bridge} is in use")
    return NetworkState(
        id=nid,
        name=spec.name,
        bridge=bridge,
        subnet=str(net),
        gateway=str(gw),
        internal=spec.internal,
        dns=(not default) if spec.dns is None else spec.dns,
        default=default,
        labels=dict(spec.labels),
    )


def parse_network_mode(values: Sequence[str]) -> NetworkMode:
    """``--network`` values (repeatable) → NetworkMode; no value means the default bridge.

    ``host``, ``none`` and ``container:<name|id|netns path>`` stand alone; anything else names a
    network (``bridge`` is the default one).
    """
    if not values:
        return NetworkMode("bridge", (DEFAULT_NETWORK,))
    special = [v for v in values if v in ("host", "none") or v.startswith("container:")]
    if special and len(values) > 1:
        raise InvalidArgument(
            f"invalid --network {','.join(values)}: {special[0]} cannot be combined"
        )
    first = values[0]
    if first in ("host", "none"):
        return NetworkMode(first)
    if first.startswith("container:"):
        target = first.partition(":")[2]
        if not target:
            raise InvalidArgument("invalid --network container:: a container is required")
        return NetworkMode("container", target=target)
    seen: list[str] = []
    for v in values:
        if not v:
            raise InvalidArgument("invalid --network: empty network name")
        if v in seen:
            raise InvalidArgument(f"invalid --network {v}: given twice")
        seen.append(v)
    return NetworkMode("bridge", tuple(seen))
