"""Services: VIP range and node port choice, spec -> nft JSON, and ServiceProxy on a fake nft."""

from __future__ import annotations

import json
from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Any

import pytest

from dockyard.errors import Conflict, Internal, InvalidArgument, Unavailable
from dockyard.network import Ipam, MemoryIpamStore, PortBinding, PortSpec
from dockyard.network import services as svcmod
from dockyard.network._nft import Nft
from dockyard.network.services import (
    SERVICE_TABLE,
    ServiceBackend,
    ServicePort,
    ServiceProxy,
    ServiceSpec,
    allocate_node_port,
    chains_in,
    choose_service_cidr,
    ep_chain,
    service_commands,
    service_range,
    service_table_delete,
    svc_chain,
)

Json = dict[str, Any]
WEB = ServiceSpec(
    "default/web",
    "10.96.0.10",
    (ServicePort(80, 8080, "tcp", 30080),),
    (
        ServiceBackend("172.18.0.4"),
        ServiceBackend("172.18.0.2"),
        ServiceBackend("172.18.0.3"),
        ServiceBackend("172.18.0.9", ready=False),
    ),
)


def _adds(cmds: Sequence[Json], kind: str) -> list[Json]:
    return [c["add"][kind] for c in cmds if kind in c.get("add", {})]


def _rules(cmds: Sequence[Json], chain: str) -> list[Json]:
    return [r for r in _adds(cmds, "rule") if r["chain"] == chain]


def _elements(cmds: Sequence[Json], name: str) -> list[Any]:
    return [e for el in _adds(cmds, "element") if el["name"] == name for e in el["elem"]]


# --- planning --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("used", "expected"),
    [
        ([], "10.96.0.0/16"),
        (["10.96.5.0/24"], "10.97.0.0/16"),
        (["10.0.0.0/8"], "172.16.0.0/24"),
        (["0.0.0.0/0", "172.17.0.0/16"], "10.96.0.0/16"),  # a default route is ignored
    ],
)
def test_choose_service_cidr_avoids_routes_and_networks(used: list[str], expected: str) -> None:
    assert str(choose_service_cidr([IPv4Network(u) for u in used])) == expected


def test_choose_service_cidr_none_free() -> None:
    with pytest.raises(Unavailable, match="every candidate"):
        choose_service_cidr([IPv4Network("10.0.0.0/8")], [IPv4Network("10.96.0.0/16")])


def test_vips_come_from_ipam_over_the_range() -> None:
    rng = service_range("10.96.0.0/16")
    ipam = Ipam(MemoryIpamStore())
    assert ipam.allocate(rng, "default/web") == "10.96.0.2"  # .1 is kept back
    assert ipam.allocate(rng, "default/db", "10.96.0.50") == "10.96.0.50"
    with pytest.raises(Conflict):
        ipam.allocate(rng, "default/x", "10.96.0.50")


def test_allocate_node_port() -> None:
    assert allocate_node_port([]) == 30000
    assert allocate_node_port([30000, 30001]) == 30002
    assert allocate_node_port([30000], 31000) == 31000
    assert allocate_node_port([], 8080, (8000, 9000)) == 8080
    with pytest.raises(InvalidArgument, match=r"valid range\. The range of valid ports is 30000"):
        allocate_node_port([], 80)
    with pytest.raises(Conflict, match="31000: provided port is already allocated"):
        allocate_node_port([31000], 31000)
    with pytest.raises(Unavailable, match="no free port in 30000-30001"):
        allocate_node_port([30000, 30001], port_range=(30000, 30001))


