"""nftables rules as data (pure): what dockyard puts in its own two tables, in ``nft -j`` form.

Tables and chains (created on first use, deleted when no rule of ours is left)::

    table ip dockyard                                   NAT
      chain guard        filter/prerouting -300 iifname != "lo" ip daddr 127.0.0.0/8 drop
      chain prerouting   nat/prerouting  -100   fib daddr type local jump publish
      chain output       nat/output      -100   fib daddr type local jump publish
      chain publish      (regular)              one DNAT rule per published port
      chain postrouting  nat/postrouting  100   masquerade: outbound, from 127/8, hairpin
    table inet dockyard-filter                          isolation
      chain forward      filter/forward     0   per bridge: established, DNAT'd and
                                                intra-bridge traffic in; the rest to it dropped
      chain input        filter/input       0   per gateway: DNS to it only from lo or a
                                                dockyard bridge (dns_guard)
    table bridge dockyard-guard                         anti-spoofing
      map macs           ether_addr : verdict           endpoint MAC -> goto ep-<h>
      chain ports        filter/prerouting -300 iifname != "dy*" accept
                                                ether saddr vmap @macs; drop
      chain ep-<h>       per endpoint: its own port (iif), IPv4 and ARP only, its address

``guard`` runs before any DNAT (raw priority): a packet to 127.0.0.0/8 that did not come in
on ``lo`` is dropped (Docker 28's rule; kube-proxy's for CVE-2020-8558). Without it a neighbour
on the LAN that sends to 127.0.0.1 with the host's MAC reaches a ``-p 127.0.0.1:8080:80``
container or a NodePort (DNAT fires on ``fib daddr type local``), and, through the bridges'
``route_localnet=1``, a container reaches the host's services bound to 127.0.0.1. The host's
own connections to 127.0.0.1 go out and come back on ``lo``: unaffected.

Every rule carries a comment naming its owner: ``dockyard:base`` (the jumps),
``dockyard:network:<name>`` or ``dockyard:endpoint:<host veth>:<container id>``. Removing an
owner deletes exactly its rules, by handle, in one transaction (:func:`delete_commands`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dockyard.network import slirp
from dockyard.network._links import mac_for
from dockyard.network._model import Endpoint, NetworkState, PortBinding

__all__ = [
    "BASE_OWNER",
    "FILTER_TABLE",
    "GUARD_PRIO",
    "GUARD_TABLE",
    "TABLES",
    "NAT_TABLE",
    "base_commands",
    "delete_commands",
    "dns_guard",
    "endpoint_rules",
    "guard_chain",
    "guard_delete_commands",
    "guard_rules",
    "loopback_guard",
    "network_rules",
    "owners_in",
    "rules_in",
    "table_delete_commands",
]

NAT_TABLE = ("ip", "dockyard")
FILTER_TABLE = ("inet", "dockyard-filter")
GUARD_TABLE = ("bridge", "dockyard-guard")
TABLES = (NAT_TABLE, FILTER_TABLE, GUARD_TABLE)
BASE_OWNER = "dockyard:base"
Json = dict[str, Any]


def match(left: Json, right: object, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def meta(key: str) -> Json:
    return {"meta": {"key": key}}


def payload(proto: str, field: str) -> Json:
    return {"payload": {"protocol": proto, "field": field}}


def _prefix(cidr: str) -> Json:
    addr, _, length = cidr.partition("/")
    return {"prefix": {"addr": addr, "len": int(length or 32)}}


def add_rule(table: tuple[str, str], chain: str, expr: list[Json], comment: str = "") -> Json:
    """An ``add rule`` command in ``table`` (a comment, nft's limit: 128 characters)."""
    rule: Json = {"family": table[0], "table": table[1], "chain": chain, "expr": expr}
    if comment:
        rule["comment"] = comment[:128]
    return {"add": {"rule": rule}}


def _rule(table: tuple[str, str], chain: str, owner: str, expr: list[Json]) -> Json:
    family, name = table
    rule = {"family": family, "table": name, "chain": chain, "comment": owner, "expr": expr}
    return {"add": {"rule": rule}}


def _chain(
    table: tuple[str, str], name: str, hook: str = "", kind: str = "", prio: int = 0
) -> Json:
    chain: Json = {"family": table[0], "table": table[1], "name": name}
    if hook:
        chain.update(type=kind, hook=hook, prio=prio, policy="accept")
    return {"add": {"chain": chain}}


_LOCAL_DST = match({"fib": {"result": "type", "flags": ["daddr"]}}, "local")
_JUMP_PUBLISH = {"jump": {"target": "publish"}}
GUARD_PRIO = -300  # raw: before conntrack and every NAT chain


def loopback_guard() -> list[Json]:
    """``iifname != "lo" ip daddr 127.0.0.0/8 drop``: loopback stays on the loopback."""
    return [
        match(meta("iifname"), "lo", "!="),
        match(payload("ip", "daddr"), _prefix("127.0.0.0/8")),
        {"drop": None},
    ]


def base_commands() -> list[Json]:
    """Create both tables and their chains (idempotent: ``add`` + flushing the hook chains)."""
    nat, flt = NAT_TABLE, FILTER_TABLE
    cmds: list[Json] = [
        {"add": {"table": {"family": nat[0], "name": nat[1]}}},
        _chain(nat, "guard", "prerouting", "filter", GUARD_PRIO),
        _chain(nat, "prerouting", "prerouting", "nat", -100),
        _chain(nat, "output", "output", "nat", -100),
        _chain(nat, "postrouting", "postrouting", "nat", 100),
        _chain(nat, "publish"),
        {"add": {"table": {"family": flt[0], "name": flt[1]}}},
        _chain(flt, "forward", "forward", "filter", 0),
        _chain(flt, "input", "input", "filter", 0),
        *_guard_base(),
    ]
    for chain in ("guard", "prerouting", "output"):
        cmds.append({"flush": {"chain": {"family": nat[0], "table": nat[1], "name": chain}}})
    cmds.append({"flush": {"chain": {"family": GUARD_TABLE[0], "table": GUARD_TABLE[1],
                                     "name": "ports"}}})  # fmt: skip
    cmds.append(_rule(nat, "guard", BASE_OWNER, loopback_guard()))
    cmds += [_rule(GUARD_TABLE, "ports", BASE_OWNER, expr) for expr in _PORTS]
    for chain in ("prerouting", "output"):
        cmds.append(_rule(nat, chain, BASE_OWNER, [_LOCAL_DST, _JUMP_PUBLISH]))
    return cmds


def network_rules(net: NetworkState) -> list[Json]:
    """Masquerade and isolation for one bridge network."""
    br, sub, owner = net.bridge, net.subnet, net.owner
    oif, iif = meta("oifname"), meta("iifname")
    masq: Json = {"masquerade": None}
    rules = []
    if not net.internal:  # outbound NAT: from the subnet to anywhere but the bridge
        rules.append(
            _rule(
                NAT_TABLE,
                "postrouting",
                owner,
                [match(payload("ip", "saddr"), _prefix(sub)), match(oif, br, "!="), masq],
            )
        )
    rules += [
        # the host's own 127.0.0.1 reaching a published port (needs route_localnet on br)
        _rule(NAT_TABLE, "postrouting", owner, [
            match(oif, br), match(payload("ip", "saddr"), _prefix("127.0.0.0/8")), masq]),
        # hairpin: a container reaching a published port of the same network
        _rule(NAT_TABLE, "postrouting", owner, [
            match(oif, br), match(payload("ip", "saddr"), _prefix(sub)),
            match({"ct": {"key": "status"}}, "dnat", "in"), masq]),
        _rule(FILTER_TABLE, "forward", owner, [
            match(oif, br), match({"ct": {"key": "state"}}, ["established", "related"], "in"),
            {"accept": None}]),
        _rule(FILTER_TABLE, "forward", owner, [
            match(oif, br), match({"ct": {"key": "status"}}, "dnat", "in"), {"accept": None}]),
        _rule(FILTER_TABLE, "forward", owner, [match(oif, br), match(iif, br), {"accept": None}]),
        _rule(FILTER_TABLE, "forward", owner, [match(oif, br), {"drop": None}]),
    ]  # fmt: skip
    if net.internal:
        rules.append(_rule(FILTER_TABLE, "forward", owner, [match(iif, br), {"drop": None}]))
    rules.insert(0, _rule(FILTER_TABLE, "input", owner, dns_guard(net.gateway)))
    return rules


def dns_guard(gateway: str) -> list[Json]:
    """DNS to a gateway address (the network's responder, the cluster DNS on the default
    bridge) only from the host itself or a dockyard bridge: a LAN neighbour routing to the
    gateway through the host gets nothing (no container names, no open relay)."""
    return [
        match(payload("ip", "daddr"), gateway),
        match(meta("l4proto"), {"set": ["tcp", "udp"]}),
        match(payload("th", "dport"), 53),
        *(match(meta("iifname"), name, "!=") for name in ("lo", "dockyard0", "dy-*")),
        {"drop": None},
    ]


def _dnat(b: PortBinding, address: str, owner: str) -> Json:
    expr: list[Json] = []
    if b.host_ip and not slirp.active():  # rootless: slirp4netns binds the host address
        expr.append(match(payload("ip", "daddr"), b.host_ip))
    expr.append(match(payload(b.proto, "dport"), b.host_port))
    expr.append({"dnat": {"addr": address, "port": b.container_port}})
    return _rule(NAT_TABLE, "publish", owner, expr)


def endpoint_rules(ep: Endpoint) -> list[Json]:
    """One DNAT rule per published port of the endpoint."""
    return [_dnat(b, ep.address, ep.owner) for b in ep.ports]


# Frames from a container's port (a dockyard veth: ``dy…``; bridges are ``dy-…`` and never a
# port) go to the chain of the endpoint that owns their source MAC; an unknown MAC is dropped.
_PORTS: list[list[Json]] = [
    [match(meta("iifname"), "dy*", "!="), {"accept": None}],
    [{"vmap": {"key": payload("ether", "saddr"), "data": "@macs"}}],
    [{"drop": None}],
]


def _guard_base() -> list[Json]:
    t = GUARD_TABLE
    return [
        {"add": {"table": {"family": t[0], "name": t[1]}}},
        {"add": {"map": {"family": t[0], "table": t[1], "name": "macs", "type": "ether_addr",
                         "map": "verdict"}}},
        _chain(t, "ports", "prerouting", "filter", GUARD_PRIO),
    ]  # fmt: skip


def guard_chain(owner: str) -> str:
    """The chain of one endpoint's anti-spoofing rules (named after its guard owner)."""
    return "ep-" + hashlib.sha256(owner.encode()).hexdigest()[:12]


def _guard_obj(kind: str, **kw: Any) -> Json:
    return {kind: {"family": GUARD_TABLE[0], "table": GUARD_TABLE[1], **kw}}


def guard_rules(ep: Endpoint) -> list[Json]:
    """Anti-spoofing on the endpoint's bridge port: a frame the container sends must carry its
    own MAC and, for IPv4 and ARP, its own address; any other EtherType (IPv6, VLAN tags, …)
    is dropped — containers get no IPv6 (a pod would otherwise reach another over fe80::,
    which no IPv4 rule sees, and could advertise itself as the host's IPv6 router).

    ``@macs`` maps the endpoint's MAC to its chain; the chain first checks that the frame
    came in on the endpoint's own port (``iif``: the ifindex, which a spare's rename keeps),
    so another port cannot borrow the MAC. One lookup per frame, however many endpoints."""
    chain = guard_chain(ep.guard_owner)
    own_mac = ep.mac.lower()
    drop: Json = {"drop": None}
    rules = [
        [match(meta("iif"), ep.host_ifname, "!="), drop],
        [match(payload("ether", "type"), {"set": ["ip", "arp"]}, "!="), drop],
        [match(payload("ip", "saddr"), ep.address, "!="), drop],
        [match(payload("arp", "saddr ip"), ep.address, "!="), drop],
        [match(payload("arp", "saddr ether"), own_mac, "!="), drop],
    ]
    return [
        {"add": _guard_obj("chain", name=chain)},
        {"flush": _guard_obj("chain", name=chain)},
        *(_rule(GUARD_TABLE, chain, ep.guard_owner, r) for r in rules),
        {"add": _guard_obj("element", name="macs",
                           elem=[[own_mac, {"goto": {"target": chain}}]])},
    ]  # fmt: skip


def guard_delete_commands(owner: str) -> list[Json]:
    """Remove one endpoint's guard (``dockyard:guard:<address>:<network>``) in one
    transaction that needs no listing and works whether or not it is there: the element and
    chain are added first (a no-op when present), then deleted."""
    address = owner.split(":")[2]
    chain = guard_chain(owner)
    mac = mac_for(address)
    return [
        *_guard_base(),
        {"add": _guard_obj("chain", name=chain)},
        {"add": _guard_obj("element", name="macs", elem=[[mac, {"goto": {"target": chain}}]])},
        {"delete": _guard_obj("element", name="macs", elem=[mac])},
        {"flush": _guard_obj("chain", name=chain)},
        {"delete": _guard_obj("chain", name=chain)},
    ]


def rules_in(listing: Mapping[str, Any]) -> list[Json]:
    """The rule objects of an ``nft -j list table`` answer."""
    items: Sequence[Json] = listing.get("nftables", [])
    return [item["rule"] for item in items if isinstance(item, dict) and "rule" in item]


def owners_in(rules: Iterable[Json]) -> set[str]:
    return {str(r.get("comment", "")) for r in rules if str(r.get("comment", ""))}


def delete_commands(rules: Iterable[Json], owners: Iterable[str]) -> list[Json]:
    """Delete, by handle, every rule whose comment is one of ``owners``."""
    wanted = set(owners)
    return [
        {"delete": {"rule": {k: r[k] for k in ("family", "table", "chain", "handle")}}}
        for r in rules
        if r.get("comment") in wanted
    ]


def table_delete_commands() -> list[Json]:
    return [{"delete": {"table": {"family": f, "name": n}}} for f, n in TABLES]
