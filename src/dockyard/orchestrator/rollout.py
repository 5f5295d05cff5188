"""Deployment rollout arithmetic: pure functions over ReplicaSet sizes and counts.

Vocabulary (the corpus' ``ROLLOUT.md``):

* the *new* ReplicaSet is the one whose pod template equals the Deployment's (ignoring
  the ``pod-template-hash`` label); every other one is *old*; an *active* RS has
  ``replicas > 0``;
* ``maxSurge`` / ``maxUnavailable`` are ints or percentages of ``replicas``; surge
  rounds up, unavailable rounds down, and if both resolve to 0 unavailable is 1
  (:func:`resolve_fenceposts`);
* one sync does one thing: a scaling event spreads the change proportionally
  (:func:`proportional_scale`), else RollingUpdate scales the new RS up *or* the old
  ones down (:func:`rolling_step`), Recreate scales all old ones to 0, waits for their
  pods to go, then scales the new one up (:func:`recreate_step`); :func:`plan` picks;
* revisions live in the ``deployment.kubernetes.io/revision`` annotation; the new RS
  gets ``max(old revisions) + 1``, so an undo renumbers the reused RS.

Example, ``replicas: 3`` with the default 25%/25% (surge 1, unavailable 0), pods
becoming available at once: new RS 0→1, old 3→2, new 1→2, old 2→1, new 2→3, old 1→0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from dockyard.errors import FailedPrecondition, NotFound
from dockyard.records import field, record, replace

from ._codec import encode
from .objects import (
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    ObjectMeta,
    OwnerReference,
    PodTemplateSpec,
    ReplicaSet,
    ReplicaSetSpec,
)
from .quantity import scaled_int_or_percent
from .selectors import LabelSelector

__all__ = [
    "CHANGE_CAUSE",
    "DESIRED_REPLICAS",
    "MAX_REPLICAS",
    "REVISION",
    "TEMPLATE_HASH",
    "RSState",
    "RevisionEntry",
    "Step",
    "available_condition",
    "calculate_status",
    "deployment_complete",
    "find_new_replicaset",
    "history",
    "is_pod_available",
    "is_saturated",
    "is_scaling_event",
    "max_surge",
    "max_unavailable",
    "new_replicaset",
    "new_rs_replicas",
    "next_revision",
    "pause",
    "plan",
    "pod_template_hash",
    "progressing_condition",
    "proportional_scale",
    "recreate_step",
    "resolve_fenceposts",
    "resume",
    "revisions_to_prune",
    "rollback",
    "rolling_step",
    "templates_equal",
]

REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
TEMPLATE_HASH = "pod-template-hash"


@record
class RSState:
    """What the rollout arithmetic needs of one ReplicaSet."""

    name: str
    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas
    ready: int = 0
    created: float = 0.0  # creation time, for oldest-first ordering
    revision: int = 0
    desired_replicas: int | None = None  # the desired-replicas annotation
    max_replicas: int | None = None  # the max-replicas annotation
    status_replicas: int | None = None  # status.replicas (pods that exist)
    deleted: bool = False


@record
class Step:
    """The sizes to write (RS name → replicas) and what kind of step it was."""

    scale: dict[str, int] = field(default_factory=dict)
    action: str = "none"  # none, scale-up, scale-down, proportional, recreate-wait


# -- fenceposts ------------------------------------------------------------------------


def resolve_fenceposts(surge: int | str, unavailable: int | str, desired: int) -> tuple[int, int]:
    """``(maxSurge, maxUnavailable)`` as counts: surge rounds up, unavailable down; both 0
    → unavailable 1."""
    s = scaled_int_or_percent(surge, desired, True)
    u = scaled_int_or_percent(unavailable, desired, False)
    if s == 0 and u == 0:
        u = 1
    return s, u


def _rolling(spec: DeploymentSpec) -> tuple[int | str, int | str] | None:
    ru = spec.strategy.rolling_update
    if spec.strategy.type != "RollingUpdate":
        return None
    if ru is None:
        return "25%", "25%"
    return ru.max_surge, ru.max_unavailable


def max_surge(spec: DeploymentSpec) -> int:
    values = _rolling(spec)
    if values is None:
        return 0
    return resolve_fenceposts(values[0], values[1], spec.replicas)[0]


def max_unavailable(spec: DeploymentSpec) -> int:
    values = _rolling(spec)
    if values is None or spec.replicas == 0:
        return 0
    return min(resolve_fenceposts(values[0], values[1], spec.replicas)[1], spec.replicas)


# -- one sync --------------------------------------------------------------------------


def _total(rss: Sequence[RSState]) -> int:
    return sum(rs.replicas for rs in rss)


def _oldest_first(rss: Sequence[RSState]) -> list[RSState]:
    return sorted(rss, key=lambda rs: (rs.created, rs.name))


def new_rs_replicas(spec: DeploymentSpec, new: RSState, old: Sequence[RSState]) -> int:
    """The size the new RS may grow to now (``NewRSNewReplicas``)."""
    if spec.strategy.type == "Recreate":
        return spec.replicas
    max_total = spec.replicas + max_surge(spec)
    current = _total([new, *old])
    if current >= max_total:
        return new.replicas
    return new.replicas + min(max_total - current, spec.replicas - new.replicas)


def _scale_new(spec: DeploymentSpec, new: RSState, old: Sequence[RSState]) -> int | None:
    if new.replicas == spec.replicas:
        return None
    if new.replicas > spec.replicas:
        return spec.replicas
    target = new_rs_replicas(spec, new, old)
    return target if target != new.replicas else None


def _scale_old(spec: DeploymentSpec, new: RSState, old: Sequence[RSState]) -> dict[str, int]:
    active = [rs for rs in old if rs.replicas > 0]
    if not active:
        return {}
    min_available = spec.replicas - max_unavailable(spec)
    budget = _total([new, *old]) - min_available - (new.replicas - new.available)
    if budget <= 0:
        return {}
    sizes = {rs.name: rs.replicas for rs in active}
    cleaned = 0
    for rs in _oldest_first(active):  # unhealthy pods first
        if cleaned >= budget:
            break
        unhealthy = rs.replicas - rs.available
        if unhealthy <= 0:
            continue
        n = min(budget - cleaned, unhealthy)
        sizes[rs.name] -= n
        cleaned += n
    available = new.available + sum(min(rs.available, sizes[rs.name]) for rs in active)
    allowed = available - min_available
    done = 0
    for rs in _oldest_first(active):
        if done >= allowed:
            break
        if sizes[rs.name] == 0:
            continue
        n = min(sizes[rs.name], allowed - done)
        sizes[rs.name] -= n
        done += n
    return {name: size for name, size in sizes.items() if size != _by_name(active)[name].replicas}


def _by_name(rss: Sequence[RSState]) -> dict[str, RSState]:
    return {rs.name: rs for rs in rss}


def rolling_step(spec: DeploymentSpec, new: RSState, old: Sequence[RSState]) -> Step:
    """One RollingUpdate sync: scale the new RS up if allowed, else old ones down."""
    target = _scale_new(spec, new, old)
    if target is not None:
        action = "scale-up" if target > new.replicas else "scale-down"
        return Step({new.name: target}, action)
    down = _scale_old(spec, new, old)
    return Step(down, "scale-down") if down else Step()


def recreate_step(
    spec: DeploymentSpec, new: RSState, old: Sequence[RSState], old_pods_running: int
) -> Step:
    """One Recreate sync: old RSs to 0; once no old pod runs, the new RS to ``replicas``."""
    down = {rs.name: 0 for rs in old if rs.replicas > 0}
    if down:
        return Step(down, "scale-down")
    if old_pods_running > 0:
        return Step({}, "recreate-wait")
    if new.replicas != spec.replicas:
        return Step({new.name: spec.replicas}, "scale-up")
    return Step()


# -- scaling events --------------------------------------------------------------------


def is_scaling_event(spec: DeploymentSpec, rss: Sequence[RSState]) -> bool:
    """Whether an active RS was sized for another ``replicas`` (its desired annotation)."""
    return any(
        rs.desired_replicas is not None and rs.desired_replicas != spec.replicas
        for rs in rss
        if rs.replicas > 0
    )


def is_saturated(spec: DeploymentSpec, rs: RSState | None) -> bool:
    return (
        rs is not None
        and rs.replicas == spec.replicas
        and rs.desired_replicas == spec.replicas
        and rs.available == spec.replicas
    )


def _fraction(rs: RSState, spec: DeploymentSpec, status_replicas: int) -> int:
    if spec.replicas == 0:
        return -rs.replicas
    allowed = spec.replicas + max_surge(spec)
    annotated = rs.max_replicas if rs.max_replicas is not None else status_replicas
    size = rs.replicas * allowed / annotated
    return math.floor(size + 0.5) - rs.replicas  # round half away from zero (size >= 0)


def _proportion(rs: RSState, spec: DeploymentSpec, to_add: int, added: int, status: int) -> int:
    if rs.replicas == 0 or to_add in (0, added):
        return 0
    fraction = _fraction(rs, spec, status)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def proportional_scale(
    spec: DeploymentSpec, new: RSState | None, old: Sequence[RSState], status_replicas: int = 0
) -> Step:
    """Spread a change of ``replicas`` over the active RSs (the Deployment ``scale``)."""
    every = [rs for rs in ([new] if new else []) + list(old)]
    active = [rs for rs in every if rs.replicas > 0]
    if len(active) <= 1:
        target = active[0] if active else (new or _newest(old))
        if target is None or target.replicas == spec.replicas:
            return Step()
        return Step({target.name: spec.replicas}, "proportional")
    if is_saturated(spec, new):
        return Step({rs.name: 0 for rs in old if rs.replicas > 0}, "proportional")
    if spec.strategy.type != "RollingUpdate":
        return Step()
    allowed = spec.replicas + max_surge(spec) if spec.replicas > 0 else 0
    to_add = allowed - _total(active)
    if to_add > 0:  # biggest first, newer first among equals
        order = sorted(active, key=lambda rs: (-rs.replicas, -rs.created))
    else:  # biggest first, older first among equals
        order = sorted(active, key=lambda rs: (-rs.replicas, rs.created))
    sizes: dict[str, int] = {}
    added = 0
    for rs in order:
        share = _proportion(rs, spec, to_add, added, status_replicas) if to_add else 0
        sizes[rs.name] = rs.replicas + share
        added += share
    if to_add:
        first = order[0].name
        sizes[first] = max(sizes[first] + to_add - added, 0)
    changed = {n: s for n, s in sizes.items() if s != _by_name(active)[n].replicas}
    return Step(changed, "proportional") if changed else Step()


def _newest(rss: Sequence[RSState]) -> RSState | None:
    return max(rss, key=lambda rs: (rs.created, rs.name)) if rss else None


def plan(
    spec: DeploymentSpec,
    new: RSState,
    old: Sequence[RSState],
    *,
    status_replicas: int = 0,
    old_pods_running: int = 0,
) -> Step:
    """The whole decision of one sync: paused or a scaling event → proportional scale
    only; otherwise a Recreate or RollingUpdate step."""
    if spec.paused or is_scaling_event(spec, [new, *old]):
        return proportional_scale(spec, new, old, status_replicas)
    if spec.strategy.type == "Recreate":
        return recreate_step(spec, new, old, old_pods_running)
    return rolling_step(spec, new, old)


# -- revisions and history -------------------------------------------------------------

_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def _fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def _strip_hash(template: PodTemplateSpec) -> PodTemplateSpec:
    if TEMPLATE_HASH not in template.metadata.labels:
        return template
    labels = {k: v for k, v in template.metadata.labels.items() if k != TEMPLATE_HASH}
    return replace(template, metadata=replace(template.metadata, labels=labels))


def pod_template_hash(template: PodTemplateSpec, collision_count: int | None = None) -> str:
    """A stable hash of the template: FNV-1a 32 over its canonical JSON (plus the collision
    count), printed in decimal and mapped onto Kubernetes' safe alphabet. The shape is
    Kubernetes' (``5d59d67564``); the value is not byte-identical (Kubernetes hashes Go's
    ``spew`` dump of the struct)."""
    data = json.dumps(encode(_strip_hash(template)), sort_keys=True, separators=(",", ":"))
    if collision_count is not None:
        data += str(collision_count)
    digits = str(_fnv32a(data.encode()))
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in digits)


def templates_equal(a: PodTemplateSpec, b: PodTemplateSpec) -> bool:
    """Equality ignoring the ``pod-template-hash`` label (``EqualIgnoreHash``)."""
    return _strip_hash(a) == _strip_hash(b)


def revision_of(rs: ReplicaSet) -> int:
    text = rs.metadata.annotations.get(REVISION, "0")
    return int(text) if text.isdigit() else 0


def find_new_replicaset(deployment: Deployment, rss: Sequence[ReplicaSet]) -> ReplicaSet | None:
    """The oldest RS whose template matches the Deployment's (``FindNewReplicaSet``)."""
    matching = [rs for rs in rss if templates_equal(rs.spec.template, deployment.spec.template)]
    if not matching:
        return None
    return min(matching, key=lambda rs: (rs.metadata.creation_timestamp or "", rs.metadata.name))


