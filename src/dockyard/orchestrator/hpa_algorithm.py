"""The HorizontalPodAutoscaler's arithmetic: pure functions, an injected clock.

This is the algorithm of the upstream replica calculator and horizontal controller
as summarised in the corpus' ``HPA.md``; every time is a float of seconds on the
caller's clock (``now``), every metric value an integer in milli-units (as
Kubernetes' ``MilliValue``: 250m CPU is 250, 1Gi of memory is 1073741824000).

One pass of the controller, in these terms::

    proposals = [resource_utilization_replicas(...), plain_metric_replicas(...), ...]
    decision = decide(hpa.spec, current_replicas, proposals, history, now=clock())
    if decision.replicas != current_replicas:
        scale(target, decision.replicas)           # the controller's side effect
        history = record_scale(decision.history, hpa.spec.behavior, current, new, now)
    else:
        history = decision.history

Per metric (``*_replicas``): ``ceil(ratio x pods)`` where the ratio is the current
value over the target; no change while ``1 - downTol ≤ ratio ≤ 1 + upTol``; pods that
lack a metric count as 100% of the target on a scale-down and 0% on a scale-up;
unready pods (CPU) count as 0% on a scale-up; a result that flips direction after
those assumptions keeps the current count. A metric that cannot be computed raises
FailedPrecondition (the controller's ``ScalingActive=False``); pass ``None`` for it
to :func:`decide`.

Across metrics (:func:`decide`): the largest proposal wins; a scale-down with a
failed metric is skipped. Then stabilization (the lowest recommendation within the
scale-up window, the highest within the scale-down window) and the rate policies
(``Pods``/``Percent`` per ``periodSeconds``, ``selectPolicy`` Max/Min/Disabled), or
without ``behavior`` the legacy rules (scale-up limit ``max(2 x current, 4)``, the
highest recommendation of the downscale window); finally ``[minReplicas, maxReplicas]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from dockyard.errors import FailedPrecondition
from dockyard.records import field, record, replace

from .objects import HPABehavior, HPAScalingRules, HPASpec

__all__ = [
    "Decision",
    "HPAConfig",
    "History",
    "MetricSample",
    "Proposal",
    "Recommendation",
    "ScaleEvent",
    "ScalePod",
    "Tolerances",
    "combine_proposals",
    "decide",
    "external_replicas",
    "object_replicas",
    "plain_metric_replicas",
    "record_scale",
    "resource_utilization_replicas",
    "tolerances_for",
]


# -- inputs ----------------------------------------------------------------------------


@record
class ScalePod:
    """A pod of the scale target as the HPA sees it.

    ``ready`` is the Ready condition (None: no condition yet), ``ready_since`` its last
    transition time, ``request`` the sum over containers of the metric's resource
    request in milli-units (None: a container lacks one)."""

    name: str
    phase: str = "Running"
    ready: bool | None = True
    ready_since: float = 0.0
    start_time: float | None = 0.0
    deleted: bool = False
    request: int | None = None


@record
class MetricSample:
    """One pod's metric: value (milli-units), when it was taken, over what window (s)."""

    value: int
    timestamp: float = 0.0
    window: float = 60.0


@record
class Tolerances:
    """No scaling while ``1 - down <= ratio <= 1 + up``."""

    up: float = 0.1
    down: float = 0.1

    def within(self, ratio: float) -> bool:
        return (1.0 - self.down) <= ratio <= (1.0 + self.up)


@record
class HPAConfig:
    """The controller-manager flags that shape the algorithm (defaults as upstream)."""

    tolerance: float = 0.1  # --horizontal-pod-autoscaler-tolerance
    cpu_initialization_period: float = (
        300.0  # --horizontal-pod-autoscaler-cpu-initialization-period
    )
    initial_readiness_delay: float = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay
    downscale_stabilization: int = 300  # --horizontal-pod-autoscaler-downscale-stabilization


