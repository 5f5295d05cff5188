"""The public API of dockyard.network is pinned, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dockyard import network


def test_network_all() -> None:
    assert network.__all__ == [
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
    for name in network.__all__:
        assert getattr(network, name) is not None
    with pytest.raises(AttributeError):
        _ = network.nothing_here


def test_import_is_light() -> None:
    code = (
        "import sys, dockyard.network as n; n.parse_publish('80'); n.plan_network; "
        "n.NetworkManager; bad = {'pyroute2', 'asyncio'} & set(sys.modules); print(sorted(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
