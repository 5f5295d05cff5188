"""The HPA controller against the fake backend: sync period, stabilization, clamps, status."""

from __future__ import annotations

import pytest
from test_controllers_harness import World, deployment

from dockyard.orchestrator.objects import (
    CrossVersionObjectReference,
    Deployment,
    HorizontalPodAutoscaler,
    HPABehavior,
    HPAScalingRules,
    HPASpec,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMeta,
    PodsMetricSource,
    ResourceMetricSource,
)
from dockyard.orchestrator.quantity import parse_quantity
from dockyard.records import replace

CPU50 = MetricSpec(
    "Resource", ResourceMetricSource("cpu", MetricTarget("Utilization", average_utilization=50))
)


def hpa(
    *,
    min_replicas: int = 1,
    max_replicas: int = 10,
    metrics: tuple[MetricSpec, ...] = (CPU50,),
    behavior: HPABehavior | None = None,
    target: str = "web",
) -> HorizontalPodAutoscaler:
    return HorizontalPodAutoscaler(
        metadata=ObjectMeta(name="web", namespace="default"),
        spec=HPASpec(
            scale_target_ref=CrossVersionObjectReference("apps/v1", "Deployment", target),
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            metrics=metrics,
            behavior=behavior,
        ),
    )


def replicas(w: World) -> int:
    return w.deployment().spec.replicas


def hpa_of(w: World) -> HorizontalPodAutoscaler:
    return w.store.get(HorizontalPodAutoscaler, "default", "web")


def conditions(w: World) -> dict[str, tuple[str, str | None]]:
    status = hpa_of(w).status
    assert status is not None
    return {c.type: (c.status, c.reason) for c in status.conditions}


def warmed(start: int = 2, cpu: int = 50, **kw: object) -> World:
    """A deployment at ``start`` replicas, ready for 40 s, with an HPA; load ``cpu``m."""
    w = World()
    w.store.create(deployment(replicas=start))
    w.backend.set_metrics("*", cpu)
    w.tick(40)
    w.store.create(hpa(**kw))  # type: ignore[arg-type]
    return w


