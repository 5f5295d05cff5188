"""The Services and NetworkPolicy controllers: pure planning and the controller on fakes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dockyard.errors import Conflict, Unavailable
from dockyard.network import Ipam
from dockyard.network._ipam import MemoryIpamStore
from dockyard.network.netpol_nft import PodPolicy, PolicyPeer, PolicyPort, PolicyRule
from dockyard.network.services import ServiceBackend, ServicePort, ServiceSpec
from dockyard.orchestrator.backend import ContainerStatus, ObservedPod
from dockyard.orchestrator.controllers.networkpolicy import NetworkPolicyController, pod_policies
from dockyard.orchestrator.controllers.services import (
    ServicesController,
    dns_names,
    endpoints_of,
    proxy_specs,
    service_cidr,
    target_number,
)
from dockyard.orchestrator.loader import from_dict
from dockyard.orchestrator.objects import NetworkPolicy, Pod, Service
from dockyard.orchestrator.store import MemoryObjectStore


def pod(
    name: str,
    ip: str | None,
    labels: dict[str, str],
    *,
    ready: bool = True,
    terminating: bool = False,
    ns: str = "default",
    port: int = 8080,
) -> ObservedPod:
    obj = from_dict({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "ports": [{"containerPort": port, "name": "http"}]}]},
    })  # fmt: skip
    assert isinstance(obj, Pod)
    return ObservedPod(obj, "Running", (ContainerStatus("c", "running", ready=ready),), ip,
                       terminating=terminating)  # fmt: skip


def service(name: str = "web", *, type_: str = "ClusterIP", ports: Any = None,
            selector: Any = None, cluster_ip: str | None = None) -> Service:  # fmt: skip
    spec: dict[str, Any] = {
        "type": type_,
        "selector": {"app": "web"} if selector is None else selector,
        "ports": ports or [{"name": "http", "port": 80, "targetPort": "http"}],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    obj = from_dict({"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": name, "namespace": "default"}, "spec": spec})  # fmt: skip
    assert isinstance(obj, Service)
    return obj


WEB = {"app": "web"}


# --- pure ---------------------------------------------------------------------------


def test_endpoints_are_the_ready_selected_pods_with_an_address() -> None:
    pods = [
        pod("a", "10.0.0.2", WEB),
        pod("b", "10.0.0.3", WEB, ready=False),
        pod("c", "10.0.0.4", WEB, terminating=True),
        pod("d", None, WEB),
        pod("e", "10.0.0.5", {"app": "db"}),
        pod("f", "10.0.0.6", WEB, ns="other"),
    ]
    assert [p.name for p in endpoints_of(service(), pods)] == ["a"]
    assert endpoints_of(service(selector={}), pods) == []


@pytest.mark.parametrize(
    ("target", "expected"), [(None, 80), (9000, 9000), ("9001", 9001), ("http", 8080), ("x", None)]
)
def test_target_ports_numbers_and_names(target: Any, expected: int | None) -> None:
    assert target_number(pod("a", "10.0.0.2", WEB).pod, target, 80, "TCP") == expected


def test_proxy_specs_resolve_named_ports_per_pod_and_node_ports() -> None:
    svc = service(type_="NodePort", ports=[{"name": "http", "port": 80, "targetPort": "http",
                                            "nodePort": 30080}])  # fmt: skip
    pods = [pod("a", "10.0.0.3", WEB, port=8080), pod("b", "10.0.0.2", WEB, port=9090)]
    (spec,) = proxy_specs(svc, "10.96.0.2", pods)
    assert spec == ServiceSpec(
        "default/web:http/tcp",
        "10.96.0.2",
        (ServicePort(80, 8080, "tcp", 30080, "t"),),
        (
            ServiceBackend("10.0.0.3", True, {"t": 8080}),
            ServiceBackend("10.0.0.2", True, {"t": 9090}),
        ),
    )
    # a ClusterIP Service never gets node ports; a headless one nothing at all
    assert proxy_specs(service(), "10.96.0.2", pods)[0].ports[0].node_port == 0
    assert proxy_specs(service(cluster_ip="None"), "", pods) == []


def test_dns_names() -> None:
    assert dns_names(service()) == [
        "web", "web.default", "web.default.svc", "web.default.svc.cluster.local"
    ]  # fmt: skip


# --- the controller on fakes -----------------------------------------------------------


class FakeProxy:
    def __init__(self) -> None:
        self.calls: list[list[ServiceSpec]] = []

    def sync(self, services: Any) -> None:
        self.calls.append(list(services))

    def release(self) -> None:
        pass


class Backend:
    def __init__(self, pods: list[ObservedPod]) -> None:
        self.items = pods

    async def list_pods(self, namespace: str | None = None, selector: Any = None) -> list[Any]:
        return [p for p in self.items if namespace is None or p.namespace == namespace]

    def pod_netns(self, namespace: str, name: str) -> str | None:
        return None


def make(pods: list[ObservedPod]) -> tuple[ServicesController, MemoryObjectStore, FakeProxy,
                                            Backend]:  # fmt: skip
    store = MemoryObjectStore()
    proxy = FakeProxy()
    backend = Backend(pods)
    ctrl = ServicesController(store, backend, proxy, cidr="10.96.0.0/16",
                              ipam=Ipam(MemoryIpamStore()), drain_seconds=0)  # fmt: skip
    return ctrl, store, proxy, backend


def test_allocates_vip_and_node_ports_and_keeps_them_on_reapply() -> None:
    ctrl, store, proxy, _ = make([pod("a", "10.0.0.2", WEB)])
    store.create(service(type_="NodePort"))
    store.create(service("fixed", type_="NodePort", ports=[{"port": 81, "nodePort": 31000}]))
    assert asyncio.run(ctrl.reconcile())
    web = store.get(Service, "default", "web")
    # listed by name: "fixed" comes first
    assert web.spec.cluster_ip == "10.96.0.3" and web.spec.cluster_ips == ("10.96.0.3",)
    assert web.spec.ports[0].node_port == 30000
    assert web.status == {"loadBalancer": {}}
    fixed = store.get(Service, "default", "fixed")
    assert fixed.spec.cluster_ip == "10.96.0.2" and fixed.spec.ports[0].node_port == 31000
    assert len(proxy.calls) == 1
    # nothing changed: no sync
    assert not asyncio.run(ctrl.reconcile())
    # re-applied without the allocations: the same ones come back, the kernel is untouched
    store.update(service(type_="NodePort"))
    assert not asyncio.run(ctrl.reconcile())
    web = store.get(Service, "default", "web")
    assert (web.spec.cluster_ip, web.spec.ports[0].node_port) == ("10.96.0.3", 30000)
    # a taken node port is refused, the others keep being served
    store.create(service("dup", type_="NodePort", ports=[{"port": 82, "nodePort": 31000}]))
    asyncio.run(ctrl.reconcile())
    assert "31000" in ctrl.errors["service:default/dup"]
    with pytest.raises(Conflict):
        ctrl._node_ports_of(store.get(Service, "default", "dup"), "service:default/dup")


def test_deleting_a_service_releases_its_vip() -> None:
    ctrl, store, proxy, _ = make([pod("a", "10.0.0.2", WEB)])
    store.create(service())
    asyncio.run(ctrl.reconcile())
    store.delete(Service, "default", "web")
    asyncio.run(ctrl.reconcile())
    assert proxy.calls[-1] == []
    assert ctrl.ipam.store.allocations(ctrl.range.id) == {}


def test_readiness_changes_and_drain_resync() -> None:
    a, b = pod("a", "10.0.0.2", WEB), pod("b", "10.0.0.3", WEB, ready=False)
    ctrl, store, proxy, backend = make([a, b])
    store.create(service())
    asyncio.run(ctrl.reconcile())
    assert ctrl.endpoint_addresses() == {"10.0.0.2"}
    backend.items = [a, pod("b", "10.0.0.3", WEB)]
    asyncio.run(ctrl.reconcile())
    assert ctrl.endpoint_addresses() == {"10.0.0.2", "10.0.0.3"}
    # drain: the pod leaves the kernel's endpoints before the backend stops it
    asyncio.run(ctrl.drain("default", "a"))
    assert ctrl.endpoint_addresses() == {"10.0.0.3"}
    assert len(proxy.calls) == 3


def test_endpoint_changes_and_drains_are_events() -> None:
    a, b = pod("a", "10.0.0.2", WEB), pod("b", "10.0.0.3", WEB)
    ctrl, store, _, _ = make([a, b])
    seen: list[tuple[str, str, dict[str, str]]] = []
    ctrl.on_event = lambda action, name, attrs: seen.append((action, name, dict(attrs)))
    store.create(service())
    asyncio.run(ctrl.reconcile())
    assert seen == [("endpoints", "default/web:http/tcp", {"endpoints": "10.0.0.2,10.0.0.3"})]
    asyncio.run(ctrl.reconcile())  # nothing changed: no event
    assert len(seen) == 1
    asyncio.run(ctrl.drain("default", "a"))
    assert seen[1:] == [
        ("endpoints", "default/web:http/tcp", {"endpoints": "10.0.0.3"}),
        ("drained", "a", {"namespace": "default", "address": "10.0.0.2", "open": "-1"}),
    ]  # ("-1": no network namespace to count connections in)


def test_a_failing_reconcile_still_drains_the_pod() -> None:
    """A reconcile that fails (here: the store) must not leave a pod about to be stopped in
    the kernel's maps: its address leaves the last synced state."""
    a, b = pod("a", "10.0.0.2", WEB), pod("b", "10.0.0.3", WEB)
    ctrl, store, proxy, _ = make([a, b])
    store.create(service())
    asyncio.run(ctrl.reconcile())

    def broken(*args: Any) -> Any:
        raise Unavailable("the store is gone")

    store.list = broken  # type: ignore[method-assign,assignment]
    asyncio.run(ctrl.drain("default", "a"))
    assert ctrl.endpoint_addresses() == {"10.0.0.3"}
    assert [e.address for e in proxy.calls[-1][0].endpoints] == ["10.0.0.3"]


