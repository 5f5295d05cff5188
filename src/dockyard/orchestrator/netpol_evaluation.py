"""NetworkPolicy evaluation: is a connection allowed? (the corpus' ``NETPOL.md``)

Terms:

* a pod is *isolated for ingress* when some policy in its namespace selects it
  (``podSelector``) and has ``Ingress`` in its ``policyTypes``; the same for egress;
* traffic in an isolated direction is allowed when any rule of any policy selecting
  the pod in that direction matches it: a rule matches when one of its peers (none:
  all) and one of its ports (none: all) match; policies only add, never deny;
* a connection from A to B needs A's egress and B's ingress; replies are implied;
* peers: ``podSelector`` alone means pods of the policy's namespace,
  ``namespaceSelector`` alone all pods of matching namespaces, both in one item the
  intersection; ``ipBlock`` a CIDR minus its ``except`` ranges (external addresses);
* ports: protocol (TCP by default), a number or a named container port of the
  destination pod, ``endPort`` an inclusive range.

Namespaces carry the automatic ``kubernetes.io/metadata.name`` label.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from dockyard.records import field, record

from .objects import NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort
from .selectors import matches

__all__ = ["Endpoint", "Verdict", "connection_allowed", "egress_allowed", "ingress_allowed"]

NAME_LABEL = "kubernetes.io/metadata.name"


@record
class Endpoint:
    """One end of a connection: a pod (``name`` set) or an address outside the cluster.

    ``ports`` maps the pod's named container ports to their numbers."""

    name: str | None = None
    namespace: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    ip: str | None = None
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def is_pod(self) -> bool:
        return self.name is not None


@record
class Verdict:
    """The answer and the policies that decided it (isolating, or allowing)."""

    allowed: bool
    reason: str
    policies: tuple[str, ...] = ()


def _ns_labels(namespace: str, namespaces: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    return {**namespaces.get(namespace, {}), NAME_LABEL: namespace}


def _policy_ns(policy: NetworkPolicy) -> str:
    return policy.metadata.namespace or "default"


def _selecting(
    policies: Sequence[NetworkPolicy], pod: Endpoint, direction: str
) -> list[NetworkPolicy]:
    return [
        p
        for p in policies
        if _policy_ns(p) == pod.namespace
        and direction in p.spec.policy_types
        and matches(p.spec.pod_selector, pod.labels)
    ]


def _in_block(ip: str, cidr: str, excepts: Sequence[str]) -> bool:
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(cidr, strict=False)
    if addr.version != net.version or addr not in net:
        return False
    return not any(addr in ipaddress.ip_network(e, strict=False) for e in excepts)


def _peer_matches(
    peer: NetworkPolicyPeer,
    policy_ns: str,
    other: Endpoint,
    namespaces: Mapping[str, Mapping[str, str]],
) -> bool:
    if peer.ip_block is not None:
        return other.ip is not None and _in_block(
            other.ip, peer.ip_block.cidr, peer.ip_block.except_
        )
    if not other.is_pod:
        return False
    if peer.namespace_selector is not None:
        if not matches(peer.namespace_selector, _ns_labels(other.namespace, namespaces)):
            return False
    elif other.namespace != policy_ns:
        return False
    return peer.pod_selector is None or matches(peer.pod_selector, other.labels)


def _port_matches(rule_port: NetworkPolicyPort, port: int, protocol: str, dst: Endpoint) -> bool:
    if rule_port.protocol != protocol:
        return False
    if rule_port.port is None:
        return True
    if isinstance(rule_port.port, str):
        return dst.ports.get(rule_port.port) == port
    end = rule_port.end_port if rule_port.end_port is not None else rule_port.port
    return rule_port.port <= port <= end


def _ports_match(
    ports: Sequence[NetworkPolicyPort], port: int, protocol: str, dst: Endpoint
) -> bool:
    return not ports or any(_port_matches(p, port, protocol, dst) for p in ports)


def ingress_allowed(
    dst: Endpoint,
    src: Endpoint,
    port: int,
    protocol: str,
    policies: Sequence[NetworkPolicy],
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> Verdict:
    """Whether ``dst`` (a pod) accepts the connection from ``src``."""
    ns = namespaces or {}
    selecting = _selecting(policies, dst, "Ingress")
    if not selecting:
        return Verdict(True, "not isolated for ingress")
    for p in selecting:
        for rule in p.spec.ingress:
            peers_ok = not rule.from_ or any(
                _peer_matches(peer, _policy_ns(p), src, ns) for peer in rule.from_
            )
            if peers_ok and _ports_match(rule.ports, port, protocol, dst):
                return Verdict(True, "allowed by an ingress rule", (p.metadata.name,))
    names = tuple(p.metadata.name for p in selecting)
    return Verdict(False, "isolated for ingress and no rule allows it", names)


def egress_allowed(
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str,
    policies: Sequence[NetworkPolicy],
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> Verdict:
    """Whether ``src`` (a pod) may open the connection to ``dst``."""
    ns = namespaces or {}
    selecting = _selecting(policies, src, "Egress")
    if not selecting:
        return Verdict(True, "not isolated for egress")
    for p in selecting:
        for rule in p.spec.egress:
            peers_ok = not rule.to or any(
                _peer_matches(peer, _policy_ns(p), dst, ns) for peer in rule.to
            )
            if peers_ok and _ports_match(rule.ports, port, protocol, dst):
                return Verdict(True, "allowed by an egress rule", (p.metadata.name,))
    names = tuple(p.metadata.name for p in selecting)
    return Verdict(False, "isolated for egress and no rule allows it", names)


def connection_allowed(
    src: Endpoint,
    dst: Endpoint,
    port: int,
    protocol: str = "TCP",
    policies: Sequence[NetworkPolicy] = (),
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> Verdict:
    """A new connection ``src → dst:port/protocol``: the source's egress (if ``src`` is a
    pod) and the destination's ingress (if ``dst`` is a pod) must both allow it."""
    if src.is_pod:
        out = egress_allowed(src, dst, port, protocol, policies, namespaces)
        if not out.allowed:
            return out
    if dst.is_pod:
        inbound = ingress_allowed(dst, src, port, protocol, policies, namespaces)
        if not inbound.allowed:
            return inbound
    return Verdict(True, "allowed")
