"""Validation of HorizontalPodAutoscalers and NetworkPolicies."""

from __future__ import annotations

import ipaddress
from typing import Any

from ._checks import (
    Errs,
    check_selector,
    forbidden,
    int_or_name_port,
    invalid,
    meta,
    port_number,
    protocol,
    required,
    unsupported,
)
from .objects import (
    HorizontalPodAutoscaler,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
)

__all__ = ["validate_hpa", "validate_netpol"]

# -- autoscaling -----------------------------------------------------------------------


def _target(errs: Errs, path: str, target: MetricTarget, utilization_ok: bool) -> None:
    kinds = ("AverageValue", "Utilization", "Value")
    if target.type not in kinds:
        if not target.type:
            required(errs, f"{path}.type", "must specify a metric target type")
        else:
            unsupported(errs, f"{path}.type", target.type, kinds)
        return
    if target.type == "Utilization":
        if not utilization_ok:
            invalid(errs, f"{path}.type", target.type, "must be either Value or AverageValue")
        elif target.average_utilization is None:
            required(
                errs,
                f"{path}.averageUtilization",
                "must set either a target raw value or a target utilization",
            )
        elif target.average_utilization < 1:
            invalid(
                errs,
                f"{path}.averageUtilization",
                target.average_utilization,
                "must be greater than 0",
            )
    field_name, value = (
        ("value", target.value)
        if target.type == "Value"
        else ("averageValue", target.average_value)
    )
    if target.type != "Utilization":
        if value is None:
            required(
                errs, f"{path}.{field_name}", f"must set {field_name} when type is {target.type}"
            )
        elif value.value <= 0:
            invalid(errs, f"{path}.{field_name}", value.text, "must be positive")


def _metric(errs: Errs, path: str, m: MetricSpec) -> None:
    sources: dict[str, Any] = {
        "Resource": m.resource,
        "ContainerResource": m.container_resource,
        "Pods": m.pods,
        "Object": m.object_,
        "External": m.external,
    }
    if m.type not in sources:
        unsupported(errs, f"{path}.type", m.type, sorted(sources))
        return
    wire = {
        "Resource": "resource",
        "ContainerResource": "containerResource",
        "Pods": "pods",
        "Object": "object",
        "External": "external",
    }
    source = sources[m.type]
    if source is None:
        required(
            errs, f"{path}.{wire[m.type]}", "must populate information for the given metric source"
        )
        return
    for other, value in sources.items():
        if other != m.type and value is not None:
            forbidden(errs, f"{path}.{wire[other]}", "must populate the given metric source only")
    sub = f"{path}.{wire[m.type]}"
    if m.type in ("Resource", "ContainerResource"):
        if not source.name:
            required(errs, f"{sub}.name", "must specify a resource name")
        if m.type == "ContainerResource" and not source.container:
            required(errs, f"{sub}.container", "must specify a container")
    elif not source.metric.name:
        required(errs, f"{sub}.metric.name", "must specify a metric name")
    if m.type == "Object" and (
        not source.described_object.kind or not source.described_object.name
    ):
        required(errs, f"{sub}.describedObject", "must specify kind and name")
    _target(errs, f"{sub}.target", source.target, m.type in ("Resource", "ContainerResource"))
    if m.type == "Pods" and source.target.type != "AverageValue":
        unsupported(errs, f"{sub}.target.type", source.target.type, ("AverageValue",))


def _rules(errs: Errs, path: str, rules: HPAScalingRules | None) -> None:
    if rules is None:
        return
    w = rules.stabilization_window_seconds
    if w is not None and not 0 <= w <= 3600:
        invalid(
            errs,
            f"{path}.stabilizationWindowSeconds",
            w,
            "must be less than or equal to 3600"
            if w > 3600
            else "must be greater than or equal to 0",
        )
    if rules.select_policy is not None and rules.select_policy not in ("Disabled", "Max", "Min"):
        unsupported(errs, f"{path}.selectPolicy", rules.select_policy, ("Disabled", "Max", "Min"))
    if rules.policies is not None and not rules.policies and rules.select_policy != "Disabled":
        required(errs, f"{path}.policies", "must specify at least one Policy")
    for i, pol in enumerate(rules.policies or ()):
        p = f"{path}.policies[{i}]"
        if pol.type not in ("Pods", "Percent"):
            unsupported(errs, f"{p}.type", pol.type, ("Percent", "Pods"))
        if pol.value <= 0:
            invalid(errs, f"{p}.value", pol.value, "must be greater than zero")
        if not 1 <= pol.period_seconds <= 1800:
            invalid(
                errs,
                f"{p}.periodSeconds",
                pol.period_seconds,
                "must be greater than zero and less than or equal to 1800",
            )
    if rules.tolerance is not None and rules.tolerance.value < 0:
        invalid(
            errs, f"{path}.tolerance", rules.tolerance.text, "must be greater than or equal to 0"
        )


