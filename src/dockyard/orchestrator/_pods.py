"""Pod records: metadata, containers, env, ports, resources, probes, volumes, pod specs.

See :mod:`dockyard.orchestrator.objects` for the conventions (wire names, defaults).
"""

from __future__ import annotations

from typing import Any, ClassVar

from dockyard.records import field, record, replace

from .quantity import Quantity
from .security_context import PodSecurityContext, SecurityContext

__all__ = [
    "ConfigMapVolumeSource",
    "Container",
    "ContainerPort",
    "DeploymentCondition",
    "EmptyDirVolumeSource",
    "EnvFromSource",
    "EnvVar",
    "EnvVarSource",
    "ExecAction",
    "GRPCAction",
    "HTTPGetAction",
    "HTTPHeader",
    "HostPathVolumeSource",
    "KeySelector",
    "KeyToPath",
    "Lifecycle",
    "LifecycleHandler",
    "LocalObjectReference",
    "PodDNSConfig",
    "PodDNSConfigOption",
    "ObjectFieldSelector",
    "ObjectMeta",
    "OwnerReference",
    "PersistentVolumeClaimVolumeSource",
    "Pod",
    "PodCondition",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "Probe",
    "ResourceFieldSelector",
    "ResourceRequirements",
    "SecretVolumeSource",
    "TCPSocketAction",
    "Volume",
    "VolumeMount",
]

# -- metadata ------------------------------------------------------------------------


@record
class OwnerReference:
    api_version: str = ""
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = None


@record
class ObjectMeta:
    """``metadata``: identity, labels, annotations and bookkeeping set by the store."""

    name: str = ""
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    owner_references: tuple[OwnerReference, ...] = ()
    finalizers: tuple[str, ...] = ()
    managed_fields: tuple[dict[str, Any], ...] = field(default=(), repr=False)


# -- pods ------------------------------------------------------------------------------


@record
class PodDNSConfigOption:
    """One ``options`` entry of a pod's resolv.conf: ``name`` or ``name:value``."""

    name: str = ""
    value: str | None = None


@record
class PodDNSConfig:
    """``spec.dnsConfig``: merged into what ``dnsPolicy`` gives (all of it with ``None``)."""

    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[PodDNSConfigOption, ...] = ()


@record
class LocalObjectReference:
    name: str = ""


@record
class KeySelector:
    """``configMapKeyRef`` / ``secretKeyRef``: one key of a ConfigMap or Secret."""

    name: str = ""
    key: str = ""
    optional: bool | None = None


@record
class ObjectFieldSelector:
    """``fieldRef``: ``metadata.name``, ``status.podIP``…"""

    field_path: str = ""
    api_version: str = "v1"


@record
class ResourceFieldSelector:
    resource: str = ""
    container_name: str | None = None
    divisor: Quantity | None = None


@record
class EnvVarSource:
    config_map_key_ref: KeySelector | None = None
    secret_key_ref: KeySelector | None = None
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None


@record
class EnvVar:
    name: str = ""
    value: str | None = None
    value_from: EnvVarSource | None = None


@record
class EnvFromSource:
    prefix: str | None = None
    config_map_ref: KeySelector | None = None
    secret_ref: KeySelector | None = None


@record
class ContainerPort:
    container_port: int = 0
    name: str | None = None
    protocol: str = "TCP"
    host_port: int | None = None
    host_ip: str | None = None
    JSON: ClassVar[dict[str, str]] = {"host_ip": "hostIP"}


@record
class ResourceRequirements:
    """``resources``: ``requests`` and ``limits`` by resource name (``cpu``, ``memory``…)."""

    limits: dict[str, Quantity] = field(default_factory=dict)
    requests: dict[str, Quantity] = field(default_factory=dict)


@record
class HTTPHeader:
    name: str = ""
    value: str = ""


@record
class HTTPGetAction:
    path: str | None = None
    port: int | str = 0
    host: str | None = None
    scheme: str = "HTTP"
    http_headers: tuple[HTTPHeader, ...] = ()


@record
class TCPSocketAction:
    port: int | str = 0
    host: str | None = None


@record
class ExecAction:
    command: tuple[str, ...] = ()


@record
class GRPCAction:
    port: int = 0
    service: str | None = None


@record
class Probe:
    """A liveness, readiness or startup probe: one handler and its timing (seconds)."""

    exec_: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int = 0
    timeout_seconds: int = 1
    period_seconds: int = 10
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace_period_seconds: int | None = None

    def handlers(self) -> list[str]:
        """The wire names of the handlers set (exactly one is valid)."""
        pairs = [
            ("exec", self.exec_),
            ("httpGet", self.http_get),
            ("tcpSocket", self.tcp_socket),
            ("grpc", self.grpc),
        ]
        return [name for name, v in pairs if v is not None]


