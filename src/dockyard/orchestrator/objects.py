"""The declarative objects: typed, immutable records in the shape of the Kubernetes API.

Vocabulary:

* every object has ``api_version``, ``kind``, ``metadata`` (:class:`ObjectMeta`),
  and most a ``spec`` (what is wanted) and a ``status`` (what a controller observed);
* field names are snake_case here and camelCase on the wire; the mapping is
  mechanical (``min_ready_seconds`` ↔ ``minReadySeconds``) except where a class
  lists an exception in ``JSON`` (``cluster_ip`` ↔ ``clusterIP``, ``from_`` ↔ ``from``);
* defaults are those the API server applies (``Deployment.spec.replicas`` 1,
  ``strategy`` RollingUpdate 25%/25%, probe period 10 s, Service type ClusterIP…).
  Field defaults cover the simple ones; a class's ``defaulted()`` fills in the rest
  (a Service port's ``targetPort`` is its ``port``), and the codec calls it;
* records are frozen: a controller writes status on a copy (``records.replace``).

Fields the orchestrator does not interpret but Kubernetes accepts (``securityContext``,
``affinity``, ``tolerations``…) are kept as opaque mappings so that they survive a
load/export round trip.
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from dockyard.records import field, record, replace

from .quantity import Quantity
from .selectors import LabelSelector

__all__ = [
    "KINDS",
    "ConfigMap",
    "ConfigMapVolumeSource",
    "Container",
    "ContainerPort",
    "ContainerResourceMetricSource",
    "CrossVersionObjectReference",
    "Deployment",
    "DeploymentCondition",
    "DeploymentSpec",
    "DeploymentStatus",
    "DeploymentStrategy",
    "EmptyDirVolumeSource",
    "EnvFromSource",
    "EnvVar",
    "EnvVarSource",
    "ExecAction",
    "ExternalMetricSource",
    "HPABehavior",
    "HPAScalingPolicy",
    "HPAScalingRules",
    "HPASpec",
    "HPAStatus",
    "HTTPGetAction",
    "HTTPHeader",
    "HorizontalPodAutoscaler",
    "HostPathVolumeSource",
    "IPBlock",
    "KeySelector",
    "KeyToPath",
    "Lifecycle",
    "LifecycleHandler",
    "LocalObjectReference",
    "MetricIdentifier",
    "MetricSpec",
    "MetricTarget",
    "Namespace",
    "NetworkPolicy",
    "NetworkPolicyEgressRule",
    "NetworkPolicyIngressRule",
    "NetworkPolicyPeer",
    "NetworkPolicyPort",
    "NetworkPolicySpec",
    "Object",
    "ObjectFieldSelector",
    "ObjectMeta",
    "ObjectMetricSource",
    "OwnerReference",
    "PersistentVolumeClaimVolumeSource",
    "Pod",
    "PodCondition",
    "PodSpec",
    "PodStatus",
    "PodTemplateSpec",
    "PodsMetricSource",
    "Probe",
    "ReplicaSet",
    "ReplicaSetSpec",
    "ReplicaSetStatus",
    "ResourceFieldSelector",
    "ResourceMetricSource",
    "ResourceRequirements",
    "RollingUpdateDeployment",
    "Secret",
    "SecretVolumeSource",
    "Service",
    "ServicePort",
    "ServiceSpec",
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
    security_context: dict[str, Any] | None = None
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
    security_context: dict[str, Any] | None = None
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


# -- workloads -------------------------------------------------------------------------


@record
class RollingUpdateDeployment:
    max_unavailable: int | str = "25%"
    max_surge: int | str = "25%"


@record
class DeploymentStrategy:
    type: str = "RollingUpdate"
    rolling_update: RollingUpdateDeployment | None = None

    def defaulted(self) -> DeploymentStrategy:
        if self.type == "RollingUpdate" and self.rolling_update is None:
            return replace(self, rolling_update=RollingUpdateDeployment())
        return self


@record
class DeploymentSpec:
    replicas: int = 1
    selector: LabelSelector | None = None
    template: PodTemplateSpec = field(default_factory=PodTemplateSpec)
    strategy: DeploymentStrategy = field(
        default_factory=lambda: DeploymentStrategy(rolling_update=RollingUpdateDeployment())
    )
    min_ready_seconds: int = 0
    revision_history_limit: int = 10
    paused: bool = False
    progress_deadline_seconds: int = 600


@record
class DeploymentCondition:
    """``Progressing`` / ``Available`` / ``ReplicaFailure`` with status, reason and times."""

    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None


@record
class DeploymentStatus:
    observed_generation: int | None = None
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: tuple[DeploymentCondition, ...] = ()
    collision_count: int | None = None


@record
class Deployment:
    api_version: str = "apps/v1"
    kind: str = "Deployment"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: DeploymentSpec = field(default_factory=DeploymentSpec)
    status: DeploymentStatus | None = None


@record
class ReplicaSetSpec:
    replicas: int = 1
    min_ready_seconds: int = 0
    selector: LabelSelector | None = None
    template: PodTemplateSpec = field(default_factory=PodTemplateSpec)


@record
class ReplicaSetStatus:
    replicas: int = 0
    fully_labeled_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int | None = None
    conditions: tuple[DeploymentCondition, ...] = ()


@record
class ReplicaSet:
    api_version: str = "apps/v1"
    kind: str = "ReplicaSet"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: ReplicaSetSpec = field(default_factory=ReplicaSetSpec)
    status: ReplicaSetStatus | None = None


# -- services --------------------------------------------------------------------------


@record
class ServicePort:
    name: str | None = None
    protocol: str = "TCP"
    app_protocol: str | None = None
    port: int = 0
    target_port: int | str | None = None
    node_port: int | None = None

    def defaulted(self) -> ServicePort:
        if self.target_port is None or self.target_port in (0, ""):
            return replace(self, target_port=self.port)
        return self


@record
class ServiceSpec:
    type: str = "ClusterIP"
    selector: dict[str, str] = field(default_factory=dict)
    ports: tuple[ServicePort, ...] = ()
    cluster_ip: str | None = None
    cluster_ips: tuple[str, ...] = ()
    external_ips: tuple[str, ...] = ()
    external_name: str | None = None
    session_affinity: str = "None"
    external_traffic_policy: str | None = None
    internal_traffic_policy: str | None = None
    ip_families: tuple[str, ...] = ()
    ip_family_policy: str | None = None
    load_balancer_ip: str | None = None
    load_balancer_source_ranges: tuple[str, ...] = ()
    publish_not_ready_addresses: bool | None = None
    allocate_load_balancer_node_ports: bool | None = None
    JSON: ClassVar[dict[str, str]] = {
        "cluster_ip": "clusterIP",
        "cluster_ips": "clusterIPs",
        "external_ips": "externalIPs",
        "load_balancer_ip": "loadBalancerIP",
    }


@record
class Service:
    api_version: str = "v1"
    kind: str = "Service"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: ServiceSpec = field(default_factory=ServiceSpec)
    status: dict[str, Any] | None = None


# -- autoscaling -----------------------------------------------------------------------


@record
class CrossVersionObjectReference:
    api_version: str | None = None
    kind: str = ""
    name: str = ""


@record
class MetricTarget:
    """``Utilization`` (``averageUtilization`` %), ``Value`` or ``AverageValue``."""

    type: str = ""
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: int | None = None


@record
class MetricIdentifier:
    name: str = ""
    selector: LabelSelector | None = None


@record
class ResourceMetricSource:
    name: str = ""
    target: MetricTarget = field(default_factory=MetricTarget)


@record
class ContainerResourceMetricSource:
    name: str = ""
    container: str = ""
    target: MetricTarget = field(default_factory=MetricTarget)


@record
class PodsMetricSource:
    metric: MetricIdentifier = field(default_factory=MetricIdentifier)
    target: MetricTarget = field(default_factory=MetricTarget)


@record
class ObjectMetricSource:
    described_object: CrossVersionObjectReference = field(
        default_factory=CrossVersionObjectReference
    )
    metric: MetricIdentifier = field(default_factory=MetricIdentifier)
    target: MetricTarget = field(default_factory=MetricTarget)


@record
class ExternalMetricSource:
    metric: MetricIdentifier = field(default_factory=MetricIdentifier)
    target: MetricTarget = field(default_factory=MetricTarget)


@record
class MetricSpec:
    """One metric source; ``type`` names which of the other fields is set."""

    type: str = ""
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object_: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


@record
class HPAScalingPolicy:
    type: str = ""
    value: int = 0
    period_seconds: int = 0


@record
class HPAScalingRules:
    """``behavior.scaleUp`` / ``scaleDown``; ``None`` fields take the direction's default."""

    stabilization_window_seconds: int | None = None
    select_policy: str | None = None
    policies: tuple[HPAScalingPolicy, ...] | None = None
    tolerance: Quantity | None = None


