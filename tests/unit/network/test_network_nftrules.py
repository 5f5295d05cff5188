"""nftables rules as data, and the Nft runner against a fake ``nft``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import Internal, PermissionDenied, Unavailable
from dockyard.network import Endpoint, NetworkSpec, PortBinding, plan_network
from dockyard.network._nft import Nft
from dockyard.network._nftrules import (
    BASE_OWNER,
    base_commands,
    delete_commands,
    endpoint_rules,
    guard_chain,
    guard_delete_commands,
    guard_rules,
    network_rules,
    owners_in,
    rules_in,
    table_delete_commands,
)

NET = plan_network(NetworkSpec("web", subnet="10.20.0.0/24"), [], [])
EP = Endpoint(
    container_id="c" * 64, network="web", netns="/proc/1/ns/net", ifname="eth0",
    host_ifname="dyccccccccccccc", address="10.20.0.2", prefixlen=24, gateway="10.20.0.1",
    mac="02:42:0a:14:00:02",
    ports=(PortBinding("", 8080, 80), PortBinding("127.0.0.1", 5353, 53, "udp")),
)  # fmt: skip


def _rules(cmds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["add"]["rule"] for c in cmds if "rule" in c.get("add", {})]


def test_base_creates_both_tables_and_jumps() -> None:
    cmds = base_commands()
    tables = [c["add"]["table"] for c in cmds if "table" in c.get("add", {})]
    assert tables == [{"family": "ip", "name": "dockyard"},
                      {"family": "inet", "name": "dockyard-filter"},
                      {"family": "bridge", "name": "dockyard-guard"}]  # fmt: skip
    chains = {
        c["add"]["chain"]["name"]: c["add"]["chain"] for c in cmds if "chain" in c.get("add", {})
    }
    assert chains["prerouting"]["hook"] == "prerouting" and chains["prerouting"]["prio"] == -100
    assert chains["output"]["type"] == "nat" and chains["postrouting"]["prio"] == 100
    assert "hook" not in chains["publish"]
    assert chains["forward"]["family"] == "inet" and chains["forward"]["policy"] == "accept"
    guard, *jumps = [r for r in _rules(cmds) if r["table"] == "dockyard"]
    assert [r["chain"] for r in jumps] == ["prerouting", "output"]
    assert all(r["comment"] == BASE_OWNER for r in (guard, *jumps))
    assert jumps[0]["expr"][0]["match"]["left"] == {"fib": {"result": "type", "flags": ["daddr"]}}
    # the loopback guard: raw priority, before every DNAT (issue 19 item 1)
    assert chains["guard"]["hook"] == "prerouting" and chains["guard"]["prio"] == -300
    assert chains["guard"]["type"] == "filter"
    assert guard["chain"] == "guard" and guard["expr"][-1] == {"drop": None}
    assert guard["expr"][0]["match"] == {"op": "!=", "left": {"meta": {"key": "iifname"}},
                                         "right": "lo"}  # fmt: skip
    # idempotent: the hook chains are flushed before their jump is added again
    flushed = [c["flush"]["chain"]["name"] for c in cmds if "flush" in c]
    assert flushed == ["guard", "prerouting", "output", "ports"]


def test_network_rules() -> None:
    rules = _rules(network_rules(NET))
    assert {r["comment"] for r in rules} == {"dockyard:network:web"}
    masq = [r for r in rules if r["chain"] == "postrouting"]
    assert len(masq) == 3 and all(r["expr"][-1] == {"masquerade": None} for r in masq)
    outbound = masq[0]["expr"]
    assert outbound[0]["match"]["right"] == {"prefix": {"addr": "10.20.0.0", "len": 24}}
    assert outbound[1]["match"] == {"op": "!=", "left": {"meta": {"key": "oifname"}},
                                    "right": NET.bridge}  # fmt: skip
    assert masq[1]["expr"][1]["match"]["right"] == {"prefix": {"addr": "127.0.0.0", "len": 8}}
    assert masq[2]["expr"][2]["match"] == {"op": "in", "left": {"ct": {"key": "status"}},
                                           "right": "dnat"}  # fmt: skip
    fwd = [r for r in rules if r["chain"] == "forward"]
    assert [r["family"] for r in fwd] == ["inet"] * 4
    (dns,) = [r for r in rules if r["chain"] == "input"]  # issue 19 item 4
    assert dns["expr"][0]["match"]["right"] == NET.gateway and dns["expr"][-1] == {"drop": None}
    assert [m["match"]["right"] for m in dns["expr"][3:-1]] == ["lo", "dockyard0", "dy-*"]
    assert all(m["match"]["op"] == "!=" for m in dns["expr"][3:-1])
    assert fwd[-1]["expr"] == [
        {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": NET.bridge}},
        {"drop": None},
    ]


def test_internal_network_has_no_masquerade_out_and_drops_leaving() -> None:
    internal = plan_network(NetworkSpec("int", subnet="10.30.0.0/24", internal=True), [], [])
    rules = _rules(network_rules(internal))
    assert len([r for r in rules if r["chain"] == "postrouting"]) == 2
    assert rules[-1]["expr"] == [
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": internal.bridge}},
        {"drop": None},
    ]


def test_endpoint_dnat_rules() -> None:
    tcp, udp = _rules(endpoint_rules(EP))
    assert tcp["chain"] == udp["chain"] == "publish"
    assert tcp["comment"] == f"dockyard:endpoint:dyccccccccccccc:{'c' * 64}"
    assert len(tcp["comment"]) <= 128
    assert tcp["expr"] == [
        {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                   "right": 8080}},
        {"dnat": {"addr": "10.20.0.2", "port": 80}},
    ]  # fmt: skip
    assert udp["expr"][0]["match"]["right"] == "127.0.0.1"
    assert udp["expr"][1]["match"]["left"]["payload"]["protocol"] == "udp"


LISTING = {
    "nftables": [
        {"metainfo": {"json_schema_version": 1}},
        {"table": {"family": "ip", "name": "dockyard", "handle": 1}},
        {"rule": {"family": "ip", "table": "dockyard", "chain": "prerouting", "handle": 4,
                  "comment": BASE_OWNER, "expr": []}},
        {"rule": {"family": "ip", "table": "dockyard", "chain": "postrouting", "handle": 9,
                  "comment": "dockyard:network:web", "expr": []}},
        {"rule": {"family": "ip", "table": "dockyard", "chain": "publish", "handle": 12,
                  "comment": EP.owner, "expr": []}},
        {"rule": {"family": "ip", "table": "dockyard", "chain": "publish", "handle": 13,
                  "expr": []}},
    ]
}  # fmt: skip


def test_delete_by_owner() -> None:
    rules = rules_in(LISTING)
    assert owners_in(rules) == {BASE_OWNER, "dockyard:network:web", EP.owner}
    assert delete_commands(rules, [EP.owner, "nobody"]) == [
        {"delete": {"rule": {"family": "ip", "table": "dockyard", "chain": "publish",
                             "handle": 12}}}
    ]  # fmt: skip
    assert [c["delete"]["table"]["name"] for c in table_delete_commands()] == [
        "dockyard", "dockyard-filter", "dockyard-guard"
    ]  # fmt: skip


def test_guard_rules_pin_the_port_to_its_mac_and_address() -> None:
    """Issue 19 items 2 and 3: anti-spoofing, no IPv6 (or any other EtherType) from a port."""
    cmds = guard_rules(EP)
    chain = guard_chain(EP.guard_owner)
    rules = _rules(cmds)
    assert {r["family"] for r in rules} == {"bridge"} and {r["chain"] for r in rules} == {chain}
    assert {r["comment"] for r in rules} == {EP.guard_owner}
    assert all(r["expr"][-1] == {"drop": None} and r["expr"][0]["match"]["op"] == "!="
               for r in rules)  # fmt: skip
    checks = [(m["left"], m["right"]) for m in (r["expr"][0]["match"] for r in rules)]
    assert checks == [
        ({"meta": {"key": "iif"}}, EP.host_ifname),  # the MAC's own port only
        ({"payload": {"protocol": "ether", "field": "type"}}, {"set": ["ip", "arp"]}),
        ({"payload": {"protocol": "ip", "field": "saddr"}}, EP.address),
        ({"payload": {"protocol": "arp", "field": "saddr ip"}}, EP.address),
        ({"payload": {"protocol": "arp", "field": "saddr ether"}}, EP.mac),
    ]
    (elem,) = [c["add"]["element"] for c in cmds if "element" in c.get("add", {})]
    assert elem["name"] == "macs" and elem["elem"] == [[EP.mac, {"goto": {"target": chain}}]]
    # the base chain: dockyard ports only, one map lookup, unknown MACs dropped
    base = [r for r in _rules(base_commands()) if r["table"] == "dockyard-guard"]
    assert [r["expr"][-1] for r in base] == [
        {"accept": None}, {"vmap": {"key": {"payload": {"protocol": "ether", "field": "saddr"}},
                                    "data": "@macs"}}, {"drop": None}]  # fmt: skip
    # removal: one transaction that needs no listing, whether or not it is there
    gone = guard_delete_commands(EP.guard_owner)
    assert {"delete": {"element": {"family": "bridge", "table": "dockyard-guard", "name": "macs",
                                   "elem": [EP.mac]}}} in gone  # fmt: skip
    assert gone[-1] == {"delete": {"chain": {"family": "bridge", "table": "dockyard-guard",
                                             "name": chain}}}  # fmt: skip


# --- the runner, against a fake nft that logs its input and answers listings -----------------

FAKE = """#!/bin/sh
if [ "$2" = "list" ]; then
    if [ -f "$DIR/listing-$5" ]; then cat "$DIR/listing-$5"; exit 0; fi
    echo "Error: No such file or directory" >&2; exit 1