def test_scale_up_within_one_sync_period_after_the_metric_crosses() -> None:
    w = warmed(2, 50)
    w.tick(20)
    assert replicas(w) == 2  # 50% of a 50% target: no change
    crossed = w.clock.now()
    w.backend.set_metrics("*", 200)  # 200% of the request: ratio 4
    w.run_until(lambda w: replicas(w) != 2, limit=16)
    assert w.clock.now() - crossed <= 15.0
    assert replicas(w) == 4  # legacy limit max(2 x 2, 4)
    status = hpa_of(w).status
    assert status is not None
    assert (status.current_replicas, status.desired_replicas) == (2, 4)
    assert status.last_scale_time is not None
    assert status.current_metrics[0]["resource"]["current"] == {
        "averageUtilization": 200,
        "averageValue": "200m",
    }
    assert conditions(w) == {
        "AbleToScale": ("True", "SucceededRescale"),
        "ScalingActive": ("True", "ValidMetricFound"),
        "ScalingLimited": ("True", "ScaleUpLimit"),
    }
    w.run_until(lambda w: w.ready() == 4, limit=5)
    rescaled = [e for e in w.events.list() if e.reason == "SuccessfulRescale"]
    assert [e.message for e in rescaled] == [
        "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    ]
    scaled = [e.message for e in w.events.list() if e.reason == "ScalingReplicaSet"]
    assert scaled[-1].startswith("Scaled up replica set ") and scaled[-1].endswith(" to 4 from 2")


def test_scale_down_waits_for_the_stabilization_window() -> None:
    window = HPABehavior(scale_down=HPAScalingRules(stabilization_window_seconds=60))
    w = warmed(4, 50, behavior=window)
    w.tick(16)
    assert replicas(w) == 4
    dropped = w.clock.now()
    w.backend.set_metrics("*", 5)  # 10%: the recommendation is 1
    w.tick(40)
    assert replicas(w) == 4
    assert conditions(w)["AbleToScale"] == ("True", "ScaleDownStabilized")
    w.run_until(lambda w: replicas(w) == 1, limit=40)
    waited = w.clock.now() - dropped
    assert 60.0 <= waited <= 60.0 + 15.0 + 1.0
    rescaled = [e.message for e in w.events.list() if e.reason == "SuccessfulRescale"]
    assert rescaled == ["New size: 1; reason: All metrics below target"]


def test_sync_period_is_a_setting() -> None:
    w = World(hpa_sync_period=5.0)
    w.store.create(deployment(replicas=2))
    w.backend.set_metrics("*", 50)
    w.tick(40)
    w.store.create(hpa())
    w.tick(1)
    w.backend.set_metrics("*", 200)
    w.run_until(lambda w: replicas(w) != 2, limit=6)


@pytest.mark.parametrize(
    ("start", "min_r", "max_r", "cpu", "want", "reason"),
    [
        (6, 1, 4, 50, 4, "TooManyReplicas"),  # above max: straight to max
        (2, 3, 10, 50, 3, "TooFewReplicas"),  # below min: straight to min
        (4, 1, 5, 500, 5, "TooManyReplicas"),  # load wants 40, max is 5
        (4, 2, 10, 1, 2, "TooFewReplicas"),  # idle wants 1, min is 2 (legacy: no window
    ],                                        # without history beyond the first pass)
)  # fmt: skip
def test_min_and_max_clamp(
    start: int, min_r: int, max_r: int, cpu: int, want: int, reason: str
) -> None:
    w = World(hpa_config=None)
    w.store.create(deployment(replicas=start))
    w.backend.set_metrics("*", cpu)
    w.tick(40)
    w.store.create(hpa(min_replicas=min_r, max_replicas=max_r))
    w.tick(1)
    assert replicas(w) == want
    assert conditions(w)["ScalingLimited"] == ("True", reason)


def test_memory_average_value() -> None:
    mem = MetricSpec(
        "Resource",
        ResourceMetricSource("memory", MetricTarget("AverageValue",
                                                    average_value=parse_quantity("100Mi"))),
    )  # fmt: skip
    w = World()
    w.store.create(deployment(replicas=2))
    w.backend.set_metrics("*", 10, 200 * 1024 * 1024)
    w.tick(5)
    w.store.create(hpa(metrics=(mem,)))
    w.tick()
    assert replicas(w) == 4
    status = hpa_of(w).status
    assert status is not None
    assert status.current_metrics[0]["resource"]["current"] == {"averageValue": "200Mi"}


def test_missing_target_is_reported() -> None:
    w = World()
    w.store.create(hpa(target="nothing"))
    w.tick()
    assert conditions(w)["AbleToScale"][0:2] == ("False", "FailedGetScale")


def test_unsupported_metric_disables_scale_down_but_not_scale_up() -> None:
    pods_metric = MetricSpec(
        "Pods",
        pods=PodsMetricSource(MetricIdentifier("requests_per_second"),
                              MetricTarget("AverageValue", average_value=parse_quantity("10"))),
    )  # fmt: skip
    w = warmed(4, 5, metrics=(CPU50, pods_metric))
    w.tick(2)
    assert replicas(w) == 4  # CPU alone says 1: skipped with a failed metric
    assert conditions(w)["ScalingActive"] == ("False", "FailedGetPodsMetric")
    w.backend.set_metrics("*", 200)
    w.tick(16)
    assert replicas(w) == 8


def test_zero_replicas_disables_scaling() -> None:
    w = World()
    w.store.create(deployment(replicas=0))
    w.store.create(hpa())
    w.tick()
    assert replicas(w) == 0
    assert conditions(w)["ScalingActive"] == ("False", "ScalingDisabled")


def test_deleting_the_hpa_forgets_its_history() -> None:
    w = warmed(2, 200)
    w.tick()
    controller = w.manager.controllers[0]
    assert controller.history(("default", "web")).recommendations  # type: ignore[attr-defined]
    w.store.delete(HorizontalPodAutoscaler, "default", "web")
    w.tick()
    assert not controller.history(("default", "web")).recommendations  # type: ignore[attr-defined]
    d = w.deployment()
    w.store.update(replace(d, spec=replace(d.spec, replicas=3)))
    w.tick(20)
    assert w.store.get(Deployment, "default", "web").spec.replicas == 3
