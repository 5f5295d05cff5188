"""What the orchestrator needs from the engine beyond the container lifecycle, as Protocols.

The orchestrator drives the engine and the network; it never calls the kernel itself
(``DESIGN.md``). What a kubelet reads from cgroups and network namespaces, and what the
Services and NetworkPolicy controllers need from the daemon's networking, comes through
these two ports; :class:`dockyard.engine.podsupport.PodSupport` implements both (structurally:
the engine imports nothing of the orchestrator). Unit tests pass fakes.

* :class:`EnginePort` — used by the pod backend (``enginepods.py``): container records (to
  rebuild the pods after a daemon restart), resource usage for the metrics sampler (HPA,
  ``top``), a container's network-namespace path (drain, probes) and a TCP/HTTP probe made
  from a socket in that namespace;
* :class:`ServiceNetworking` — used by the wiring of the Services controller
  (``controllers/services.py``): the subnets a VIP range must avoid, an IPAM over the
  engine's address tables, the networks' DNS responders and gateways.

The orchestrator's own settings (the Service VIP range) are not the engine's: they live in
the orchestrator's store (:meth:`SqliteObjectStore.setting
<dockyard.orchestrator.sqlite_store.SqliteObjectStore.setting>`), beside its objects
(``docs/decisions/house-engine-interface.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Protocol

from dockyard.engine.podsupport import ContainerUsage, NetProbe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.network import DnsResponder, Ipam
    from dockyard.store.db import ContainerRecord

__all__ = ["ContainerUsage", "EnginePort", "NetProbe", "ServiceNetworking"]


class EnginePort(Protocol):
    """The engine as the pod backend sees it (beyond create/start/stop/exec)."""

    def containers(self) -> list[ContainerRecord]:
        """Every container record, newest first."""
        ...

    async def usage(self, ids: Sequence[str]) -> dict[str, ContainerUsage]:
        """CPU time and working set of each of ``ids`` that can be read (others left out)."""
        ...

    def netns_path(self, rec: ContainerRecord) -> str:
        """The file that names the network namespace of running container ``rec``."""
        ...

    async def net_probe(self, netns: str | None, probe: NetProbe) -> bool:
        """``probe`` from a socket made in ``netns`` (None: the daemon's); OSError when the
        connection fails."""
        ...


class ServiceNetworking(Protocol):
    """The daemon's networking as the Services wiring sees it."""

    @property
    def networking(self) -> bool:
        """Whether networking works (without it there are no Services nor policies)."""
        ...

    def used_subnets(self) -> list[IPv4Network]:
        """The host's routes and the networks' subnets (a VIP range must avoid them)."""
        ...

    def service_ipam(self) -> Ipam:
        """An IPAM over the engine's address tables (VIPs beside container addresses)."""
        ...

    def dns_responders(self) -> list[DnsResponder]:
        """The networks' DNS responders."""
        ...

    def bridge_gateway(self) -> str:
        """The default bridge's gateway (DockyardError without one)."""
        ...

    def gateways(self) -> list[str]:
        """Every network's gateway."""
        ...