@record
class LifecycleHandler:
    exec_: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: dict[str, Any] | None = None


@record
class Lifecycle:
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None


@record
class VolumeMount:
    name: str = ""
    mount_path: str = ""
    read_only: bool | None = None
    sub_path: str | None = None
    mount_propagation: str | None = None


@record
class Container:
    name: str = ""
    image: str = ""
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    working_dir: str | None = None
    env: tuple[EnvVar, ...] = ()
    env_from: tuple[EnvFromSource, ...] = ()
    ports: tuple[ContainerPort, ...] = ()
    resources: ResourceRequirements = field(default_factory=ResourceRequirements)
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    volume_mounts: tuple[VolumeMount, ...] = ()
    image_pull_policy: str | None = None
    lifecycle: Lifecycle | None = None
    security_context: SecurityContext | None = None
    stdin: bool | None = None
    tty: bool | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None

    def defaulted(self) -> Container:
        """``imagePullPolicy``: Always for ``:latest`` or no tag, else IfNotPresent."""
        if self.image_pull_policy is not None or not self.image:
            return self
        last = self.image.rsplit("/", 1)[-1]
        tag = last.split("@", 1)[0].partition(":")[2]
        latest = "@" not in last and tag in ("", "latest")
        return replace(self, image_pull_policy="Always" if latest else "IfNotPresent")


@record
class KeyToPath:
    key: str = ""
    path: str = ""
    mode: int | None = None


@record
class ConfigMapVolumeSource:
    name: str = ""
    items: tuple[KeyToPath, ...] = ()
    default_mode: int = 0o644
    optional: bool | None = None


@record
class SecretVolumeSource:
    secret_name: str = ""
    items: tuple[KeyToPath, ...] = ()
    default_mode: int = 0o644
    optional: bool | None = None


@record
class EmptyDirVolumeSource:
    medium: str | None = None
    size_limit: Quantity | None = None


@record
class HostPathVolumeSource:
    path: str = ""
    type: str = ""


@record
class PersistentVolumeClaimVolumeSource:
    """A claim; on one machine ``claimName`` names a dockyard volume."""

    claim_name: str = ""
    read_only: bool | None = None


@record
class Volume:
    name: str = ""
    config_map: ConfigMapVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    host_path: HostPathVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None

    def sources(self) -> list[str]:
        pairs = [
            ("configMap", self.config_map),
            ("secret", self.secret),
            ("emptyDir", self.empty_dir),
            ("hostPath", self.host_path),
            ("persistentVolumeClaim", self.persistent_volume_claim),
        ]
        return [name for name, v in pairs if v is not None]


@record
class PodSpec:
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    volumes: tuple[Volume, ...] = ()
    restart_policy: str = "Always"
    termination_grace_period_seconds: int = 30
    active_deadline_seconds: int | None = None
    dns_policy: str = "ClusterFirst"
    dns_config: PodDNSConfig | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    node_name: str | None = None
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    host_network: bool | None = None
    host_pid: bool | None = None
    host_ipc: bool | None = None
    hostname: str | None = None
    subdomain: str | None = None
    security_context: PodSecurityContext | None = None
    host_users: bool | None = None  # false: a user namespace of its own (security_context.py)
    image_pull_secrets: tuple[LocalObjectReference, ...] = ()
    affinity: dict[str, Any] | None = None
    tolerations: tuple[dict[str, Any], ...] = ()
    topology_spread_constraints: tuple[dict[str, Any], ...] = ()
    priority_class_name: str | None = None
    scheduler_name: str | None = None
    enable_service_links: bool | None = None
    share_process_namespace: bool | None = None
    JSON: ClassVar[dict[str, str]] = {
        "host_pid": "hostPID",
        "host_ipc": "hostIPC",
    }


@record
class PodTemplateSpec:
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: PodSpec = field(default_factory=PodSpec)


@record
class PodCondition:
    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None
    last_probe_time: str | None = None


@record
class PodStatus:
    phase: str | None = None
    conditions: tuple[PodCondition, ...] = ()
    pod_ip: str | None = None
    host_ip: str | None = None
    start_time: str | None = None
    container_statuses: tuple[dict[str, Any], ...] = ()
    JSON: ClassVar[dict[str, str]] = {"pod_ip": "podIP", "host_ip": "hostIP"}


@record
class Pod:
    api_version: str = "v1"
    kind: str = "Pod"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: PodSpec = field(default_factory=PodSpec)
    status: PodStatus | None = None


@record
class DeploymentCondition:
    """``Progressing`` / ``Available`` / ``ReplicaFailure`` with status, reason and times."""

    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None
