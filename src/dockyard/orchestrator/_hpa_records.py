"""HorizontalPodAutoscaler (autoscaling/v2) records (NetworkPolicy's are in ``_netpol_records.py``).

See :mod:`dockyard.orchestrator.objects` for the conventions (wire names, defaults).
"""

from __future__ import annotations

from typing import Any

from dockyard.records import field, record, replace

from ._pods import DeploymentCondition, ObjectMeta
from .quantity import Quantity
from .selectors import LabelSelector

__all__ = [
    "ContainerResourceMetricSource",
    "CrossVersionObjectReference",
    "ExternalMetricSource",
    "HPABehavior",
    "HPAScalingPolicy",
    "HPAScalingRules",
    "HPASpec",
    "HPAStatus",
    "HorizontalPodAutoscaler",
    "MetricIdentifier",
    "MetricSpec",
    "MetricTarget",
    "ObjectMetricSource",
    "PodsMetricSource",
    "ResourceMetricSource",
]

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
