"""Validation of pod specs and pod templates (containers, env, probes, volumes)."""

from __future__ import annotations

from ._checks import (
    Errs,
    FieldError,
    check_selector,
    dns_name,
    forbidden,
    int_or_name_port,
    invalid,
    labels,
    non_negative,
    port_name,
    port_number,
    protocol,
    required,
    unsupported,
)
from .objects import Container, EnvVar, PodSpec, PodTemplateSpec, Probe, Volume
from .security_context import (
    LOCALHOST,
    SECCOMP_TYPES,
    PodSecurityContext,
    SeccompProfile,
    SecurityContext,
)
from .selectors import LabelSelector, matches

__all__ = ["pod_spec", "template_spec", "workload_selector"]

_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)


def _env(errs: Errs, path: str, env: EnvVar) -> None:
    if not env.name:
        required(errs, f"{path}.name")
    elif "=" in env.name or not env.name.isprintable() or not env.name.isascii():
        invalid(
            errs,
            f"{path}.name",
            env.name,
            "a valid environment variable name must "
            "consist only of printable ASCII characters other than '='",
        )
    src = env.value_from
    if src is None:
        return
    if env.value:
        invalid(errs, f"{path}.valueFrom", "", "may not be specified when `value` is not empty")
    refs = [
        r
        for r in (src.config_map_key_ref, src.secret_key_ref, src.field_ref, src.resource_field_ref)
        if r is not None
    ]
    if len(refs) != 1:
        detail = (
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or "
            "`secretKeyRef`"
        )
        invalid(errs, f"{path}.valueFrom", "", detail)
    for name, ref in (
        ("configMapKeyRef", src.config_map_key_ref),
        ("secretKeyRef", src.secret_key_ref),
    ):
        if ref is not None:
            if not ref.name:
                required(errs, f"{path}.valueFrom.{name}.name")
            if not ref.key:
                required(errs, f"{path}.valueFrom.{name}.key")
    if src.field_ref is not None:
        fp = src.field_ref.field_path
        base = fp.split("[", 1)[0]
        if not fp:
            required(errs, f"{path}.valueFrom.fieldRef.fieldPath")
        elif base not in _FIELD_PATHS:
            unsupported(errs, f"{path}.valueFrom.fieldRef.fieldPath", fp, _FIELD_PATHS)


def _resources(errs: Errs, path: str, c: Container) -> None:
    for section, values in (("limits", c.resources.limits), ("requests", c.resources.requests)):
        for name, q in values.items():
            if q.value < 0:
                invalid(
                    errs, f"{path}.{section}.{name}", q.text, "must be greater than or equal to 0"
                )
    for name, req in c.resources.requests.items():
        lim = c.resources.limits.get(name)
        if lim is not None and req.value > lim.value:
            invalid(
                errs,
                f"{path}.requests",
                req.text,
                f"must be less than or equal to {name} limit of {lim.text}",
            )


def _probe(errs: Errs, path: str, probe: Probe, single_success: bool) -> None:
    handlers = probe.handlers()
    if not handlers:
        required(errs, path, "must specify a handler type")
    elif len(handlers) > 1:
        forbidden(errs, f"{path}.{handlers[1]}", "may not specify more than 1 handler type")
    non_negative(errs, f"{path}.initialDelaySeconds", probe.initial_delay_seconds)
    for name, value in (
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ):
        if value < 1:
            invalid(errs, f"{path}.{name}", value, "must be greater than or equal to 1")
    if single_success and probe.success_threshold != 1:
        invalid(errs, f"{path}.successThreshold", probe.success_threshold, "must be 1")
    if probe.http_get is not None:
        int_or_name_port(errs, f"{path}.httpGet.port", probe.http_get.port)
        if probe.http_get.scheme not in ("HTTP", "HTTPS"):
            unsupported(errs, f"{path}.httpGet.scheme", probe.http_get.scheme, ("HTTP", "HTTPS"))
    if probe.tcp_socket is not None:
        int_or_name_port(errs, f"{path}.tcpSocket.port", probe.tcp_socket.port)
    if probe.exec_ is not None and not probe.exec_.command:
        required(errs, f"{path}.exec.command")


