"""The HorizontalPodAutoscaler controller: every sync period, rescale the target.

One reconcile of an HPA (CONVENTIONS #7), at most once per ``sync_period`` (the
daemon's ``--horizontal-pod-autoscaler-sync-period``, 15 s by default):

1. read the HPA (gone: forget its history) and its target (a Deployment or ReplicaSet
   in the same namespace: ``spec.replicas`` and ``spec.selector``);
2. list the target's pods and their usage (``PodBackend.pod_metrics``: CPU millicores
   over a window and memory bytes, from cgroups);
3. per metric, the replica count of :mod:`..hpa_algorithm` (Resource and ContainerResource, cpu
   or memory, Utilization or AverageValue); then ``decide`` (max over metrics,
   stabilization, behavior policies, min/max) with this HPA's ``History``;
4. when the count changes, write the target's ``spec.replicas`` (the Deployment
   controller spreads it over its ReplicaSets) and remember the scale event;
5. write the status: currentReplicas, desiredReplicas, currentMetrics, lastScaleTime,
   conditions AbleToScale, ScalingActive, ScalingLimited.

Pods, Object and External metrics need a custom-metrics source dockyard does not have:
they count as failed metrics (``ScalingActive=False``; a scale-up on the other metrics
still happens, a scale-down does not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dockyard.errors import Conflict, DockyardError, FailedPrecondition, NotFound
from dockyard.records import replace

from ..backend import ObservedPod, PodBackend
from ..events import NORMAL, EventLog, involved
from ..hpa_algorithm import (
    Decision,
    History,
    HPAConfig,
    MetricSample,
    Proposal,
    ScalePod,
    decide,
    plain_metric_replicas,
    record_scale,
    resource_utilization_replicas,
    tolerances_for,
)
from ..metrics import PodMetrics
from ..objects import (
    Deployment,
    DeploymentCondition,
    HorizontalPodAutoscaler,
    HPAStatus,
    MetricSpec,
    ReplicaSet,
)
from ..quantity import Quantity
from ..store import ObjectStore, format_time
from ._common import Key, Tracked, key_of, set_condition

__all__ = ["HPAController", "scale_pod", "sample_of"]

_TARGETS: dict[str, type[Deployment] | type[ReplicaSet]] = {
    "Deployment": Deployment,
    "ReplicaSet": ReplicaSet,
}

_LIMITED = {
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
}


def _request(containers: Sequence[Any], resource: str) -> int | None:
    total = 0
    for c in containers:
        q = c.resources.requests.get(resource)
        if q is None:
            return None
        total += q.milli_value()
    return total


def scale_pod(p: ObservedPod, resource: str, container: str | None = None) -> ScalePod | None:
    """The HPA's view of a pod; None when a ContainerResource pod lacks the container."""
    containers = p.pod.spec.containers
    if container is not None:
        containers = tuple(c for c in containers if c.name == container)
        if not containers:
            return None
    running = p.phase == "Running"
    return ScalePod(
        name=p.name,
        phase=p.phase,
        ready=p.ready if running else None,
        ready_since=p.ready_since or p.start_time or p.created,
        start_time=p.start_time,
        deleted=p.terminating,
        request=_request(containers, resource),
    )


def sample_of(m: PodMetrics, resource: str, container: str | None = None) -> MetricSample | None:
    """A pod's usage of ``resource`` in milli-units (CPU millicores; memory bytes x 1000)."""
    if container is not None:
        c = m.containers.get(container)
        if c is None:
            return None
        cpu, memory = c.cpu_millicores, c.memory_bytes
    else:
        cpu, memory = m.cpu_millicores, m.memory_bytes
    value = cpu if resource == "cpu" else memory * 1000
    return MetricSample(value, m.timestamp, m.window)


