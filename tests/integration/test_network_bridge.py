"""Bridge networking on the real kernel, inside private network namespaces only.

Topology each test builds (and deletes in a finalizer, even on failure)::

    dyt-<tag>-c1 ─┐  veth (made by the library)
    dyt-<tag>-c2 ─┤
                  └─ dyt-<tag>-h  "the host": bridges, nft tables, ip_forward=1
                        │ dyt-up 198.51.100.1/24, default route via .2
    dyt-<tag>-i ────────┘ eth0 198.51.100.2/24: "the internet" (no route back to containers)

The real host's root network namespace is never touched: the library runs in "the host"
namespace through ``NetworkManager(host_netns=...)``; traffic stays inside these namespaces.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from netns_kit import NetnsLab, need_lab, opened
from netns_kit import run as _run

from dockyard.errors import AlreadyExists, Conflict, FailedPrecondition
from dockyard.network import (
    DnsResponder,
    EndpointSpec,
    Ipam,
    MemoryIpamStore,
    NetworkManager,
    NetworkSpec,
    NetworkState,
    parse_publish,
    plan_network,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]
T = TypeVar("T")

SERVER = r"""
import socket, sys
host, port, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port)); s.listen(8); s.settimeout(60)
print("ready", flush=True)
for _ in range(limit):
    c, peer = s.accept()
    c.sendall(f"{sys.argv[4]} {peer[0]}\n".encode()); c.close()
"""

UPSTREAM = r"""
import socket, sys
from dockyard.network._dnswire import build_response, parse_message
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53)); s.settimeout(60)
print("ready", flush=True)
for _ in range(int(sys.argv[2])):
    data, peer = s.recvfrom(512)
    q = parse_message(data)
    s.sendto(build_response(data, q, ["198.51.100.99"] if q.qtype == 1 else []), peer)
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(c.recv(200).decode().strip())
"""


class Lab(NetnsLab):
    """The namespaces of one test, and helpers to run things in them."""

    prefix = "dyt"

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2, self.inet = (self.name(n) for n in ("c1", "c2", "i"))

    def setup(self) -> None:
        self.add_netns(self.host, self.c1, self.c2, self.inet)
        h, i = self.host, self.inet
        _run("ip", "-n", h, "link", "add", "dyt-up", "type", "veth", "peer", "name", "eth0",
             "netns", i)  # fmt: skip
        _run("ip", "-n", h, "addr", "add", "198.51.100.1/24", "dev", "dyt-up")
        _run("ip", "-n", h, "link", "set", "dyt-up", "up")
        _run("ip", "-n", h, "route", "add", "default", "via", "198.51.100.2")
        _run("ip", "-n", i, "addr", "add", "198.51.100.2/24", "dev", "eth0")
        _run("ip", "-n", i, "link", "set", "eth0", "up")
        _run("ip", "-n", i, "link", "set", "lo", "up")

    def serve(self, ns: str, host: str, port: int, label: str, limit: int = 4) -> None:
        self.spawn_ready(ns, SERVER, host, str(port), str(limit), label)

    def dns_upstream(self, ns: str, host: str, limit: int) -> None:
        self.spawn_ready(ns, UPSTREAM, host, str(limit))

    def fetch(self, ns: str, host: str, port: int) -> str:
        return self.sh(ns, sys.executable, "-c", CLIENT, host, str(port)).stdout.strip()

    def links(self, ns: str) -> list[str]:
        out = _run("ip", "-n", ns, "-j", "link", "show").stdout
        return sorted(str(link["ifname"]) for link in json.loads(out))

    def addresses(self, ns: str, dev: str) -> list[str]:
        out = _run("ip", "-n", ns, "-j", "-4", "addr", "show", "dev", dev).stdout
        return [f"{a['local']}/{a['prefixlen']}" for i in json.loads(out) for a in i["addr_info"]]

    def nft_comments(self) -> list[str]:
        found = []
        for fam, name in (("ip", "dockyard"), ("inet", "dockyard-filter")):
            proc = self.sh(self.host, "nft", "-j", "list", "table", fam, name, check=False)
            if proc.returncode == 0:
                found += [
                    str(item["rule"].get("comment", ""))
                    for item in json.loads(proc.stdout)["nftables"]
                    if "rule" in item
                ]
        return found


@pytest.fixture
def lab() -> Iterator[Lab]:
    need_lab("busybox")
    with opened(Lab()) as lab:
        yield lab


class Loop:
    """An asyncio loop in a thread, as the daemon runs one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def _network(lab: Lab, mgr: NetworkManager, name: str, subnet: str = "") -> NetworkState:
    state = plan_network(NetworkSpec(name, subnet=subnet), [], mgr.routes())
    mgr.create(state)
    return state