def validate_hpa(h: HorizontalPodAutoscaler) -> Errs:
    errs: Errs = []
    spec = h.spec
    meta(errs, h.metadata, "subdomain")
    ref = spec.scale_target_ref
    if not ref.kind:
        required(errs, "spec.scaleTargetRef.kind")
    if not ref.name:
        required(errs, "spec.scaleTargetRef.name")
    if spec.min_replicas < 1:
        invalid(errs, "spec.minReplicas", spec.min_replicas, "must be greater than or equal to 1")
    if spec.max_replicas < 1:
        invalid(errs, "spec.maxReplicas", spec.max_replicas, "must be greater than 0")
    elif spec.max_replicas < spec.min_replicas:
        invalid(
            errs,
            "spec.maxReplicas",
            spec.max_replicas,
            "must be greater than or equal to `minReplicas`",
        )
    for i, m in enumerate(spec.metrics):
        _metric(errs, f"spec.metrics[{i}]", m)
    if spec.behavior is not None:
        _rules(errs, "spec.behavior.scaleUp", spec.behavior.scale_up)
        _rules(errs, "spec.behavior.scaleDown", spec.behavior.scale_down)
    return errs


# -- network policy --------------------------------------------------------------------


def _np_port(errs: Errs, path: str, port: NetworkPolicyPort) -> None:
    protocol(errs, f"{path}.protocol", port.protocol)
    if port.port is not None:
        int_or_name_port(errs, f"{path}.port", port.port)
    if port.end_port is None:
        return
    if not isinstance(port.port, int):
        invalid(
            errs,
            f"{path}.endPort",
            port.end_port,
            "may not be specified when `port` is non-numeric"
            if port.port is not None
            else "may not be specified when `port` is not specified",
        )
    elif port.end_port < port.port:
        invalid(errs, f"{path}.endPort", port.end_port, "must be greater than or equal to `port`")
    else:
        port_number(errs, f"{path}.endPort", port.end_port)


def _peer(errs: Errs, path: str, peer: NetworkPolicyPeer) -> None:
    selectors = [s for s in (peer.pod_selector, peer.namespace_selector) if s is not None]
    if peer.ip_block is None and not selectors:
        required(errs, path, "must specify a peer")
        return
    if peer.ip_block is not None and selectors:
        forbidden(errs, path, "may not specify both ipBlock and another peer")
        return
    if peer.pod_selector is not None:
        check_selector(errs, f"{path}.podSelector", peer.pod_selector)
    if peer.namespace_selector is not None:
        check_selector(errs, f"{path}.namespaceSelector", peer.namespace_selector)
    if peer.ip_block is not None:
        _ip_block(errs, f"{path}.ipBlock", peer.ip_block.cidr, peer.ip_block.except_)


def _ip_block(errs: Errs, path: str, cidr: str, excepts: tuple[str, ...]) -> None:
    if not cidr:
        required(errs, f"{path}.cidr")
        return
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        invalid(
            errs,
            f"{path}.cidr",
            cidr,
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
        )
        return
    for i, ex in enumerate(excepts):
        try:
            sub = ipaddress.ip_network(ex, strict=False)
        except ValueError:
            invalid(errs, f"{path}.except[{i}]", ex, "must be a valid CIDR value")
            continue
        if sub.version != net.version or not sub.subnet_of(net) or sub == net:  # type: ignore[arg-type]
            invalid(errs, f"{path}.except[{i}]", ex, "must be a strict subset of `cidr`")


def validate_netpol(n: NetworkPolicy) -> Errs:
    errs: Errs = []
    spec = n.spec
    meta(errs, n.metadata, "subdomain")
    check_selector(errs, "spec.podSelector", spec.pod_selector)
    for i, t in enumerate(spec.policy_types):
        if t not in ("Ingress", "Egress"):
            unsupported(errs, f"spec.policyTypes[{i}]", t, ("Egress", "Ingress"))
    if len(set(spec.policy_types)) != len(spec.policy_types):
        invalid(errs, "spec.policyTypes", list(spec.policy_types), "may not have duplicate values")
    for i, rule in enumerate(spec.ingress):
        for j, port in enumerate(rule.ports):
            _np_port(errs, f"spec.ingress[{i}].ports[{j}]", port)
        for j, peer in enumerate(rule.from_):
            _peer(errs, f"spec.ingress[{i}].from[{j}]", peer)
    for i, erule in enumerate(spec.egress):
        for j, port in enumerate(erule.ports):
            _np_port(errs, f"spec.egress[{i}].ports[{j}]", port)
        for j, peer in enumerate(erule.to):
            _peer(errs, f"spec.egress[{i}].to[{j}]", peer)
    return errs
