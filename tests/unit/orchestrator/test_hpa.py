"""The HPA arithmetic, table by table; every worked example of corpus k8s/HPA.md is here."""

from __future__ import annotations

import pytest

from dockyard.errors import FailedPrecondition
from dockyard.orchestrator.hpa_algorithm import (
    History,
    HPAConfig,
    MetricSample,
    Recommendation,
    ScaleEvent,
    ScalePod,
    Tolerances,
    combine_proposals,
    decide,
    external_replicas,
    object_replicas,
    plain_metric_replicas,
    record_scale,
    resource_utilization_replicas,
    tolerances_for,
)
from dockyard.orchestrator.objects import (
    HPABehavior,
    HPAScalingPolicy,
    HPAScalingRules,
    HPASpec,
)
from dockyard.orchestrator.quantity import parse_quantity

NOW = 10_000.0


def pods(n: int, request: int | None = 1000, **kw: object) -> list[ScalePod]:
    return [ScalePod(f"p{i}", request=request, **kw) for i in range(n)]  # type: ignore[arg-type]


def samples(*values: int) -> dict[str, MetricSample]:
    return {f"p{i}": MetricSample(v, timestamp=NOW) for i, v in enumerate(values)}


# -- the core formula ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "values", "target", "expected"),
    [
        # HPA.md: 200m against 100m is a ratio of 2.0, so replicas double.
        (4, (200, 200, 200, 200), 100, 8),
        # HPA.md: 50m against 100m is 0.5, so replicas halve.
        (4, (50, 50, 50, 50), 100, 2),
        # HPA.md test vector: 4 pods at 100m, target AverageValue 50m -> 8.
        (4, (100, 100, 100, 100), 50, 8),
        # ratio 1.08 with the default tolerance 0.1: no change.
        (5, (108,) * 5, 100, 5),
        # ratio 1.11 with 3 pods: ceil(3.33) = 4.
        (3, (111,) * 3, 100, 4),
        # exactly 1 + tolerance is still within it.
        (3, (110,) * 3, 100, 3),
        # the mean is integer division of the total (301 // 3 = 100).
        (3, (100, 100, 101), 100, 3),
    ],
)
def test_average_value_formula(
    current: int, values: tuple[int, ...], target: int, expected: int
) -> None:
    got = plain_metric_replicas(current, target, pods(len(values)), samples(*values), now=NOW)
    assert got.replicas == expected


def test_multiplier_is_ready_pods_with_metrics_not_current_replicas() -> None:
    # [impl] plain case: ceil(ratio x readyPodCount); current says 10 but 4 pods report
    got = plain_metric_replicas(10, 100, pods(4), samples(200, 200, 200, 200), now=NOW)
    assert got.replicas == 8


@pytest.mark.parametrize(
    ("usage", "requests", "target", "utilization", "expected"),
    [
        # int(sum(usage) * 100 / sum(requests)): 1000/3000 is 33%, not 33.3%
        ((500, 500), (1500, 1500), 50, 33, 2),  # ratio 0.66 -> ceil(1.32) = 2
        ((900, 900), (1000, 1000), 50, 90, 4),  # ratio 1.8 -> ceil(3.6) = 4
        ((500, 500), (1000, 1000), 50, 50, 2),  # on target
        ((520, 520), (1000, 1000), 50, 52, 2),  # ratio 1.04: within tolerance
    ],
)
def test_utilization_is_integer_percent(
    usage: tuple[int, ...], requests: tuple[int, ...], target: int, utilization: int, expected: int
) -> None:
    ps = [ScalePod(f"p{i}", request=r) for i, r in enumerate(requests)]
    got = resource_utilization_replicas(2, target, ps, samples(*usage), now=NOW)
    assert (got.utilization, got.replicas) == (utilization, expected)


