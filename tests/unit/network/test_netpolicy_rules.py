"""NetworkPolicy: plain per-pod allow lists -> nft JSON, and the enforcer on a fake nft."""

from __future__ import annotations

import json
from collections.abc import Sequence
from ipaddress import IPv4Network
from typing import Any

import pytest

from dockyard.errors import Internal, InvalidArgument
from dockyard.network._nft import Nft
from dockyard.network.netpol_nft import (
    BRIDGE_POLICY_TABLE,
    POLICY_TABLE,
    NetworkPolicyEnforcer,
    PodPolicy,
    PolicyPeer,
    PolicyPort,
    PolicyRule,
    peer_networks,
    pod_chain,
    policy_commands,
    policy_table_delete,
)

Json = dict[str, Any]
DB = "172.18.0.5"
CLIENT = "172.18.0.6"


def _adds(cmds: Sequence[Json], kind: str) -> list[Json]:
    return [c["add"][kind] for c in cmds if kind in c.get("add", {})]


def _rules(cmds: Sequence[Json], chain: str) -> list[Json]:
    return [r for r in _adds(cmds, "rule") if r["chain"] == chain]


def _elements(cmds: Sequence[Json], name: str) -> list[Any]:
    return [e for el in _adds(cmds, "element") if el["name"] == name for e in el["elem"]]