_SCALE_UP_DEFAULT = HPAScalingRules(
    stabilization_window_seconds=0,
    select_policy="Max",
    policies=(HPAScalingPolicy("Pods", 4, 15), HPAScalingPolicy("Percent", 100, 15)),
)
_SCALE_DOWN_DEFAULT = HPAScalingRules(
    select_policy="Max", policies=(HPAScalingPolicy("Percent", 100, 15),)
)


def _merge_rules(given: HPAScalingRules | None, default: HPAScalingRules) -> HPAScalingRules:
    if given is None:
        return default
    return HPAScalingRules(
        stabilization_window_seconds=(
            given.stabilization_window_seconds
            if given.stabilization_window_seconds is not None
            else default.stabilization_window_seconds
        ),
        select_policy=given.select_policy or default.select_policy,
        policies=given.policies if given.policies is not None else default.policies,
        tolerance=given.tolerance,
    )


@record
class HPABehavior:
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None

    def defaulted(self) -> HPABehavior:
        """Each field merged with the API defaults (the scale-down window stays unset:
        the controller's ``--horizontal-pod-autoscaler-downscale-stabilization`` fills it)."""
        return HPABehavior(
            _merge_rules(self.scale_up, _SCALE_UP_DEFAULT),
            _merge_rules(self.scale_down, _SCALE_DOWN_DEFAULT),
        )