def _average_text(resource: str, milli: int) -> str:
    if resource == "memory":
        return Quantity.from_bytes(milli // 1000).text
    return Quantity.from_milli(milli).text


class HPAController:
    """Reconciles every HorizontalPodAutoscaler once per ``sync_period`` seconds."""

    name = "hpa"

    def __init__(
        self,
        store: ObjectStore,
        backend: PodBackend,
        *,
        sync_period: float = 15.0,
        config: HPAConfig = HPAConfig(),  # noqa: B008
        events: EventLog | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.events = events if events is not None else EventLog()
        self.sync_period = sync_period
        self.config = config
        self._history: dict[Key, History] = {}
        self._next: dict[Key, float] = {}
        self._tracked = Tracked()

    def targets(self) -> list[Key]:
        hpas = self.store.list(HorizontalPodAutoscaler)
        return self._tracked.keys(key_of(h.metadata) for h in hpas)

    def history(self, key: Key) -> History:
        return self._history.get(key, History())

    async def reconcile(self, key: Key, now: float) -> float | None:
        ns, name = key
        try:
            hpa = self.store.get(HorizontalPodAutoscaler, ns, name)
        except NotFound:
            self._history.pop(key, None)
            self._next.pop(key, None)
            self._tracked.forget(key)
            return None
        due = self._next.get(key, now)
        if now < due:
            return due - now
        self._next[key] = now + self.sync_period
        await self._sync(key, hpa, now)
        return self.sync_period

    async def _sync(self, key: Key, hpa: HorizontalPodAutoscaler, now: float) -> None:
        status = hpa.status or HPAStatus()
        conditions: tuple[DeploymentCondition, ...] = status.conditions
        target = self._target(hpa)
        if isinstance(target, DockyardError):
            conditions = set_condition(
                conditions, "AbleToScale", "False", "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {target}", now,
            )  # fmt: skip
            self._write(hpa, replace(status, conditions=conditions))
            return
        conditions = set_condition(
            conditions, "AbleToScale", "True", "SucceededGetScale",
            "the HPA controller was able to get the target's current scale", now,
        )  # fmt: skip
        current = target.spec.replicas
        proposals, metrics, failure = await self._proposals(hpa, target, current, now)
        decision = decide(
            hpa.spec, current, [p.replicas if p else None for p in proposals],
            self.history(key), now=now, config=self.config,
        )  # fmt: skip
        history = decision.history
        last_scale = status.last_scale_time
        if decision.replicas != current and decision.reason not in (
            "ScalingDisabled", "FailedGetMetrics",
        ):  # fmt: skip
            try:
                self.store.update(
                    replace(target, spec=replace(target.spec, replicas=decision.replicas))
                )
            except (Conflict, NotFound) as e:
                conditions = set_condition(
                    conditions, "AbleToScale", "False", "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {e}", now,
                )  # fmt: skip
                self._history[key] = history
                self._write(hpa, replace(status, conditions=conditions))
                raise
            history = record_scale(history, hpa.spec.behavior, current, decision.replicas, now)
            self.events.record(involved(hpa), NORMAL, "SuccessfulRescale",
                               f"New size: {decision.replicas}; reason: "
                               f"{rescale_reason(hpa, proposals, decision.replicas > current)}",
                               "horizontal-pod-autoscaler")  # fmt: skip
            last_scale = format_time(now)
            conditions = set_condition(
                conditions, "AbleToScale", "True", "SucceededRescale",
                f"the HPA controller was able to update the target scale to {decision.replicas}",
                now,
            )  # fmt: skip
        elif decision.stabilized == "ScaleDownStabilized":
            conditions = set_condition(
                conditions, "AbleToScale", "True", "ScaleDownStabilized",
                "recent recommendations were higher than current one, applying the highest "
                "recent recommendation", now,
            )  # fmt: skip
        elif decision.stabilized == "ScaleUpStabilized":
            conditions = set_condition(
                conditions, "AbleToScale", "True", "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest "
                "recent recommendation", now,
            )  # fmt: skip
        else:
            conditions = set_condition(
                conditions, "AbleToScale", "True", "ReadyForNewScale",
                "recommended size matches current size", now,
            )  # fmt: skip
        self._history[key] = history
        conditions = _active(conditions, decision, failure, now)
        conditions = _limited(conditions, decision, now)
        self._write(
            hpa,
            HPAStatus(
                observed_generation=hpa.metadata.generation,
                last_scale_time=last_scale,
                current_replicas=current,
                desired_replicas=decision.replicas,
                current_metrics=tuple(metrics),
                conditions=conditions,
            ),
        )

    def _target(self, hpa: HorizontalPodAutoscaler) -> Deployment | ReplicaSet | DockyardError:
        ref = hpa.spec.scale_target_ref
        cls = _TARGETS.get(ref.kind)
        if cls is None:
            return FailedPrecondition(f'kind "{ref.kind}" cannot be scaled')
        try:
            return self.store.get(cls, hpa.metadata.namespace, ref.name)
        except NotFound as e:
            return e

    async def _proposals(
        self,
        hpa: HorizontalPodAutoscaler,
        target: Deployment | ReplicaSet,
        current: int,
        now: float,
    ) -> tuple[list[Proposal | None], list[dict[str, Any]], tuple[str, str] | None]:
        ns = hpa.metadata.namespace or "default"
        pods = await self.backend.list_pods(ns, target.spec.selector)
        usage: dict[str, PodMetrics] = {}
        for p in pods:
            if p.phase == "Running" and not p.terminating:
                m = await self.backend.pod_metrics(ns, p.name)
                if m is not None:
                    usage[p.name] = m
        proposals: list[Proposal | None] = []
        metrics: list[dict[str, Any]] = []
        failure: tuple[str, str] | None = None
        for spec in hpa.spec.defaulted().metrics:
            try:
                proposal = self._one(hpa, spec, current, pods, usage, now)
            except FailedPrecondition as e:
                proposals.append(None)
                failure = failure or (_failed_reason(spec), str(e))
                continue
            proposals.append(proposal)
            metrics.append(_current_metric(spec, proposal))
        return proposals, metrics, failure

    def _one(
        self,
        hpa: HorizontalPodAutoscaler,
        spec: MetricSpec,
        current: int,
        pods: Sequence[ObservedPod],
        usage: Mapping[str, PodMetrics],
        now: float,
    ) -> Proposal:
        source: Any = spec.resource if spec.type == "Resource" else spec.container_resource
        if spec.type not in ("Resource", "ContainerResource") or source is None:
            raise FailedPrecondition(
                f"unable to get metric of type {spec.type}: no custom metrics source"
            )
        container = source.container if spec.type == "ContainerResource" else None
        resource = source.name
        scale_pods = [sp for p in pods if (sp := scale_pod(p, resource, container)) is not None]
        samples: dict[str, MetricSample] = {}
        for name, m in usage.items():
            s = sample_of(m, resource, container)
            if s is not None:
                samples[name] = s
        tol = tolerances_for(hpa.spec, self.config)
        target = source.target
        if target.type == "Utilization" and target.average_utilization:
            return resource_utilization_replicas(
                current, target.average_utilization, scale_pods, samples,
                resource=resource, now=now, tolerances=tol, config=self.config,
            )  # fmt: skip
        if target.type == "AverageValue" and target.average_value is not None:
            return plain_metric_replicas(
                current, target.average_value.milli_value(), scale_pods, samples,
                resource=resource, now=now, tolerances=tol, config=self.config,
            )  # fmt: skip
        raise FailedPrecondition(f"invalid target type {target.type} for resource {resource}")

    def _write(self, hpa: HorizontalPodAutoscaler, status: HPAStatus) -> None:
        if status != hpa.status:
            self.store.update_status(replace(hpa, status=status))


def _failed_reason(spec: MetricSpec) -> str:
    return {
        "Resource": "FailedGetResourceMetric",
        "ContainerResource": "FailedGetContainerResourceMetric",
        "Pods": "FailedGetPodsMetric",
        "Object": "FailedGetObjectMetric",
        "External": "FailedGetExternalMetric",
    }.get(spec.type, "InvalidMetricSourceType")


def _current_metric(spec: MetricSpec, p: Proposal) -> dict[str, Any]:
    source: Any = spec.resource if spec.type == "Resource" else spec.container_resource
    current: dict[str, Any] = {"averageValue": _average_text(source.name, p.value)}
    if p.utilization is not None:
        current["averageUtilization"] = p.utilization
    body: dict[str, Any] = {"name": source.name, "current": current}
    if spec.type == "ContainerResource":
        body["container"] = source.container
        return {"type": "ContainerResource", "containerResource": body}
    return {"type": "Resource", "resource": body}


def _active(
    conditions: tuple[DeploymentCondition, ...],
    decision: Decision,
    failure: tuple[str, str] | None,
    now: float,
) -> tuple[DeploymentCondition, ...]:
    if decision.reason == "ScalingDisabled":
        return set_condition(
            conditions, "ScalingActive", "False", "ScalingDisabled", decision.message, now
        )
    if failure is not None:
        return set_condition(conditions, "ScalingActive", "False", failure[0], failure[1], now)
    return set_condition(
        conditions, "ScalingActive", "True", "ValidMetricFound",
        "the HPA was able to successfully calculate a replica count", now,
    )  # fmt: skip


def _limited(
    conditions: tuple[DeploymentCondition, ...], decision: Decision, now: float
) -> tuple[DeploymentCondition, ...]:
    if decision.limited and decision.reason in _LIMITED:
        return set_condition(
            conditions, "ScalingLimited", "True", decision.reason, _LIMITED[decision.reason], now
        )
    return set_condition(
        conditions, "ScalingLimited", "False", "DesiredWithinRange",
        "the desired count is within the acceptable range", now,
    )  # fmt: skip


def rescale_reason(
    hpa: HorizontalPodAutoscaler, proposals: Sequence[Proposal | None], up: bool
) -> str:
    """The reason in a SuccessfulRescale event, as the Kubernetes controller words it: the
    metric that asked for the most replicas when scaling up, else "All metrics below
    target"."""
    if not up:
        return "All metrics below target"
    best: tuple[int, str] | None = None
    for spec, proposal in zip(hpa.spec.defaulted().metrics, proposals, strict=False):
        if proposal is None or (best is not None and proposal.replicas <= best[0]):
            continue
        source: Any = spec.resource if spec.type == "Resource" else spec.container_resource
        if source is None:
            continue
        kind = "resource" if spec.type == "Resource" else "container resource"
        name = f"{source.name} {kind}"
        if source.target.type == "Utilization":
            name += " utilization (percentage of request)"
        best = (proposal.replicas, name)
    return f"{best[1] if best else 'metrics'} above target"