def _m(left: Json, right: object, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


SADDR = {"payload": {"protocol": "ip", "field": "saddr"}}
DADDR = {"payload": {"protocol": "ip", "field": "daddr"}}
L4 = {"meta": {"key": "l4proto"}}
DPORT = {"payload": {"protocol": "th", "field": "dport"}}


# --- peers -----------------------------------------------------------------------------------
def test_ip_block_except_is_cut_out() -> None:
    # NETPOL.md's worked example: 172.17.0.0/16 except 172.17.1.0/24
    nets = peer_networks([PolicyPeer("172.17.0.0/16", ("172.17.1.0/24",))])
    covered = {str(a) for n in nets for a in (n.network_address, n.broadcast_address)}
    assert IPv4Network("172.17.0.0/24") in nets
    assert not any(n.overlaps(IPv4Network("172.17.1.0/24")) for n in nets)
    assert sum(n.num_addresses for n in nets) == 65536 - 256
    assert "172.17.255.255" in covered


def test_peers_are_collapsed_and_pod_addresses_are_host_routes() -> None:
    nets = peer_networks([PolicyPeer("10.0.0.0/25"), PolicyPeer("10.0.0.128/25"),
                          PolicyPeer("10.0.0.7"), PolicyPeer("10.1.0.1/32")])  # fmt: skip
    assert [str(n) for n in nets] == ["10.0.0.0/24", "10.1.0.1/32"]
    two_excepts = peer_networks([PolicyPeer("10.0.0.0/24", ("10.0.0.0/25", "10.0.0.128/26"))])
    assert [str(n) for n in two_excepts] == ["10.0.0.192/26"]


@pytest.mark.parametrize(
    ("peer", "match"),
    [
        (PolicyPeer("10.0.0.0/24", ("10.1.0.0/24",)), "not inside"),
        (PolicyPeer("10.0.0.0/33"), "invalid CIDR"),
        (PolicyPeer("fd00::/64"), "IPv6"),
    ],
)
def test_bad_peers(peer: PolicyPeer, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        peer_networks([peer])


# --- rules -----------------------------------------------------------------------------------
def test_forward_chain_order_replies_egress_then_ingress() -> None:
    cmds = policy_commands([])
    assert cmds[0] == {"add": {"table": {"family": "inet", "name": "dockyard-netpol"}}}
    (fwd,) = [c for c in _adds(cmds, "chain") if c["name"] == "forward"]
    assert (fwd["hook"], fwd["type"], fwd["prio"], fwd["policy"]) == (
        "forward", "filter", -5, "accept")  # fmt: skip
    rules = _rules(cmds, "forward")
    state = _m({"ct": {"key": "state"}}, ["established", "related"], "in")
    assert rules[0]["expr"] == [state, {"accept": None}]
    assert rules[1]["expr"] == [{"vmap": {"key": SADDR, "data": "@egress"}}]
    assert rules[2]["expr"] == [{"vmap": {"key": DADDR, "data": "@ingress"}}]


def test_ingress_from_one_client_on_one_port() -> None:
    allow = PolicyRule((PolicyPeer(CLIENT),), (PolicyPort("tcp", 8080),))
    cmds = policy_commands([PodPolicy(DB, "default/db", ingress=(allow,))])
    chain = pod_chain("ingress", DB)
    assert _elements(cmds, "ingress") == [[DB, {"jump": {"target": chain}}]]
    assert _elements(cmds, "egress") == []  # not egress-isolated
    rules = _rules(cmds, chain)
    assert rules[0]["expr"] == [
        _m(SADDR, CLIENT), _m(L4, "tcp"), _m(DPORT, 8080), {"return": None}]  # fmt: skip
    assert rules[0]["comment"] == "default/db ingress rule 0"
    assert rules[-1]["expr"] == [{"drop": None}]
    assert len(rules) == 2


def test_ports_ranges_protocols_and_any_port() -> None:
    rule = PolicyRule(
        (PolicyPeer("10.0.0.0/24"), PolicyPeer(CLIENT)),
        (PolicyPort("tcp", 80), PolicyPort("tcp", 32000, 32768), PolicyPort("udp"),
         PolicyPort("sctp", 9, 9)),
    )  # fmt: skip
    cmds = policy_commands([PodPolicy(DB, egress=(rule,))])
    rules = _rules(cmds, pod_chain("egress", DB))
    peers = {"set": [{"prefix": {"addr": "10.0.0.0", "len": 24}}, CLIENT]}
    assert [r["expr"] for r in rules[:3]] == [
        [_m(DADDR, peers), _m(L4, "tcp"), _m(DPORT, {"set": [80, {"range": [32000, 32768]}]}),
         {"return": None}],
        [_m(DADDR, peers), _m(L4, "udp"), {"return": None}],  # every UDP port
        [_m(DADDR, peers), _m(L4, "sctp"), _m(DPORT, 9), {"return": None}],
    ]  # fmt: skip
    assert _elements(cmds, "egress") == [[DB, {"jump": {"target": pod_chain("egress", DB)}}]]


def test_any_peer_no_peer_and_everything() -> None:
    cmds = policy_commands([
        PodPolicy(DB, ingress=(PolicyRule(None, (PolicyPort("tcp", 5432),)),  # from anywhere
                               PolicyRule((), ()),                         # no peer resolved
                               PolicyRule((PolicyPeer("0.0.0.0/0"),)))),    # ipBlock: all
    ])  # fmt: skip
    rules = _rules(cmds, pod_chain("ingress", DB))
    assert [r["expr"] for r in rules] == [
        [_m(L4, "tcp"), _m(DPORT, 5432), {"return": None}],
        [{"return": None}],
        [{"drop": None}],
    ]


def test_default_deny_and_reject_mode() -> None:
    deny_all = PodPolicy(DB, ingress=(), egress=())
    cmds = policy_commands([deny_all])
    assert [r["expr"] for r in _rules(cmds, pod_chain("ingress", DB))] == [[{"drop": None}]]
    assert [r["expr"] for r in _rules(cmds, pod_chain("egress", DB))] == [[{"drop": None}]]
    cmds = policy_commands([deny_all], reject=True)
    assert [r["expr"] for r in _rules(cmds, pod_chain("ingress", DB))] == [
        [_m(L4, "tcp"), {"reject": {"type": "tcp reset"}}],
        [{"reject": {"type": "icmp", "expr": "port-unreachable"}}],
    ]


def test_maps_and_chains_are_replaced_in_one_transaction() -> None:
    first = policy_commands([PodPolicy(DB, ingress=()), PodPolicy(CLIENT, egress=())])
    existing = [c["name"] for c in _adds(first, "chain")]
    cmds = policy_commands([PodPolicy(DB, ingress=())], existing)
    gone = pod_chain("egress", CLIENT)
    assert [c["delete"]["chain"]["name"] for c in cmds if "delete" in c] == [gone]
    flushed = [c["flush"] for c in cmds if "flush" in c]
    assert {"map": {"family": "inet", "table": "dockyard-netpol", "name": "egress"}} in flushed
    assert {"chain": {"family": "inet", "table": "dockyard-netpol", "name": gone}} in flushed
    assert _elements(cmds, "egress") == []


def test_chain_names_differ_by_direction_and_pod() -> None:
    names = {pod_chain(d, a) for d in ("ingress", "egress") for a in (DB, CLIENT)}
    assert len(names) == 4 and all(len(n) <= 16 for n in names)


@pytest.mark.parametrize(
    ("pods", "match"),
    [
        ([PodPolicy("172.18.0.300")], "invalid address"),
        ([PodPolicy("fd00::1")], "IPv6"),
        ([PodPolicy(DB), PodPolicy(DB)], "given twice"),
        ([PodPolicy(DB, ingress=(PolicyRule(None, (PolicyPort("icmp"),)),))], "protocol"),
        ([PodPolicy(DB, egress=(PolicyRule(None, (PolicyPort("tcp", 70000),)),))],
         "out of range"),
        ([PodPolicy(DB, egress=(PolicyRule(None, (PolicyPort("tcp", 0, 90),)),))], "endPort"),
        ([PodPolicy(DB, egress=(PolicyRule(None, (PolicyPort("tcp", 100, 90),)),))], "endPort"),
        ([PodPolicy(DB, ingress=(PolicyRule((PolicyPeer("x"),)),))], "invalid CIDR"),
    ],
)  # fmt: skip
def test_bad_input_is_refused(pods: list[PodPolicy], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        policy_commands(pods)


# --- the enforcer against a fake nft ---------------------------------------------------------
class FakeNft(Nft):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[Json]] = []
        self.chains: list[str] = []

    def _call(self, args: Sequence[str], stdin: str, what: str) -> str:
        if args[:2] == ["-j", "list"]:
            assert list(args[2:]) in (["table", *POLICY_TABLE], ["table", *BRIDGE_POLICY_TABLE])
            if not self.chains:
                raise Internal(f"{what}: nft: error: no such file or directory")
            return json.dumps({"nftables": [{"chain": {"name": c}} for c in self.chains]})
        batch: list[Json] = json.loads(stdin)["nftables"]
        self.batches.append(batch)
        self.chains = [c["name"] for c in _adds(batch, "chain")]
        return ""


def test_enforcer_sync_and_close() -> None:
    nft = FakeNft()
    enforcer = NetworkPolicyEnforcer(nft=nft)
    pods = [PodPolicy(DB, "default/db", ingress=()), PodPolicy(CLIENT, egress=())]
    enforcer.sync(pods)
    assert len(nft.batches) == 1
    assert set(enforcer.pods()) == {DB, CLIENT}
    enforcer.sync(pods[:1])
    deleted = [c["delete"]["chain"]["name"] for c in nft.batches[1] if "delete" in c]
    assert deleted == [pod_chain("egress", CLIENT)] * 2  # in the inet and the bridge table
    with pytest.raises(InvalidArgument):
        enforcer.sync([PodPolicy("nope")])
    assert set(enforcer.pods()) == {DB} and len(nft.batches) == 2  # nothing changed
    enforcer.close()
    assert nft.batches[-1] == policy_table_delete()
    assert enforcer.pods() == {}


def test_check_host_has_nothing_to_report() -> None:
    """Bridge netfilter is no longer needed: the bridge table filters same-bridge traffic."""
    assert NetworkPolicyEnforcer(nft=FakeNft()).check_host() == []


def test_bridge_table_has_the_same_pod_chains_and_admits_replies_by_a_reflexive_set() -> None:
    """Issue 19 item 3: policy between pods of one bridge without br_netfilter."""
    allow = PolicyRule((PolicyPeer(CLIENT),), (PolicyPort("tcp", 8080),))
    pods = [PodPolicy(DB, "default/db", ingress=(allow,)), PodPolicy(CLIENT, egress=())]
    inet = policy_commands(pods)
    cmds = policy_commands(pods, table=BRIDGE_POLICY_TABLE, reject=True)
    assert cmds[0] == {"add": {"table": {"family": "bridge", "name": "dockyard-netpol"}}}
    (fwd,) = [c for c in _adds(cmds, "chain") if c["name"] == "forward"]
    assert (fwd["hook"], fwd["prio"]) == ("forward", 100)  # after br_netfilter's hook (0)
    (replies,) = [c for c in _adds(cmds, "set") if c["name"] == "replies"]
    assert replies["flags"] == ["timeout"] and replies["timeout"] == 600
    rules = [r["expr"] for r in _rules(cmds, "forward")]
    assert rules[0][0]["match"]["right"] == "@replies" and rules[0][-1] == {"accept": None}
    assert rules[2] == [{"vmap": {"key": SADDR, "data": "@egress"}}]
    assert rules[3] == [{"vmap": {"key": DADDR, "data": "@ingress"}}]
    assert [r[0]["match"]["right"] for r in rules[4:]] == ["@ingress-pods", "@egress-pods"]
    assert all(r[-1]["set"]["op"] == "update" for r in rules[4:])
    assert _elements(cmds, "ingress-pods") == [DB] and _elements(cmds, "egress-pods") == [CLIENT]
    # the pod chains are the inet ones, but a denial is a drop even in reject mode
    for chain in (pod_chain("ingress", DB), pod_chain("egress", CLIENT)):
        assert [r["expr"] for r in _rules(cmds, chain)] == [r["expr"] for r in _rules(inet, chain)]
    # the set of live flows is made once and never flushed
    again = policy_commands(pods, ["forward"], table=BRIDGE_POLICY_TABLE)
    assert not [c for c in _adds(again, "set") if c["name"] == "replies"]
    assert {"set": {"family": "bridge", "table": "dockyard-netpol", "name": "replies"}} not in [
        c["flush"] for c in again if "flush" in c
    ]


def test_close_deletes_both_tables() -> None:
    names = [c["delete"]["table"] for c in policy_table_delete() if "delete" in c]
    assert names == [{"family": "inet", "name": "dockyard-netpol"},
                     {"family": "bridge", "name": "dockyard-netpol"}]  # fmt: skip