fi
cat >> "$DIR/applied"; echo >> "$DIR/applied"
if [ -f "$DIR/fail" ]; then cat "$DIR/fail" >&2; exit 1; fi
"""


@pytest.fixture
def fake_nft(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "nft"
    exe.write_text(FAKE)
    exe.chmod(0o755)
    monkeypatch.setenv("DIR", str(tmp_path))
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def _applied(d: Path) -> list[list[dict[str, Any]]]:
    text = (d / "applied").read_text() if (d / "applied").exists() else ""
    return [json.loads(line)["nftables"] for line in text.splitlines() if line.strip()]


def test_runner_add_replaces_owner_rules(fake_nft: Path) -> None:
    (fake_nft / "listing-dockyard").write_text(json.dumps(LISTING))
    Nft().add(endpoint_rules(EP), [EP.owner])
    (batch,) = _applied(fake_nft)
    assert batch[: len(base_commands())] == base_commands()
    rest = batch[len(base_commands()) :]
    assert rest[0] == {"delete": {"rule": {"family": "ip", "table": "dockyard",
                                           "chain": "publish", "handle": 12}}}  # fmt: skip
    assert rest[1:] == endpoint_rules(EP)


def test_runner_remove_keeps_tables_while_others_own_rules(fake_nft: Path) -> None:
    (fake_nft / "listing-dockyard").write_text(json.dumps(LISTING))
    Nft().remove([EP.owner])
    assert _applied(fake_nft) == [delete_commands(rules_in(LISTING), [EP.owner])]


def test_runner_remove_last_owner_drops_tables(fake_nft: Path) -> None:
    (fake_nft / "listing-dockyard").write_text(json.dumps(LISTING))
    Nft().remove([EP.owner, "dockyard:network:web", ""])
    assert _applied(fake_nft) == [table_delete_commands()]


def test_runner_remove_without_tables_does_nothing(fake_nft: Path) -> None:
    Nft().remove([EP.owner])
    assert _applied(fake_nft) == []


def test_runner_errors(fake_nft: Path) -> None:
    (fake_nft / "fail").write_text("Error: Could not process rule: Operation not permitted\n")
    with pytest.raises(PermissionDenied, match="create dockyard nftables tables: error: could"):
        Nft().ensure_base()
    (fake_nft / "fail").write_text("Error: syntax error\nmore\n")
    with pytest.raises(Internal, match=r"^apply nftables rules: nft: error: syntax error$"):
        Nft().apply([{"add": {"table": {"family": "ip", "name": "x"}}}])
    with pytest.raises(Unavailable, match="nft-missing is not installed"):
        Nft(binary="nft-missing").apply(base_commands())
