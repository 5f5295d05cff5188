"""NetworkPolicy enforcement: per-pod allow lists compiled into nftables filter rules.

The network layer sits below the orchestrator, so it does not read NetworkPolicy objects: the
orchestrator evaluates selectors (``orchestrator/netpol_evaluation.py`` semantics) and hands
over, for each *isolated* pod, plain data — :class:`PodPolicy`: the pod's address and, per
direction, either ``None`` (not isolated) or the rules that allow traffic (peer CIDRs, ports).
A pod that is not listed is not isolated in either direction.

Rules live in their own table, ``table inet dockyard-netpol``::

    map ingress { ipv4_addr : verdict }        pod IP -> jump in-<h>     (ingress-isolated)
    map egress  { ipv4_addr : verdict }        pod IP -> jump out-<h>    (egress-isolated)
    chain forward  filter/forward -5
        ct state established,related accept   # replies of allowed connections
        ip saddr vmap @egress                  # the source pod's egress: return = allowed
        ip daddr vmap @ingress                 # the destination pod's ingress
    chain in-<h>   ip saddr { CIDRs } meta l4proto tcp th dport { 80, 8000-8080 } return
                   …one rule per policy rule and protocol…
                   drop
    chain out-<h>  the same on ip daddr

and the same pod chains and maps in ``table bridge dockyard-netpol``, for frames bridged
between two pods of one bridge::

    set replies  { saddr . daddr . l4proto . sport . dport }   dynamic, timeout 600 s
    chain forward  bridge filter/forward 100 (after br_netfilter's hook)
        ip saddr . ip daddr . meta l4proto . th sport . th dport @replies accept
        icmp type { echo-reply, destination-unreachable, … } accept
        ip saddr vmap @egress
        ip daddr vmap @ingress
        ip saddr @ingress-pods update @replies { reverse 5-tuple }   # allowed: its replies
        ip daddr @egress-pods  update @replies { reverse 5-tuple }

Where traffic is seen, and what that means:

* ``inet`` ``forward`` sees pod-to-pod traffic across bridges (routed) and, with bridge
  netfilter (``net.bridge.bridge-nf-call-iptables=1``, the kernel's default once
  ``br_netfilter`` is loaded), also between two pods of one bridge. A fresh host does not load
  ``br_netfilter``: then bridged frames never reach ``inet`` hooks, and the ``bridge`` table
  filters them with the same chains. It sits after br_netfilter's hook, so where bridge
  netfilter is on it sees only what ``inet`` let through (conntrack, reject) and agrees; where
  it is off it is the only filter. The bridge family has no conntrack in every kernel
  (``nf_conntrack_bridge``), so replies pass by a reflexive set of allowed flows; a denied
  packet there is dropped even in reject mode (no ``nft_reject_bridge`` everywhere).
* ``inet`` ``forward`` runs after the Services' DNAT and before masquerading: a connection
  through a Service VIP or NodePort is checked against the *endpoint* pod and the *original*
  client (a VIP is routed by the host, never bridged).
* Traffic between a pod and its node (``input``/``output``: the DNS responder on the gateway,
  the daemon's probes, a NodePort client on the host) is never filtered, as Kubernetes states
  ("traffic to and from the node is always allowed"). So egress-isolated pods still resolve
  names through the gateway.
* Denied packets are dropped (a client times out), or answered with a TCP reset / ICMP
  unreachable with ``reject=True``.
* Updates are one transaction (maps and chains flushed and refilled, stale chains deleted):
  no window without rules. Connections established before a pod became isolated go on
  (conntrack), as in most implementations.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv4Network, collapse_addresses, ip_address, ip_network
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.network._nft import Nft
from dockyard.network._nftrules import add_rule, meta, payload
from dockyard.network._nftrules import match as _match
from dockyard.network.services import list_chains
from dockyard.records import record

__all__ = [
    "BRIDGE_POLICY_TABLE",
    "POLICY_TABLE",
    "NetworkPolicyEnforcer",
    "PodPolicy",
    "PolicyPeer",
    "PolicyPort",
    "PolicyRule",
    "peer_networks",
    "policy_commands",
    "policy_table_delete",
]

Json = dict[str, Any]
POLICY_TABLE = ("inet", "dockyard-netpol")
BRIDGE_POLICY_TABLE = ("bridge", "dockyard-netpol")
# After br_netfilter's own hook (NF_BR_PRI_BRNF, 0): where bridge netfilter is on, the inet
# table has already judged the frame (conntrack, reject) and this chain sees only what it let
# through; where it is off, this chain is the only filter between two pods of one bridge.
BRIDGE_PRIO = 100
REPLY_TIMEOUT = 600  # seconds an allowed flow's replies stay admitted after its last packet
_PROTOS = ("tcp", "udp", "sctp")
_STATIC_CHAINS = ("forward",)


@record
class PolicyPort:
    """A destination port: ``port`` 0 means every port of ``protocol``; ``end_port`` (when not
    0) makes ``port..end_port`` an inclusive range. Named ports are resolved by the caller."""

    protocol: str = "tcp"
    port: int = 0
    end_port: int = 0


@record
class PolicyPeer:
    """Addresses: a pod's ``10.0.0.5`` (or ``/32``), or an ``ipBlock`` ``cidr`` minus its
    ``except_`` ranges."""

    cidr: str
    except_: tuple[str, ...] = ()


@record
class PolicyRule:
    """One ingress/egress rule: traffic from/to one of ``peers`` (None: any address; (): no
    peer resolved, the rule matches nothing) on one of ``ports`` (empty: any port)."""

    peers: tuple[PolicyPeer, ...] | None = None
    ports: tuple[PolicyPort, ...] = ()


@record
class PodPolicy:
    """One pod's isolation. ``ingress``/``egress``: None = not isolated in that direction;
    a tuple of rules = isolated, allowed only what one rule matches (``()``: nothing)."""

    address: str
    name: str = ""
    ingress: tuple[PolicyRule, ...] | None = None
    egress: tuple[PolicyRule, ...] | None = None


# --- pure ------------------------------------------------------------------------------------
def _net(text: str, what: str) -> IPv4Network:
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        raise InvalidArgument(f"{what}: invalid CIDR {text!r}") from None
    if not isinstance(net, IPv4Network):
        raise InvalidArgument(f"{what}: IPv6 peers are not supported yet")
    return net


def peer_networks(peers: Iterable[PolicyPeer], what: str = "policy peer") -> list[IPv4Network]:
    """The peers as a minimal list of CIDRs, ``except`` ranges cut out."""
    out: list[IPv4Network] = []
    for peer in peers:
        base = _net(peer.cidr, what)
        parts = [base]
        for ex in peer.except_:
            cut = _net(ex, what)
            if not cut.subnet_of(base):
                raise InvalidArgument(f"{what}: except {cut} is not inside {base}")
            nxt: list[IPv4Network] = []
            for p in parts:
                if cut.subnet_of(p):
                    nxt.extend(p.address_exclude(cut))
                elif not p.subnet_of(cut):
                    nxt.append(p)
            parts = nxt
        out.extend(parts)
    return list(collapse_addresses(out))


def _check_ports(ports: Iterable[PolicyPort], what: str) -> None:
    for p in ports:
        if p.protocol not in _PROTOS:
            raise InvalidArgument(f"{what}: protocol must be tcp, udp or sctp")
        if not 0 <= p.port <= 65535 or not 0 <= p.end_port <= 65535:
            raise InvalidArgument(f"{what}: port out of range 0-65535")
        if p.end_port and (not p.port or p.end_port < p.port):
            raise InvalidArgument(f"{what}: endPort {p.end_port} needs a port <= it")


def _obj(kind: str, table: tuple[str, str] = POLICY_TABLE, **kw: Any) -> Json:
    return {kind: {"family": table[0], "table": table[1], **kw}}


def _add(kind: str, table: tuple[str, str] = POLICY_TABLE, **kw: Any) -> Json:
    return {"add": _obj(kind, table, **kw)}


def _rule(
    chain: str,
    expr: list[Json],
    comment: str = "",
    table: tuple[str, str] = POLICY_TABLE,
) -> Json:
    return add_rule(table, chain, expr, comment)


def _addr(field: str) -> Json:
    return payload("ip", field)


_L4 = meta("l4proto")
_DPORT = payload("th", "dport")


def _addr_set(nets: Sequence[IPv4Network]) -> object:
    items: list[object] = [
        str(n.network_address) if n.prefixlen == 32
        else {"prefix": {"addr": str(n.network_address), "len": n.prefixlen}}
        for n in nets
    ]  # fmt: skip
    return items[0] if len(items) == 1 else {"set": items}


def _port_set(ports: Sequence[PolicyPort]) -> object:
    items: list[object] = [
        {"range": [p.port, p.end_port]} if p.end_port and p.end_port != p.port else p.port
        for p in ports
    ]
    return items[0] if len(items) == 1 else {"set": items}


def _rule_exprs(rule: PolicyRule, field: str, what: str) -> list[list[Json]]:
    """The nft match lists of one policy rule (one per protocol); [] if it matches nothing."""
    peer: list[Json] = []
    if rule.peers is not None:
        nets = peer_networks(rule.peers, what)
        if not nets:
            return []
        if any(n.prefixlen == 0 for n in nets):
            peer = []  # 0.0.0.0/0: any address
        else:
            peer = [_match(_addr(field), _addr_set(nets))]
    if not rule.ports:
        return [peer]
    out: list[list[Json]] = []
    for proto in _PROTOS:
        mine = [p for p in rule.ports if p.protocol == proto]
        if not mine:
            continue
        expr = [*peer, _match(_L4, proto)]
        if all(p.port for p in mine):
            expr.append(_match(_DPORT, _port_set(mine)))
        out.append(expr)
    return out


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def pod_chain(direction: str, address: str) -> str:
    return f"{'in' if direction == 'ingress' else 'out'}-{_h(address)}"


def _validate(pods: Sequence[PodPolicy]) -> None:
    seen: set[str] = set()
    for pod in pods:
        what = f"network policy of pod {pod.name or pod.address}"
        try:
            addr = ip_address(pod.address)
        except ValueError:
            raise InvalidArgument(f"{what}: invalid address {pod.address!r}") from None
        if not isinstance(addr, IPv4Address):
            raise InvalidArgument(f"{what}: IPv6 pods are not supported yet")
        if pod.address in seen:
            raise InvalidArgument(f"{what}: address {pod.address} given twice")
        seen.add(pod.address)
        for rule in (*(pod.ingress or ()), *(pod.egress or ())):
            _check_ports(rule.ports, what)


def _inet_head() -> list[Json]:
    t = POLICY_TABLE
    return [
        {"add": {"table": {"family": t[0], "name": t[1]}}},
        _add("map", t, name="ingress", type="ipv4_addr", map="verdict"),
        _add("map", t, name="egress", type="ipv4_addr", map="verdict"),
        _add("chain", t, name="forward", type="filter", hook="forward", prio=-5, policy="accept"),
        {"flush": _obj("chain", t, name="forward")},
        {"flush": _obj("map", t, name="ingress")},
        {"flush": _obj("map", t, name="egress")},
        _rule("forward", [_match({"ct": {"key": "state"}}, ["established", "related"], "in"),
                          {"accept": None}]),
        _rule("forward", [{"vmap": {"key": _addr("saddr"), "data": "@egress"}}]),
        _rule("forward", [{"vmap": {"key": _addr("daddr"), "data": "@ingress"}}]),
    ]  # fmt: skip


_FLOW = [_addr("saddr"), _addr("daddr"), _L4, payload("th", "sport"), _DPORT]
_REVERSE = [_addr("daddr"), _addr("saddr"), _L4, _DPORT, payload("th", "sport")]
_ICMP_ANSWERS = ["echo-reply", "destination-unreachable", "time-exceeded", "parameter-problem"]


def _bridge_head(fresh: bool) -> list[Json]:
    """The bridge family has no conntrack here (``nf_conntrack_bridge`` is not in every
    kernel): replies are admitted by a reflexive set instead. Each packet a policy let
    through from an ingress-isolated source, or to an egress-isolated destination, puts its
    reverse 5-tuple in ``@replies`` (refreshed by every later packet of the flow); a packet
    matching an entry is a reply and passes. ICMP answers pass (they open nothing)."""
    t = BRIDGE_POLICY_TABLE
    addr_set = {"type": "ipv4_addr"}
    flow_type = ["ipv4_addr", "ipv4_addr", "inet_proto", "inet_service", "inet_service"]
    update = {"set": {"op": "update", "elem": {"concat": _REVERSE}, "set": "@replies"}}
    return [
        {"add": {"table": {"family": t[0], "name": t[1]}}},
        _add("map", t, name="ingress", type="ipv4_addr", map="verdict"),
        _add("map", t, name="egress", type="ipv4_addr", map="verdict"),
        _add("set", t, name="ingress-pods", **addr_set),
        _add("set", t, name="egress-pods", **addr_set),
        # made once, never flushed (live flows); nft marks it dynamic itself, and an ``add``
        # that differs from the kernel's copy in that flag is refused: only when fresh
        *([_add("set", t, name="replies", type=flow_type, flags=["timeout"],
                timeout=REPLY_TIMEOUT, size=65536)] if fresh else []),
        _add("chain", t, name="forward", type="filter", hook="forward", prio=BRIDGE_PRIO,
             policy="accept"),
        {"flush": _obj("chain", t, name="forward")},
        *({"flush": _obj(k, t, name=n)} for k, n in (("map", "ingress"), ("map", "egress"),
                                                    ("set", "ingress-pods"),
                                                    ("set", "egress-pods"))),
        _rule("forward", [_match({"concat": _FLOW}, "@replies"), {"accept": None}], table=t),
        _rule("forward", [_match(payload("icmp", "type"), {"set": _ICMP_ANSWERS}),
                          {"accept": None}], table=t),
        _rule("forward", [{"vmap": {"key": _addr("saddr"), "data": "@egress"}}], table=t),
        _rule("forward", [{"vmap": {"key": _addr("daddr"), "data": "@ingress"}}], table=t),
        _rule("forward", [_match(_addr("saddr"), "@ingress-pods"), update], table=t),
        _rule("forward", [_match(_addr("daddr"), "@egress-pods"), update], table=t),
    ]  # fmt: skip


def policy_commands(
    pods: Sequence[PodPolicy],
    existing_chains: Iterable[str] = (),
    *,
    reject: bool = False,
    table: tuple[str, str] = POLICY_TABLE,
) -> list[Json]:
    """The one transaction that makes ``table`` (``inet dockyard-netpol``, or
    ``bridge dockyard-netpol``: :data:`BRIDGE_POLICY_TABLE`) enforce exactly ``pods``.

    In the bridge family a denied packet is dropped even with ``reject`` (``reject`` there
    needs ``nft_reject_bridge``, not in every kernel)."""
    _validate(pods)
    bridge = table == BRIDGE_POLICY_TABLE
    existing = list(existing_chains)
    cmds = _bridge_head(fresh="forward" not in existing) if bridge else _inet_head()
    wanted: set[str] = set(_STATIC_CHAINS)
    elems: dict[str, list[list[Any]]] = {"ingress": [], "egress": []}
    deny: list[list[Json]] = [[{"drop": None}]]
    if reject and not bridge:
        deny = [[_match(_L4, "tcp"), {"reject": {"type": "tcp reset"}}],
                [{"reject": {"type": "icmp", "expr": "port-unreachable"}}]]  # fmt: skip
    for pod in sorted(pods, key=lambda p: IPv4Address(p.address)):
        what = f"network policy of pod {pod.name or pod.address}"
        label = pod.name or pod.address
        for direction, rules, field in (
            ("ingress", pod.ingress, "saddr"),
            ("egress", pod.egress, "daddr"),
        ):
            if rules is None:
                continue
            chain = pod_chain(direction, pod.address)
            wanted.add(chain)
            elems[direction].append([pod.address, {"jump": {"target": chain}}])
            cmds += [_add("chain", table, name=chain), {"flush": _obj("chain", table, name=chain)}]
            for i, rule in enumerate(rules):
                for expr in _rule_exprs(rule, field, what):
                    cmds.append(_rule(chain, [*expr, {"return": None}],
                                      f"{label} {direction} rule {i}", table))  # fmt: skip
            for expr in deny:
                cmds.append(_rule(chain, expr, f"{label} {direction} deny", table))
    for direction, items in elems.items():
        if items:
            cmds.append(_add("element", table, name=direction, elem=items))
            if bridge:
                addrs = [addr for addr, _ in items]
                cmds.append(_add("element", table, name=f"{direction}-pods", elem=addrs))
    stale = sorted(set(existing) - wanted)  # emptied first: they may jump to each other
    cmds += [{"flush": _obj("chain", table, name=chain)} for chain in stale]
    cmds += [{"delete": _obj("chain", table, name=chain)} for chain in stale]
    return cmds


def policy_table_delete() -> list[Json]:
    cmds: list[Json] = []
    for family, name in (POLICY_TABLE, BRIDGE_POLICY_TABLE):
        table = {"family": family, "name": name}
        cmds += [{"add": {"table": dict(table)}}, {"delete": {"table": dict(table)}}]
    return cmds


# --- the kernel ------------------------------------------------------------------------------
class NetworkPolicyEnforcer:
    """NetworkPolicy in the kernel of one network namespace (``netns``; None: ours).

    The orchestrator calls :meth:`sync` with every isolated pod after any change of a policy,
    a pod (created, deleted, relabelled, address known) or a namespace's labels.
    """

    def __init__(
        self, netns: str | None = None, nft: Nft | None = None, *, reject: bool = False
    ) -> None:
        self.netns = netns
        self.nft = nft or Nft(netns)
        self.reject = reject
        self._lock = threading.Lock()
        self._pods: dict[str, PodPolicy] = {}

    def check_host(self) -> list[str]:
        """Problems to report (nothing is changed). None any more: without bridge netfilter
        (``br_netfilter`` not loaded, or ``bridge-nf-call-iptables=0``) traffic between two
        pods of one bridge never reaches ``inet`` ``forward``, and ``bridge dockyard-netpol``
        filters it instead (denied packets are dropped there even in reject mode)."""
        return []

    def pods(self) -> dict[str, PodPolicy]:
        with self._lock:
            return dict(self._pods)

    def sync(self, pods: Iterable[PodPolicy]) -> None:
        """Enforce exactly ``pods`` (one atomic transaction); InvalidArgument on bad input,
        and then nothing changed."""
        wanted = list(pods)
        with self._lock:
            cmds: list[Json] = []
            for table in (POLICY_TABLE, BRIDGE_POLICY_TABLE):
                existing = list_chains(self.nft, table)
                cmds += policy_commands(wanted, existing, reject=self.reject, table=table)
            self.nft.apply(cmds, "sync network policy rules")
            self._pods = {p.address: p for p in wanted}

    def close(self) -> None:
        """Delete the table: every pod is unisolated."""
        with self._lock:
            self.nft.apply(policy_table_delete(), "delete network policy rules")
            self._pods = {}
