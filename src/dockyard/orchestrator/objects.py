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

Fields the orchestrator does not interpret but Kubernetes accepts (``affinity``,
``tolerations``…) are kept as opaque mappings so that they survive a load/export round
trip; ``securityContext`` is typed and honoured (``security_context.py``).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar

from dockyard.records import field, record, replace

from ._hpa_records import (
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPAScalingPolicy,
    HPAScalingRules,
    HPASpec,
    HPAStatus,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricSource,
    PodsMetricSource,
    ResourceMetricSource,
)
from ._netpol_records import (
    IPBlock,
    NetworkPolicy,
    NetworkPolicyEgressRule,
    NetworkPolicyIngressRule,
    NetworkPolicyPeer,
    NetworkPolicyPort,
    NetworkPolicySpec,
)
from ._pods import (
    ConfigMapVolumeSource,
    Container,
    ContainerPort,
    DeploymentCondition,
    EmptyDirVolumeSource,
    EnvFromSource,
    EnvVar,
    EnvVarSource,
    ExecAction,
    HostPathVolumeSource,
    HTTPGetAction,
    HTTPHeader,
    KeySelector,
    KeyToPath,
    Lifecycle,
    LifecycleHandler,
    LocalObjectReference,
    ObjectFieldSelector,
    ObjectMeta,
    OwnerReference,
    PersistentVolumeClaimVolumeSource,
    Pod,
    PodCondition,
    PodDNSConfig,
    PodDNSConfigOption,
    PodSpec,
    PodStatus,
    PodTemplateSpec,
    Probe,
    ResourceFieldSelector,
    ResourceRequirements,
    SecretVolumeSource,
    TCPSocketAction,
    Volume,
    VolumeMount,
)
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
    "PodDNSConfig",
    "PodDNSConfigOption",
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