def test_default_bridge_subnet_avoids_host_routes(lab: Lab) -> None:
    _run("ip", "-n", lab.host, "route", "add", "172.17.0.0/16", "via", "198.51.100.2")
    mgr = NetworkManager(lab.path(lab.host))
    routes = mgr.routes()
    state = plan_network(NetworkSpec("bridge"), [], routes, default=True)
    assert (state.bridge, state.subnet) == ("dockyard0", "172.18.0.0/16")
    assert mgr.check_host() == []
    mgr.create(state)
    mgr.create(state)  # idempotent
    assert lab.addresses(lab.host, "dockyard0") == ["172.18.0.1/16"]
    rl = lab.sh(lab.host, "sysctl", "-n", "net.ipv4.conf.dockyard0.route_localnet").stdout
    assert rl.strip() == "1"
    assert lab.nft_tables() == ["bridge dockyard-guard", "inet dockyard-filter", "ip dockyard"]
    assert lab.nft_comments().count("dockyard:network:bridge") == 8  # 7 + the DNS guard on input
    mgr.remove(state)
    mgr.remove(state)  # idempotent
    assert "dockyard0" not in lab.links(lab.host)
    assert lab.nft_tables() == []


def test_ip_forward_off_is_reported_not_changed(lab: Lab) -> None:
    lab.sh(lab.host, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    (warning,) = NetworkManager(lab.path(lab.host)).check_host()
    assert warning.startswith("net.ipv4.ip_forward is 0")
    assert lab.sh(lab.host, "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "0"


def test_containers_ping_and_resolve_each_other(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    ipam = Ipam(MemoryIpamStore())
    net = _network(lab, mgr, "web", "10.77.0.0/24")
    back = _network(lab, mgr, "back", "10.78.0.0/24")
    a1, a2 = ipam.allocate(net, "c1"), ipam.allocate(net, "c2")
    ep1 = mgr.connect(net, EndpointSpec("c1" * 8, lab.path(lab.c1), a1, aliases=("db",)))
    ep2 = mgr.connect(net, EndpointSpec("c2" * 8, lab.path(lab.c2), a2))
    b1 = ipam.allocate(back, "c1")
    ep3 = mgr.connect(back, EndpointSpec("c1" * 8, lab.path(lab.c1), b1, ifname="eth1",
                                         default_route=False))  # fmt: skip
    assert (a1, a2, ep1.host_ifname) == ("10.77.0.2", "10.77.0.3", "dyc1c1c1c1c1c1")
    assert lab.links(lab.c1) == ["eth0", "eth1", "lo"]
    assert lab.addresses(lab.c1, "eth1") == ["10.78.0.2/24"]
    route = lab.sh(lab.c1, "ip", "route", "show", "default").stdout
    assert route.startswith("default via 10.77.0.1 dev eth0")

    lab.sh(lab.c1, "busybox", "ping", "-c1", "-W3", a2)
    lab.sh(lab.c2, "busybox", "ping", "-c1", "-W3", a1)
    lab.sh(lab.c1, "busybox", "ping", "-c1", "-W3", "127.0.0.1")  # lo is up

    loop = Loop()
    lab.dns_upstream(lab.inet, "198.51.100.2", limit=8)
    upstreams = [("198.51.100.2", 53)]
    dns = DnsResponder(net.gateway, netns=lab.path(lab.host), upstreams=upstreams, timeout=2)
    try:
        loop.call(dns.start())
        dns.set_records({"alpha": [a1], "db": [a1], "beta": [a2]})
        out = lab.sh(lab.c2, "busybox", "nslookup", "alpha", net.gateway).stdout
        assert a1 in out
        out = lab.sh(lab.c2, "busybox", "nslookup", "db", net.gateway).stdout
        assert a1 in out
        out = lab.sh(lab.c1, "busybox", "nslookup", "beta", net.gateway).stdout
        assert a2 in out
        # anything else is relayed to the upstream in "the internet"
        out = lab.sh(lab.c1, "busybox", "nslookup", "example.com", net.gateway).stdout
        assert "198.51.100.99" in out
    finally:
        loop.call(dns.close())
        loop.stop()

    with pytest.raises(FailedPrecondition, match="endpoints still attached: dyc1c1c1c1c1c1"):
        mgr.remove(net)
    for ep in (ep1, ep2, ep3):
        mgr.disconnect(ep)
        mgr.disconnect(ep)  # idempotent
    assert lab.links(lab.c1) == ["lo"]
    mgr.remove(net)
    mgr.remove(back)
    assert lab.links(lab.host) == ["dyt-up", "lo"]
    assert lab.nft_tables() == []


def test_published_ports_from_localhost_and_hairpin(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "pub", "10.79.0.0/24")
    ports = (*parse_publish("18080:80"), *parse_publish("127.0.0.1:18081:80"))
    ep1 = mgr.connect(net, EndpointSpec("web1", lab.path(lab.c1), "10.79.0.2", ports=ports))
    ep2 = mgr.connect(net, EndpointSpec("cli2", lab.path(lab.c2), "10.79.0.3"))
    assert [str(b) for b in ep1.ports] == ["0.0.0.0:18080->80/tcp", "127.0.0.1:18081->80/tcp"]
    lab.serve(lab.c1, "0.0.0.0", 80, "web1", limit=4)

    # the host, through 127.0.0.1 (output DNAT + masquerade, route_localnet on the bridge)
    assert lab.fetch(lab.host, "127.0.0.1", 18080) == "web1 10.79.0.1"
    assert lab.fetch(lab.host, "127.0.0.1", 18081) == "web1 10.79.0.1"
    # another container, through the gateway address (hairpin NAT)
    assert lab.fetch(lab.c2, net.gateway, 18080) == "web1 10.79.0.1"
    # "the internet", through the host's outside address: the client's address is kept
    assert lab.fetch(lab.inet, "198.51.100.1", 18080) == "web1 198.51.100.2"

    mgr.disconnect(ep1)
    assert all(not c.startswith("dockyard:endpoint:") for c in lab.nft_comments())
    refused = lab.sh(lab.host, sys.executable, "-c", CLIENT, "127.0.0.1", "18080", check=False)
    assert refused.returncode != 0
    mgr.disconnect(ep2)
    mgr.remove(net)
    assert lab.nft_tables() == []


def test_outbound_nat_reaches_the_internet(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "out", "10.80.0.0/24")
    ep = mgr.connect(net, EndpointSpec("c1", lab.path(lab.c1), "10.80.0.2"))
    lab.serve(lab.inet, "198.51.100.2", 9000, "internet", limit=1)
    # the internet has no route to 10.80.0.0/24: an answer proves the masquerade
    assert lab.fetch(lab.c1, "198.51.100.2", 9000) == "internet 198.51.100.1"
    # direct traffic from outside to a container address is dropped by the forward chain
    _run("ip", "-n", lab.inet, "route", "add", "10.80.0.0/24", "via", "198.51.100.1")
    blocked = lab.sh(lab.inet, "busybox", "ping", "-c1", "-W1", "10.80.0.2", check=False)
    assert blocked.returncode != 0
    mgr.disconnect(ep)
    mgr.remove(net)


def test_host_port_in_use_is_one_line_and_leaves_nothing(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "busy", "10.81.0.0/24")
    lab.serve(lab.host, "127.0.0.1", 18090, "squatter", limit=1)
    before_links, before_rules = lab.links(lab.host), lab.nft_comments()
    spec = EndpointSpec("c1", lab.path(lab.c1), "10.81.0.2",
                        ports=tuple(parse_publish("127.0.0.1:18090:80")))  # fmt: skip
    with pytest.raises(Conflict) as info:
        mgr.connect(net, spec)
    assert str(info.value) == (
        "publish 127.0.0.1:18090/tcp for container c1: port is already allocated"
    )
    assert lab.links(lab.host) == before_links
    assert lab.links(lab.c1) == ["lo"]
    assert lab.nft_comments() == before_rules
    assert lab.fetch(lab.host, "127.0.0.1", 18090) == "squatter 127.0.0.1"
    mgr.remove(net)
    assert lab.nft_tables() == []


def test_failed_attach_rolls_back(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "rb", "10.82.0.0/24")
    _run("ip", "-n", lab.c1, "link", "add", "eth0", "type", "bridge")  # the name is taken
    spec = EndpointSpec("c1", lab.path(lab.c1), "10.82.0.2", ports=tuple(parse_publish("18095:80")))
    with pytest.raises(AlreadyExists) as info:
        mgr.connect(net, spec)
    assert str(info.value) == (
        "connect container c1 to network rb: create veth dyc1 (eth0 in the container): file exists"
    )
    assert lab.links(lab.host) == sorted(["dyt-up", "lo", net.bridge])
    assert not any(c.startswith("dockyard:endpoint:") for c in lab.nft_comments())
    # the port was given back
    lab.serve(lab.host, "0.0.0.0", 18095, "free", limit=1)
    assert lab.fetch(lab.host, "127.0.0.1", 18095) == "free 127.0.0.1"
    mgr.remove(net)


def test_prune_removes_rules_of_forgotten_owners(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    keep = _network(lab, mgr, "keep", "10.83.0.0/24")
    gone = _network(lab, mgr, "gone", "10.84.0.0/24")
    ep = mgr.connect(gone, EndpointSpec("c1", lab.path(lab.c1), "10.84.0.2",
                                        ports=tuple(parse_publish("18096:80"))))  # fmt: skip
    mgr.release_all()  # as if the daemon died
    assert mgr.prune([keep], []) == [
        "dockyard:endpoint:dyc1:c1", "dockyard:guard:10.84.0.2:gone", "dockyard:network:gone"
    ]  # fmt: skip
    assert set(lab.nft_comments()) == {"dockyard:base", "dockyard:network:keep"}
    mgr.disconnect(ep)
    mgr.remove(gone)
    mgr.remove(keep)
    assert lab.nft_tables() == []


def test_internal_network_and_udp_publishing(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    state = plan_network(NetworkSpec("int", subnet="10.85.0.0/24", internal=True), [], [])
    mgr.create(state)
    ports = tuple(parse_publish("127.0.0.1:15353:53/udp"))
    ep = mgr.connect(state, EndpointSpec("c1", lab.path(lab.c1), "10.85.0.2", ports=ports))
    echo = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        "s.bind(('0.0.0.0', 53)); s.settimeout(30); print('ready', flush=True); "
        "d, p = s.recvfrom(100); s.sendto(b'echo ' + d, p)"
    )
    p = subprocess.Popen(["ip", "netns", "exec", lab.c1, sys.executable, "-c", echo],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lab.procs.append(p)
    assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    ask = (
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); "
        "s.sendto(b'hi', ('127.0.0.1', 15353)); print(s.recv(100).decode())"
    )
    assert lab.sh(lab.host, sys.executable, "-c", ask).stdout.strip() == "echo hi"
    # internal: nothing leaves the bridge
    lab.serve(lab.inet, "198.51.100.2", 9001, "internet", limit=1)
    out = lab.sh(lab.c1, sys.executable, "-c", CLIENT, "198.51.100.2", "9001", check=False)
    assert out.returncode != 0
    mgr.disconnect(ep)
    mgr.remove(state)
    assert lab.nft_tables() == []
