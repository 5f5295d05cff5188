"""Validation with Kubernetes' messages and field paths.

Each kind has an ordered list of small named checks (runc's validator, CONVENTIONS #6);
each check appends :class:`FieldError` values, and :func:`check` raises one
InvalidArgument naming the object and listing them all, as the API server does::

    Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater
    than or equal to 0                                             (one line in reality)

The error kinds and their rendering are apimachinery's ``field.Error``: ``Required
value``, ``Invalid value: <v>: <detail>``, ``Unsupported value: <v>: supported values:
...``, ``Forbidden: <detail>``, ``Duplicate value: <v>``, ``Not found: <v>``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dockyard.errors import InvalidArgument

from ._checks import (
    CONFIG_KEY,
    GROUPS,
    MSG_CONFIG_KEY,
    Errs,
    FieldError,
    dns_name,
    forbidden,
    full,
    int_or_name_port,
    invalid,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    labels,
    meta,
    non_negative,
    port_number,
    protocol,
    required,
    unsupported,
)
from ._validate_pod import pod_spec, template_spec, workload_selector
from ._validate_policy import validate_hpa, validate_netpol
from .objects import (
    ConfigMap,
    Deployment,
    HorizontalPodAutoscaler,
    Namespace,
    NetworkPolicy,
    Pod,
    ReplicaSet,
    Secret,
    Service,
)

__all__ = [
    "FieldError",
    "check",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "validate",
]

# -- kinds -----------------------------------------------------------------------------


def _deployment(d: Deployment) -> Errs:
    errs: Errs = []
    spec = d.spec
    meta(errs, d.metadata, "subdomain")
    non_negative(errs, "spec.replicas", spec.replicas)
    workload_selector(errs, spec.selector, "deployment")
    template_spec(errs, "spec.template", spec.template, spec.selector)
    _strategy(errs, d)
    non_negative(errs, "spec.minReadySeconds", spec.min_ready_seconds)
    non_negative(errs, "spec.revisionHistoryLimit", spec.revision_history_limit)
    non_negative(errs, "spec.progressDeadlineSeconds", spec.progress_deadline_seconds)
    if spec.progress_deadline_seconds <= spec.min_ready_seconds:
        invalid(
            errs,
            "spec.progressDeadlineSeconds",
            spec.progress_deadline_seconds,
            "must be greater than minReadySeconds",
        )
    return errs


def _int_or_percent(errs: Errs, path: str, value: int | str) -> int | None:
    """The percentage or count, or None (and an error) when it is neither."""
    if isinstance(value, int):
        non_negative(errs, path, value)
        return value
    if not re.fullmatch(r"[0-9]+%", value):
        invalid(
            errs,
            path,
            value,
            "a valid percent string must be a numeric string followed "
            "by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
        )
        return None
    return int(value[:-1])


def _strategy(errs: Errs, d: Deployment) -> None:
    s = d.spec.strategy
    if s.type not in ("Recreate", "RollingUpdate"):
        unsupported(errs, "spec.strategy.type", s.type, ("Recreate", "RollingUpdate"))
        return
    ru = s.rolling_update
    if s.type == "Recreate":
        if ru is not None:
            forbidden(
                errs,
                "spec.strategy.rollingUpdate",
                "may not be specified when strategy `type` is 'Recreate'",
            )
        return
    if ru is None:
        required(errs, "spec.strategy.rollingUpdate", "this should be defaulted and never be nil")
        return
    path = "spec.strategy.rollingUpdate"
    unavailable = _int_or_percent(errs, f"{path}.maxUnavailable", ru.max_unavailable)
    surge = _int_or_percent(errs, f"{path}.maxSurge", ru.max_surge)
    if isinstance(ru.max_unavailable, str) and unavailable is not None and unavailable > 100:
        invalid(errs, f"{path}.maxUnavailable", ru.max_unavailable, "must not be greater than 100%")
    if unavailable == 0 and surge == 0:
        invalid(
            errs, f"{path}.maxUnavailable", ru.max_unavailable, "may not be 0 when `maxSurge` is 0"
        )


def _replicaset(rs: ReplicaSet) -> Errs:
    errs: Errs = []
    meta(errs, rs.metadata, "subdomain")
    non_negative(errs, "spec.replicas", rs.spec.replicas)
    non_negative(errs, "spec.minReadySeconds", rs.spec.min_ready_seconds)
    workload_selector(errs, rs.spec.selector, "replicaset")
    template_spec(errs, "spec.template", rs.spec.template, rs.spec.selector)
    return errs


def _pod(p: Pod) -> Errs:
    errs: Errs = []
    meta(errs, p.metadata, "subdomain")
    pod_spec(errs, "spec", p.spec, ("Always", "OnFailure", "Never"))
    return errs


SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")


def _service(s: Service) -> Errs:
    errs: Errs = []
    spec = s.spec
    meta(errs, s.metadata, "dns1035")
    if spec.type not in SERVICE_TYPES:
        unsupported(errs, "spec.type", spec.type, SERVICE_TYPES)
    headless = spec.cluster_ip == "None"
    if not spec.ports and spec.type != "ExternalName" and not headless:
        required(errs, "spec.ports")
    if spec.type == "ExternalName" and not spec.external_name:
        required(errs, "spec.externalName")
    names: set[str] = set()
    for i, port in enumerate(spec.ports):
        p = f"spec.ports[{i}]"
        if len(spec.ports) > 1 and not port.name:
            required(errs, f"{p}.name")
        elif port.name:
            dns_name(errs, f"{p}.name", port.name, "label")
            if port.name in names:
                errs.append(FieldError(f"{p}.name", "Duplicate", port.name))
            names.add(port.name)
        port_number(errs, f"{p}.port", port.port)
        protocol(errs, f"{p}.protocol", port.protocol)
        if port.target_port is not None:
            int_or_name_port(errs, f"{p}.targetPort", port.target_port)
        if port.node_port:
            if spec.type not in ("NodePort", "LoadBalancer"):
                forbidden(errs, f"{p}.nodePort", f"may not be used when `type` is '{spec.type}'")
            elif not 30000 <= port.node_port <= 32767:
                invalid(
                    errs,
                    f"{p}.nodePort",
                    port.node_port,
                    "provided port is not in the "
                    "valid range. The range of valid ports is 30000-32767",
                )
    labels(errs, "spec.selector", spec.selector)
    if spec.session_affinity not in ("None", "ClientIP"):
        unsupported(errs, "spec.sessionAffinity", spec.session_affinity, ("ClientIP", "None"))
    if spec.external_traffic_policy is not None:
        if spec.type not in ("NodePort", "LoadBalancer"):
            forbidden(
                errs,
                "spec.externalTrafficPolicy",
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        elif spec.external_traffic_policy not in ("Cluster", "Local"):
            unsupported(
                errs,
                "spec.externalTrafficPolicy",
                spec.external_traffic_policy,
                ("Cluster", "Local"),
            )
    return errs


# -- configuration ---------------------------------------------------------------------


def _config_keys(errs: Errs, path: str, keys: Iterable[str]) -> None:
    for key in keys:
        if len(key) > 253:
            invalid(errs, path, key, "must be no more than 253 characters")
        elif not full(CONFIG_KEY, key):
            invalid(errs, path, key, MSG_CONFIG_KEY)
        elif key in (".", ".."):
            invalid(errs, path, key, "must not be '.' or '..'")


def _base64(errs: Errs, path: str, data: Mapping[str, str], redact: bool) -> int:
    total = 0
    for key, value in data.items():
        try:
            total += len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError) as e:
            shown = "<secret contents redacted>" if redact else value
            invalid(errs, f"{path}[{key}]", shown, f"illegal base64 data: {e}")
    return total


def _configmap(c: ConfigMap) -> Errs:
    errs: Errs = []
    meta(errs, c.metadata, "subdomain")
    _config_keys(errs, "data", c.data)
    _config_keys(errs, "binaryData", c.binary_data)
    for key in set(c.data) & set(c.binary_data):
        errs.append(FieldError(f"data[{key}]", "Duplicate", key))
    size = sum(len(v.encode()) for v in c.data.values())
    size += _base64(errs, "binaryData", c.binary_data, False)
    if size > 1024 * 1024:
        invalid(errs, "data", "", "too long: must have at most 1048576 bytes")
    return errs


def _secret(s: Secret) -> Errs:
    errs: Errs = []
    meta(errs, s.metadata, "subdomain")
    _config_keys(errs, "data", s.data)
    if _base64(errs, "data", s.data, True) > 1024 * 1024:
        invalid(errs, "data", "", "too long: must have at most 1048576 bytes")
    return errs


def _namespace(n: Namespace) -> Errs:
    errs: Errs = []
    meta(errs, n.metadata, "label", namespaced=False)
    return errs


_CHECKS: dict[type[Any], Callable[[Any], Errs]] = {
    Deployment: _deployment,
    ReplicaSet: _replicaset,
    Pod: _pod,
    Service: _service,
    HorizontalPodAutoscaler: validate_hpa,
    NetworkPolicy: validate_netpol,
    ConfigMap: _configmap,
    Secret: _secret,
    Namespace: _namespace,
}


def validate(obj: Any) -> list[FieldError]:
    """Every problem with ``obj``, in the order the checks find them."""
    return _CHECKS[type(obj)](obj)


def describe(obj: Any) -> str:
    """``Deployment.apps "web"``: how the API server names an object in errors."""
    shown = obj.metadata.name or obj.metadata.generate_name or ""
    return f'{GROUPS.get(obj.kind, obj.kind)} "{shown}"'


def check(obj: Any) -> None:
    """Raise InvalidArgument (``<Kind> "<name>" is invalid: ...``) if ``obj`` has problems."""
    errs = validate(obj)
    if not errs:
        return
    listed = str(errs[0]) if len(errs) == 1 else "[" + ", ".join(str(e) for e in errs) + "]"
    raise InvalidArgument(f"{describe(obj)} is invalid: {listed}")