def test_per_direction_tolerance_100mi_target_5_percent_up() -> None:
    # HPA.md: a target of 100Mi with a 5% scale-up tolerance scales up only above 105Mi.
    spec = HPASpec(
        max_replicas=10,
        behavior=HPABehavior(scale_up=HPAScalingRules(tolerance=parse_quantity("0.05"))),
    )
    tol = tolerances_for(spec)
    assert tol == Tolerances(up=0.05, down=0.1)
    mi = 1024 * 1024 * 1000  # milli-units of one MiB
    target = 100 * mi
    at_104 = plain_metric_replicas(4, target, pods(4), samples(*(104 * mi,) * 4), tolerances=tol)
    at_106 = plain_metric_replicas(4, target, pods(4), samples(*(106 * mi,) * 4), tolerances=tol)
    assert (at_104.replicas, at_106.replicas) == (4, 5)


def test_configured_tolerance() -> None:
    assert tolerances_for(None, HPAConfig(tolerance=0.2)) == Tolerances(0.2, 0.2)
    got = plain_metric_replicas(
        4, 100, pods(4), samples(*(115,) * 4), tolerances=Tolerances(0.2, 0.2)
    )
    assert got.replicas == 4


# -- missing metrics and unready pods --------------------------------------------------


def test_missing_pods_count_as_100_percent_on_scale_down() -> None:
    # 4 pods, 2 report 20% of a 50% target (ratio 0.4); the 2 missing count as
    # max(100, target) = 100%: (20+20+100+100)/4 = 60% -> ratio 1.2: direction flips -> keep 4.
    ps = pods(4)
    got = resource_utilization_replicas(4, 50, ps, samples(200, 200), now=NOW)
    assert got.replicas == 4
    assert got.utilization == 20  # status reports the unadjusted utilization


def test_missing_pods_scale_down_less() -> None:
    # 5 pods, 4 report 10% against a target of 200% (ratio 0.05); missing at 200%:
    # (10*4 + 200)/5 = 48% -> ratio 0.24 -> ceil(0.24 * 5) = 2 (instead of ceil(0.05*4) = 1)
    got = resource_utilization_replicas(5, 200, pods(5), samples(100, 100, 100, 100), now=NOW)
    assert got.replicas == 2


def test_missing_pods_count_as_zero_on_scale_up() -> None:
    # 4 pods, 2 report 100% of a 50% target (ratio 2.0); missing count as 0%:
    # 200/4 = 50% -> ratio 1.0 -> within tolerance -> keep 4
    got = resource_utilization_replicas(4, 50, pods(4), samples(1000, 1000), now=NOW)
    assert got.replicas == 4
    # 3 report 100%, 1 missing: 300/4 = 75% -> ratio 1.5 -> ceil(1.5 * 4) = 6
    got = resource_utilization_replicas(4, 50, pods(4), samples(1000, 1000, 1000), now=NOW)
    assert got.replicas == 6


def test_unready_pods_count_as_zero_on_scale_up() -> None:
    late = ScalePod("p3", ready=False, ready_since=NOW - 10, start_time=NOW - 20, request=1000)
    ps = [*pods(3), late]
    metrics = samples(1000, 1000, 1000, 1000)
    # ready pods: 100% vs 50% -> ratio 2.0; the unready pod at 0%: 75% -> 1.5 x 4 = 6
    got = resource_utilization_replicas(3, 50, ps, metrics, now=NOW)
    assert got.replicas == 6


def test_unready_pods_are_ignored_on_scale_down() -> None:
    late = ScalePod("p3", ready=False, ready_since=NOW - 10, start_time=NOW - 20, request=1000)
    ps = [*pods(3), late]
    metrics = samples(100, 100, 100, 1000)
    # only the 3 ready pods count: 10% vs 50% -> ratio 0.2 -> ceil(0.6) = 1
    got = resource_utilization_replicas(4, 50, ps, metrics, now=NOW)
    assert got.replicas == 1


