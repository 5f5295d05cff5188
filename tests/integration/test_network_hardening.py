"""Network hardening (issue 19 items 1-4): each test performs the attack against dockyard's
rules on the real kernel, and where it can, shows the same attack succeeding with the defence
switched off (the rule flushed in the test's own namespace).

Topology (``test_network_bridge.Lab``, plus what a test adds; all deleted in a finalizer)::

    dyt-<tag>-c1, -c2   "containers" on a dockyard bridge
    dyt-<tag>-h         "the host": bridges, nft tables, ip_forward=1
    dyt-<tag>-i         a neighbour on the host's LAN (veth dyt-up <-> eth0, 198.51.100.0/24)

The real host's namespaces, links and tables are never touched.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest
from test_network_bridge import Lab, _network, _run, lab

from dockyard.network import DnsResponder, EndpointSpec, NetworkManager, parse_publish
from dockyard.network.services import ServiceBackend, ServicePort, ServiceProxy, ServiceSpec

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]
__all__ = ["lab"]

# One TCP connection; prints the server's line, or FAIL:<error> (a drop times out after 2 s).
PROBE = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as c:
        print(c.recv(200).decode().strip())
except OSError as e:
    print("FAIL:" + type(e).__name__)
"""


# One DNS query over UDP; prints the answer's addresses, or FAIL:<error> (2 s timeout).
ASK = r"""
import socket, sys
from dockyard.network._dnswire import build_query, parse_answers
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(build_query(7, sys.argv[2]), (sys.argv[1], 53))
try:
    print(" ".join(parse_answers(s.recv(512))[1]) or "EMPTY")
except OSError as e:
    print("FAIL:" + type(e).__name__)
"""


def probe(lab: Lab, ns: str, host: str, port: int) -> str:
    return lab.sh(ns, sys.executable, "-c", PROBE, host, str(port)).stdout.strip()


def route_loopback_out(lab: Lab, ns: str, dev: str, via: str) -> None:
    """Make ``ns`` send packets for 127.0.0.0/8 out of ``dev`` to ``via``'s MAC: what an
    attacker on the LAN (or root in a container) can do with its own kernel."""
    for route in ("127.0.0.0/8", "127.0.0.1"):
        _run("ip", "-n", ns, "route", "del", "local", route, "dev", "lo", "table", "local",
             check=False)  # fmt: skip
    # route_localnet: send to 127/8 and take replies from it; accept_local: a reply from
    # 127.0.0.1, an address of our own lo, is not a martian
    lab.sh(ns, "sysctl", "-qw", f"net.ipv4.conf.{dev}.route_localnet=1",
           f"net.ipv4.conf.{dev}.accept_local=1")  # fmt: skip
    lab.sh(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", f"net.ipv4.conf.{dev}.rp_filter=0")
    _run("ip", "-n", ns, "route", "add", "127.0.0.0/8", "via", via, "dev", dev)


def guard_off(lab: Lab, *tables: str) -> None:
    for table in tables:
        lab.sh(lab.host, "nft", "flush", "chain", "ip", table, "guard")


def test_loopback_published_port_and_node_port_stay_local(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "lo1", "10.81.0.0/24")
    ports = parse_publish("127.0.0.1:18081:80")
    ep1 = mgr.connect(net, EndpointSpec("web1", lab.path(lab.c1), "10.81.0.2", ports=ports))
    ep2 = mgr.connect(net, EndpointSpec("cli2", lab.path(lab.c2), "10.81.0.3"))
    lab.serve(lab.c1, "0.0.0.0", 80, "web1", limit=20)
    proxy = ServiceProxy(lab.path(lab.host))
    node_port = 30881
    svc = ServiceSpec(
        "default/web", "10.96.0.10", (ServicePort(80, 80, "tcp", node_port),),
        (ServiceBackend("10.81.0.2"),),
    )  # fmt: skip
    # the host's own services on 127.0.0.1 (sshd, a database): never reachable from outside
    lab.serve(lab.host, "127.0.0.1", 19999, "host-private", limit=20)
    try:
        proxy.sync([svc])
        # the host itself still reaches both through 127.0.0.1 (route_localnet on the bridge)
        assert lab.fetch(lab.host, "127.0.0.1", 18081) == "web1 10.81.0.1"
        assert probe(lab, lab.host, "127.0.0.1", node_port).startswith("web1")

        # the attack: the LAN neighbour sends to 127.0.0.1 with the host's MAC; a container
        # (root in it) does the same towards its gateway
        route_loopback_out(lab, lab.inet, "eth0", "198.51.100.1")
        route_loopback_out(lab, lab.c2, "eth0", net.gateway)
        attempts = [(lab.inet, 18081), (lab.inet, node_port), (lab.c2, 19999)]
        for ns, port in attempts:
            assert probe(lab, ns, "127.0.0.1", port) == "FAIL:TimeoutError", (ns, port)

        # the same attack with the guard flushed succeeds: the defence is what stops it
        guard_off(lab, "dockyard", "dockyard-svc")
        assert probe(lab, lab.inet, "127.0.0.1", 18081) == "web1 198.51.100.2"
        assert probe(lab, lab.inet, "127.0.0.1", node_port) == "web1 198.51.100.2"
        assert probe(lab, lab.c2, "127.0.0.1", 19999) == "host-private 10.81.0.3"
    finally:
        proxy.close()
        proxy.release()
    mgr.disconnect(ep1)
    mgr.disconnect(ep2)
    mgr.remove(net)
    assert lab.nft_tables() == []


def test_dns_responder_answers_only_containers(lab: Lab) -> None:
    """A LAN neighbour that routes to a network's gateway through the host asks its DNS
    responder for container names: no answer. Each of the two defences alone stops it (the
    responder bound to the bridge; the network's nft rule); with both off it is answered."""
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "dns1", "10.82.0.0/24")
    ep = mgr.connect(net, EndpointSpec("c1", lab.path(lab.c1), "10.82.0.2"))
    _run("ip", "-n", lab.inet, "route", "add", "10.82.0.0/24", "via", "198.51.100.1")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def responder(interface: str) -> DnsResponder:
        r = DnsResponder(net.gateway, netns=lab.path(lab.host), interface=interface)
        asyncio.run_coroutine_threadsafe(r.start(), loop).result(10)
        r.set_records({"secret-db": ["10.82.0.2"]})
        return r

    def ask(ns: str) -> str:
        return lab.sh(ns, sys.executable, "-c", ASK, net.gateway, "secret-db").stdout.strip()

    def stop(r: DnsResponder) -> None:
        asyncio.run_coroutine_threadsafe(r.close(), loop).result(10)

    try:
        r = responder(net.bridge)
        assert ask(lab.c1) == "10.82.0.2"  # the containers are served
        assert ask(lab.inet).startswith("FAIL:")  # the neighbour is not
        stop(r)
        r = responder("")  # the responder unbound: the nft rule alone stops it
        assert ask(lab.inet).startswith("FAIL:")
        assert ask(lab.c1) == "10.82.0.2"
        lab.sh(lab.host, "nft", "flush", "chain", "inet", "dockyard-filter", "input")
        assert ask(lab.inet) == "10.82.0.2"  # both off: the names leak to the LAN
        stop(r)
        r = responder(net.bridge)  # the socket bound to the bridge alone stops it
        assert ask(lab.inet).startswith("FAIL:")
        assert ask(lab.c1) == "10.82.0.2"
        stop(r)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
    mgr.disconnect(ep)
    mgr.remove(net)
