"""NetworkPolicy on the real kernel: only the allowed client reaches the isolated pod.

Topology each test builds (and deletes in a finalizer, even on failure)::

    dyp-<tag>-db     ─┐  TCP servers on :8080 and :8081 ("db")
    dyp-<tag>-client ─┤  the labelled client (allowed); also serves :8080
    dyp-<tag>-other  ─┘  another pod (refused)
          └─ dyp-<tag>-h  "the host": bridge, dockyard's nft tables, ip_forward=1

The real host's namespaces are never touched; traffic stays inside these namespaces. Every
probe is one connection with a 1.5 s timeout; only processes started here are stopped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from netns_kit import NetnsLab, need_lab

from dockyard.network import NetworkState
from dockyard.network.netpol_nft import (
    NetworkPolicyEnforcer,
    PodPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
)
from dockyard.network.services import (
    ServiceBackend,
    ServicePort,
    ServiceProxy,
    ServiceSpec,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]

# Answers every connection on each given port with its name; gone after 110 s at the latest.
SERVER = r"""
import signal, socket, sys, threading
signal.alarm(110)
name = sys.argv[1]
def serve(port):
    s = socket.create_server(("0.0.0.0", port), backlog=64)
    while True:
        c, _ = s.accept()
        c.sendall((name + "\n").encode()); c.close()
for p in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""

# The connect is the kernel's handshake: a dropped SYN times out after 1.5 s (TimeoutError),
# a rejected one is refused at once (a refusal after 1 s came to a retransmitted SYN: late).
# The server's answer then may take as long as a loaded machine needs.
PROBE = r"""
import socket, sys, time
t = time.monotonic()
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5) as c:
        c.settimeout(30)
        print(c.recv(100).decode().strip())
except ConnectionRefusedError:
    print("FAIL:ConnectionRefusedError" if time.monotonic() - t < 1.0 else "FAIL:LateRefusal")
except OSError as e:
    print("FAIL:" + type(e).__name__)
"""


class Lab(NetnsLab):
    prefix = "dyp"

    def __init__(self) -> None:
        super().__init__()
        self.db, self.client, self.other = (self.name(n) for n in ("db", "client", "other"))
        self.net: NetworkState | None = None
        self.proxy: ServiceProxy | None = None
        self.nf = True  # bridge netfilter on in "the host"

    def setup(self) -> None:
        self.add_netns(self.host, self.db, self.client, self.other)
        _, self.net = self.dockyard_network("polnet", (self.db, self.client, self.other))
        self.serve(self.db, 8080, 8081)
        self.serve(self.client, 8080)

    def teardown(self) -> None:
        if self.proxy is not None:
            self.proxy.release()
        super().teardown()

    def serve(self, ns: str, *ports: int) -> None:
        self.spawn_ready(ns, SERVER, ns.rsplit("-", 1)[1], *map(str, ports))

    def probe(self, ns: str, host: str, port: int) -> str:
        return self.sh(ns, sys.executable, "-c", PROBE, host, str(port)).stdout.strip()


NF_KEY = "/proc/sys/net/bridge/bridge-nf-call-iptables"


@pytest.fixture(params=["br_netfilter-on", "br_netfilter-off"])
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The suite runs twice: with bridge netfilter on in "the host" namespace (pods of one
    bridge filtered by ``inet``) and off (the state of a host without ``br_netfilter``: only
    ``bridge dockyard-netpol`` sees them). The switch is per network namespace: the real
    host's setting is never touched."""
    need_lab()
    lab = Lab()
    try:
        lab.setup()
        lab.nf = request.param.endswith("-on")
        script = f"[ ! -e {NF_KEY} ] || echo {int(lab.nf)} > {NF_KEY}; cat {NF_KEY} || echo 0"
        got = lab.sh(lab.host, "sh", "-c", script).stdout.strip()
        if got != str(int(lab.nf)):
            pytest.skip("br_netfilter is not loaded on this host: no bridge netfilter to turn on")
        yield lab
    finally:
        lab.teardown()