@pytest.mark.parametrize(
    ("pod", "unready"),
    [
        (ScalePod("p", ready=None, request=1000), True),  # no Ready condition yet
        (ScalePod("p", start_time=None, request=1000), True),  # no start time
        # inside the 5 min CPU initialisation period: the sample must postdate readiness
        # by one window
        (ScalePod("p", ready=True, ready_since=NOW - 30, start_time=NOW - 60, request=1000), True),
        (
            ScalePod("p", ready=True, ready_since=NOW - 90, start_time=NOW - 100, request=1000),
            False,
        ),
        # after it: unready only if it never became ready (transition within 30 s of start)
        (
            ScalePod("p", ready=False, ready_since=NOW - 990, start_time=NOW - 1000, request=1000),
            True,
        ),
        (
            ScalePod("p", ready=False, ready_since=NOW - 500, start_time=NOW - 1000, request=1000),
            False,
        ),
        (ScalePod("p", phase="Pending", request=1000), True),
    ],
)
def test_cpu_readiness_rules(pod: ScalePod, unready: bool) -> None:
    # one ready pod at 100%, the probed pod at 100%, target 50%: ratio 2.0.
    other = ScalePod("q", ready_since=0.0, start_time=0.0, request=1000)
    metrics = {"p": MetricSample(1000, timestamp=NOW), "q": MetricSample(1000, timestamp=NOW)}
    got = resource_utilization_replicas(2, 50, [pod, other], metrics, now=NOW)
    # ready: ceil(2.0 * 2) = 4; unready: (100 + 0)/2 = 50% -> within tolerance -> 2
    assert got.replicas == (2 if unready else 4)


def test_memory_has_no_readiness_rule() -> None:
    ps = [ScalePod("p0", ready=None, request=1000), ScalePod("p1", request=1000)]
    got = resource_utilization_replicas(2, 50, ps, samples(1000, 1000), resource="memory", now=NOW)
    assert got.replicas == 4


def test_deleted_and_failed_pods_are_ignored() -> None:
    ps = [
        *pods(2),
        ScalePod("p2", deleted=True, request=1000),
        ScalePod("p3", phase="Failed", request=1000),
    ]
    got = resource_utilization_replicas(2, 50, ps, samples(1000, 1000, 0, 0), now=NOW)
    assert got.replicas == 4


@pytest.mark.parametrize(
    ("ps", "metrics", "message"),
    [
        ([], {}, "no pods returned by selector"),
        (pods(2), {}, "did not receive metrics for targeted pods"),
        (pods(1, request=None), samples(100), "missing request for cpu in pod p0"),
    ],
)
def test_metric_failures(
    ps: list[ScalePod], metrics: dict[str, MetricSample], message: str
) -> None:
    with pytest.raises(FailedPrecondition, match=message):
        resource_utilization_replicas(2, 50, ps, metrics, now=NOW)


def test_object_and_external_metrics() -> None:
    ready = pods(3)
    # Value: 20k requests/s against 10k per ... ratio 2.0 x 3 ready pods = 6
    assert object_replicas(3, 20_000_000, target_value=10_000_000, pods=ready).replicas == 6
    assert object_replicas(3, 10_500_000, target_value=10_000_000, pods=ready).replicas == 3
    # AverageValue: 30 over a target of 5 per pod -> ceil(30/5) = 6
    assert object_replicas(3, 30_000, target_average=5_000, status_replicas=3).replicas == 6
    # External: series are summed first
    assert (
        external_replicas(2, [10_000, 20_000], target_average=5_000, status_replicas=2).replicas
        == 6
    )
    # target replicas at 0: ceil(ratio)
    assert object_replicas(0, 25_000, target_value=10_000).replicas == 3


# -- multiple metrics ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "proposals", "expected"),
    [
        (3, [4, 7, 2], 7),  # the largest wins
        (3, [None, 5], 5),  # a failed metric does not stop a scale-up
        (5, [None, 2], None),  # ... but does stop a scale-down
        (5, [None, None], None),  # all failed
        (5, [5], 5),
    ],
)
def test_combine(current: int, proposals: list[int | None], expected: int | None) -> None:
    assert combine_proposals(current, proposals) == expected


