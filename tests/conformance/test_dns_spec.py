"""The cluster DNS against the Kubernetes DNS specification (kubernetes/dns,
``docs/specification.md``, schema 1.0.1), section by section, with the specification's own
question and answer examples, asked over UDP by dnspython (a client no one here wrote) of a
live :class:`~dockyard.network.DnsResponder` on 127.0.0.1 serving what the Services
controller publishes (``cluster_records`` + ``cluster_data`` + ``pod_address``).

Search paths and ``ndots`` (the kubelet's resolv.conf, the specification's companion page
"DNS for Services and Pods") are checked by dnspython's stub resolver reading the
resolv.conf that ``pod_resolv`` writes.

The specification is not part of ``../shared/corpus``: its sections are cited here by
number and the examples written into the tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from dockyard.network import DnsResponder, ResolvConf
from dockyard.network._etc import render_resolv_conf
from dockyard.orchestrator.backend import ContainerStatus, ObservedPod
from dockyard.orchestrator.clusterdns import (
    SCHEMA_VERSION,
    cluster_data,
    cluster_records,
    pod_address,
    pod_resolv,
)
from dockyard.orchestrator.loader import from_dict
from dockyard.orchestrator.objects import Pod, Service


def _service(name: str, spec: dict[str, Any], ns: str = "default") -> Service:
    obj = from_dict({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": ns}, "spec": spec})  # fmt: skip
    assert isinstance(obj, Service)
    return obj


def _pod(name: str, ip: str, labels: dict[str, str], *, ready: bool = True,
         extra: dict[str, Any] | None = None) -> ObservedPod:  # fmt: skip
    spec = {
        "containers": [
            {"name": "c", "image": "busybox", "ports": [{"containerPort": 443, "name": "https"}]}
        ],
        **(extra or {}),
    }
    obj = from_dict({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": name, "namespace": "default", "labels": labels},
                     "spec": spec})  # fmt: skip
    assert isinstance(obj, Pod)
    return ObservedPod(obj, "Running", (ContainerStatus("c", "running", ready=ready),), ip)


# The specification's examples: `kubernetes` (ClusterIP 10.3.0.1, port https 443), a headless
# Service `headless` whose endpoints are 10.3.0.100 (hostname my-pet) and two more, one of
# them not ready; `nobody` (headless, no ready endpoint); `foo` (ExternalName www.example.com).
HTTPS = [{"name": "https", "port": 443, "targetPort": "https"}]
SERVICES = [
    _service("kubernetes", {"clusterIP": "10.3.0.1", "selector": {"app": "api"}, "ports": HTTPS}),
    _service("headless", {"clusterIP": "None", "selector": {"app": "pet"}, "ports": HTTPS}),
    _service("nobody", {"clusterIP": "None", "selector": {"app": "none"}, "ports": HTTPS}),
    _service("foo", {"type": "ExternalName", "externalName": "www.example.com"}),
    _service("other", {"clusterIP": "10.3.0.9", "selector": {"app": "x"}, "ports": HTTPS}, "prod"),
    _service(
        "plain", {"clusterIP": "10.3.0.7", "selector": {"app": "x"}, "ports": [{"port": 8443}]}
    ),
]
PODS = [
    _pod("api", "10.88.0.1", {"app": "api"}),
    _pod(
        "pet-0", "10.3.0.100", {"app": "pet"}, extra={"hostname": "my-pet", "subdomain": "headless"}
    ),
    _pod("pet-1", "10.3.0.101", {"app": "pet"}),
    _pod("pet-2", "10.3.0.102", {"app": "pet"}, ready=False),
    _pod("lone", "10.3.0.200", {"app": "none"}, ready=False),
]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    """A live responder on 127.0.0.1 (an ephemeral port), in a loop of its own."""
    loop = asyncio.new_event_loop()
    r = DnsResponder("127.0.0.1", port=0, zones=("cluster.local",), ttl=5, synthesize=pod_address)
    a, srv = cluster_records(SERVICES, PODS)
    r.set_records(a)
    r.set_srv(srv)
    r.set_data(cluster_data(SERVICES, PODS))
    loop.run_until_complete(r.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield r.address
    finally:
        loop.call_soon_threadsafe(r.shutdown)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(asyncio.sleep(0))  # the transports' closing callbacks
        loop.close()


def ask(server: tuple[str, int], name: str, rdtype: str = "A") -> Any:
    q = dns.message.make_query(name, rdtype)
    return dns.query.udp(q, server[0], port=server[1], timeout=5)


def answers(reply: Any, rdtype: str | None = None) -> list[str]:
    """The answer section's data as text, sorted (of one type when given)."""
    return sorted(
        rd.to_text()
        for rrset in reply.answer
        if rdtype is None or rrset.rdtype == dns.rdatatype.from_text(rdtype)
        for rd in rrset
    )