def next_revision(old: Sequence[ReplicaSet]) -> int:
    """``max(revision of the old RSs) + 1``: the new (or reused) RS's revision."""
    return max((revision_of(rs) for rs in old), default=0) + 1


def new_replicaset(
    deployment: Deployment,
    old: Sequence[ReplicaSet],
    *,
    replicas: int = 0,
    collision_count: int | None = None,
) -> ReplicaSet:
    """The RS a Deployment creates for its current template: named ``<name>-<hash>``,
    the hash label on its selector, template and pods, the next revision."""
    template = deployment.spec.template
    h = pod_template_hash(template, collision_count)
    labels = {**template.metadata.labels, TEMPLATE_HASH: h}
    template = replace(template, metadata=replace(template.metadata, labels=labels))
    base = deployment.spec.selector or LabelSelector()
    selector = replace(base, match_labels={**base.match_labels, TEMPLATE_HASH: h})
    annotations = {
        REVISION: str(next_revision(old)),
        DESIRED_REPLICAS: str(deployment.spec.replicas),
        MAX_REPLICAS: str(deployment.spec.replicas + max_surge(deployment.spec)),
    }
    cause = deployment.metadata.annotations.get(CHANGE_CAUSE)
    if cause is not None:
        annotations[CHANGE_CAUSE] = cause
    owner = OwnerReference(
        "apps/v1", "Deployment", deployment.metadata.name, deployment.metadata.uid or "", True, True
    )
    meta = ObjectMeta(
        name=f"{deployment.metadata.name}-{h}",
        namespace=deployment.metadata.namespace,
        labels=labels,
        annotations=annotations,
        owner_references=(owner,),
    )
    spec = ReplicaSetSpec(replicas, deployment.spec.min_ready_seconds, selector, template)
    return ReplicaSet(metadata=meta, spec=spec)