def tolerances_for(spec: HPASpec | None, config: HPAConfig = HPAConfig()) -> Tolerances:  # noqa: B008
    """The config's tolerance, overridden per direction by ``behavior.*.tolerance``."""
    up = down = config.tolerance
    behavior = spec.behavior if spec is not None else None
    if behavior is not None:
        if behavior.scale_up is not None and behavior.scale_up.tolerance is not None:
            up = float(behavior.scale_up.tolerance.value)
        if behavior.scale_down is not None and behavior.scale_down.tolerance is not None:
            down = float(behavior.scale_down.tolerance.value)
    return Tolerances(up, down)


@record
class Proposal:
    """One metric's answer: the replica count and the observed value (for status)."""

    replicas: int
    utilization: int | None = None  # percent of requests, for Utilization targets
    value: int = 0  # the average (or total) value in milli-units


# -- per metric ------------------------------------------------------------------------


@record
class _Groups:
    ready: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _unready_cpu(pod: ScalePod, sample: MetricSample, now: float, config: HPAConfig) -> bool:
    if pod.ready is None or pod.start_time is None:
        return True
    if pod.start_time + config.cpu_initialization_period > now:
        return pod.ready is False or sample.timestamp < pod.ready_since + sample.window
    return pod.ready is False and pod.start_time + config.initial_readiness_delay > pod.ready_since


def _group(
    pods: Sequence[ScalePod],
    metrics: Mapping[str, MetricSample],
    cpu: bool,
    now: float,
    config: HPAConfig,
) -> _Groups:
    ready = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleted or pod.phase == "Failed":
            ignored.add(pod.name)
        elif pod.phase == "Pending":
            unready.add(pod.name)
        elif pod.name not in metrics:
            missing.add(pod.name)
        elif cpu and _unready_cpu(pod, metrics[pod.name], now, config):
            unready.add(pod.name)
        else:
            ready += 1
    return _Groups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _utilization(values: Mapping[str, int], requests: Mapping[str, int]) -> tuple[int, int]:
    """``int(sum(usage) x 100 / sum(requests))`` over pods with a request, and the mean."""
    total = requested = count = 0
    for name, value in values.items():
        if name not in requests:
            continue
        total += value
        requested += requests[name]
        count += 1
    if requested == 0:
        raise FailedPrecondition("no metrics returned matched known pods")
    return total * 100 // requested, total // count