# --- rules -----------------------------------------------------------------------------------
def test_static_part_hooks_dispatch_reject_and_masquerade() -> None:
    cmds = service_commands([])
    assert cmds[0] == {"add": {"table": {"family": "ip", "name": "dockyard-svc"}}}
    hooks = {c["name"]: (c.get("hook"), c.get("type"), c.get("prio")) for c in _adds(cmds, "chain")}
    assert hooks["prerouting"] == ("prerouting", "nat", -100)
    assert hooks["output"] == ("output", "nat", -100)
    assert hooks["postrouting"] == ("postrouting", "nat", 100)
    assert hooks["filter-prerouting"] == ("prerouting", "filter", -90)  # after DNAT
    assert hooks["filter-output"] == ("output", "filter", -90)
    assert hooks["guard"] == ("prerouting", "filter", -300)  # before DNAT (issue 19 item 1)
    (guard,) = _rules(cmds, "guard")
    assert guard["expr"][-1] == {"drop": None} and guard["expr"][0]["match"]["right"] == "lo"
    vmaps = [r["expr"][-1]["vmap"]["data"] for r in _rules(cmds, "services")]
    assert vmaps == ["@service-ips", "@service-nodeports"]
    assert _rules(cmds, "services")[1]["expr"][0]["match"]["right"] == "local"
    (masq,) = _rules(cmds, "postrouting")
    assert masq["expr"][-1] == {"masquerade": None}
    assert {"reject": {"type": "tcp reset"}} in _rules(cmds, "reject")[0]["expr"]
    unserved = _rules(cmds, "reject-unserved")
    assert [r["expr"][-1] for r in unserved] == [{"goto": {"target": "reject"}}] * 2
    assert all(r["expr"][0]["match"]["right"] == "new" for r in unserved)  # replies pass
    # the fixed chains are flushed and refilled in the same transaction (idempotent)
    flushed = [c["flush"]["chain"]["name"] for c in cmds if "chain" in c.get("flush", {})]
    assert {"guard", "prerouting", "output", "services", "reject"} <= set(flushed)