@record
class RevisionEntry:
    """One line of ``rollout history``."""

    revision: int
    name: str
    change_cause: str | None
    template: PodTemplateSpec


def history(rss: Sequence[ReplicaSet]) -> list[RevisionEntry]:
    """Every revision still kept, oldest first."""
    entries = [
        RevisionEntry(
            revision_of(rs),
            rs.metadata.name,
            rs.metadata.annotations.get(CHANGE_CAUSE),
            rs.spec.template,
        )
        for rs in rss
    ]
    return sorted(entries, key=lambda e: e.revision)


def rollback(deployment: Deployment, rss: Sequence[ReplicaSet], to_revision: int = 0) -> Deployment:
    """``rollout undo [--to-revision N]``: a copy of the Deployment whose template is that
    revision's (0: the previous one); only the template changes.

    FailedPrecondition while paused or when the template already matches; NotFound
    when the revision is not (or no longer) in history."""
    name = deployment.metadata.name
    if deployment.spec.paused:
        raise FailedPrecondition(
            f"rollback deployment {name}: you cannot rollback a paused deployment; resume it "
            "first with 'rollout resume' and try again"
        )
    target = _revision_target(name, rss, to_revision)
    template = _strip_hash(target.spec.template)
    if templates_equal(template, deployment.spec.template):
        raise FailedPrecondition(
            f"rollback deployment {name}: skipped rollback (current template already matches "
            f"revision {revision_of(target)})"
        )
    annotations = dict(deployment.metadata.annotations)
    cause = target.metadata.annotations.get(CHANGE_CAUSE)
    if cause is not None:
        annotations[CHANGE_CAUSE] = cause
    meta = replace(deployment.metadata, annotations=annotations)
    return replace(deployment, metadata=meta, spec=replace(deployment.spec, template=template))