def test_dns_names_are_published_and_withdrawn() -> None:
    class Responder:
        def __init__(self) -> None:
            self.records: dict[str, list[str]] = {}

        def add(self, name: str, addr: str) -> None:
            self.records.setdefault(name, []).append(addr)

        def remove(self, name: str, addr: str) -> None:
            self.records[name] = [a for a in self.records.get(name, []) if a != addr]

        def lookup(self, name: str) -> list[str] | None:
            return self.records.get(name)

    r = Responder()
    ctrl, store, _, _ = make([])
    ctrl.dns = lambda: [r]
    store.create(service())
    asyncio.run(ctrl.reconcile())
    assert r.records["web.default.svc.cluster.local"] == ["10.96.0.2"]
    store.delete(Service, "default", "web")
    asyncio.run(ctrl.reconcile())
    assert r.records["web"] == []


def test_service_cidr_is_chosen_once_and_stored(tmp_path: Any) -> None:
    from ipaddress import IPv4Network

    from dockyard.orchestrator.sqlite_store import SqliteObjectStore
    from dockyard.store.db import StateDB

    db = StateDB(tmp_path / "state.db")
    first = service_cidr(SqliteObjectStore(db), lambda: [IPv4Network("10.96.0.0/12")])
    assert first == "10.112.0.0/16"
    # kept across daemon restarts (a new store on the same database): never chosen again
    assert service_cidr(SqliteObjectStore(db), lambda: []) == first