# -- decide: limits, stabilization, policies -------------------------------------------

DOWN_POLICIES = HPABehavior(
    scale_down=HPAScalingRules(
        stabilization_window_seconds=0,
        policies=(HPAScalingPolicy("Pods", 4, 60), HPAScalingPolicy("Percent", 10, 60)),
    )
)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (80, 72),  # Pods removes 4, Percent 8: Max picks the bigger change -> 8 removed
        (72, 64),  # Percent removes 7.2, rounded to 8 (trunc(64.8) = 64)
        (40, 36),  # 40 or fewer: both remove 4
        (30, 26),  # Percent would remove 3, Pods 4: Pods wins
    ],
)
def test_scale_down_policy_table(current: int, expected: int) -> None:
    # HPA.md worked example: policies Pods 4/60 s and Percent 10/60 s with Max.
    spec = HPASpec(min_replicas=1, max_replicas=100, behavior=DOWN_POLICIES)
    got = decide(spec, current, [1], now=NOW)
    assert (got.replicas, got.reason) == (expected, "ScaleDownLimit")


def test_scale_down_policy_table_as_a_sequence_with_events() -> None:
    # the same example run through time: each step happens after the 60 s period expired
    spec = HPASpec(min_replicas=1, max_replicas=100, behavior=DOWN_POLICIES)
    history, current, seen = History(), 80, []
    for step in range(5):
        now = NOW + step * 61
        d = decide(spec, current, [1], history, now=now)
        history = record_scale(d.history, spec.behavior, current, d.replicas, now)
        current = d.replicas
        seen.append(current)
    assert seen == [72, 64, 57, 51, 45]


def test_rate_limit_counts_changes_within_the_period() -> None:
    spec = HPASpec(min_replicas=1, max_replicas=100, behavior=DOWN_POLICIES)
    first = decide(spec, 80, [1], now=NOW)
    history = record_scale(first.history, spec.behavior, 80, 72, NOW)
    # 30 s later the period started at 80 still: the limit is still 72 -> no further step
    again = decide(spec, 72, [1], history, now=NOW + 30)
    assert again.replicas == 72


def test_select_policy_min_takes_the_smallest_change() -> None:
    # HPA.md behaviour snippet 9: Percent 10/60 s and Pods 5/60 s, selectPolicy Min
    behavior = HPABehavior(
        scale_down=HPAScalingRules(
            stabilization_window_seconds=0,
            select_policy="Min",
            policies=(HPAScalingPolicy("Percent", 10, 60), HPAScalingPolicy("Pods", 5, 60)),
        )
    )
    spec = HPASpec(min_replicas=1, max_replicas=100, behavior=behavior)
    assert decide(spec, 80, [1], now=NOW).replicas == 75  # Pods removes 5 < Percent's 8
    assert decide(spec, 20, [1], now=NOW).replicas == 18  # Percent removes 2 < Pods' 5


def test_disabled_scale_down_never_scales_down() -> None:
    behavior = HPABehavior(scale_down=HPAScalingRules(select_policy="Disabled"))
    spec = HPASpec(min_replicas=1, max_replicas=10, behavior=behavior)
    assert decide(spec, 8, [1], now=NOW).replicas == 8
    assert decide(spec, 8, [10], now=NOW).replicas == 10  # scale-up still works


def test_default_scale_up_is_double_or_plus_four() -> None:
    # HPA.md vector: 4 pods at 100m vs 50m -> 8 = max(2 x 4, 4 + 4)
    spec = HPASpec(min_replicas=1, max_replicas=100, behavior=HPABehavior())
    assert decide(spec, 4, [8], now=NOW).replicas == 8
    got = decide(spec, 4, [20], now=NOW)
    assert (got.replicas, got.reason, got.limited) == (8, "ScaleUpLimit", True)
    assert decide(spec, 1, [20], now=NOW).replicas == 5  # +4 beats doubling
    assert decide(spec, 10, [40], now=NOW).replicas == 20  # doubling beats +4