def owners(reply: Any) -> set[str]:
    return {rrset.name.to_text() for rrset in reply.answer}


# 2.2 - Record for Schema Version
def test_2_2_schema_version_txt(server: tuple[str, int]) -> None:
    reply = ask(server, "dns-version.cluster.local.", "TXT")
    assert reply.rcode() == dns.rcode.NOERROR
    assert answers(reply) == [f'"{SCHEMA_VERSION}"'] and SCHEMA_VERSION == "1.0.1"


# 2.3.1 - A record of a Service with a ClusterIP
def test_2_3_1_cluster_ip_a(server: tuple[str, int]) -> None:
    reply = ask(server, "kubernetes.default.svc.cluster.local.", "A")
    assert answers(reply) == ["10.3.0.1"]
    assert owners(reply) == {"kubernetes.default.svc.cluster.local."}
    assert reply.flags & dns.flags.AA  # the authority of its zone


# 2.3.2 - SRV records: one per named port; unnamed ports none
def test_2_3_2_cluster_ip_srv(server: tuple[str, int]) -> None:
    reply = ask(server, "_https._tcp.kubernetes.default.svc.cluster.local.", "SRV")
    (srv,) = [rd for rrset in reply.answer for rd in rrset]
    assert (srv.port, srv.target.to_text()) == (443, "kubernetes.default.svc.cluster.local.")
    assert answers(ask(server, "plain.default.svc.cluster.local.")) == ["10.3.0.7"]
    for name in ("_8443._tcp.plain", "_tcp.plain", "__tcp.plain"):
        unnamed = ask(server, f"{name}.default.svc.cluster.local.", "SRV")
        assert unnamed.rcode() == dns.rcode.NXDOMAIN, name


# 2.3.3 - PTR record of the ClusterIP
def test_2_3_3_cluster_ip_ptr(server: tuple[str, int]) -> None:
    reply = ask(server, "1.0.3.10.in-addr.arpa.", "PTR")
    assert answers(reply) == ["kubernetes.default.svc.cluster.local."]