def _requests(pods: Sequence[ScalePod], resource: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for pod in pods:
        if pod.request is None:
            raise FailedPrecondition(f"missing request for {resource} in pod {pod.name}")
        out[pod.name] = pod.request
    return out


def _usable(
    pods: Sequence[ScalePod],
    metrics: Mapping[str, MetricSample],
    cpu: bool,
    now: float,
    config: HPAConfig,
) -> tuple[_Groups, dict[str, int]]:
    if not pods:
        raise FailedPrecondition("no pods returned by selector while calculating replica count")
    groups = _group(pods, metrics, cpu, now, config)
    dropped = groups.ignored | groups.unready
    values = {n: s.value for n, s in metrics.items() if n not in dropped}
    if not values:
        raise FailedPrecondition(
            "did not receive metrics for targeted pods (pods might be unready)"
        )
    return groups, values


def _adjusted(
    current: int,
    ratio: float,
    new_ratio: float,
    counted: int,
    tol: Tolerances,
) -> int:
    """The rule after filling in missing/unready pods: keep ``current`` unless the new
    ratio is outside tolerance, points the same way, and moves the count that way."""
    if tol.within(new_ratio) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def resource_utilization_replicas(
    current: int,
    target_utilization: int,
    pods: Sequence[ScalePod],
    metrics: Mapping[str, MetricSample],
    *,
    resource: str = "cpu",
    now: float = 0.0,
    tolerances: Tolerances = Tolerances(),  # noqa: B008
    config: HPAConfig = HPAConfig(),  # noqa: B008
) -> Proposal:
    """A ``Resource`` metric with a ``Utilization`` target (percent of requests)."""
    groups, values = _usable(pods, metrics, resource == "cpu", now, config)
    requests = _requests(pods, resource)
    utilization, raw = _utilization(values, requests)
    ratio = utilization / target_utilization
    scale_up_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_unready and not groups.missing:
        if tolerances.within(ratio):
            return Proposal(current, utilization, raw)
        return Proposal(math.ceil(ratio * groups.ready), utilization, raw)
    if groups.missing:
        if ratio < 1.0:
            fallback = max(100, target_utilization)
            for name in groups.missing:
                values[name] = requests[name] * fallback // 100
        elif ratio > 1.0:
            for name in groups.missing:
                values[name] = 0
    if scale_up_unready:
        for name in groups.unready:
            values[name] = 0
    new_utilization, _ = _utilization(values, requests)
    new_ratio = new_utilization / target_utilization
    return Proposal(_adjusted(current, ratio, new_ratio, len(values), tolerances), utilization, raw)


def plain_metric_replicas(
    current: int,
    target_average: int,
    pods: Sequence[ScalePod],
    metrics: Mapping[str, MetricSample],
    *,
    resource: str | None = None,
    now: float = 0.0,
    tolerances: Tolerances = Tolerances(),  # noqa: B008
    config: HPAConfig = HPAConfig(),  # noqa: B008
) -> Proposal:
    """An ``AverageValue`` target: a ``Resource`` metric (``resource`` set) or ``Pods``."""
    groups, values = _usable(pods, metrics, resource == "cpu", now, config)
    average = sum(values.values()) // len(values)
    ratio = average / target_average
    scale_up_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_unready and not groups.missing:
        if tolerances.within(ratio):
            return Proposal(current, None, average)
        return Proposal(math.ceil(ratio * groups.ready), None, average)
    if groups.missing:
        fill = target_average if ratio < 1.0 else 0
        if ratio != 1.0:
            for name in groups.missing:
                values[name] = fill
    if scale_up_unready:
        for name in groups.unready:
            values[name] = 0
    new_ratio = (sum(values.values()) // len(values)) / target_average
    return Proposal(_adjusted(current, ratio, new_ratio, len(values), tolerances), None, average)


def _ready_running(pods: Sequence[ScalePod]) -> int:
    return sum(1 for p in pods if p.phase == "Running" and p.ready is True)


def object_replicas(
    current: int,
    usage: int,
    *,
    target_value: int | None = None,
    target_average: int | None = None,
    pods: Sequence[ScalePod] = (),
    status_replicas: int | None = None,
    tolerances: Tolerances = Tolerances(),  # noqa: B008
) -> Proposal:
    """An ``Object`` metric: ``Value`` compares ``usage`` directly (x ready pods);
    ``AverageValue`` divides it over the replicas first."""
    if target_value is not None:
        ratio = usage / target_value
        if current == 0:
            return Proposal(math.ceil(ratio), None, usage)
        if tolerances.within(ratio):
            return Proposal(current, None, usage)
        ready = _ready_running(pods)
        if ready == 0:
            raise FailedPrecondition("unable to calculate ready pods: no ready pods")
        return Proposal(math.ceil(ratio * ready), None, usage)
    if target_average is None:
        raise FailedPrecondition("object metric has neither a value nor an average value target")
    replicas = status_replicas if status_replicas is not None else current
    ratio = usage / (target_average * replicas) if replicas else math.inf
    if replicas and tolerances.within(ratio):
        return Proposal(replicas, None, usage)
    return Proposal(math.ceil(usage / target_average), None, usage)


def external_replicas(
    current: int,
    values: Sequence[int],
    *,
    target_value: int | None = None,
    target_average: int | None = None,
    pods: Sequence[ScalePod] = (),
    status_replicas: int | None = None,
    tolerances: Tolerances = Tolerances(),  # noqa: B008
) -> Proposal:
    """An ``External`` metric: the matching series are summed, then as an Object metric."""
    if not values:
        raise FailedPrecondition("no metrics returned from external metrics API")
    return object_replicas(
        current,
        sum(values),
        target_value=target_value,
        target_average=target_average,
        pods=pods,
        status_replicas=status_replicas,
        tolerances=tolerances,
    )


def combine_proposals(current: int, proposals: Sequence[int | None]) -> int | None:
    """The largest proposal; ``None`` (skip this pass) when every metric failed, or when
    some failed and the others would scale down."""
    valid = [p for p in proposals if p is not None]
    if not valid:
        return None
    best = max(valid)
    if len(valid) < len(proposals) and best < current:
        return None
    return best


# -- history, stabilization and policies -----------------------------------------------


@record
class Recommendation:
    replicas: int
    timestamp: float


@record
class ScaleEvent:
    change: int
    timestamp: float
    outdated: bool = False


@record
class History:
    """What the controller remembers per HPA: recommendations and recent scale events."""

    recommendations: tuple[Recommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


@record
class Decision:
    """The outcome of one pass: the count to write, why, and the updated history.

    ``reason`` is the ``ScalingLimited``/``AbleToScale`` reason upstream writes
    (``DesiredWithinRange``, ``TooManyReplicas``, ``TooFewReplicas``, ``ScaleUpLimit``,
    ``ScaleDownLimit``, ``ScalingDisabled``, ``ScaleUpStabilized``…)."""

    replicas: int
    reason: str
    message: str = ""
    limited: bool = False
    stabilized: str | None = None  # ScaleUpStabilized / ScaleDownStabilized
    history: History = field(default_factory=History)


def _store(
    recs: tuple[Recommendation, ...], new: Recommendation, old_index: int | None
) -> tuple[Recommendation, ...]:
    if old_index is None:
        return (*recs, new)
    return (*recs[:old_index], new, *recs[old_index + 1 :])


def _stabilize_legacy(
    history: History, desired: int, now: float, window: int
) -> tuple[int, History]:
    cutoff = now - window
    best = desired
    old: int | None = None
    for i, rec in enumerate(history.recommendations):
        if rec.timestamp < cutoff:
            old = i
        elif rec.replicas > best:
            best = rec.replicas
    recs = _store(history.recommendations, Recommendation(desired, now), old)
    return best, replace(history, recommendations=recs)


def _stabilize(
    history: History,
    current: int,
    desired: int,
    up_window: int,
    down_window: int,
    now: float,
) -> tuple[int, History]:
    up_cutoff, down_cutoff = now - up_window, now - down_window
    up_limit = down_limit = desired
    old: int | None = None
    for i, rec in enumerate(history.recommendations):
        if rec.timestamp > up_cutoff:
            up_limit = min(rec.replicas, up_limit)
        if rec.timestamp > down_cutoff:
            down_limit = max(rec.replicas, down_limit)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old = i
    result = min(max(current, up_limit), down_limit)
    recs = _store(history.recommendations, Recommendation(desired, now), old)
    return result, replace(history, recommendations=recs)


def _changed_within(events: Sequence[ScaleEvent], period: int, now: float) -> int:
    cutoff = now - period
    return sum(e.change for e in events if e.timestamp > cutoff)


def _scale_up_limit(current: int, history: History, rules: HPAScalingRules, now: float) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = min if rules.select_policy == "Min" else max
    result: int | None = None
    for policy in rules.policies or ():
        start = (
            current
            - _changed_within(history.scale_up_events, policy.period_seconds, now)
            + _changed_within(history.scale_down_events, policy.period_seconds, now)
        )
        if policy.type == "Pods":
            proposed = start + policy.value
        else:
            proposed = math.ceil(start * (1 + policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _scale_down_limit(current: int, history: History, rules: HPAScalingRules, now: float) -> int:
    if rules.select_policy == "Disabled":
        return current
    pick = max if rules.select_policy == "Min" else min
    result: int | None = None
    for policy in rules.policies or ():
        start = (
            current
            - _changed_within(history.scale_up_events, policy.period_seconds, now)
            + _changed_within(history.scale_down_events, policy.period_seconds, now)
        )
        if policy.type == "Pods":
            proposed = start - policy.value
        else:
            proposed = int(start * (1 - policy.value / 100))
        result = proposed if result is None else pick(result, proposed)
    return current if result is None else result


def _with_rates(
    spec: HPASpec, behavior: HPABehavior, current: int, desired: int, history: History, now: float
) -> tuple[int, str]:
    up = behavior.scale_up or HPAScalingRules()
    down = behavior.scale_down or HPAScalingRules()
    if desired > current:
        limit = max(_scale_up_limit(current, history, up, now), current)
        if spec.max_replicas > limit:
            allowed, reason = limit, "ScaleUpLimit"
        else:
            allowed, reason = spec.max_replicas, "TooManyReplicas"
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(_scale_down_limit(current, history, down, now), current)
        if spec.min_replicas < limit:
            allowed, reason = limit, "ScaleDownLimit"
        else:
            allowed, reason = spec.min_replicas, "TooFewReplicas"
        if desired < allowed:
            return allowed, reason
    return desired, "DesiredWithinRange"


def _legacy_rules(spec: HPASpec, current: int, desired: int) -> tuple[int, str]:
    up_limit = max(2 * current, 4)
    if spec.max_replicas > up_limit:
        allowed, reason = up_limit, "ScaleUpLimit"
    else:
        allowed, reason = spec.max_replicas, "TooManyReplicas"
    if desired < spec.min_replicas:
        return spec.min_replicas, "TooFewReplicas"
    if desired > allowed:
        return allowed, reason
    return desired, "DesiredWithinRange"


def _normalize(
    spec: HPASpec, current: int, desired: int, history: History, now: float, config: HPAConfig
) -> Decision:
    if spec.behavior is None:
        stabilized, history = _stabilize_legacy(
            history, desired, now, config.downscale_stabilization
        )
        replicas, reason = _legacy_rules(spec, current, stabilized)
        mark = None
    else:
        behavior = spec.behavior.defaulted()
        up = behavior.scale_up or HPAScalingRules()
        down = behavior.scale_down or HPAScalingRules()
        down_window = down.stabilization_window_seconds
        if down_window is None:
            down_window = config.downscale_stabilization
        stabilized, history = _stabilize(
            history, current, desired, up.stabilization_window_seconds or 0, down_window, now
        )
        mark = None
        if stabilized != desired:
            mark = "ScaleUpStabilized" if stabilized < desired else "ScaleDownStabilized"
        replicas, reason = _with_rates(spec, behavior, current, stabilized, history, now)
    return Decision(
        replicas, reason, limited=reason != "DesiredWithinRange", stabilized=mark, history=history
    )


def decide(
    spec: HPASpec,
    current: int,
    proposals: Sequence[int | None],
    history: History = History(),  # noqa: B008
    *,
    now: float = 0.0,
    config: HPAConfig = HPAConfig(),  # noqa: B008
) -> Decision:
    """One reconcile of an HPA whose target has ``current`` replicas.

    ``proposals`` are the per-metric counts (``None`` for a metric that failed)."""
    if current == 0 and spec.min_replicas != 0:
        return Decision(
            0,
            "ScalingDisabled",
            "scaling is disabled since the replica count of the target is zero",
            history=history,
        )
    if current > spec.max_replicas:
        return Decision(
            spec.max_replicas,
            "TooManyReplicas",
            "Current number of replicas above Spec.MaxReplicas",
            limited=True,
            history=history,
        )
    if current < spec.min_replicas:
        return Decision(
            spec.min_replicas,
            "TooFewReplicas",
            "Current number of replicas below Spec.MinReplicas",
            limited=True,
            history=history,
        )
    desired = combine_proposals(current, proposals)
    if desired is None:
        return Decision(
            current,
            "FailedGetMetrics",
            "the HPA was unable to compute the replica count",
            history=history,
        )
    return _normalize(spec, current, desired, history, now, config)


def _mark_outdated(events: tuple[ScaleEvent, ...], period: int, now: float) -> list[ScaleEvent]:
    cutoff = now - period
    return [replace(e, outdated=True) if e.timestamp < cutoff else e for e in events]


def record_scale(
    history: History, behavior: HPABehavior | None, previous: int, new: int, now: float
) -> History:
    """Remember a successful rescale for the rate policies (only with ``behavior``);
    an event older than the direction's longest policy period is reused."""
    if behavior is None or new == previous:
        return history
    behavior = behavior.defaulted()
    up = new > previous
    rules = (behavior.scale_up if up else behavior.scale_down) or HPAScalingRules()
    longest = max((p.period_seconds for p in rules.policies or ()), default=0)
    events = _mark_outdated(
        history.scale_up_events if up else history.scale_down_events, longest, now
    )
    event = ScaleEvent(abs(new - previous), now)
    for i, e in enumerate(events):
        if e.outdated:
            events[i] = event
            break
    else:
        events.append(event)
    if up:
        return replace(history, scale_up_events=tuple(events))
    return replace(history, scale_down_events=tuple(events))
