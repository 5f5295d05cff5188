"""NetworkPolicy enforcement: per-pod allow lists compiled into nftables filter rules.

The network layer sits below the orchestrator, so it does not read NetworkPolicy objects: the
orchestrator evaluates selectors (``orchestrator/netpol.py`` semantics) and hands over, for
each *isolated* pod, plain data — :class:`PodPolicy`: the pod's address and, per direction,
either ``None`` (not isolated) or the rules that allow traffic (peer CIDRs, ports). A pod that
is not listed is not isolated in either direction.

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

Where traffic is seen, and what that means:

* ``forward`` sees pod-to-pod traffic across bridges (routed) and, with bridge netfilter
  (``net.bridge.bridge-nf-call-iptables=1``, the kernel's default once ``br_netfilter`` is
  there; :meth:`NetworkPolicyEnforcer.check_host` reports otherwise) also between two pods of
  one bridge. It runs after the Services' DNAT and before masquerading: a connection through a
  Service VIP or NodePort is checked against the *endpoint* pod and the *original* client.
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
from dockyard.network._links import read_sysctl
from dockyard.network._netns import in_netns
from dockyard.network._nft import Nft
from dockyard.network._nftrules import add_rule, meta, payload
from dockyard.network._nftrules import match as _match
from dockyard.network.services import list_chains
from dockyard.records import record

__all__ = [
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


def _obj(kind: str, **kw: Any) -> Json:
    return {kind: {"family": POLICY_TABLE[0], "table": POLICY_TABLE[1], **kw}}


def _add(kind: str, **kw: Any) -> Json:
    return {"add": _obj(kind, **kw)}


def _rule(chain: str, expr: list[Json], comment: str = "") -> Json:
    return add_rule(POLICY_TABLE, chain, expr, comment)


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


def policy_commands(
    pods: Sequence[PodPolicy], existing_chains: Iterable[str] = (), *, reject: bool = False
) -> list[Json]:
    """The one transaction that makes ``table inet dockyard-netpol`` enforce exactly ``pods``."""
    family, name = POLICY_TABLE
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
    cmds: list[Json] = [
        {"add": {"table": {"family": family, "name": name}}},
        _add("map", name="ingress", type="ipv4_addr", map="verdict"),
        _add("map", name="egress", type="ipv4_addr", map="verdict"),
        _add("chain", name="forward", type="filter", hook="forward", prio=-5, policy="accept"),
        {"flush": _obj("chain", name="forward")},
        {"flush": _obj("map", name="ingress")},
        {"flush": _obj("map", name="egress")},
        _rule("forward", [_match({"ct": {"key": "state"}}, ["established", "related"], "in"),
                          {"accept": None}]),
        _rule("forward", [{"vmap": {"key": _addr("saddr"), "data": "@egress"}}]),
        _rule("forward", [{"vmap": {"key": _addr("daddr"), "data": "@ingress"}}]),
    ]  # fmt: skip
    wanted: set[str] = set(_STATIC_CHAINS)
    elems: dict[str, list[list[Any]]] = {"ingress": [], "egress": []}
    deny: list[list[Json]] = [[{"drop": None}]]
    if reject:
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
            cmds += [_add("chain", name=chain), {"flush": _obj("chain", name=chain)}]
            for i, rule in enumerate(rules):
                for expr in _rule_exprs(rule, field, what):
                    cmds.append(_rule(chain, [*expr, {"return": None}],
                                      f"{label} {direction} rule {i}"))  # fmt: skip
            for expr in deny:
                cmds.append(_rule(chain, expr, f"{label} {direction} deny"))
    for direction, items in elems.items():
        if items:
            cmds.append(_add("element", name=direction, elem=items))
    stale = sorted(set(existing_chains) - wanted)  # emptied first: they may jump to each other
    cmds += [{"flush": _obj("chain", name=chain)} for chain in stale]
    cmds += [{"delete": _obj("chain", name=chain)} for chain in stale]
    return cmds


def policy_table_delete() -> list[Json]:
    table = {"family": POLICY_TABLE[0], "name": POLICY_TABLE[1]}
    return [{"add": {"table": dict(table)}}, {"delete": {"table": dict(table)}}]


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
        """Problems to report (nothing is changed): without bridge netfilter, traffic between
        two pods of one bridge never reaches the ``forward`` hook and is not filtered."""
        key = "net/bridge/bridge-nf-call-iptables"
        try:
            value = in_netns(self.netns, lambda: read_sysctl(key))
        except Exception:
            value = ""
        if value == "1":
            return []
        return [
            "net.bridge.bridge-nf-call-iptables is not 1 (br_netfilter missing or off): "
            "NetworkPolicy is not enforced between pods of one bridge network "
            "(enable with: modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1)"
        ]

    def pods(self) -> dict[str, PodPolicy]:
        with self._lock:
            return dict(self._pods)

    def sync(self, pods: Iterable[PodPolicy]) -> None:
        """Enforce exactly ``pods`` (one atomic transaction); InvalidArgument on bad input,
        and then nothing changed."""
        wanted = list(pods)
        with self._lock:
            existing = list_chains(self.nft, POLICY_TABLE)
            cmds = policy_commands(wanted, existing, reject=self.reject)
            self.nft.apply(cmds, "sync network policy rules")
            self._pods = {p.address: p for p in wanted}

    def close(self) -> None:
        """Delete the table: every pod is unisolated."""
        with self._lock:
            self.nft.apply(policy_table_delete(), "delete network policy rules")
            self._pods = {}