# 2.4.1 - A records of a headless Service: each ready endpoint; none ready: NXDOMAIN
def test_2_4_1_headless_a(server: tuple[str, int]) -> None:
    reply = ask(server, "headless.default.svc.cluster.local.", "A")
    assert answers(reply) == ["10.3.0.100", "10.3.0.101"]  # pet-2 is not ready
    assert ask(server, "nobody.default.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN
    # ... and one per ready endpoint by its hostname
    assert answers(ask(server, "my-pet.headless.default.svc.cluster.local.")) == ["10.3.0.100"]
    assert answers(ask(server, "10-3-0-101.headless.default.svc.cluster.local.")) == ["10.3.0.101"]
    gone = ask(server, "10-3-0-102.headless.default.svc.cluster.local.")
    assert gone.rcode() == dns.rcode.NXDOMAIN


# 2.4.2 - SRV records of a headless Service: N ready endpoints x M named ports
def test_2_4_2_headless_srv(server: tuple[str, int]) -> None:
    reply = ask(server, "_https._tcp.headless.default.svc.cluster.local.", "SRV")
    got = sorted((rd.port, rd.target.to_text()) for rrset in reply.answer for rd in rrset)
    assert got == [
        (443, "10-3-0-101.headless.default.svc.cluster.local."),
        (443, "my-pet.headless.default.svc.cluster.local."),
    ]


# 2.4.3 - PTR records of a headless Service's ready endpoints
def test_2_4_3_headless_ptr(server: tuple[str, int]) -> None:
    reply = ask(server, "100.0.3.10.in-addr.arpa.", "PTR")
    assert answers(reply) == ["my-pet.headless.default.svc.cluster.local."]
    # a reverse name the cluster has no record of is not the cluster's: relayed upstream
    # (here: no upstream at all, so SERVFAIL, not an authoritative NXDOMAIN)
    assert ask(server, "102.0.3.10.in-addr.arpa.", "PTR").rcode() == dns.rcode.SERVFAIL


# 2.5 - ExternalName: a CNAME
def test_2_5_external_name_cname(server: tuple[str, int]) -> None:
    reply = ask(server, "foo.default.svc.cluster.local.", "A")
    assert reply.rcode() == dns.rcode.NOERROR
    assert answers(reply, "CNAME") == ["www.example.com."]


# 2.6 - Deprecated (required) pod records: any four numbers, any namespace
@pytest.mark.parametrize("name,address", [
    ("10-3-0-100.default.pod.cluster.local.", "10.3.0.100"),
    ("1-2-3-4.prod.pod.cluster.local.", "1.2.3.4"),
    ("255-255-255-255.kube-system.pod.cluster.local.", "255.255.255.255"),
])  # fmt: skip
def test_2_6_pod_a_records(server: tuple[str, int], name: str, address: str) -> None:
    assert answers(ask(server, name)) == [address]


def test_2_6_not_an_address_is_nxdomain(server: tuple[str, int]) -> None:
    for name in ("1-2-3-256.default.pod.cluster.local.", "1-2-3.default.pod.cluster.local."):
        assert ask(server, name).rcode() == dns.rcode.NXDOMAIN, name


# 2.1 - "All comparisons between query data and data in Kubernetes is case-insensitive"
def test_2_1_case_insensitive(server: tuple[str, int]) -> None:
    assert answers(ask(server, "KUBERNETES.Default.SVC.cluster.LOCAL.")) == ["10.3.0.1"]
    srv = ask(server, "_HTTPS._TCP.Headless.default.svc.cluster.local.", "SRV")
    assert len(srv.answer[0]) == 2


# A name that does not exist in the zone: NXDOMAIN from the authority, never relayed
def test_unknown_names_in_the_zone_are_nxdomain(server: tuple[str, int]) -> None:
    for name in ("nope.default.svc.cluster.local.", "kubernetes.prod.svc.cluster.local."):
        reply = ask(server, name)
        assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA, name


# Search path and ndots: the kubelet's resolv.conf, read by dnspython's stub resolver
def test_search_path_and_ndots_resolve_short_names(server: tuple[str, int], tmp_path: Path) -> None:
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    meta = {"name": "client", "namespace": "default"}
    obj = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    assert isinstance(obj, Pod)
    conf = pod_resolv(obj, "10.96.0.10", ResolvConf(("192.0.2.53",), (), ()))
    assert conf is not None
    text = render_resolv_conf(conf)
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in text
    assert "options ndots:5" in text and "nameserver 10.96.0.10" in text
    (tmp_path / "resolv.conf").write_text(text)
    res = dns.resolver.Resolver(filename=str(tmp_path / "resolv.conf"))
    assert res.nameservers == ["10.96.0.10"]
    res.nameservers = [server[0]]  # the live responder stands in for the cluster address
    res.port = server[1]
    res.lifetime = 5

    def resolve(name: str) -> list[str]:
        return sorted(a.to_text() for a in res.resolve(name, "A", search=True))

    assert res.ndots == 5
    assert resolve("kubernetes") == ["10.3.0.1"]  # <svc>: the namespace's search domain
    assert resolve("other.prod") == ["10.3.0.9"]  # <svc>.<ns>: svc.cluster.local
    assert resolve("other.prod.svc") == ["10.3.0.9"]  # <svc>.<ns>.svc: cluster.local
    assert resolve("my-pet.headless") == ["10.3.0.100"]
    # another namespace's Service needs its namespace: each search expansion is the cluster's
    # NXDOMAIN, then the bare name leaves the cluster (no upstream here: SERVFAIL)
    for suffix in ("default.svc.cluster.local.", "svc.cluster.local.", "cluster.local."):
        assert ask(server, f"other.{suffix}").rcode() == dns.rcode.NXDOMAIN, suffix
    with pytest.raises(dns.resolver.NoNameservers):
        resolve("other")