def test_policy_admits_only_the_labelled_client(lab: Lab) -> None:
    db, client, other = lab.addr[lab.db], lab.addr[lab.client], lab.addr[lab.other]
    assert lab.probe(lab.other, db, 8080) == "db"  # not isolated: everyone gets in
    enforcer = NetworkPolicyEnforcer(Lab.path(lab.host))
    # e.g. podSelector role=db, ingress from podSelector role=client on TCP 8080
    allow = PolicyRule((PolicyPeer(client),), (PolicyPort("tcp", 8080),))
    enforcer.sync([PodPolicy(db, "default/db", ingress=(allow,))])
    assert "inet dockyard-netpol" in lab.nft_tables()

    assert lab.probe(lab.client, db, 8080) == "db"
    assert lab.probe(lab.other, db, 8080) == "FAIL:TimeoutError"  # dropped
    assert lab.probe(lab.client, db, 8081) == "FAIL:TimeoutError"  # a port not allowed
    assert lab.probe(lab.db, client, 8080) == "client"  # db's egress is not isolated
    assert lab.probe(lab.host, db, 8081) == "db"  # the node always gets in

    # through a Service VIP: checked against the endpoint pod and the original client
    assert lab.net is not None
    lab.proxy = ServiceProxy(Lab.path(lab.host))
    vip = "10.96.0.10"
    svc = ServiceSpec("default/db", vip, (ServicePort(80, 8080),), (ServiceBackend(db),))
    lab.proxy.sync([svc])
    assert lab.probe(lab.client, vip, 80) == "db"
    assert lab.probe(lab.other, vip, 80) == "FAIL:TimeoutError"

    # the policy widened to a namespace's pods (here: other's address) with an ipBlock except
    wide = PolicyRule(
        (PolicyPeer(lab.net.subnet, (f"{client}/32",)),), (PolicyPort("tcp", 8080, 8081),)
    )
    enforcer.sync([PodPolicy(db, "default/db", ingress=(wide,))])
    assert lab.probe(lab.other, db, 8081) == "db"
    assert lab.probe(lab.client, db, 8081) == "FAIL:TimeoutError"  # cut out by except

    enforcer.sync([])  # no policy selects db any more
    assert lab.probe(lab.other, db, 8080) == "db"
    assert lab.probe(lab.client, db, 8081) == "db"
    enforcer.close()
    assert "inet dockyard-netpol" not in lab.nft_tables()
    lab.proxy.close()
    assert other


def test_egress_isolation_keeps_the_node_reachable(lab: Lab) -> None:
    db, client = lab.addr[lab.db], lab.addr[lab.client]
    assert lab.net is not None
    gateway = lab.net.gateway
    lab.serve(lab.host, 5353)  # a service on the node, e.g. the DNS responder on the gateway
    enforcer = NetworkPolicyEnforcer(Lab.path(lab.host), reject=True)
    # reject mode: at once where inet sees the bridge; the bridge family can only drop
    denied = "FAIL:ConnectionRefusedError" if lab.nf else "FAIL:TimeoutError"
    # other: egress-isolated, may open connections to db only (any port)
    rule = PolicyRule((PolicyPeer(f"{db}/32"),))
    enforcer.sync([PodPolicy(lab.addr[lab.other], "default/other", egress=(rule,))])
    assert lab.probe(lab.other, db, 8081) == "db"
    assert lab.probe(lab.other, client, 8080) == denied
    assert lab.probe(lab.other, gateway, 5353) == "h"  # the node is never filtered
    # default deny-all egress
    enforcer.sync([PodPolicy(lab.addr[lab.other], "default/other", egress=())])
    assert lab.probe(lab.other, db, 8081) == denied
    assert lab.probe(lab.other, gateway, 5353) == "h"
    assert lab.probe(lab.client, db, 8081) == "db"
    enforcer.close()
    assert lab.probe(lab.other, client, 8080) == "client"
