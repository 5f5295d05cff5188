"""NetworkPolicy (networking.k8s.io/v1) records.

See :mod:`dockyard.orchestrator.objects` for the conventions (wire names, defaults).
"""

from __future__ import annotations

from dockyard.records import field, record, replace

from ._pods import ObjectMeta
from .selectors import LabelSelector

__all__ = [
    "IPBlock",
    "NetworkPolicy",
    "NetworkPolicyEgressRule",
    "NetworkPolicyIngressRule",
    "NetworkPolicyPeer",
    "NetworkPolicyPort",
    "NetworkPolicySpec",
]


@record
class NetworkPolicyPort:
    protocol: str = "TCP"
    port: int | str | None = None
    end_port: int | None = None


@record
class IPBlock:
    cidr: str = ""
    except_: tuple[str, ...] = ()


@record
class NetworkPolicyPeer:
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@record
class NetworkPolicyIngressRule:
    ports: tuple[NetworkPolicyPort, ...] = ()
    from_: tuple[NetworkPolicyPeer, ...] = ()


@record
class NetworkPolicyEgressRule:
    ports: tuple[NetworkPolicyPort, ...] = ()
    to: tuple[NetworkPolicyPeer, ...] = ()


@record
class NetworkPolicySpec:
    pod_selector: LabelSelector = field(default_factory=LabelSelector)
    policy_types: tuple[str, ...] = ()
    ingress: tuple[NetworkPolicyIngressRule, ...] = ()
    egress: tuple[NetworkPolicyEgressRule, ...] = ()

    def defaulted(self) -> NetworkPolicySpec:
        """Omitted ``policyTypes``: Ingress always, Egress when there are egress rules."""
        if self.policy_types:
            return self
        types = ("Ingress", "Egress") if self.egress else ("Ingress",)
        return replace(self, policy_types=types)


@record
class NetworkPolicy:
    api_version: str = "networking.k8s.io/v1"
    kind: str = "NetworkPolicy"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: NetworkPolicySpec = field(default_factory=NetworkPolicySpec)