def test_a_service_cidr_stored_by_an_older_daemon_is_read_as_is(tmp_path: Any) -> None:
    """Before the settings API the controller wrote the row itself: same table, same key."""
    from dockyard.orchestrator.sqlite_store import SqliteObjectStore
    from dockyard.store.db import StateDB

    db = StateDB(tmp_path / "state.db")
    with db.transaction(write=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orchestrator_meta "
                     "(key TEXT PRIMARY KEY, value TEXT NOT NULL)")  # fmt: skip
        conn.execute("INSERT INTO orchestrator_meta VALUES ('service_cidr', '10.99.0.0/16')")
    chosen: list[str] = []
    store = SqliteObjectStore(db)
    assert service_cidr(store, lambda: chosen.append("x") or []) == "10.99.0.0/16"
    assert chosen == []


def test_the_store_s_own_rows_are_no_settings(tmp_path: Any) -> None:
    from dockyard.errors import Internal
    from dockyard.orchestrator.sqlite_store import SqliteObjectStore
    from dockyard.store.db import StateDB

    store = SqliteObjectStore(StateDB(tmp_path / "state.db"))
    with pytest.raises(Internal):
        store.setting("resource_version", lambda: "0")


# --- NetworkPolicy ----------------------------------------------------------------------


def policy(spec: dict[str, Any], name: str = "p") -> NetworkPolicy:
    obj = from_dict({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": name, "namespace": "default"}, "spec": spec})  # fmt: skip
    assert isinstance(obj, NetworkPolicy)
    return obj


PODS = [
    pod("web", "10.0.0.2", {"app": "web"}),
    pod("client", "10.0.0.3", {"role": "client"}),
    pod("other", "10.0.0.4", {"role": "other"}),
    pod("far", "10.0.0.5", {"role": "client"}, ns="far"),
]


def test_ingress_from_labelled_pods_on_a_named_port() -> None:
    p = policy({"podSelector": {"matchLabels": {"app": "web"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                             "ports": [{"port": "http"}]}]})  # fmt: skip
    assert pod_policies([p], PODS) == [
        PodPolicy("10.0.0.2", "default/web",
                  ingress=(PolicyRule((PolicyPeer("10.0.0.3"),), (PolicyPort("tcp", 8080),)),))
    ]  # fmt: skip


def test_namespace_selector_ipblock_empty_and_deny_all() -> None:
    p = policy({"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"namespaceSelector": {}},
                                      {"ipBlock": {"cidr": "192.168.0.0/16",
                                                   "except": ["192.168.1.0/24"]}}]}],
                "egress": [{}]})  # fmt: skip
    out = {x.name: x for x in pod_policies([p], PODS)}
    assert set(out) == {"default/web", "default/client", "default/other"}  # not "far"
    rule = out["default/web"].ingress[0]  # type: ignore[index]
    assert rule.peers == (
        PolicyPeer("10.0.0.2"), PolicyPeer("10.0.0.3"), PolicyPeer("10.0.0.4"),
        PolicyPeer("10.0.0.5"), PolicyPeer("192.168.0.0/16", ("192.168.1.0/24",)),
    )  # fmt: skip
    assert out["default/web"].egress == (PolicyRule(None, ()),)
    deny = policy({"podSelector": {}, "policyTypes": ["Ingress"]})
    assert pod_policies([deny], PODS[:1]) == [PodPolicy("10.0.0.2", "default/web", ingress=())]
    assert pod_policies([], PODS) == []


