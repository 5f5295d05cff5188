"""dockyard.network — bridges, veths, IPAM, port publishing, container DNS.

The engine's entry points (see ``docs/network.md`` for the lifecycle and a worked example):

* pure planning: :func:`plan_network`, :func:`choose_subnet`, :func:`parse_network_mode`,
  :func:`parse_publish`, :func:`publish_all`, :class:`Ipam` over an :class:`IpamStore`;
* files: :func:`render_hosts`, :func:`render_resolv_conf`, :func:`parse_add_host`;
* the kernel: :class:`NetworkManager` (bridges, veths, nft rules);
* DNS: :class:`DnsResponder`, run in the daemon's event loop.

Names are loaded on first use, so ``import dockyard.network`` costs nothing on the CLI's path
(pyroute2 is imported only when a link is touched).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs the CLI ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from dockyard.network._dns import DnsResponder, upstreams_from_resolv
    from dockyard.network._dnswire import QTYPE_CNAME as QTYPE_CNAME
    from dockyard.network._dnswire import QTYPE_PTR as QTYPE_PTR
    from dockyard.network._dnswire import RData as RData
    from dockyard.network._dnswire import Srv as Srv
    from dockyard.network._dnswire import name_rdata as name_rdata
    from dockyard.network._dnswire import txt_rdata as txt_rdata
    from dockyard.network._etc import (
        ResolvConf,
        parse_add_host,
        parse_resolv_conf,
        render_hosts,
        render_resolv_conf,
    )
    from dockyard.network._ipam import Ipam, IpamStore, MemoryIpamStore
    from dockyard.network._manager import NetworkManager
    from dockyard.network._model import (
        Endpoint,
        EndpointSpec,
        NetworkMode,
        NetworkSpec,
        NetworkState,
        PortBinding,
        PortSpec,
    )
    from dockyard.network._netns import in_netns as in_netns
    from dockyard.network._plan import (
        DEFAULT_BRIDGE,
        DEFAULT_NETWORK,
        choose_subnet,
        parse_network_mode,
        plan_network,
    )
    from dockyard.network._ports import PortReservation, parse_publish, port_spec, publish_all

_WHERE = {
    "DnsResponder": "_dns",
    "upstreams_from_resolv": "_dns",
    "ResolvConf": "_etc",
    "parse_add_host": "_etc",
    "parse_resolv_conf": "_etc",
    "render_hosts": "_etc",
    "render_resolv_conf": "_etc",
    "Ipam": "_ipam",
    "IpamStore": "_ipam",
    "MemoryIpamStore": "_ipam",
    "NetworkManager": "_manager",
    "Endpoint": "_model",
    "EndpointSpec": "_model",
    "NetworkMode": "_model",
    "NetworkSpec": "_model",
    "NetworkState": "_model",
    "PortBinding": "_model",
    "PortSpec": "_model",
    "DEFAULT_BRIDGE": "_plan",
    "DEFAULT_NETWORK": "_plan",
    "choose_subnet": "_plan",
    "parse_network_mode": "_plan",
    "plan_network": "_plan",
    "PortReservation": "_ports",
    "parse_publish": "_ports",
    "port_spec": "_ports",
    "publish_all": "_ports",
    # Services and NetworkPolicy: lazy names, not in __all__ yet (test_network_exported pins
    # it); typed code imports them from dockyard.network.services / .netpolicy
    "ServiceBackend": "services",
    "ServicePort": "services",
    "ServiceProxy": "services",
    "ServiceSpec": "services",
    "allocate_node_port": "services",
    "choose_service_cidr": "services",
    "service_range": "services",
    # DNS records of cluster DNS (orchestrator/clusterdns.py) and a probe's socket opened in
    # a pod's network namespace (engine/podsupport.py); lazy names, not in __all__ either
    "QTYPE_CNAME": "_dnswire",
    "QTYPE_PTR": "_dnswire",
    "RData": "_dnswire",
    "Srv": "_dnswire",
    "name_rdata": "_dnswire",
    "txt_rdata": "_dnswire",
    "in_netns": "_netns",
    "NetworkPolicyEnforcer": "netpol_nft",
    "PodPolicy": "netpol_nft",
    "PolicyPeer": "netpol_nft",
    "PolicyPort": "netpol_nft",
    "PolicyRule": "netpol_nft",
}

__all__ = [
    "DEFAULT_BRIDGE",
    "DEFAULT_NETWORK",
    "DnsResponder",
    "Endpoint",
    "EndpointSpec",
    "Ipam",
    "IpamStore",
    "MemoryIpamStore",
    "NetworkManager",
    "NetworkMode",
    "NetworkSpec",
    "NetworkState",
    "PortBinding",
    "PortReservation",
    "PortSpec",
    "ResolvConf",
    "choose_subnet",
    "parse_add_host",
    "parse_network_mode",
    "parse_publish",
    "parse_resolv_conf",
    "plan_network",
    "port_spec",
    "publish_all",
    "render_hosts",
    "render_resolv_conf",
    "upstreams_from_resolv",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dockyard.network' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dockyard.network.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