def _revision_target(name: str, rss: Sequence[ReplicaSet], to_revision: int) -> ReplicaSet:
    ordered = sorted(rss, key=revision_of)
    if to_revision > 0:
        for rs in ordered:
            if revision_of(rs) == to_revision:
                return rs
        raise NotFound(
            f"rollback deployment {name}: unable to find specified revision {to_revision} "
            "in history"
        )
    if len(ordered) < 2:
        raise NotFound(
            f'rollback deployment {name}: no rollout history found for deployment "{name}"'
        )
    return ordered[-2]


def revisions_to_prune(old: Sequence[RSState], limit: int) -> list[str]:
    """Old RSs to delete beyond ``revisionHistoryLimit`` (``cleanupDeployment``): of the
    oldest ``len(old) - limit`` revisions, those with no replicas wanted or running."""
    alive = sorted((rs for rs in old if not rs.deleted), key=lambda rs: (rs.revision, rs.name))
    excess = len(alive) - limit
    if excess <= 0:
        return []
    return [rs.name for rs in alive[:excess] if rs.replicas == 0 and (rs.status_replicas or 0) == 0]


def pause(deployment: Deployment) -> Deployment:
    """``rollout pause``: template changes no longer start a rollout."""
    return replace(deployment, spec=replace(deployment.spec, paused=True))


