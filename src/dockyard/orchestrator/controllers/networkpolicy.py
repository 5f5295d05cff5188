"""The NetworkPolicy controller: NetworkPolicy objects + pods → per-pod nftables allow lists.

:func:`pod_policies` (pure) turns the policies, the pods (with addresses) and the
namespaces' labels into :class:`~dockyard.network.netpol_nft.PodPolicy` records with the
semantics of :mod:`dockyard.orchestrator.netpol_evaluation` (NETPOL.md): a pod is isolated in a
direction when a policy of its namespace selects it with that policy type; each rule of
each selecting policy becomes one :class:`PolicyRule` whose peers are the addresses of the
pods its selectors match (any namespace, as ``namespaceSelector`` says) and its ipBlocks;
named ports are resolved on the destination pod (for egress, a rule with named ports is
split per peer pod). :class:`NetworkPolicyController` calls
:meth:`NetworkPolicyEnforcer.sync` whenever that list changes (policy, pod or namespace
change, plus a periodic resync).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from dockyard.errors import DockyardError
from dockyard.network.netpol_nft import PodPolicy, PolicyPeer, PolicyPort, PolicyRule

from ..backend import ObservedPod
from ..netpol_evaluation import Endpoint, _peer_matches, _selecting
from ..objects import Namespace, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort
from ..store import ObjectStore
from ..syncloop import SyncLoop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..engine_port import ServiceNetworking
    from .manager import Clock

__all__ = [
    "NetworkPolicyController",
    "PolicyEnforcer",
    "PolicyPods",
    "attach_netpol",
    "endpoint_of",
    "pod_policies",
]


class PolicyPods(Protocol):
    """The pods as the controller sees them (the pod backend, ``enginepods.py``)."""

    async def list_pods(self, namespace: str | None = None) -> list[ObservedPod]: ...


class PolicyEnforcer(Protocol):
    """The kernel's per-pod allow lists (:class:`~dockyard.network.netpol_nft.
    NetworkPolicyEnforcer`)."""

    def sync(self, pods: Iterable[PodPolicy]) -> None:
        """Make the kernel enforce exactly ``pods`` (one transaction)."""
        ...


def endpoint_of(p: ObservedPod) -> Endpoint:
    ports = {cp.name: cp.container_port for c in p.pod.spec.containers for cp in c.ports if cp.name}
    return Endpoint(p.name, p.namespace, dict(p.pod.metadata.labels), p.pod_ip, ports)


def _ports(
    ports: Sequence[NetworkPolicyPort], dst: Endpoint | None
) -> tuple[PolicyPort, ...] | None:
    """The rule's ports on ``dst``; None when a named port cannot be resolved at all (the
    rule then matches nothing for that destination)."""
    out = []
    for rp in ports:
        proto = rp.protocol.lower()
        if rp.port is None:
            out.append(PolicyPort(proto))
        elif isinstance(rp.port, str):
            n = dst.ports.get(rp.port) if dst is not None else None
            if n is not None:
                out.append(PolicyPort(proto, n))
        else:
            out.append(PolicyPort(proto, rp.port, rp.end_port or 0))
    if ports and not out:
        return None
    return tuple(out)


def _peers(
    peers: Sequence[NetworkPolicyPeer],
    policy_ns: str,
    pods: Sequence[Endpoint],
    namespaces: Mapping[str, Mapping[str, str]],
) -> tuple[list[PolicyPeer], list[Endpoint]]:
    blocks: list[PolicyPeer] = []
    matched: dict[str, Endpoint] = {}
    for peer in peers:
        if peer.ip_block is not None:
            blocks.append(PolicyPeer(peer.ip_block.cidr, tuple(peer.ip_block.except_)))
            continue
        for ep in pods:
            if ep.ip and _peer_matches(peer, policy_ns, ep, namespaces):
                matched[ep.ip] = ep
    return blocks, [matched[k] for k in sorted(matched)]


def _has_named(ports: Sequence[NetworkPolicyPort]) -> bool:
    return any(isinstance(p.port, str) for p in ports)


def pod_policies(
    policies: Sequence[NetworkPolicy],
    pods: Iterable[ObservedPod],
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
) -> list[PodPolicy]:
    """Every isolated pod (with an address) and what it is allowed, sorted by address."""
    ns_labels = namespaces or {}
    eps = [endpoint_of(p) for p in pods if p.pod_ip and not p.terminating]
    out: list[PodPolicy] = []
    for me in sorted(eps, key=lambda e: e.ip or ""):
        assert me.ip is not None
        ingress: tuple[PolicyRule, ...] | None = None
        egress: tuple[PolicyRule, ...] | None = None
        sel_in = _selecting(policies, me, "Ingress")
        if sel_in:
            rules: list[PolicyRule] = []
            for pol in sel_in:
                pns = pol.metadata.namespace or "default"
                for r in pol.spec.ingress:
                    ports = _ports(r.ports, me)
                    if ports is None:
                        continue
                    if not r.from_:
                        rules.append(PolicyRule(None, ports))
                        continue
                    blocks, peers = _peers(r.from_, pns, eps, ns_labels)
                    addrs = [PolicyPeer(x.ip) for x in peers if x.ip]
                    rules.append(PolicyRule(tuple(addrs + blocks), ports))
            ingress = tuple(rules)
        sel_out = _selecting(policies, me, "Egress")
        if sel_out:
            rules = []
            for pol in sel_out:
                pns = pol.metadata.namespace or "default"
                for er in pol.spec.egress:
                    if not er.to:
                        if _has_named(er.ports):  # any destination: resolve on every pod
                            for dst in eps:
                                ports = _ports(er.ports, dst)
                                if ports is not None and dst.ip:
                                    rules.append(PolicyRule((PolicyPeer(dst.ip),), ports))
                        else:
                            rules.append(PolicyRule(None, _ports(er.ports, None) or ()))
                        continue
                    blocks, peers = _peers(er.to, pns, eps, ns_labels)
                    if _has_named(er.ports):
                        for dst in peers:
                            ports = _ports(er.ports, dst)
                            if ports is not None and dst.ip:
                                rules.append(PolicyRule((PolicyPeer(dst.ip),), ports))
                        plain = _ports([p for p in er.ports if not isinstance(p.port, str)], None)
                        if blocks and plain:
                            rules.append(PolicyRule(tuple(blocks), plain))
                    else:
                        addrs = [PolicyPeer(x.ip) for x in peers if x.ip]
                        rules.append(
                            PolicyRule(tuple(addrs + blocks), _ports(er.ports, None) or ())
                        )
            egress = tuple(rules)
        if ingress is not None or egress is not None:
            out.append(PodPolicy(me.ip, f"{me.namespace}/{me.name}", ingress, egress))
    return out


class NetworkPolicyController(SyncLoop):
    """Keeps ``enforcer`` (a :class:`NetworkPolicyEnforcer`) in step with the store and pods."""

    def __init__(
        self,
        store: ObjectStore,
        backend: PolicyPods,
        enforcer: PolicyEnforcer,
        *,
        resync: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.enforcer = enforcer
        self.resync = resync
        self.on_error = on_error
        self.synced: list[PodPolicy] | None = None
        self.error = ""
        SyncLoop.__init__(self, clock)

    async def reconcile(self) -> bool:
        policies = self.store.list(NetworkPolicy)
        if not policies and not self.synced:
            if self.synced is None:
                self.synced = []
            return False
        namespaces = {n.metadata.name: dict(n.metadata.labels) for n in self.store.list(Namespace)}
        wanted = pod_policies(policies, await self.backend.list_pods(), namespaces)
        if wanted == self.synced:
            return False
        try:
            await asyncio.to_thread(self.enforcer.sync, wanted)
        except DockyardError as e:
            if str(e) != self.error and self.on_error is not None:
                self.on_error(f"network policy: {e}")
            self.error = str(e)
            raise
        self.error = ""
        self.synced = wanted
        return True

    def _loop_error(self, e: Exception) -> None:
        if self.on_error is not None and not isinstance(e, DockyardError):
            self.on_error(f"network policy: {type(e).__name__}: {e}")


def attach_netpol(
    net: ServiceNetworking, store: ObjectStore, backend: PolicyPods
) -> NetworkPolicyController | None:
    """Make the NetworkPolicy controller of a daemon's orchestrator (None without
    networking); what the host lacks for enforcement goes to the daemon's output."""
    from dockyard.network.netpol_nft import NetworkPolicyEnforcer

    if not net.networking:
        return None
    enforcer = NetworkPolicyEnforcer()
    for w in enforcer.check_host():
        print(f"dockyardd: {w}", flush=True)
    return NetworkPolicyController(
        store,
        backend,
        enforcer,
        on_error=lambda line: print(f"dockyardd: {line}", flush=True),
    )
