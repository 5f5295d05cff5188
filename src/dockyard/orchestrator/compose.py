"""Compose files → a :class:`ComposeProject`: Deployments, Services, ConfigMaps, Secrets
and the start-order graph.

Over 800 lines because every compose-spec service key's translation lives in one
``_Translator``; merging, interpolation and ports are already modules of their own.

Steps: parse the YAML (one document); interpolate ``${VAR}`` from ``environ`` over the
project's ``.env``; validate against the compose-spec JSON schema when one is given
(jsonschema, imported then); translate every service:

==========================  ========================================================
compose                     Kubernetes
==========================  ========================================================
``image`` / ``build``       container image (``<project>-<service>`` for a build)
``entrypoint``/``command``  ``command`` / ``args`` (strings split as a shell would)
``environment``, env_file   ``env`` (environment wins over env_file)
``ports``                   container ports with ``hostPort``/``hostIP`` + a Service
``expose``                  container ports + a ClusterIP Service
``volumes``                 named → persistentVolumeClaim ``<volume>``; bind →
                            hostPath (absolute); anonymous/tmpfs → emptyDir
``secrets`` / ``configs``   a Secret / ConfigMap each, mounted with ``subPath`` at
                            ``/run/secrets/<name>`` / ``/<name>`` (or ``target``)
``healthcheck``             ``readinessProbe`` (exec; interval, timeout, retries)
``deploy.replicas``         ``replicas``
(a one-shot service)        a bare Pod, ``restartPolicy: Never``, for a service that
                            another waits on with ``service_completed_successfully``
                            (unless it sets ``restart`` or more replicas)
``deploy.resources``        limits → ``limits``, reservations → ``requests``
``labels``                  pod template annotations (compose labels are free text)
``stop_grace_period``       ``terminationGracePeriodSeconds``
``networks``                engine networks ``<project>_<name>`` (``default`` when a
                            service names none); the pod template's annotation
                            ``dockyard.io/compose-networks`` (JSON) lists each pod's
                            networks with its DNS names (service name, aliases,
                            ``container_name``) and ``ipv4_address``
``restart: "no"``           (written, one replica) a bare Pod, ``restartPolicy:
                            Never``: it runs once, as docker compose runs it; any
                            other policy, or none written, a Deployment (kept running)
``container_name``          the engine container's name (pod template annotation
                            ``dockyard.io/container-name``; one replica, ``Recreate``)
``profiles``                only the active ones' services (``--profile``,
                            ``COMPOSE_PROFILES``) and those named; see _compose_merge
``depends_on``, ``build``   kept on :class:`ComposeService` (``compose up`` waits on the
                            conditions)
==========================  ========================================================

Several files (``-f a -f b``) are merged first, as the compose spec says
(:mod:`._compose_merge`); a key the translation ignores is a warning in
:attr:`ComposeProject.warnings`, never silently dropped.

Every error is InvalidArgument prefixed with the file name.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.records import field, record, replace

from ._compose_ports import PortBinding, parse_expose, parse_ports
from ._interpolate import (
    duration_seconds,
    interpolate_tree,
    parse_bytes,
    parse_env_file,
)
from .objects import (
    ConfigMap,
    ConfigMapVolumeSource,
    Container,
    ContainerPort,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    EmptyDirVolumeSource,
    EnvVar,
    ExecAction,
    HostPathVolumeSource,
    KeyToPath,
    Object,
    ObjectMeta,
    PersistentVolumeClaimVolumeSource,
    Pod,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ResourceRequirements,
    Secret,
    SecretVolumeSource,
    Service,
    ServicePort,
    ServiceSpec,
    Volume,
    VolumeMount,
)
from .quantity import Quantity
from .security_context import Capabilities, SecurityContext
from .selectors import LabelSelector
from .validation import check

__all__ = [
    "CONDITIONS",
    "CONTAINER_NAME_ANNOTATION",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "BuildSpec",
    "ComposeProject",
    "ComposeService",
    "Dependency",
    "HealthCheck",
    "NETWORKS_ANNOTATION",
    "NETWORK_LABEL",
    "NetworkDef",
    "PortBinding",
    "load_compose",
    "load_compose_file",
    "condition_state",
    "start_order",
]

PROJECT_LABEL = "dockyard.io/compose-project"
SERVICE_LABEL = "dockyard.io/compose-service"
NETWORKS_ANNOTATION = "dockyard.io/compose-networks"
NETWORK_LABEL = "dockyard.io/compose-network"
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
CONTAINER_NAME_ANNOTATION = "dockyard.io/container-name"


@record
class Dependency:
    """``depends_on`` entry: start after ``service`` meets ``condition``."""

    service: str
    condition: str = "service_started"
    required: bool = True
    restart: bool = False


@record
class NetworkDef:
    """A network of the project: ``key`` as the file names it, ``name`` in the engine
    (``<project>_<key>``, the ``name:`` given, or the external network as is)."""

    key: str
    name: str
    external: bool = False
    internal: bool = False
    subnet: str = ""
    gateway: str = ""
    labels: dict[str, str] = field(default_factory=dict)


@record
class BuildSpec:
    context: str
    dockerfile: str | None = None
    target: str | None = None
    args: dict[str, str] = field(default_factory=dict)


@record
class HealthCheck:
    """A Docker health check as written (the readiness probe is derived from it)."""

    test: tuple[str, ...]
    interval: int = 30
    timeout: int = 30
    retries: int = 3
    start_period: int = 0


@record
class ComposeService:
    """One compose service, translated: what Kubernetes objects cannot say stays here."""

    name: str
    object_name: str
    image: str
    build: BuildSpec | None = None
    depends_on: tuple[Dependency, ...] = ()
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # network -> aliases
    ipv4_addresses: dict[str, str] = field(default_factory=dict)  # network -> ipv4_address
    restart: str = "no"
    ports: tuple[PortBinding, ...] = ()
    healthcheck: HealthCheck | None = None
    container_name: str | None = None
    explicit_image: bool = False  # ``image:`` written (a build names its own otherwise)
    pull_policy: str = "missing"


@record
class ComposeProject:
    name: str
    services: dict[str, ComposeService]
    objects: tuple[Object, ...]
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    network_defs: dict[str, NetworkDef] = field(default_factory=dict)  # key -> network
    warnings: tuple[str, ...] = ()  # keys the translation ignored (file: path: why)
    disabled: tuple[str, ...] = ()  # services whose profiles are not active

    def start_order(self) -> list[str]:
        return start_order(self.services)


# -- helpers ---------------------------------------------------------------------------


def object_name(name: str) -> str:
    """A compose name as a DNS-1035 label: lower case, ``_``/``.`` → ``-``."""
    out = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")
    if not out or not out[0].isalpha():
        out = "x-" + out
    return out[:63].rstrip("-")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _words(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as e:
            raise InvalidArgument(f"{where}: {e}") from None
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    raise InvalidArgument(f"{where}: must be a string or a list")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _mapping(value: Any, where: str, env: Mapping[str, str]) -> dict[str, str]:
    """``environment``/``args``/``labels``: a mapping, or a list of ``K=V`` / ``K``."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if v is None:
                if str(k) in env:
                    out[str(k)] = env[str(k)]
            else:
                out[str(k)] = _scalar(v)
    elif isinstance(value, list):
        for item in value:
            key, sep, val = str(item).partition("=")
            if sep:
                out[key] = val
            elif key in env:
                out[key] = env[key]
    elif value is not None:
        raise InvalidArgument(f"{where}: must be a mapping or a list")
    return out


