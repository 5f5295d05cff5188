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
import json
import subprocess
import sys
import threading
import time

import pytest
from test_network_bridge import Lab, _network, _run, lab

from dockyard.network import DnsResponder, EndpointSpec, NetworkManager, parse_publish
from dockyard.network.netpol_nft import (
    NetworkPolicyEnforcer,
    PodPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
)
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


# Prints "<payload> <source address>" for every UDP datagram on port 9000 (gone after 100 s).
UDP_SINK = r"""
import signal, socket
signal.alarm(100)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 9000))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(100)
    print(data.decode(), peer[0], flush=True)
"""
# Sends one datagram from argv[1] (an address the sender may not own) to argv[2]:9000.
UDP_SEND = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT: any source address (root)
s.bind((sys.argv[1], 0)); s.sendto(sys.argv[3].encode(), (sys.argv[2], 9000))
"""
# Serves TCP on [::]:80, answering "v6 <peer>"; gone after 100 s.
SERVER6 = r"""
import signal, socket
signal.alarm(100)
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
s.bind(("::", 80)); s.listen(8)
print("ready", flush=True)
while True:
    c, peer = s.accept(); c.sendall(f"v6 {peer[0]}\n".encode()); c.close()
"""
PROBE6 = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], 80), timeout=2) as c:
        print(c.recv(200).decode().strip())
except OSError as e:
    print("FAIL:" + type(e).__name__)
"""
# A router advertisement (router lifetime 1800 s) to all nodes, from argv[1]'s link-local.
SEND_RA = r"""
import socket, struct, sys
idx = socket.if_nametoindex(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.sendto(struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0), ("ff02::1", 0, 0, idx))
"""


class Sink:
    """A process whose output lines the test reads as they come (a reader thread)."""

    def __init__(self, lab: Lab, ns: str, script: str) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", script],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        lab.procs.append(self.proc)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"
        self.lines: list[str] = []
        self.got = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.got:
                self.lines.append(line.strip())
                self.got.notify_all()

    def wait_for(self, word: str, timeout: float = 10) -> list[str]:
        """Every line up to the first that starts with ``word``."""
        with self.got:
            found = self.got.wait_for(lambda: any(x.startswith(word) for x in self.lines), timeout)
            assert found, f"{word!r} never came: {self.lines}"
            return list(self.lines)


def _netns(lab: Lab, name: str) -> str:
    ns = f"{lab.host[:-2]}-{name}"
    _run("ip", "netns", "add", ns)
    lab.made.append(ns)
    return ns


def test_a_container_cannot_spoof_another_ones_address_or_mac(lab: Lab) -> None:
    """The policy admits only ``client`` to db's UDP 9000; the attacker sends as client's
    address (and, second try, under a forged MAC): dropped at its own bridge port. With the
    guard chain flushed the same datagram arrives: the policy alone cannot tell."""
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "spoof", "10.86.0.0/24")
    db = _netns(lab, "db")
    attacker, client = lab.c1, lab.c2
    eps = [
        mgr.connect(net, EndpointSpec(cid, lab.path(ns), addr))
        for cid, ns, addr in (("att", attacker, "10.86.0.2"), ("cli", client, "10.86.0.3"),
                              ("db", db, "10.86.0.4"))
    ]  # fmt: skip
    sink = Sink(lab, db, UDP_SINK)
    enforcer = NetworkPolicyEnforcer(lab.path(lab.host))
    allow = PolicyRule((PolicyPeer("10.86.0.3"),), (PolicyPort("udp", 9000),))
    enforcer.sync([PodPolicy("10.86.0.4", "default/db", ingress=(allow,))])

    def send(ns: str, src: str, text: str) -> None:
        lab.sh(ns, sys.executable, "-c", UDP_SEND, src, "10.86.0.4", text)

    send(attacker, "10.86.0.2", "direct")  # refused by the policy
    send(attacker, "10.86.0.3", "spoofed")  # the attack
    _run("ip", "-n", attacker, "link", "set", "eth0", "address", "02:42:0a:56:00:03")
    send(attacker, "10.86.0.3", "spoofed-mac")  # client's address and MAC
    send(client, "10.86.0.3", "marker")
    assert sink.wait_for("marker") == ["marker 10.86.0.3"]

    lab.sh(lab.host, "nft", "flush", "chain", "bridge", "dockyard-guard", "ports")
    send(attacker, "10.86.0.3", "spoofed-again")
    assert sink.wait_for("spoofed-again")[-1] == "spoofed-again 10.86.0.3"  # guard off: in
    enforcer.close()
    for ep in eps:
        mgr.disconnect(ep)
    mgr.remove(net)
    assert lab.nft_tables() == []