def test_netpol_controller_syncs_on_change_only() -> None:
    class Enforcer:
        def __init__(self) -> None:
            self.calls: list[list[PodPolicy]] = []

        def sync(self, pods: Any) -> None:
            self.calls.append(list(pods))

    store = MemoryObjectStore()
    enf = Enforcer()
    ctrl = NetworkPolicyController(store, Backend(list(PODS)), enf)
    assert not asyncio.run(ctrl.reconcile())
    store.create(policy({"podSelector": {"matchLabels": {"app": "web"}}}))
    assert asyncio.run(ctrl.reconcile())
    assert not asyncio.run(ctrl.reconcile())
    store.delete(NetworkPolicy, "default", "p")
    assert asyncio.run(ctrl.reconcile())
    assert enf.calls == [[PodPolicy("10.0.0.2", "default/web", ingress=())], []]


# --- wiring through the engine port ------------------------------------------------------


class FakeNetworking:
    """A ServiceNetworking (orchestrator/engine_port.py) on plain values."""

    def __init__(self, networking: bool = True) -> None:
        self.networking = networking
        self.ipam = Ipam(MemoryIpamStore())
        self.asked: list[str] = []

    def used_subnets(self) -> list[Any]:
        from ipaddress import IPv4Network

        self.asked.append("used_subnets")
        return [IPv4Network("10.96.0.0/16")]

    def service_ipam(self) -> Ipam:
        return self.ipam

    def dns_responders(self) -> list[Any]:
        return []

    def bridge_gateway(self) -> str:
        return "10.88.0.1"

    def gateways(self) -> list[str]:
        return ["10.88.0.1"]


def test_attach_services_wires_the_engine_port_and_the_stored_range(tmp_path: Any) -> None:
    from dockyard.orchestrator.controllers.networkpolicy import attach_netpol
    from dockyard.orchestrator.controllers.services import attach_services
    from dockyard.orchestrator.sqlite_store import SqliteObjectStore
    from dockyard.store.db import StateDB

    store = SqliteObjectStore(StateDB(tmp_path / "state.db"))
    backend = Backend([])
    assert attach_services(FakeNetworking(False), store, backend) is None
    assert attach_netpol(FakeNetworking(False), store, backend) is None
    net = FakeNetworking()
    ctrl = attach_services(net, store, backend)
    assert ctrl is not None and ctrl.ipam is net.ipam
    assert ctrl.cidr == "10.97.0.0/16"  # the first candidate outside the used subnets
    again = attach_services(net, store, backend)  # a daemon restart: the range is kept
    assert again is not None and again.cidr == ctrl.cidr and net.asked == ["used_subnets"]