def _container(errs: Errs, path: str, c: Container, volumes: set[str]) -> None:
    if not c.name:
        required(errs, f"{path}.name")
    else:
        dns_name(errs, f"{path}.name", c.name, "label")
    if not c.image.strip():
        required(errs, f"{path}.image")
    seen_ports: set[str] = set()
    for i, port in enumerate(c.ports):
        p = f"{path}.ports[{i}]"
        port_number(errs, f"{p}.containerPort", port.container_port)
        if port.host_port is not None and port.host_port != 0:
            port_number(errs, f"{p}.hostPort", port.host_port)
        protocol(errs, f"{p}.protocol", port.protocol)
        if port.name is not None:
            port_name(errs, f"{p}.name", port.name)
            if port.name in seen_ports:
                errs.append(FieldError(f"{p}.name", "Duplicate", port.name))
            seen_ports.add(port.name)
    for i, env in enumerate(c.env):
        _env(errs, f"{path}.env[{i}]", env)
    _resources(errs, f"{path}.resources", c)
    for name, probe, single in (
        ("livenessProbe", c.liveness_probe, True),
        ("readinessProbe", c.readiness_probe, False),
        ("startupProbe", c.startup_probe, True),
    ):
        if probe is not None:
            _probe(errs, f"{path}.{name}", probe, single)
    mounts: set[str] = set()
    for i, m in enumerate(c.volume_mounts):
        p = f"{path}.volumeMounts[{i}]"
        if not m.name:
            required(errs, f"{p}.name")
        elif m.name not in volumes:
            errs.append(FieldError(f"{p}.name", "NotFound", m.name))
        if not m.mount_path:
            required(errs, f"{p}.mountPath")
        elif m.mount_path in mounts:
            invalid(errs, f"{p}.mountPath", m.mount_path, "must be unique")
        mounts.add(m.mount_path)
    if c.security_context is not None:
        _security_context(errs, f"{path}.securityContext", c.security_context)
    if c.image_pull_policy is not None and c.image_pull_policy not in (
        "Always",
        "IfNotPresent",
        "Never",
    ):
        unsupported(
            errs,
            f"{path}.imagePullPolicy",
            c.image_pull_policy,
            ("Always", "IfNotPresent", "Never"),
        )


def _volume(errs: Errs, path: str, v: Volume) -> None:
    if not v.name:
        required(errs, f"{path}.name")
    else:
        dns_name(errs, f"{path}.name", v.name, "label")
    sources = v.sources()
    if not sources:
        required(errs, path, "must specify a volume type")
    elif len(sources) > 1:
        forbidden(errs, f"{path}.{sources[1]}", "may not specify more than 1 volume type")
    if v.config_map is not None and not v.config_map.name:
        required(errs, f"{path}.configMap.name")
    if v.secret is not None and not v.secret.secret_name:
        required(errs, f"{path}.secret.secretName")
    if v.host_path is not None and not v.host_path.path:
        required(errs, f"{path}.hostPath.path")
    if v.persistent_volume_claim is not None and not v.persistent_volume_claim.claim_name:
        required(errs, f"{path}.persistentVolumeClaim.claimName")