def _link_local(lab: Lab, ns: str) -> str:
    """Wait for ``ns``'s eth0 to have a usable IPv6 link-local address (DAD off: at once)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = _run("ip", "-n", ns, "-j", "-6", "addr", "show", "dev", "eth0").stdout
        for a in (a for i in json.loads(out) for a in i["addr_info"]):
            if a["local"].startswith("fe80") and not a.get("tentative"):
                return str(a["local"])
        time.sleep(0.05)
    raise AssertionError(f"no link-local address in {ns}")


def _v6_on(lab: Lab, ns: str) -> None:
    """What root in a container can do to itself (dockyard turned IPv6 off there)."""
    lab.sh(ns, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0",
           "net.ipv6.conf.eth0.disable_ipv6=0")  # fmt: skip


def _default_v6_route(lab: Lab) -> str:
    return _run("ip", "-n", lab.host, "-6", "route", "show", "default").stdout.strip()


def test_no_ipv6_around_a_policy_and_no_router_adverts(lab: Lab) -> None:
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "six", "10.85.0.0/24")
    ep1 = mgr.connect(net, EndpointSpec("c1", lab.path(lab.c1), "10.85.0.2"))
    ep2 = mgr.connect(net, EndpointSpec("c2", lab.path(lab.c2), "10.85.0.3"))
    for ns in (lab.c1, lab.c2):  # containers get no IPv6 at all
        assert _run("ip", "-n", ns, "-6", "addr", "show", "dev", "eth0").stdout.strip() == ""
    for dev in (net.bridge, ep1.host_ifname):
        key = f"net.ipv6.conf.{dev}.accept_ra"
        assert lab.sh(lab.host, "sysctl", "-n", key).stdout.strip() == "0"
    # pod B (c2) admits nobody; it serves on IPv4 and IPv6
    lab.serve(lab.c2, "0.0.0.0", 80, "v4", limit=10)
    enforcer = NetworkPolicyEnforcer(lab.path(lab.host))
    enforcer.sync([PodPolicy("10.85.0.3", "default/b", ingress=())])
    assert probe(lab, lab.c1, "10.85.0.3", 80) == "FAIL:TimeoutError"

    def send_ra_then_barrier() -> None:
        """An RA from c1, then an IPv4 ping of the gateway from c1: its answer comes after
        the host has handled the RA (same port, same receive path, in order), so a missing
        route then is an event, not a timeout."""
        lab.sh(lab.c1, sys.executable, "-c", SEND_RA, "eth0")
        lab.sh(lab.c1, "busybox", "ping", "-c1", "-W3", net.gateway)

    # the attack: root in both pods turns IPv6 back on (as before dockyard turned it off)
    _v6_on(lab, lab.c1)
    _v6_on(lab, lab.c2)
    Sink(lab, lab.c2, SERVER6)
    target = f"{_link_local(lab, lab.c2)}%eth0"
    _link_local(lab, lab.c1)
    assert lab.sh(lab.c1, sys.executable, "-c", PROBE6, target).stdout.startswith("FAIL:")
    send_ra_then_barrier()
    assert _default_v6_route(lab) == ""

    lab.sh(lab.host, "nft", "flush", "chain", "bridge", "dockyard-guard", "ports")
    out = lab.sh(lab.c1, sys.executable, "-c", PROBE6, target).stdout.strip()
    assert out.startswith("v6 fe80:")  # guard off: around the policy over IPv6
    send_ra_then_barrier()
    assert _default_v6_route(lab) == ""  # accept_ra=0 alone still refuses the router
    lab.sh(lab.host, "sysctl", "-qw", f"net.ipv6.conf.{net.bridge}.accept_ra=1")
    send_ra_then_barrier()  # the same barrier shows the route when there is one
    assert "fe80:" in _default_v6_route(lab)  # both off: the container is the host's router
    enforcer.close()
    mgr.disconnect(ep1)
    mgr.disconnect(ep2)
    mgr.remove(net)


def test_policy_between_pods_of_one_bridge_without_br_netfilter(lab: Lab) -> None:
    """Bridge netfilter off in "the host" (a fresh host without br_netfilter): frames between
    two pods of one bridge never reach inet hooks. The policy still holds (the bridge table);
    with that table deleted, the isolated pod is reached: the inet table alone does not see
    it. An ingress-isolated pod's own connections get their replies (the reflexive set)."""
    key = "/proc/sys/net/bridge/bridge-nf-call-iptables"
    lab.sh(lab.host, "sh", "-c", f"[ ! -e {key} ] || echo 0 > {key}")
    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "nonf", "10.87.0.0/24")
    a, b = "10.87.0.2", "10.87.0.3"
    ep1 = mgr.connect(net, EndpointSpec("a", lab.path(lab.c1), a))
    ep2 = mgr.connect(net, EndpointSpec("b", lab.path(lab.c2), b))
    lab.serve(lab.c1, "0.0.0.0", 80, "a", limit=10)
    lab.serve(lab.c2, "0.0.0.0", 80, "b", limit=10)
    enforcer = NetworkPolicyEnforcer(lab.path(lab.host))
    enforcer.sync([PodPolicy(a, "default/a", ingress=())])  # a admits nobody
    try:
        assert probe(lab, lab.c2, a, 80) == "FAIL:TimeoutError"
        assert probe(lab, lab.c1, b, 80) == f"b {a}"  # a's own connection: replies come back
        lab.sh(lab.host, "nft", "delete", "table", "bridge", "dockyard-netpol")
        assert probe(lab, lab.c2, a, 80) == f"a {b}"  # without the bridge table: reached
    finally:
        enforcer.close()
    mgr.disconnect(ep1)
    mgr.disconnect(ep2)
    mgr.remove(net)