@record
class HPASpec:
    scale_target_ref: CrossVersionObjectReference = field(
        default_factory=CrossVersionObjectReference
    )
    min_replicas: int = 1
    max_replicas: int = 0
    metrics: tuple[MetricSpec, ...] = ()
    behavior: HPABehavior | None = None

    def defaulted(self) -> HPASpec:
        """No metrics means CPU at 80% utilization (the API default)."""
        if self.metrics:
            return self
        cpu80 = MetricSpec(
            "Resource", ResourceMetricSource("cpu", MetricTarget("Utilization", None, None, 80))
        )
        return replace(self, metrics=(cpu80,))


@record
class HPAStatus:
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: int = 0
    desired_replicas: int = 0
    current_metrics: tuple[dict[str, Any], ...] = ()
    conditions: tuple[DeploymentCondition, ...] = ()


@record
class HorizontalPodAutoscaler:
    api_version: str = "autoscaling/v2"
    kind: str = "HorizontalPodAutoscaler"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: HPASpec = field(default_factory=HPASpec)
    status: HPAStatus | None = None


# -- network policy --------------------------------------------------------------------


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


# -- configuration ---------------------------------------------------------------------


@record
class ConfigMap:
    api_version: str = "v1"
    kind: str = "ConfigMap"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    data: dict[str, str] = field(default_factory=dict)
    binary_data: dict[str, str] = field(default_factory=dict)
    immutable: bool | None = None


@record
class Secret:
    """``data`` is base64 on the wire; ``stringData`` is merged into it on load (as the API
    server does on write), so a loaded Secret has ``data`` only. :meth:`decoded` gives bytes."""

    api_version: str = "v1"
    kind: str = "Secret"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    type: str = "Opaque"
    data: dict[str, str] = field(default_factory=dict)
    string_data: dict[str, str] = field(default_factory=dict)
    immutable: bool | None = None

    def defaulted(self) -> Secret:
        if not self.string_data:
            return self
        data = dict(self.data)
        for key, text in self.string_data.items():
            data[key] = base64.b64encode(text.encode()).decode()
        return replace(self, data=data, string_data={})

    def decoded(self) -> dict[str, bytes]:
        return {k: base64.b64decode(v) for k, v in self.data.items()}


@record
class Namespace:
    api_version: str = "v1"
    kind: str = "Namespace"
    metadata: ObjectMeta = field(default_factory=ObjectMeta)
    spec: dict[str, Any] | None = None
    status: dict[str, Any] | None = None

    def defaulted(self) -> Namespace:
        """The automatic ``kubernetes.io/metadata.name`` label."""
        key = "kubernetes.io/metadata.name"
        if not self.metadata.name or self.metadata.labels.get(key) == self.metadata.name:
            return self
        labels = {**self.metadata.labels, key: self.metadata.name}
        return replace(self, metadata=replace(self.metadata, labels=labels))


Object = (
    Deployment
    | ReplicaSet
    | Pod
    | Service
    | HorizontalPodAutoscaler
    | NetworkPolicy
    | ConfigMap
    | Secret
    | Namespace
)

# (apiVersion, kind) -> class. autoscaling/v1 and v2beta2 are converted to v2 on load.
KINDS: dict[tuple[str, str], type[Any]] = {
    ("apps/v1", "Deployment"): Deployment,
    ("apps/v1", "ReplicaSet"): ReplicaSet,
    ("v1", "Pod"): Pod,
    ("v1", "Service"): Service,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): HorizontalPodAutoscaler,
    ("networking.k8s.io/v1", "NetworkPolicy"): NetworkPolicy,
    ("v1", "ConfigMap"): ConfigMap,
    ("v1", "Secret"): Secret,
    ("v1", "Namespace"): Namespace,
}
