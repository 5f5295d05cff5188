"""Cluster DNS: the records of Services and pods, a pod's resolv.conf, and the responder
serving them (authoritative for cluster.local, SRV) — pure, with hand-written packets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network import DnsResponder, ResolvConf
from dockyard.network._dnswire import (
    NOERROR,
    NXDOMAIN,
    QTYPE_A,
    QTYPE_AAAA,
    QTYPE_SRV,
    Srv,
    build_query,
    parse_answers,
    parse_srv_answers,
)
from dockyard.orchestrator.backend import ContainerStatus, ObservedPod
from dockyard.orchestrator.clusterdns import (
    cluster_records,
    dashed,
    pod_resolv,
    search_path,
    service_names,
)
from dockyard.orchestrator.enginepods import container_options
from dockyard.orchestrator.loader import from_dict
from dockyard.orchestrator.objects import Pod, Service
from dockyard.orchestrator.validation import validate

D = "cluster.local"
HOST = ResolvConf(("192.0.2.53",), ("corp.example",), ("edns0",))


def pod(name: str, ip: str | None, *, ready: bool = True, ns: str = "default",
        terminating: bool = False, spec: Any = None) -> ObservedPod:  # fmt: skip
    obj = from_dict({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}},
        "spec": spec or {"containers": [{"name": "c", "image": "busybox",
                                         "ports": [{"containerPort": 8080, "name": "http"}]}]},
    })  # fmt: skip
    assert isinstance(obj, Pod)
    return ObservedPod(obj, "Running", (ContainerStatus("c", "running", ready=ready),), ip,
                       terminating=terminating)  # fmt: skip


def service(name: str = "web", *, ns: str = "default", cluster_ip: str | None = "10.96.0.10",
            ports: Any = None, type_: str = "ClusterIP") -> Service:  # fmt: skip
    spec: dict[str, Any] = {
        "type": type_,
        "selector": {"app": "web"},
        "ports": ports or [{"name": "http", "port": 80, "targetPort": "http"}],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    if type_ == "ExternalName":
        spec["externalName"] = "example.org"
    obj = from_dict({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": ns}, "spec": spec})  # fmt: skip
    assert isinstance(obj, Service)
    return obj


def k8s_pod(spec: dict[str, Any], ns: str = "team") -> Pod:
    body = {"containers": [{"name": "c", "image": "busybox"}], **spec}
    meta = {"name": "p", "namespace": ns}
    obj = from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": body})
    assert isinstance(obj, Pod)
    return obj


# --- records ----------------------------------------------------------------------------


def test_service_names_fqdn_first_short_name_only_in_default() -> None:
    assert service_names("web", "default") == [
        "web.default.svc.cluster.local", "web.default.svc", "web.default", "web"]  # fmt: skip
    assert "api" not in service_names("api", "team")
    assert dashed("10.1.2.3") == "10-1-2-3"
    assert search_path("team") == ["team.svc.cluster.local", "svc.cluster.local", "cluster.local"]


def test_cluster_ip_service_names_resolve_to_the_vip_and_named_ports_get_srv() -> None:
    a, srv = cluster_records([service()], [pod("w1", "10.88.0.2")])
    for name in ("web", "web.default", "web.default.svc", "web.default.svc.cluster.local"):
        assert a[name] == ["10.96.0.10"], name
    assert srv["_http._tcp.web.default.svc.cluster.local"] == [
        Srv(0, 100, 80, "web.default.svc.cluster.local")]  # fmt: skip
    assert a["10-88-0-2.default.pod.cluster.local"] == ["10.88.0.2"]


def test_headless_service_resolves_to_ready_pod_ips_only() -> None:
    pods = [pod("w1", "10.88.0.3"), pod("w2", "10.88.0.2"), pod("w3", "10.88.0.4", ready=False),
            pod("w4", "10.88.0.5", terminating=True), pod("w5", None)]  # fmt: skip
    a, srv = cluster_records([service("db", cluster_ip="None")], pods)
    assert a["db.default.svc.cluster.local"] == ["10.88.0.2", "10.88.0.3"]
    assert a["10-88-0-2.db.default.svc.cluster.local"] == ["10.88.0.2"]
    assert "10-88-0-4.db.default.svc.cluster.local" not in a
    # SRV: one per endpoint, the target port (the named container port), its own A record
    assert srv["_http._tcp.db.default.svc.cluster.local"] == [
        Srv(0, 100, 8080, "10-88-0-2.db.default.svc.cluster.local"),
        Srv(0, 100, 8080, "10-88-0-3.db.default.svc.cluster.local")]  # fmt: skip


def test_headless_without_ready_pods_and_external_name_have_no_record() -> None:
    a, srv = cluster_records(
        [service("db", cluster_ip="None"), service("ext", cluster_ip=None, type_="ExternalName")],
        [pod("w3", "10.88.0.4", ready=False)],
    )
    assert not any(n.startswith(("db", "ext")) for n in a) and srv == {}


def test_unnamed_port_no_srv_and_other_namespace_no_short_name() -> None:
    a, srv = cluster_records([service("api", ns="team", ports=[{"port": 53, "protocol": "UDP"}])],
                             [])  # fmt: skip
    assert a["api.team.svc.cluster.local"] == ["10.96.0.10"] and "api" not in a
    assert srv == {}


# --- the pod's resolv.conf ----------------------------------------------------------------


def test_cluster_first_is_the_default() -> None:
    got = pod_resolv(k8s_pod({}), "172.17.0.1", HOST)
    search = (*search_path("team"), "corp.example")  # the host's search domains follow
    assert got == ResolvConf(("172.17.0.1",), search, ("ndots:5",))


def test_cluster_first_without_cluster_dns_or_with_host_network_is_the_hosts() -> None:
    assert pod_resolv(k8s_pod({}), "", HOST) is None
    assert pod_resolv(k8s_pod({"hostNetwork": True}), "172.17.0.1", HOST) is None
    got = pod_resolv(k8s_pod({"hostNetwork": True, "dnsPolicy": "ClusterFirstWithHostNet"}),
                     "172.17.0.1", HOST)  # fmt: skip
    assert got is not None and got.nameservers == ("172.17.0.1",)


def test_default_is_the_hosts_and_dns_config_merges() -> None:
    assert pod_resolv(k8s_pod({"dnsPolicy": "Default"}), "172.17.0.1", HOST) is None
    cfg = {"nameservers": ["192.0.2.9"], "searches": ["x.example"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}  # fmt: skip
    got = pod_resolv(k8s_pod({"dnsPolicy": "Default", "dnsConfig": cfg}), "172.17.0.1", HOST)
    assert got == ResolvConf(("192.0.2.53", "192.0.2.9"), ("corp.example", "x.example"),
                             ("edns0", "ndots:2", "rotate"))  # fmt: skip
    got = pod_resolv(k8s_pod({"dnsConfig": cfg}), "172.17.0.1", HOST)
    assert got == ResolvConf(("172.17.0.1", "192.0.2.9"),
                             (*search_path("team"), "corp.example", "x.example"),
                             ("ndots:2", "rotate"))  # fmt: skip


def test_none_is_dns_config_alone() -> None:
    cfg = {"nameservers": ["192.0.2.9"], "options": [{"name": "ndots", "value": "1"}]}
    got = pod_resolv(k8s_pod({"dnsPolicy": "None", "dnsConfig": cfg}), "172.17.0.1", HOST)
    assert got == ResolvConf(("192.0.2.9",), (), ("ndots:1",))


def test_container_options_carry_the_resolv_conf_to_the_first_container_only() -> None:
    p = k8s_pod({"containers": [{"name": "a", "image": "busybox"},
                                {"name": "b", "image": "busybox"}]})  # fmt: skip
    conf = pod_resolv(p, "172.17.0.1", HOST)
    _, first = container_options(p, 0, resolv=conf)
    assert first.dns == ["172.17.0.1"] and first.dns_options == ["ndots:5"]
    assert first.dns_search == [*search_path("team"), "corp.example"]
    _, second = container_options(p, 1, first_id="abc", resolv=conf)
    assert second.dns == [] and second.dns_search == []  # it shares the first's file
    none = pod_resolv(k8s_pod({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["192.0.2.9"]}}),
                      "", HOST)  # fmt: skip
    _, opts = container_options(k8s_pod({}), 0, resolv=none)
    assert opts.dns_search == ["."]  # no search line at all


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"dnsPolicy": "None"}, "spec.dnsConfig: Required value"),
        ({"dnsPolicy": "None", "dnsConfig": {"searches": ["a"]}},
         "spec.dnsConfig.nameservers: Required value"),
        ({"dnsConfig": {"nameservers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]}},
         "must not have more than 3 nameservers"),
        ({"dnsConfig": {"nameservers": ["dns.example"]}}, "spec.dnsConfig.nameservers[0]"),
        ({"dnsConfig": {"options": [{"value": "1"}]}}, "spec.dnsConfig.options[0].name"),
        ({"dnsConfig": {"searches": ["a b"]}}, "spec.dnsConfig.searches[0]"),
    ],
)  # fmt: skip
def test_dns_config_is_validated(spec: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(error)):
        k8s_pod(spec)


def test_valid_dns_config_passes() -> None:
    spec = {
        "dnsPolicy": "None",
        "dnsConfig": {
            "nameservers": ["192.0.2.9"],
            "searches": ["a.b"],
            "options": [{"name": "ndots", "value": "2"}],
        },
    }
    assert [str(e) for e in validate(k8s_pod(spec))] == []


# --- the responder serving them -------------------------------------------------------------


def responder() -> DnsResponder:
    r = DnsResponder("127.0.0.1", zones=("cluster.local",))
    a, srv = cluster_records([service(), service("db", cluster_ip="None")],
                             [pod("w1", "10.88.0.2")])  # fmt: skip
    r.set_records(a)
    r.set_srv(srv)
    return r


def ask(r: DnsResponder, name: str, qtype: int = QTYPE_A) -> bytes:
    reply = r.answer(build_query(7, name, qtype))
    assert reply is not None, name
    return reply


def test_responder_answers_a_srv_and_is_the_authority_of_the_zone() -> None:
    r = responder()
    assert parse_answers(ask(r, "WEB.default.svc.cluster.local.")) == (NOERROR, ["10.96.0.10"])
    assert parse_answers(ask(r, "db.default.svc.cluster.local")) == (NOERROR, ["10.88.0.2"])
    assert parse_answers(ask(r, "web", QTYPE_AAAA)) == (NOERROR, [])
    assert parse_srv_answers(ask(r, "_http._tcp.web.default.svc.cluster.local", QTYPE_SRV)) == (
        NOERROR, [Srv(0, 100, 80, "web.default.svc.cluster.local")])  # fmt: skip
    # the SRV name exists: an A query for it is an empty NOERROR, not NXDOMAIN
    assert parse_answers(ask(r, "_http._tcp.web.default.svc.cluster.local")) == (NOERROR, [])
    # search-path misses are answered at once, never relayed
    assert parse_answers(ask(r, "example.com.default.svc.cluster.local")) == (NXDOMAIN, [])
    assert parse_answers(ask(r, "nope.default.svc.cluster.local")) == (NXDOMAIN, [])
    # outside the zone: relayed (None), as before
    assert r.answer(build_query(7, "example.com")) is None
    assert r.answer(build_query(7, "notcluster.local")) is None


def test_without_zones_unknown_cluster_names_are_relayed() -> None:
    r = DnsResponder("127.0.0.1")  # a network's responder: no zone of its own
    assert r.answer(build_query(7, "nope.default.svc.cluster.local")) is None


def test_client_upstreams_never_name_the_responder_itself() -> None:
    r = DnsResponder("10.0.0.1")
    r.set_client_upstreams("10.0.0.5", [("10.0.0.1", 53)])
    assert "10.0.0.5" not in r._client_upstreams  # only itself: the defaults serve it


def test_headless_endpoint_named_by_hostname_and_subdomain() -> None:
    spec = {
        "hostname": "db-0",
        "subdomain": "db",
        "containers": [
            {"name": "c", "image": "busybox", "ports": [{"containerPort": 8080, "name": "http"}]}
        ],
    }
    other = {**spec, "subdomain": "elsewhere"}
    a, srv = cluster_records(
        [service("db", cluster_ip="None")],
        [pod("p0", "10.88.0.7", spec=spec), pod("p1", "10.88.0.8", spec=other)],
    )
    assert a["db-0.db.default.svc.cluster.local"] == ["10.88.0.7"]
    assert a["10-88-0-8.db.default.svc.cluster.local"] == ["10.88.0.8"]
    assert "10-88-0-7.db.default.svc.cluster.local" not in a
    assert [s.target for s in srv["_http._tcp.db.default.svc.cluster.local"]] == [
        "10-88-0-8.db.default.svc.cluster.local",
        "db-0.db.default.svc.cluster.local",
    ]