@pytest.mark.parametrize("balance", ["random", "inc"])
def test_ready_endpoints_spread_with_numgen(balance: str) -> None:
    cmds = service_commands([WEB], balance=balance)
    chain = svc_chain(WEB, WEB.ports[0])
    (rule,) = _rules(cmds, chain)
    vmap = rule["expr"][0]["vmap"]
    assert vmap["key"] == {"numgen": {"mode": balance, "mod": 3, "offset": 0}}
    targets = [v["goto"]["target"] for _, v in vmap["data"]["set"]]
    assert [k for k, _ in vmap["data"]["set"]] == [0, 1, 2]
    addrs = ["172.18.0.2", "172.18.0.3", "172.18.0.4"]  # sorted; the unready one left out
    assert targets == [ep_chain(WEB, WEB.ports[0], a, 8080) for a in addrs]
    for target, addr in zip(targets, addrs, strict=True):
        (dnat,) = _rules(cmds, target)
        assert dnat["expr"] == [
            {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
            {"dnat": {"addr": addr, "port": 8080}},
        ]
        assert dnat["comment"] == f"default/web {addr}:8080"
    goto = {"goto": {"target": chain}}
    assert _elements(cmds, "service-ips") == [[{"concat": ["10.96.0.10", "tcp", 80]}, goto]]
    assert _elements(cmds, "service-nodeports") == [[{"concat": ["tcp", 30080]}, goto]]
    assert _elements(cmds, "cluster-ips") == ["10.96.0.10"]
    assert _elements(cmds, "nodeports") == [{"concat": ["tcp", 30080]}]


def test_one_endpoint_is_a_plain_goto_and_named_target_ports_resolve_per_pod() -> None:
    svc = ServiceSpec(
        "ns/dns",
        "10.96.0.53",
        (ServicePort(53, 5353, "udp", name="dns"), ServicePort(54, 5454, "tcp")),
        (ServiceBackend("172.18.0.7", ports={"dns": 1053}),),
    )
    cmds = service_commands([svc])
    udp, tcp = svc.ports
    assert _rules(cmds, svc_chain(svc, udp))[0]["expr"] == [
        {"goto": {"target": ep_chain(svc, udp, "172.18.0.7", 1053)}}
    ]
    (dnat,) = _rules(cmds, ep_chain(svc, udp, "172.18.0.7", 1053))
    assert dnat["expr"][0]["match"]["right"] == "udp"
    assert dnat["expr"][1] == {"dnat": {"addr": "172.18.0.7", "port": 1053}}
    assert _rules(cmds, ep_chain(svc, tcp, "172.18.0.7", 5454))
    assert len(_elements(cmds, "service-ips")) == 2
    assert _elements(cmds, "cluster-ips") == ["10.96.0.53"]  # once


def test_no_ready_endpoint_is_rejected_not_mapped() -> None:
    svc = ServiceSpec(
        "default/web", "10.96.0.10", WEB.ports, (ServiceBackend("172.18.0.2", False),)
    )
    cmds = service_commands([svc])
    assert _elements(cmds, "service-ips") == []
    assert _elements(cmds, "service-nodeports") == []
    assert _elements(cmds, "cluster-ips") == ["10.96.0.10"]  # -> reject-unserved
    assert _elements(cmds, "nodeports") == [{"concat": ["tcp", 30080]}]
    assert not any(c["name"].startswith(("svc-", "ep-")) for c in _adds(cmds, "chain"))


def test_replacement_flushes_then_deletes_chains_that_are_gone() -> None:
    old = service_commands([WEB])
    existing = [c["name"] for c in _adds(old, "chain")]
    fewer = ServiceSpec(WEB.name, WEB.cluster_ip, WEB.ports, WEB.endpoints[:2])
    cmds = service_commands([fewer], existing)
    gone = ep_chain(WEB, WEB.ports[0], "172.18.0.3", 8080)
    deleted = [c["delete"]["chain"]["name"] for c in cmds if "delete" in c]
    assert deleted == [gone]
    flushes = [
        i for i, c in enumerate(cmds) if c.get("flush", {}).get("chain", {}).get("name") == gone
    ]
    assert flushes and flushes[-1] < len(cmds) - 1  # emptied before the deletion
    # the map is flushed and refilled: one transaction, no window without the service
    order = [next(iter(c)) + ":" + next(iter(next(iter(c.values())))) for c in cmds]
    assert order.index("flush:map") < order.index("add:element")
    (rule,) = _rules(cmds, svc_chain(WEB, WEB.ports[0]))
    assert rule["expr"][0]["vmap"]["key"]["numgen"]["mod"] == 2
    everything_gone = service_commands([], existing)
    all_deleted = {c["delete"]["chain"]["name"] for c in everything_gone if "delete" in c}
    assert all_deleted == {n for n in existing if n.startswith(("svc-", "ep-"))}


def test_names_are_stable_and_short() -> None:
    a = svc_chain(WEB, WEB.ports[0])
    assert a == svc_chain(WEB, ServicePort(80, 9999, "tcp"))  # same service port, same chain
    assert a != svc_chain(WEB, ServicePort(80, 8080, "udp"))
    assert len(ep_chain(WEB, WEB.ports[0], "255.255.255.255", 65535)) < 32


@pytest.mark.parametrize(
    ("services", "error", "match"),
    [
        ([ServiceSpec("a", "10.96.0.300")], InvalidArgument, "invalid cluster IP"),
        ([ServiceSpec("a", "fd00::1")], InvalidArgument, "IPv6"),
        ([ServiceSpec("a", "", (), (ServiceBackend("x"),))], InvalidArgument, "endpoint address"),
        ([ServiceSpec("a", "", (ServicePort(80, 80, "icmp"),))], InvalidArgument, "protocol"),
        ([ServiceSpec("a", "", (ServicePort(0, 80),))], InvalidArgument, "out of range"),
        ([ServiceSpec("a", "", (ServicePort(80, 80, node_port=70000),))], InvalidArgument,
         "out of range"),
        ([ServiceSpec("a"), ServiceSpec("a")], InvalidArgument, "given twice"),
        ([ServiceSpec("a", "10.96.0.1", (ServicePort(80, 80),)),
          ServiceSpec("b", "10.96.0.1", (ServicePort(80, 81),))], Conflict, "also service a"),
        ([ServiceSpec("a", "", (ServicePort(80, 80, node_port=30001),)),
          ServiceSpec("b", "", (ServicePort(81, 80, node_port=30001),))], Conflict,
         "node port 30001/tcp is also service a"),
    ],
)  # fmt: skip
def test_bad_specs_are_refused(
    services: list[ServiceSpec], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        service_commands(services)


def test_udp_and_tcp_may_share_a_vip_port() -> None:
    svc = ServiceSpec("a", "10.96.0.1", (ServicePort(53, 53, "udp"), ServicePort(53, 53, "tcp")))
    assert service_commands([svc])


def test_default_balance_is_round_robin() -> None:
    (rule,) = _rules(service_commands([WEB]), svc_chain(WEB, WEB.ports[0]))
    assert rule["expr"][0]["vmap"]["key"]["numgen"]["mode"] == "inc"
    assert ServiceProxy().balance == "inc"


def test_bad_balance() -> None:
    with pytest.raises(InvalidArgument, match="balance"):
        service_commands([], balance="rr")
    with pytest.raises(InvalidArgument, match="balance"):
        ServiceProxy(balance="rr")


def test_table_delete_is_idempotent_and_listing_parse() -> None:
    assert service_table_delete() == [
        {"add": {"table": {"family": "ip", "name": "dockyard-svc"}}},
        {"delete": {"table": {"family": "ip", "name": "dockyard-svc"}}},
    ]
    listing = {"nftables": [{"metainfo": {}}, {"table": {}}, {"chain": {"name": "svc-1"}},
                            {"rule": {"chain": "svc-1"}}]}  # fmt: skip
    assert chains_in(listing) == ["svc-1"]


# --- ServiceProxy against a fake nft ---------------------------------------------------------
class FakeNft(Nft):
    """Records transactions; answers listings from what was applied (chains only)."""

    def __init__(self, fail: str = "") -> None:
        super().__init__()
        self.batches: list[list[Json]] = []
        self.chains: list[str] = []
        self.fail = fail

    def _call(self, args: Sequence[str], stdin: str, what: str) -> str:
        if args[:2] == ["-j", "list"]:
            if not self.chains:
                raise Internal(f"{what}: nft: error: no such file or directory")
            return json.dumps({"nftables": [{"chain": {"name": c}} for c in self.chains]})
        if self.fail:
            raise Internal(f"{what}: nft: {self.fail}")
        batch: list[Json] = json.loads(stdin)["nftables"]
        self.batches.append(batch)
        names = [c["name"] for c in _adds(batch, "chain")]
        dels = {c["delete"]["chain"]["name"] for c in batch if "chain" in c.get("delete", {})}
        if any("table" in c.get("delete", {}) for c in batch):
            self.chains = []
        else:
            self.chains = [n for n in dict.fromkeys([*self.chains, *names]) if n not in dels]
        return ""


class FakeReservation:
    def __init__(self, port: int, log: list[str]) -> None:
        self.port, self.log = port, log
        self.binding = PortBinding("", port, port)

    def close(self) -> None:
        self.log.append(f"close {self.port}")


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Node port reservations without binding sockets on this machine."""
    log: list[str] = []
    taken = {31999}

    def reserve(specs: list[PortSpec], owner: str, netns: str | None = None) -> list[Any]:
        (spec,) = specs
        if spec.host_port in taken:
            raise Conflict(f"publish 0.0.0.0:{spec.host_port}/tcp for container {owner}: "
                           "port is already allocated")  # fmt: skip
        log.append(f"hold {spec.host_port}/{spec.proto} {owner}")
        return [FakeReservation(spec.host_port, log)]

    monkeypatch.setattr(svcmod, "reserve_ports", reserve)
    return log


def test_proxy_sync_is_one_transaction_and_holds_node_ports(held: list[str]) -> None:
    nft = FakeNft()
    proxy = ServiceProxy(nft=nft)
    proxy.sync([WEB])
    assert len(nft.batches) == 1
    assert held == ["hold 30080/tcp node port 30080 of service default/web"]
    assert proxy.services() == {"default/web": WEB}
    fewer = ServiceSpec(WEB.name, WEB.cluster_ip, WEB.ports, WEB.endpoints[:1])
    proxy.update(fewer)  # same node port: held once
    assert len(nft.batches) == 2 and len(held) == 1
    assert any("delete" in c for c in nft.batches[1])  # the two ep chains that went
    other = ServiceSpec("default/db", "10.96.0.11", (ServicePort(5432, 5432, node_port=30432),))
    proxy.update(other)
    assert set(proxy.services()) == {"default/web", "default/db"}
    proxy.delete("default/web")
    assert held[-1] == "close 30080"
    assert set(proxy.services()) == {"default/db"}
    proxy.close()
    assert held[-1] == "close 30432"
    assert nft.batches[-1] == service_table_delete()
    assert proxy.services() == {}


def test_proxy_node_port_taken_changes_nothing(held: list[str]) -> None:
    nft = FakeNft()
    proxy = ServiceProxy(nft=nft)
    a = ServiceSpec("a", "", (ServicePort(80, 80, node_port=30001),))
    b = ServiceSpec("b", "", (ServicePort(80, 80, node_port=31999),))
    with pytest.raises(Conflict, match="31999"):
        proxy.sync([a, b])
    assert nft.batches == []
    assert held == ["hold 30001/tcp node port 30001 of service a", "close 30001"]
    assert proxy.services() == {}


def test_proxy_nft_failure_releases_new_node_ports(held: list[str]) -> None:
    proxy = ServiceProxy(nft=FakeNft(fail="error: could not process rule"))
    with pytest.raises(Internal, match="sync service rules"):
        proxy.sync([WEB])
    assert held[-1] == "close 30080"
    assert proxy.services() == {}


def test_proxy_release_keeps_rules(held: list[str]) -> None:
    nft = FakeNft()
    proxy = ServiceProxy(nft=nft)
    proxy.sync([WEB])
    proxy.release()
    assert held[-1] == "close 30080" and len(nft.batches) == 1


def test_table_name() -> None:
    assert SERVICE_TABLE == ("ip", "dockyard-svc")


def test_proxy_lists_the_table_once_then_knows_its_chains(held: list[str]) -> None:
    nft = FakeNft()
    lists: list[str] = []
    call = nft._call

    def counting(args: Sequence[str], stdin: str, what: str) -> str:
        if args[:2] == ["-j", "list"]:
            lists.append(what)
        return call(args, stdin, what)

    nft._call = counting  # type: ignore[method-assign]
    proxy = ServiceProxy(nft=nft)
    proxy.sync([WEB])
    fewer = ServiceSpec(WEB.name, WEB.cluster_ip, WEB.ports, WEB.endpoints[:1])
    proxy.sync([fewer])
    assert len(lists) == 1 and len(nft.batches) == 2
    assert any("delete" in c for c in nft.batches[1])  # the ep chain that went, from memory
    # a chain deleted behind the proxy's back: the transaction fails, the table is listed
    # again and the sync made once more
    nft.chains = [c for c in nft.chains if not c.startswith("svc-")]

    def stale(args: Sequence[str], stdin: str, what: str) -> str:
        if args[:2] != ["-j", "list"] and '"svc-' in stdin and "delete" in stdin:
            known = {c["delete"]["chain"]["name"] for c in json.loads(stdin)["nftables"]
                     if "chain" in c.get("delete", {})}  # fmt: skip
            if known - set(nft.chains):
                raise Internal(f"{what}: nft: error: no such file or directory")
        return counting(args, stdin, what)

    nft._call = stale  # type: ignore[method-assign]
    proxy.sync([])
    assert len(lists) == 2  # listed again after the failed transaction
    assert proxy.services() == {}
    assert not [c for c in nft.chains if c.startswith(("svc-", "ep-"))]