def resume(deployment: Deployment) -> Deployment:
    """``rollout resume``: the accumulated changes roll out as one new RS."""
    return replace(deployment, spec=replace(deployment.spec, paused=False))


# -- status and conditions -------------------------------------------------------------


def is_pod_available(ready: bool, ready_since: float, min_ready_seconds: int, now: float) -> bool:
    """Ready, and Ready for longer than ``minReadySeconds``."""
    if not ready:
        return False
    return min_ready_seconds == 0 or ready_since + min_ready_seconds < now


def _pods(rs: RSState) -> int:
    return rs.status_replicas if rs.status_replicas is not None else rs.replicas


def calculate_status(
    new: RSState | None, rss: Sequence[RSState], generation: int = 0
) -> DeploymentStatus:
    """The counts of a Deployment's status from all its RSs (``new`` among them);
    conditions not included. A RS without ``status_replicas`` counts its spec."""
    total = _total(rss)
    available = sum(rs.available for rs in rss)
    return DeploymentStatus(
        observed_generation=generation,
        replicas=sum(_pods(rs) for rs in rss),
        updated_replicas=_pods(new) if new is not None else 0,
        ready_replicas=sum(rs.ready for rs in rss),
        available_replicas=available,
        unavailable_replicas=max(total - available, 0),
    )


def deployment_complete(spec: DeploymentSpec, generation: int, status: DeploymentStatus) -> bool:
    """Every replica updated and available, none old, the latest generation observed."""
    return (
        status.updated_replicas == spec.replicas
        and status.replicas == spec.replicas
        and status.available_replicas == spec.replicas
        and (status.observed_generation or 0) >= generation
    )


def _progressed(old: DeploymentStatus, new: DeploymentStatus) -> bool:
    return (
        new.updated_replicas > old.updated_replicas
        or (new.replicas - new.updated_replicas) < (old.replicas - old.updated_replicas)
        or new.ready_replicas > old.ready_replicas
        or new.available_replicas > old.available_replicas
    )


def _stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(stamp: str | None) -> float:
    if not stamp:
        return 0.0
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _get(conditions: Sequence[DeploymentCondition], kind: str) -> DeploymentCondition | None:
    return next((c for c in conditions if c.type == kind), None)