def test_guards_of_disconnected_endpoints_go_with_the_next_transaction(lab: Lab) -> None:
    """disconnect (the run --rm path) makes no nft call: the guard goes with the next
    connect's transaction, or with the network's removal."""
    from dockyard.network._nftrules import guard_chain

    def chains() -> set[str]:
        out = lab.sh(lab.host, "nft", "-j", "list", "table", "bridge", "dockyard-guard").stdout
        items = json.loads(out)["nftables"]
        return {str(i["chain"]["name"]) for i in items if "chain" in i} - {"ports"}

    mgr = NetworkManager(lab.path(lab.host))
    net = _network(lab, mgr, "lazy", "10.88.0.0/24")
    ep1 = mgr.connect(net, EndpointSpec("a", lab.path(lab.c1), "10.88.0.2"))
    ep2 = mgr.connect(net, EndpointSpec("b", lab.path(lab.c2), "10.88.0.3"))
    assert chains() == {guard_chain(ep1.guard_owner), guard_chain(ep2.guard_owner)}
    mgr.disconnect(ep1)
    assert guard_chain(ep1.guard_owner) in chains()  # matches nothing: its port is gone
    ep3 = mgr.connect(net, EndpointSpec("c", lab.path(lab.c1), "10.88.0.4"))
    assert chains() == {guard_chain(ep2.guard_owner), guard_chain(ep3.guard_owner)}
    lab.sh(lab.c1, "busybox", "ping", "-c1", "-W3", "10.88.0.3")  # the new one is let through
    mgr.disconnect(ep2)
    mgr.disconnect(ep3)
    mgr.remove(net)
    assert lab.nft_tables() == []