def test_legacy_scale_up_limit_without_behavior() -> None:
    spec = HPASpec(min_replicas=1, max_replicas=100)
    assert decide(spec, 4, [20], now=NOW).replicas == 8
    assert decide(spec, 1, [20], now=NOW).replicas == 4  # max(2 x 1, 4)
    assert decide(spec, 4, [20], now=NOW).reason == "ScaleUpLimit"


def test_scale_down_stabilization_holds_the_highest_recent_recommendation() -> None:
    # HPA.md vector: 10 pods, ratio 0.5, window 300 s: the highest recommendation in the
    # last 300 s was 10, so it stays at 10 until that sample ages out.
    spec = HPASpec(min_replicas=1, max_replicas=20, behavior=HPABehavior())
    history = History((Recommendation(10, NOW - 200),))
    held = decide(spec, 10, [5], history, now=NOW)
    assert (held.replicas, held.stabilized) == (10, "ScaleDownStabilized")
    later = decide(spec, 10, [5], held.history, now=NOW + 101)
    assert later.replicas == 5


def test_legacy_downscale_stabilization() -> None:
    spec = HPASpec(min_replicas=1, max_replicas=20)
    history = History((Recommendation(10, NOW - 200),))
    assert decide(spec, 10, [5], history, now=NOW).replicas == 10
    assert decide(spec, 10, [5], history, now=NOW + 101).replicas == 5


def test_scale_up_window_takes_the_lowest_recent_recommendation() -> None:
    behavior = HPABehavior(scale_up=HPAScalingRules(stabilization_window_seconds=60))
    spec = HPASpec(min_replicas=1, max_replicas=20, behavior=behavior)
    history = History((Recommendation(4, NOW - 30), Recommendation(6, NOW - 10)))
    got = decide(spec, 3, [8], history, now=NOW)
    assert (got.replicas, got.stabilized) == (4, "ScaleUpStabilized")


def test_history_replaces_an_old_sample_instead_of_growing() -> None:
    spec = HPASpec(min_replicas=1, max_replicas=20, behavior=HPABehavior())
    history = History((Recommendation(3, NOW - 1000), Recommendation(4, NOW - 10)))
    got = decide(spec, 4, [4], history, now=NOW)
    assert got.history.recommendations == (Recommendation(4, NOW), Recommendation(4, NOW - 10))


@pytest.mark.parametrize(
    ("current", "proposals", "replicas", "reason"),
    [
        (0, [5], 0, "ScalingDisabled"),  # implicit deactivation
        (12, [12], 10, "TooManyReplicas"),  # above max: straight to max
        (1, [1], 2, "TooFewReplicas"),  # below min: straight to min
        (5, [30], 10, "TooManyReplicas"),  # capped by max
        (5, [1], 2, "TooFewReplicas"),  # capped by min
        (5, [None], 5, "FailedGetMetrics"),
    ],
)
def test_min_max_and_deactivation(
    current: int, proposals: list[int | None], replicas: int, reason: str
) -> None:
    behavior = HPABehavior(scale_down=HPAScalingRules(stabilization_window_seconds=0))
    spec = HPASpec(min_replicas=2, max_replicas=10, behavior=behavior)
    got = decide(spec, current, proposals, now=NOW)
    assert (got.replicas, got.reason) == (replicas, reason)


def test_record_scale_reuses_outdated_events() -> None:
    behavior = HPABehavior()
    h = record_scale(History(), behavior, 2, 4, NOW)
    assert h.scale_up_events == (ScaleEvent(2, NOW),)
    h = record_scale(h, behavior, 4, 8, NOW + 100)  # older than the 15 s period: replaced
    assert h.scale_up_events == (ScaleEvent(4, NOW + 100),)
    h = record_scale(h, behavior, 8, 6, NOW + 101)
    assert h.scale_down_events == (ScaleEvent(2, NOW + 101),)
    assert record_scale(History(), None, 2, 4, NOW) == History()