# -- the translation -------------------------------------------------------------------


class _Translator:
    def __init__(
        self,
        doc: dict[str, Any],
        source: str,
        project: str,
        project_dir: Path,
        env: Mapping[str, str],
        read_file: Callable[[Path], bytes],
    ) -> None:
        self.doc = doc
        self.source = source
        self.project = project
        self.dir = project_dir
        self.env = env
        self.read = read_file
        self.config_objects: dict[str, Object] = {}
        self.network_defs = self.top_networks()
        self.one_shot = {  # services a dependent waits on to complete
            str(target)
            for svc in (doc.get("services") or {}).values()
            if isinstance(svc, dict) and isinstance(svc.get("depends_on"), dict)
            for target, spec in svc["depends_on"].items()
            if isinstance(spec, dict) and spec.get("condition") == "service_completed_successfully"
        }

    def top_networks(self) -> dict[str, NetworkDef]:
        """Top-level ``networks``, and ``default`` (always defined, as compose does)."""
        raw = self.doc.get("networks") or {}
        if not isinstance(raw, dict):
            raise self.fail("networks", "must be a mapping")
        out: dict[str, NetworkDef] = {}
        for key, given in {"default": None, **raw}.items():
            where = f"networks.{key}"
            spec = given or {}
            if not isinstance(spec, dict):
                raise self.fail(where, "must be a mapping")
            ext = spec.get("external")
            external = True if isinstance(ext, dict) else bool(ext)
            name = str(
                (ext.get("name") if isinstance(ext, dict) else None)
                or spec.get("name")
                or (key if external else f"{self.project}_{key}")
            )
            driver = spec.get("driver") or "bridge"
            if driver != "bridge" and not external:
                raise self.fail(f"{where}.driver", f"driver {driver} is not supported")
            subnet = gateway = ""
            for cfg in ((spec.get("ipam") or {}).get("config") or [])[:1]:
                subnet, gateway = str(cfg.get("subnet") or ""), str(cfg.get("gateway") or "")
            labels = _mapping(spec.get("labels"), f"{where}.labels", {})
            labels[PROJECT_LABEL] = object_name(self.project)
            labels[NETWORK_LABEL] = str(key)
            out[str(key)] = NetworkDef(
                str(key), name, external, bool(spec.get("internal")), subnet, gateway, labels
            )
        return out

    def fail(self, where: str, why: str) -> InvalidArgument:
        return InvalidArgument(f"{self.source}: {where}: {why}")

    def labels(self, service: str) -> dict[str, str]:
        return {PROJECT_LABEL: object_name(self.project), SERVICE_LABEL: object_name(service)}

    def meta(self, name: str, service: str | None = None) -> ObjectMeta:
        labels = self.labels(service) if service else {PROJECT_LABEL: object_name(self.project)}
        return ObjectMeta(name=name, labels=labels)

    # environment
    def environment(self, svc: dict[str, Any], where: str) -> tuple[EnvVar, ...]:
        merged: dict[str, str] = {}
        for entry in _as_list(svc.get("env_file")):
            path, required = (
                (entry, True)
                if isinstance(entry, str)
                else (entry.get("path", ""), entry.get("required", True))
            )
            full = self.dir / path
            try:
                text = self.read(full).decode()
            except FileNotFoundError:
                if required:
                    raise self.fail(f"{where}.env_file", f"{path}: no such file") from None
                continue
            except OSError as e:
                raise self.fail(f"{where}.env_file", f"{path}: {e}") from None
            merged.update(parse_env_file(text, str(full)))
        merged.update(_mapping(svc.get("environment"), f"{where}.environment", self.env))
        return tuple(EnvVar(k, v) for k, v in merged.items())

    # resources
    def resources(self, svc: dict[str, Any], where: str) -> ResourceRequirements:
        res = (svc.get("deploy") or {}).get("resources") or {}
        limits = self._amounts(res.get("limits") or {}, f"{where}.deploy.resources.limits")
        requests = self._amounts(
            res.get("reservations") or {}, f"{where}.deploy.resources.reservations"
        )
        if "cpus" in svc and "cpu" not in limits:
            limits["cpu"] = self._cpus(svc["cpus"], f"{where}.cpus")
        if "mem_limit" in svc and "memory" not in limits:
            limits["memory"] = Quantity.from_bytes(
                parse_bytes(svc["mem_limit"], f"{where}.mem_limit")
            )
        if "mem_reservation" in svc and "memory" not in requests:
            requests["memory"] = Quantity.from_bytes(
                parse_bytes(svc["mem_reservation"], f"{where}.mem_reservation")
            )
        return ResourceRequirements(limits=limits, requests=requests)

    def _cpus(self, value: Any, where: str) -> Quantity:
        try:
            milli = int(Decimal(str(value)) * 1000)
        except ArithmeticError:
            raise self.fail(where, f"invalid cpus {value!r}") from None
        return Quantity.from_milli(milli)

    def _amounts(self, spec: dict[str, Any], where: str) -> dict[str, Quantity]:
        out: dict[str, Quantity] = {}
        if spec.get("cpus") is not None:
            out["cpu"] = self._cpus(spec["cpus"], f"{where}.cpus")
        if spec.get("memory") is not None:
            out["memory"] = Quantity.from_bytes(parse_bytes(spec["memory"], f"{where}.memory"))
        return out

    # health
    def healthcheck(self, svc: dict[str, Any], where: str) -> HealthCheck | None:
        hc = svc.get("healthcheck")
        if not hc or hc.get("disable"):
            return None
        test = hc.get("test")
        if test is None:
            return None
        if isinstance(test, str):
            cmd: tuple[str, ...] = ("/bin/sh", "-c", test)
        else:
            words = [str(t) for t in test]
            if not words or words[0] == "NONE":
                return None
            if words[0] == "CMD-SHELL":
                cmd = ("/bin/sh", "-c", " ".join(words[1:]))
            elif words[0] == "CMD":
                cmd = tuple(words[1:])
            else:
                raise self.fail(
                    f"{where}.healthcheck.test",
                    f"must start with CMD, CMD-SHELL or NONE, not {words[0]!r}",
                )
        w = f"{where}.healthcheck"
        return HealthCheck(
            cmd,
            interval=duration_seconds(hc.get("interval", "30s"), f"{w}.interval"),
            timeout=duration_seconds(hc.get("timeout", "30s"), f"{w}.timeout"),
            retries=int(hc.get("retries", 3)),
            start_period=duration_seconds(hc["start_period"], f"{w}.start_period")
            if hc.get("start_period")
            else 0,
        )

    # volumes, secrets, configs
    def volumes(self, svc: dict[str, Any], where: str) -> tuple[list[Volume], list[VolumeMount]]:
        vols: list[Volume] = []
        mounts: list[VolumeMount] = []
        for i, raw in enumerate(svc.get("volumes") or []):
            spec = self._volume_spec(raw, f"{where}.volumes[{i}]")
            vol_name = f"vol-{i}"
            kind, source, target = spec["type"], spec.get("source"), spec["target"]
            if kind == "volume" and source:
                top = (self.doc.get("volumes") or {}).get(source)
                if source not in (self.doc.get("volumes") or {}):
                    raise self.fail(
                        f"{where}.volumes[{i}]", f"service refers to undefined volume {source}"
                    )
                claim = (top or {}).get("name") or source
                vols.append(
                    Volume(
                        vol_name,
                        persistent_volume_claim=PersistentVolumeClaimVolumeSource(
                            object_name(claim)
                        ),
                    )
                )
            elif kind == "bind":
                path = posixpath.normpath(
                    str(self.dir / str(source)) if not str(source).startswith("/") else str(source)
                )
                vols.append(Volume(vol_name, host_path=HostPathVolumeSource(path)))
            elif kind == "tmpfs":
                vols.append(Volume(vol_name, empty_dir=EmptyDirVolumeSource(medium="Memory")))
            else:
                vols.append(Volume(vol_name, empty_dir=EmptyDirVolumeSource()))
            mounts.append(
                VolumeMount(vol_name, target, read_only=True if spec.get("read_only") else None)
            )
        return vols, mounts

    def _volume_spec(self, raw: Any, where: str) -> dict[str, Any]:
        if isinstance(raw, dict):
            if "target" not in raw:
                raise self.fail(where, "a volume needs a target")
            return raw
        parts = str(raw).split(":")
        if len(parts) == 1:
            return {"type": "volume", "target": parts[0]}
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) > 2 else ""
        bind = source.startswith((".", "/", "~"))
        if source.startswith("~"):
            source = str(Path(source).expanduser())
        return {
            "type": "bind" if bind else "volume",
            "source": source,
            "target": target,
            "read_only": "ro" in mode.split(","),
        }

    def _file_object(self, kind: str, name: str, where: str) -> Object | None:
        """The Secret/ConfigMap for a top-level secret or config (None when external)."""
        key = f"{kind}:{name}"
        if key in self.config_objects:
            return self.config_objects[key]
        top = self.doc.get(kind) or {}
        if name not in top:
            raise self.fail(where, f"service refers to undefined {kind[:-1]} {name}")
        spec = top[name] or {}
        if spec.get("external"):
            return None
        if "file" in spec:
            try:
                data = self.read(self.dir / spec["file"])
            except OSError as e:
                raise self.fail(
                    f"{kind}.{name}.file", f"{spec['file']}: {e.strerror or e}"
                ) from None
        elif "environment" in spec:
            data = self.env.get(spec["environment"], "").encode()
        elif "content" in spec:
            data = str(spec["content"]).encode()
        else:
            raise self.fail(f"{kind}.{name}", "needs file, environment or content")
        oname = object_name(spec.get("name") or name)
        meta = self.meta(oname)
        obj: Object
        if kind == "secrets":
            obj = Secret(metadata=meta, data={name: base64.b64encode(data).decode()})
        else:
            try:
                obj = ConfigMap(metadata=meta, data={name: data.decode()})
            except UnicodeDecodeError:
                obj = ConfigMap(metadata=meta, binary_data={name: base64.b64encode(data).decode()})
        self.config_objects[key] = obj
        return obj

    def files(
        self, svc: dict[str, Any], kind: str, where: str
    ) -> tuple[list[Volume], list[VolumeMount]]:
        vols: list[Volume] = []
        mounts: list[VolumeMount] = []
        for i, raw in enumerate(svc.get(kind) or []):
            ref = {"source": raw} if isinstance(raw, str) else dict(raw)
            name = str(ref["source"])
            obj = self._file_object(kind, name, f"{where}.{kind}[{i}]")
            oname = obj.metadata.name if obj is not None else object_name(name)
            default = f"/run/secrets/{name}" if kind == "secrets" else f"/{name}"
            target = str(ref.get("target") or default)
            if kind == "secrets" and not target.startswith("/"):
                target = f"/run/secrets/{target}"
            vol = f"{kind[:-1]}-{i}"
            mode = ref.get("mode")
            item = (KeyToPath(name, name, int(mode, 8) if isinstance(mode, str) else mode),)
            if kind == "secrets":
                vols.append(Volume(vol, secret=SecretVolumeSource(oname, items=item)))
            else:
                vols.append(Volume(vol, config_map=ConfigMapVolumeSource(oname, items=item)))
            mounts.append(VolumeMount(vol, target, read_only=True, sub_path=name))
        return vols, mounts

    # the service
    def service(self, name: str, svc: dict[str, Any]) -> tuple[ComposeService, list[Object]]:
        where = f"services.{name}"
        if not isinstance(svc, dict):
            raise self.fail(where, "must be a mapping")
        oname = object_name(name)
        build = self.build(svc.get("build"), where)
        image = svc.get("image") or (f"{object_name(self.project)}-{oname}" if build else None)
        if not image:
            raise self.fail(where, "has neither an image nor a build context")
        published = parse_ports(svc.get("ports") or [], f"{self.source}: {where}.ports")
        exposed = parse_expose(svc.get("expose") or [], f"{self.source}: {where}.expose")
        health = self.healthcheck(svc, where)
        vols, mounts = self.volumes(svc, where)
        for kind in ("secrets", "configs"):
            v, m = self.files(svc, kind, where)
            vols += v
            mounts += m
        container = Container(
            name=oname,
            image=str(image),
            command=_words(svc.get("entrypoint"), f"{where}.entrypoint"),
            args=_words(svc.get("command"), f"{where}.command"),
            working_dir=svc.get("working_dir"),
            env=self.environment(svc, where),
            ports=self.container_ports(published, exposed),
            resources=self.resources(svc, where),
            readiness_probe=self.probe(health),
            volume_mounts=tuple(mounts),
            stdin=svc.get("stdin_open"),
            tty=svc.get("tty"),
            security_context=self.security(svc),
        ).defaulted()
        networks = self.networks(svc.get("networks"), where)
        addresses = self.addresses(svc.get("networks"))
        extra: dict[str, str] = {}
        if svc.get("container_name"):
            extra[CONTAINER_NAME_ANNOTATION] = str(svc["container_name"])
        if svc.get("network_mode") is None:
            extra[NETWORKS_ANNOTATION] = self.network_annotation(name, svc, networks, addresses)
        elif str(svc["network_mode"]) != "host":
            raise self.fail(f"{where}.network_mode", f"{svc['network_mode']!r} is not supported")
        workload: Object = self.deployment(name, svc, container, vols, extra)
        runs_once = str(svc.get("restart")) == "no" and "restart" in svc  # written, not default
        if (name in self.one_shot or runs_once) and isinstance(workload, Deployment):
            workload = self.one_shot_pod(name, svc, workload)
        objects: list[Object] = [workload]
        svc_obj = self.k8s_service(name, container)
        if svc_obj is not None:
            objects.append(svc_obj)
        info = ComposeService(
            name=name,
            object_name=oname,
            image=str(image),
            build=build,
            depends_on=self.depends_on(svc.get("depends_on"), where),
            networks=networks,
            ipv4_addresses=addresses,
            restart=str(
                (svc.get("deploy") or {}).get("restart_policy", {}).get("condition")
                or svc.get("restart")
                or "no"
            ),
            ports=published,
            healthcheck=health,
            container_name=svc.get("container_name"),
            explicit_image=bool(svc.get("image")),
            pull_policy=str(svc.get("pull_policy") or "missing"),
        )
        return info, objects

    def build(self, raw: Any, where: str) -> BuildSpec | None:
        if raw is None:
            return None
        if isinstance(raw, str):
            return BuildSpec(raw)
        return BuildSpec(
            str(raw.get("context", ".")),
            raw.get("dockerfile"),
            raw.get("target"),
            _mapping(raw.get("args"), f"{where}.build.args", self.env),
        )

    def container_ports(
        self, published: tuple[PortBinding, ...], exposed: tuple[tuple[int, str], ...]
    ) -> tuple[ContainerPort, ...]:
        ports: list[ContainerPort] = []
        seen: set[tuple[int, str, int | None]] = set()
        for b in published:
            key = (b.target, b.protocol, b.published)
            if key not in seen:
                seen.add(key)
                ports.append(
                    ContainerPort(
                        b.target, protocol=b.protocol, host_port=b.published, host_ip=b.host_ip
                    )
                )
        for port, proto in exposed:
            if not any(p.container_port == port and p.protocol == proto for p in ports):
                ports.append(ContainerPort(port, protocol=proto))
        return tuple(ports)

    def probe(self, health: HealthCheck | None) -> Probe | None:
        if health is None:
            return None
        return Probe(
            exec_=ExecAction(health.test),
            period_seconds=health.interval,
            timeout_seconds=health.timeout,
            failure_threshold=max(1, health.retries),
        )

    def security(self, svc: dict[str, Any]) -> SecurityContext | None:
        caps = Capabilities(
            add=tuple(str(c) for c in svc.get("cap_add") or ()),
            drop=tuple(str(c) for c in svc.get("cap_drop") or ()),
        )
        user = str(svc.get("user") or "").split(":")
        uid = int(user[0]) if user[0].isdigit() else None
        gid = int(user[1]) if uid is not None and len(user) > 1 and user[1].isdigit() else None
        ctx = SecurityContext(
            capabilities=caps if caps.add or caps.drop else None,
            privileged=True if svc.get("privileged") else None,
            read_only_root_filesystem=True if svc.get("read_only") else None,
            run_as_user=uid,
            run_as_group=gid,
        )
        return None if ctx == SecurityContext() else ctx

    def deployment(
        self,
        name: str,
        svc: dict[str, Any],
        container: Container,
        vols: list[Volume],
        extra: Mapping[str, str],
    ) -> Deployment:
        labels = self.labels(name)
        deploy = svc.get("deploy") or {}
        replicas = deploy.get("replicas", svc.get("scale", 1))
        annotations = _mapping(svc.get("labels"), f"services.{name}.labels", {})
        annotations.update(extra)
        template = PodTemplateSpec(
            ObjectMeta(labels=labels, annotations=annotations),
            PodSpec(
                containers=(container,),
                volumes=tuple(vols),
                hostname=svc.get("hostname"),
                host_network=True if svc.get("network_mode") == "host" else None,
                termination_grace_period_seconds=duration_seconds(
                    svc["stop_grace_period"], f"services.{name}.stop_grace_period"
                )
                if svc.get("stop_grace_period") is not None
                else 30,
            ),
        )
        spec = DeploymentSpec(
            replicas=int(replicas), selector=LabelSelector(dict(labels)), template=template
        )
        if svc.get("container_name"):  # one container of that name: never two at once
            if int(replicas) != 1:
                raise self.fail(
                    f"services.{name}",
                    f'container_name "{svc["container_name"]}" needs exactly one replica',
                )
            spec = replace(spec, strategy=DeploymentStrategy(type="Recreate"))
        dep = Deployment(metadata=self.meta(object_name(name), name), spec=spec)
        return dep

    def one_shot_pod(self, name: str, svc: dict[str, Any], dep: Deployment) -> Object:
        """A service another one waits on with ``service_completed_successfully`` runs
        once: a bare Pod that is not restarted (a Deployment would run it again and again),
        unless it asks to restart or to run more than one replica."""
        restart = str(svc.get("restart") or "no")
        if restart != "no" or dep.spec.replicas != 1:
            return dep
        t = dep.spec.template
        return Pod(
            metadata=ObjectMeta(
                name=dep.metadata.name, labels=dict(t.metadata.labels),
                annotations=dict(t.metadata.annotations),
            ),
            spec=replace(t.spec, restart_policy="Never"),
        )  # fmt: skip

    def k8s_service(self, name: str, container: Container) -> Service | None:
        ports: list[ServicePort] = []
        for p in container.ports:
            if any(sp.port == p.container_port and sp.protocol == p.protocol for sp in ports):
                continue
            ports.append(
                ServicePort(
                    f"{p.protocol.lower()}-{p.container_port}",
                    p.protocol,
                    None,
                    p.container_port,
                    p.container_port,
                )
            )
        if not ports:
            return None
        spec = ServiceSpec(selector=self.labels(name), ports=tuple(ports))
        return Service(metadata=self.meta(object_name(name), name), spec=spec)

    def depends_on(self, raw: Any, where: str) -> tuple[Dependency, ...]:
        services = self.doc.get("services") or {}
        if raw is None:
            return ()
        items = {str(d): {} for d in raw} if isinstance(raw, list) else dict(raw)
        deps = []
        for target, given in items.items():
            spec = given or {}
            cond = spec.get("condition", "service_started")
            if cond not in CONDITIONS:
                raise self.fail(
                    f"{where}.depends_on.{target}.condition", f"unsupported condition {cond!r}"
                )
            required = bool(spec.get("required", True))
            if target not in services and required:
                raise self.fail(f"{where}.depends_on", f"depends on undefined service {target!r}")
            deps.append(Dependency(target, cond, required, bool(spec.get("restart", False))))
        return tuple(deps)

    def networks(self, raw: Any, where: str) -> dict[str, tuple[str, ...]]:
        """network → aliases; an undefined network is an error, as in compose."""
        if raw is None:
            return {"default": ()}
        if isinstance(raw, list):
            out: dict[str, tuple[str, ...]] = {str(n): () for n in raw}
        elif isinstance(raw, dict):
            out = {
                str(n): tuple(str(a) for a in (spec or {}).get("aliases") or ())
                for n, spec in raw.items()
            }
        else:
            raise self.fail(f"{where}.networks", "must be a list or a mapping")
        for n in out:
            if n not in self.network_defs:
                raise self.fail(f"{where}.networks", f"service refers to undefined network {n}")
        return out

    def addresses(self, raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            return {}
        return {
            str(n): str(spec["ipv4_address"])
            for n, spec in raw.items()
            if isinstance(spec, dict) and spec.get("ipv4_address")
        }

    def network_annotation(
        self,
        name: str,
        svc: dict[str, Any],
        networks: Mapping[str, tuple[str, ...]],
        addresses: Mapping[str, str],
    ) -> str:
        """The pod's networks for the engine: ``[{"name", "aliases", "ip"}]`` in order;
        every network knows the pod by its service name, aliases and container_name."""
        names = [name]
        if svc.get("container_name"):
            names.append(str(svc["container_name"]))
        entries = []
        for key, aliases in networks.items():
            dns = list(dict.fromkeys([*names, *aliases]))
            entries.append(
                {"name": self.network_defs[key].name, "aliases": dns, "ip": addresses.get(key, "")}
            )
        return json.dumps(entries, separators=(",", ":"))


def start_order(services: Mapping[str, ComposeService]) -> list[str]:
    """Services in an order that starts every dependency first (stable: file order among
    independent services); a cycle is InvalidArgument naming it."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2 or name not in services:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise InvalidArgument(f"dependency cycle detected: {' -> '.join(cycle)}")
        state[name] = 1
        for dep in services[name].depends_on:
            visit(dep.service, [*path, name])
        state[name] = 2
        order.append(name)

    for name in services:
        visit(name, [])
    return order


def _exit_codes(pod: Mapping[str, Any]) -> list[int]:
    out = []
    for st in (pod.get("status") or {}).get("containerStatuses") or []:
        state = st.get("state") or {}
        term = state.get("terminated")
        if (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            term = (st.get("lastState") or {}).get("terminated")  # exits again and again
        if term is not None:
            out.append(int(term.get("exitCode") or 0))
    return out


def condition_state(
    dep: Dependency,
    target: ComposeService | None,
    replicas: int,
    pods: Sequence[Mapping[str, Any]],
) -> tuple[bool, str]:
    """Whether ``dep`` is met by ``pods`` (the API's pod objects of ``dep.service``, which
    wants ``replicas``): ``(True, "")`` met, ``(False, "")`` not yet, ``(False, why)``
    never will be (a one-line reason, compose's wording). Pure: the CLI polls it."""
    if target is None or replicas == 0:
        return True, ""  # an optional dependency that is not defined, or scaled to zero
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    codes = [c for p in live for c in _exit_codes(p)]
    failed = next((c for c in codes if c != 0), None)
    if dep.condition == "service_started":
        started = [
            p
            for p in live
            if any(
                "running" in (st.get("state") or {}) or "terminated" in (st.get("state") or {})
                for st in (p.get("status") or {}).get("containerStatuses") or []
            )
        ]
        return len(started) >= min(replicas, 1), ""
    if dep.condition == "service_completed_successfully":
        if failed is not None:
            return False, f"service {dep.service} didn't complete successfully: exit {failed}"
        done = any((p.get("status") or {}).get("phase") == "Succeeded" for p in live)
        return done, ""
    # service_healthy
    if target.healthcheck is None:
        return False, f"dependency failed to start: service {dep.service} has no healthcheck"
    if codes:
        code = failed if failed is not None else 0
        return False, f"dependency failed to start: service {dep.service} exited ({code})"
    ready = [
        p
        for p in live
        if (p.get("status") or {}).get("phase") == "Running"
        and all(st.get("ready") for st in (p.get("status") or {}).get("containerStatuses") or [{}])
    ]
    return len(ready) >= replicas, ""


def _default_read(path: Path) -> bytes:
    return path.read_bytes()


def _validate_schema(doc: dict[str, Any], schema: Mapping[str, Any], source: str) -> None:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in e.absolute_path) or "(root)"
        raise InvalidArgument(f"{source}: {where}: {e.message}")


def _project_name(doc: dict[str, Any], given: str | None, project_dir: Path) -> str:
    name = doc.get("name") or given or project_dir.resolve().name
    name = re.sub(r"[^a-z0-9_-]", "", str(name).lower())
    if not name:
        raise InvalidArgument("compose: project name must not be empty")
    return name


def load_compose(
    text: str,
    source: str = "compose.yaml",
    *,
    project_dir: str | Path = ".",
    project_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    schema: Mapping[str, Any] | None = None,
    read_file: Callable[[Path], bytes] | None = None,
    overrides: Sequence[tuple[str, str]] = (),
    profiles: Sequence[str] = (),
    named: Sequence[str] = (),
) -> ComposeProject:
    """Translate a compose file and its ``overrides`` (``(text, source)``, merged in
    order). ``environ`` overrides the project's ``.env``; ``read_file`` reads env files,
    secret and config files (the file system by default). ``profiles`` (default: the
    ``COMPOSE_PROFILES`` of the environment) and ``named`` services choose what runs."""
    from ._compose_merge import active_services, merge_documents, parse_compose_yaml, unknown_keys

    read = read_file or _default_read
    base = Path(project_dir)
    env = _dotenv(base, read)
    env.update(environ or {})
    raw = [parse_compose_yaml(text, source)]
    raw += [parse_compose_yaml(t, s) for t, s in overrides]
    doc = interpolate_tree(merge_documents(raw), env)
    where = source if not overrides else ", ".join([source, *(s for _t, s in overrides)])
    if schema is not None:
        _validate_schema(doc, schema, where)
    services = doc.get("services") or {}
    if not isinstance(services, dict):
        raise InvalidArgument(f"{where}: services: must be a mapping")
    if not profiles:
        profiles = [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    for name in named:
        if name not in services:
            raise InvalidArgument(f"{where}: no such service: {name}")
    on = active_services(services, profiles, named)
    name = _project_name(doc, project_name, base)
    tr = _Translator(doc, where, name, base, env, read)
    infos: dict[str, ComposeService] = {}
    per_service: dict[str, list[Object]] = {}
    for svc_name, svc in services.items():
        if str(svc_name) in on:
            infos[str(svc_name)], per_service[str(svc_name)] = tr.service(str(svc_name), svc)
    order = start_order(infos)
    objects: list[Object] = list(tr.config_objects.values())
    for svc_name in order:
        objects.extend(per_service[svc_name])
    for obj in objects:
        try:
            check(obj)
        except InvalidArgument as e:
            raise InvalidArgument(f"{where}: {e}") from None
    used = {n for info in infos.values() for n in info.networks}
    return ComposeProject(
        name,
        infos,
        tuple(objects),
        tuple(doc.get("networks") or ()),
        tuple(doc.get("volumes") or ()),
        {k: v for k, v in tr.network_defs.items() if k in used or k != "default"},
        tuple(unknown_keys(doc, where)),
        tuple(str(n) for n in services if str(n) not in on),
    )


def _dotenv(base: Path, read: Callable[[Path], bytes]) -> dict[str, str]:
    path = base / ".env"
    try:
        text = read(path).decode()
    except (FileNotFoundError, IsADirectoryError):
        return {}
    except OSError as e:
        raise InvalidArgument(f"{path}: {e}") from None
    return parse_env_file(text, str(path))


def load_compose_file(
    path: str | Path,
    *,
    project_name: str | None = None,
    environ: Mapping[str, str] | None = None,
    schema: Mapping[str, Any] | None = None,
    overrides: Sequence[str | Path] = (),
    profiles: Sequence[str] = (),
    named: Sequence[str] = (),
) -> ComposeProject:
    """``load_compose`` of a file (its directory is the project directory) and the
    ``overrides`` files merged over it."""
    p = Path(path)
    return load_compose(
        _read_text(p),
        str(p),
        project_dir=p.parent,
        project_name=project_name,
        environ=environ,
        schema=schema,
        overrides=[(_read_text(Path(o)), str(o)) for o in overrides],
        profiles=profiles,
        named=named,
    )


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8")
    except OSError as e:
        raise InvalidArgument(f"{p}: {e.strerror or e}") from None


def schema_from_file(path: str | Path) -> dict[str, Any]:
    """Read a compose-spec JSON schema."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data