def pod_spec(errs: Errs, path: str, spec: PodSpec, restart: tuple[str, ...]) -> None:
    names: set[str] = set()
    for i, v in enumerate(spec.volumes):
        _volume(errs, f"{path}.volumes[{i}]", v)
        if v.name in names:
            errs.append(FieldError(f"{path}.volumes[{i}].name", "Duplicate", v.name))
        names.add(v.name)
    if not spec.containers:
        required(errs, f"{path}.containers")
    seen: set[str] = set()
    for group, items in (("initContainers", spec.init_containers), ("containers", spec.containers)):
        for i, c in enumerate(items):
            _container(errs, f"{path}.{group}[{i}]", c, names)
            if c.name and c.name in seen:
                errs.append(FieldError(f"{path}.{group}[{i}].name", "Duplicate", c.name))
            seen.add(c.name)
    if spec.restart_policy not in restart:
        unsupported(errs, f"{path}.restartPolicy", spec.restart_policy, restart)
    policies = ("ClusterFirst", "ClusterFirstWithHostNet", "Default", "None")
    if spec.dns_policy not in policies:
        unsupported(errs, f"{path}.dnsPolicy", spec.dns_policy, policies)
    _dns_config(errs, path, spec)
    _pod_security(errs, path, spec)
    non_negative(
        errs, f"{path}.terminationGracePeriodSeconds", spec.termination_grace_period_seconds
    )


def _dns_config(errs: Errs, path: str, spec: PodSpec) -> None:
    """``dnsConfig`` as the apiserver checks it (at most 3 nameservers, each an IP; at
    most 32 searches; ``dnsPolicy: None`` needs a nameserver)."""
    from ipaddress import ip_address

    cfg = spec.dns_config
    p = f"{path}.dnsConfig"
    if spec.dns_policy == "None" and (cfg is None or not cfg.nameservers):
        errs.append(FieldError(f"{p}.nameservers" if cfg else p, "Required", None,
                               "must provide at least one DNS nameserver when dnsPolicy "
                               "is None"))  # fmt: skip
    if cfg is None:
        return
    if len(cfg.nameservers) > 3:
        errs.append(FieldError(f"{p}.nameservers", "Invalid", list(cfg.nameservers),
                               "must not have more than 3 nameservers"))  # fmt: skip
    for i, ns in enumerate(cfg.nameservers):
        try:
            ip_address(ns)
        except ValueError:
            errs.append(FieldError(f"{p}.nameservers[{i}]", "Invalid", ns,
                                   "must be valid IP address"))  # fmt: skip
    if len(cfg.searches) > 32:
        errs.append(FieldError(f"{p}.searches", "Invalid", list(cfg.searches),
                               "must not have more than 32 search paths"))  # fmt: skip
    for i, s in enumerate(cfg.searches):
        if not s or any(c.isspace() for c in s):
            errs.append(FieldError(f"{p}.searches[{i}]", "Invalid", s,
                                   "must be a DNS subdomain"))  # fmt: skip
    for i, o in enumerate(cfg.options):
        if not o.name:
            errs.append(FieldError(f"{p}.options[{i}].name", "Required", None))
        elif any(c.isspace() for c in o.name + (o.value or "")):
            errs.append(FieldError(f"{p}.options[{i}]", "Invalid", o.name,
                                   "must not contain white space"))  # fmt: skip


# -- securityContext (the API server's ValidateSecurityContext & co) --------------------

_ID_RANGE = "must be between 0 and 2147483647, inclusive"