def _set(
    conditions: Sequence[DeploymentCondition], cond: DeploymentCondition
) -> tuple[DeploymentCondition, ...]:
    """``SetDeploymentCondition``: same status and reason → unchanged; same status → keep
    the transition time."""
    current = _get(conditions, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return tuple(conditions)
    if current is not None and current.status == cond.status:
        cond = replace(cond, last_transition_time=current.last_transition_time)
    return (*(c for c in conditions if c.type != cond.type), cond)


def _condition(
    kind: str, status: str, reason: str, message: str, now: float
) -> DeploymentCondition:
    t = _stamp(now)
    return DeploymentCondition(kind, status, reason, message, t, t)


def available_condition(
    spec: DeploymentSpec,
    status: DeploymentStatus,
    conditions: Sequence[DeploymentCondition],
    now: float,
) -> tuple[DeploymentCondition, ...]:
    """``Available``: True (MinimumReplicasAvailable) when at least ``replicas -
    maxUnavailable`` are available, else False (MinimumReplicasUnavailable)."""
    if status.available_replicas >= spec.replicas - max_unavailable(spec):
        cond = _condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        )
    else:
        cond = _condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.",
            now,
        )
    return _set(conditions, cond)


def progressing_condition(
    deployment: Deployment,
    new_status: DeploymentStatus,
    conditions: Sequence[DeploymentCondition],
    now: float,
    *,
    new_rs_name: str | None = None,
    new_rs_created: bool = False,
) -> tuple[DeploymentCondition, ...]:
    """``Progressing`` as the deployment controller computes it.

    ``deployment.status`` is the status before this sync (to detect progress);
    ``conditions`` the current ones. Paused: Unknown/DeploymentPaused. A new RS just
    created: True/NewReplicaSetCreated. Complete: True/NewReplicaSetAvailable (kept
    until the next rollout). Progress: True/ReplicaSetUpdated with a fresh update time.
    No progress for ``progressDeadlineSeconds`` since the last update: False/
    ProgressDeadlineExceeded."""
    spec = deployment.spec
    name = deployment.metadata.name
    subject = f'ReplicaSet "{new_rs_name}"' if new_rs_name else f'Deployment "{name}"'
    if spec.paused:
        return _paused(conditions, now)
    conditions = _resumed(conditions, now)
    current = _get(conditions, "Progressing")
    if new_rs_created and new_rs_name:
        cond = _condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            f'Created new replica set "{new_rs_name}"',
            now,
        )
        return _set(conditions, cond)
    complete_already = (
        new_status.replicas == new_status.updated_replicas
        and current is not None
        and current.reason == "NewReplicaSetAvailable"
    )
    if complete_already:
        return tuple(conditions)
    old_status = deployment.status or DeploymentStatus()
    generation = deployment.metadata.generation or 0
    if deployment_complete(spec, generation, new_status):
        cond = _condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f"{subject} has successfully progressed.",
            now,
        )
        return _set(conditions, cond)
    if _progressed(old_status, new_status):
        cond = _condition(
            "Progressing", "True", "ReplicaSetUpdated", f"{subject} is progressing.", now
        )
        if current is not None and current.status == "True":
            cond = replace(cond, last_transition_time=current.last_transition_time)
        return (*(c for c in conditions if c.type != "Progressing"), cond)
    if _timed_out(spec, current, now):
        cond = _condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            f"{subject} has timed out progressing.",
            now,
        )
        return _set(conditions, cond)
    return tuple(conditions)


def _paused(
    conditions: Sequence[DeploymentCondition], now: float
) -> tuple[DeploymentCondition, ...]:
    current = _get(conditions, "Progressing")
    if current is not None and current.reason == "DeploymentPaused":
        return tuple(conditions)
    paused = _condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", now)
    return _set(conditions, paused)


def _resumed(
    conditions: Sequence[DeploymentCondition], now: float
) -> tuple[DeploymentCondition, ...]:
    current = _get(conditions, "Progressing")
    if current is None or current.reason != "DeploymentPaused":
        return tuple(conditions)
    cond = _condition("Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed", now)
    return _set(conditions, cond)


def _timed_out(spec: DeploymentSpec, current: DeploymentCondition | None, now: float) -> bool:
    if current is None or current.reason == "NewReplicaSetAvailable":
        return False
    if current.reason == "ProgressDeadlineExceeded":
        return True
    return _seconds(current.last_update_time) + spec.progress_deadline_seconds < now
