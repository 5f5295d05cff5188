"""The typed records of dockyard networking.

Vocabulary (see ``docs/network.md``):

* a **network** is a bridge in the host network namespace with one IPv4 subnet; its gateway
  address sits on the bridge. ``NetworkSpec`` is what a user asks for (``network create``);
  ``NetworkState`` is the resolved object the engine stores (subnet chosen, bridge named).
* an **endpoint** is one container's membership of one network: a veth pair whose host end
  (``dy…``) is a port of the bridge and whose other end (``eth0``, ``eth1``…) lives in the
  container's network namespace. ``EndpointSpec`` asks for one; ``Endpoint`` is what exists.
* a **port spec** is one parsed ``-p`` item; a **port binding** is the same with the host port
  resolved (an ephemeral port chosen) and held.

All records are frozen and hold only strings and numbers, so the engine can store them as JSON
(``dockyard.records.asdict``) and rebuild them with ``Class(**data)``.
"""

from __future__ import annotations

from dockyard.records import field, record

__all__ = [
    "Endpoint",
    "EndpointSpec",
    "NetworkMode",
    "NetworkSpec",
    "NetworkState",
    "PortBinding",
    "PortSpec",
]


@record
class NetworkSpec:
    """A network as ``network create [--subnet S] [--gateway G] [--internal] NAME`` asks for it.

    ``subnet``/``gateway`` empty: chosen automatically (first free candidate, first host
    address). ``dns`` None: on for user-defined networks, off for the default bridge (as Docker).
    """

    name: str
    subnet: str = ""
    gateway: str = ""
    internal: bool = False
    dns: bool | None = None
    bridge: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@record
class NetworkState:
    """A network resolved by :func:`plan_network`: what the engine stores and hands back.

    ``owner`` is the comment on every nft rule the network owns (``dockyard:network:<name>``).
    """

    id: str
    name: str
    bridge: str
    subnet: str
    gateway: str
    internal: bool = False
    dns: bool = True
    default: bool = False
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return f"dockyard:network:{self.name}"

    @property
    def prefixlen(self) -> int:
        return int(self.subnet.partition("/")[2])


@record
class PortSpec:
    """One ``-p`` mapping: ``[host_ip:][host_port[-host_port_end]:]container_port[/proto]``.

    ``host_port`` 0 means "any free port" (``-p 80``, ``-P``); a host range with one container
    port (``-p 8000-8010:80``) means the first free port of the range. ``host_ip`` "" means all
    the host's IPv4 addresses.
    """

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0


@record
class PortBinding:
    """A published port as it is: the host port is known and reserved."""

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}->{self.container_port}/{self.proto}"


@record
class EndpointSpec:
    """What :meth:`NetworkManager.connect` needs to attach one container to one network.

    ``netns`` is a path naming the container's network namespace (``/proc/<pid>/ns/net`` or a
    bind-mounted file). ``address`` comes from :class:`Ipam`. ``default_route`` is true for the
    container's first network only.
    """

    container_id: str
    netns: str
    address: str
    ifname: str = "eth0"
    default_route: bool = True
    ports: tuple[PortSpec, ...] = ()
    aliases: tuple[str, ...] = ()
    host_ifname: str = ""  # the host end's name; empty: derived from the id (veth_name)


@record
class Endpoint:
    """An attached container: what the engine stores to detach it later and to inspect it."""

    container_id: str
    network: str
    netns: str
    ifname: str
    host_ifname: str
    address: str
    prefixlen: int
    gateway: str
    mac: str
    ports: tuple[PortBinding, ...] = ()
    aliases: tuple[str, ...] = ()

    @property
    def owner(self) -> str:
        """The comment on this endpoint's nft rules."""
        return f"dockyard:endpoint:{self.host_ifname}:{self.container_id[:64]}"

    @property
    def guard_owner(self) -> str:
        """The comment on this endpoint's anti-spoofing rules: by address and network, which
        stay when a spare endpoint is adopted (its veth renamed, its container id changed)."""
        return f"dockyard:guard:{self.address}:{self.network}"[:128]


@record
class NetworkMode:
    """A parsed ``--network`` value.

    ``kind`` is ``bridge`` (``networks`` names them), ``host``, ``none`` or ``container``
    (``target`` is the other container's name/id or a netns path; the engine resolves it).
    """

    kind: str
    networks: tuple[str, ...] = ()
    target: str = ""

    @property
    def needs_veth(self) -> bool:
        return self.kind == "bridge"

    @property
    def new_netns(self) -> bool:
        """Whether the container gets a network namespace of its own."""
        return self.kind in ("bridge", "none")