def _id(errs: Errs, path: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= 2147483647:
        invalid(errs, path, value, _ID_RANGE)


def _seccomp(errs: Errs, path: str, prof: SeccompProfile | None) -> None:
    if prof is None:
        return
    if not prof.type:
        required(errs, f"{path}.type", "type is required when seccompProfile is set")
    elif prof.type not in SECCOMP_TYPES:
        unsupported(errs, f"{path}.type", prof.type, SECCOMP_TYPES)
    local = prof.localhost_profile
    if prof.type == LOCALHOST:
        if local is None:
            required(errs, f"{path}.localhostProfile", "must be set when seccomp type is Localhost")
        elif local.startswith("/"):
            invalid(errs, f"{path}.localhostProfile", local, "must be a relative path")
        elif ".." in local.split("/"):
            invalid(errs, f"{path}.localhostProfile", local, "must not contain '..'")
    elif local is not None:
        invalid(errs, f"{path}.localhostProfile", local,
                "can only be set when seccomp type is Localhost")  # fmt: skip


def _security_context(errs: Errs, path: str, sc: SecurityContext) -> None:
    _id(errs, f"{path}.runAsUser", sc.run_as_user)
    _id(errs, f"{path}.runAsGroup", sc.run_as_group)
    if sc.proc_mount is not None and sc.proc_mount not in ("Default", "Unmasked"):
        unsupported(errs, f"{path}.procMount", sc.proc_mount, ("Default", "Unmasked"))
    _seccomp(errs, f"{path}.seccompProfile", sc.seccomp_profile)
    if sc.allow_privilege_escalation is False:
        if sc.privileged:
            invalid(errs, path, "", "cannot set `allowPrivilegeEscalation` to false and "
                    "`privileged` to true")  # fmt: skip
        if sc.capabilities is not None and "CAP_SYS_ADMIN" in sc.capabilities.add:
            invalid(errs, path, "", "cannot set `allowPrivilegeEscalation` to false and "
                    "`capabilities.Add` CAP_SYS_ADMIN")  # fmt: skip


def _pod_security(errs: Errs, path: str, spec: PodSpec) -> None:
    sc = spec.security_context or PodSecurityContext()
    p = f"{path}.securityContext"
    _id(errs, f"{p}.runAsUser", sc.run_as_user)
    _id(errs, f"{p}.runAsGroup", sc.run_as_group)
    _id(errs, f"{p}.fsGroup", sc.fs_group)
    for i, gid in enumerate(sc.supplemental_groups):
        _id(errs, f"{p}.supplementalGroups[{i}]", gid)
    _seccomp(errs, f"{p}.seccompProfile", sc.seccomp_profile)
    names: set[str] = set()
    for i, item in enumerate(sc.sysctls):
        name = item.get("name")
        if not name or not isinstance(name, str):
            required(errs, f"{p}.sysctls[{i}].name")
        elif name in names:
            errs.append(FieldError(f"{p}.sysctls[{i}].name", "Duplicate", name))
        names.add(str(name))
    if sc.fs_group_change_policy is not None and sc.fs_group_change_policy not in (
        "OnRootMismatch", "Always",
    ):  # fmt: skip
        unsupported(errs, f"{p}.fsGroupChangePolicy", sc.fs_group_change_policy,
                    ("Always", "OnRootMismatch"))  # fmt: skip
    for group, items in (("initContainers", spec.init_containers), ("containers", spec.containers)):
        for i, c in enumerate(items):
            csc = c.security_context
            if csc is not None and csc.proc_mount == "Unmasked" and spec.host_users is not False:
                invalid(errs, f"{path}.{group}[{i}].securityContext.procMount", "Unmasked",
                        "`hostUsers` must be false to use `Unmasked`")  # fmt: skip
    if spec.host_users is False:
        for name, on in (("hostNetwork", spec.host_network), ("hostPID", spec.host_pid),
                         ("hostIPC", spec.host_ipc)):  # fmt: skip
            if on:
                forbidden(errs, f"{p}.{name}", "when `hostUsers` is false")


def template_spec(
    errs: Errs, path: str, template: PodTemplateSpec, selector: LabelSelector | None
) -> None:
    labels(errs, f"{path}.metadata.labels", template.metadata.labels)
    if (
        selector is not None
        and not selector.is_empty()
        and not matches(selector, template.metadata.labels)
    ):
        invalid(
            errs,
            f"{path}.metadata.labels",
            template.metadata.labels,
            "selector does not match template labels",
        )
    pod_spec(errs, f"{path}.spec", template.spec, ("Always",))


def workload_selector(errs: Errs, selector: LabelSelector | None, kind: str) -> None:
    if selector is None:
        required(errs, "spec.selector")
        return
    check_selector(errs, "spec.selector", selector)
    if selector.is_empty():
        invalid(errs, "spec.selector", "", f"empty selector is invalid for {kind}")
