"""The Deployment controller and the ``rollout`` verbs.

One reconcile (CONVENTIONS #7), the arithmetic being :mod:`..rollout`'s:

1. read the Deployment (gone: delete the ReplicaSets it owned, done);
2. list its ReplicaSets (owned by it) and, for Recreate, its pods;
3. find the *new* RS (template equal, ignoring the hash); none and not paused: create
   it (``new_replicaset``, next revision); an existing one left behind by an undo is
   renumbered; then ``rollout.plan`` gives the sizes of this step (proportional
   scaling when paused or rescaled, else one Recreate or RollingUpdate step);
4. write the sizes (with the desired/max-replicas annotations), prune revisions beyond
   ``revisionHistoryLimit`` once complete (or paused);
5. write the revision annotation and the status on a copy: counts from the RSs'
   statuses, ``Available`` and ``Progressing`` (ProgressDeadlineExceeded after
   ``progressDeadlineSeconds`` without progress).

The verbs (``rollout undo|pause|resume|restart|history``, ``scale``) change the
Deployment in the store; the controller does the rest. :func:`rollout_status` answers
as ``kubectl rollout status`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

from dockyard.errors import NotFound
from dockyard.records import record, replace

from ..backend import ObservedPod, PodBackend
from ..events import NORMAL, EventLog, involved
from ..objects import Deployment, DeploymentStatus, ReplicaSet
from ..rollout import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    REVISION,
    RevisionEntry,
    RSState,
    Step,
    available_condition,
    calculate_status,
    deployment_complete,
    find_new_replicaset,
    history,
    max_surge,
    new_replicaset,
    new_rs_replicas,
    next_revision,
    pause,
    plan,
    progressing_condition,
    proportional_scale,
    resume,
    revision_of,
    revisions_to_prune,
    rollback,
)
from ..store import ObjectStore, format_time, parse_time
from ._common import Key, Tracked, controller_of, key_of, owned

__all__ = [
    "RESTARTED_AT",
    "DeploymentController",
    "RolloutStatus",
    "owned_replicasets",
    "rollout_history",
    "rollout_pause",
    "rollout_restart",
    "rollout_resume",
    "rollout_status",
    "rollout_undo",
    "rs_state",
    "scale",
]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def rs_state(rs: ReplicaSet) -> RSState:
    """What the rollout arithmetic needs of a ReplicaSet."""
    ann = rs.metadata.annotations
    status = rs.status
    return RSState(
        name=rs.metadata.name,
        replicas=rs.spec.replicas,
        available=status.available_replicas if status else 0,
        ready=status.ready_replicas if status else 0,
        created=parse_time(rs.metadata.creation_timestamp),
        revision=revision_of(rs),
        desired_replicas=_int(ann.get(DESIRED_REPLICAS)),
        max_replicas=_int(ann.get(MAX_REPLICAS)),
        status_replicas=status.replicas if status else 0,
    )


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def owned_replicasets(store: ObjectStore, d: Deployment) -> list[ReplicaSet]:
    """The ReplicaSets ``d`` controls, oldest first."""
    rss = store.list(ReplicaSet, d.metadata.namespace or "default")
    mine = [rs for rs in rss if owned(rs.metadata, d)]
    return sorted(mine, key=lambda rs: (rs.metadata.creation_timestamp or "", rs.metadata.name))


def _old_pods_running(pods: Sequence[ObservedPod], new: ReplicaSet | None) -> int:
    count = 0
    for p in pods:
        ref = controller_of(p.pod.metadata, "ReplicaSet")
        if ref is None or (new is not None and ref.name == new.metadata.name):
            continue
        if p.phase not in ("Succeeded", "Failed"):
            count += 1
    return count


class DeploymentController:
    """Reconciles every Deployment of the store through its ReplicaSets."""

    name = "deployment"

    def __init__(
        self, store: ObjectStore, backend: PodBackend, *, events: EventLog | None = None
    ) -> None:
        self.store = store
        self.backend = backend
        self.events = events if events is not None else EventLog()
        self._tracked = Tracked()

    def targets(self) -> list[Key]:
        return self._tracked.keys(key_of(d.metadata) for d in self.store.list(Deployment))

    def _scaled(self, d: Deployment, rs: str, before: int | None, after: int) -> None:
        """The deployment controller's ScalingReplicaSet event (Kubernetes 1.26+ text: a
        new ReplicaSet's has no "from")."""
        way = "up" if before is None or after > before else "down"
        since = "" if before is None else f" from {before}"
        self.events.record(involved(d), NORMAL, "ScalingReplicaSet",
                           f"Scaled {way} replica set {rs} to {after}{since}",
                           "deployment-controller")  # fmt: skip

    async def reconcile(self, key: Key, now: float) -> float | None:
        ns, name = key
        try:
            d = self.store.get(Deployment, ns, name)
        except NotFound:
            self._orphaned(ns, name)
            self._tracked.forget(key)
            return None
        rss = owned_replicasets(self.store, d)
        new, created = self._new_replicaset(d, rss)
        old = [rs for rs in rss if new is None or rs.metadata.name != new.metadata.name]
        step = await self._plan(d, new, old)
        sizes = self._apply(d, step, [rs for rs in [new, *old] if rs is not None])
        new = sizes.get(new.metadata.name, new) if new is not None else None
        old = [sizes.get(rs.metadata.name, rs) for rs in old]
        status = calculate_status(
            rs_state(new) if new else None,
            [rs_state(rs) for rs in ([new] if new else []) + old],
            d.metadata.generation or 0,
        )
        if d.spec.paused or deployment_complete(d.spec, d.metadata.generation or 0, status):
            self._prune(d, old)
        return self._write(d, new, created, status, now)

    # -- steps -------------------------------------------------------------------------

    def _new_replicaset(
        self, d: Deployment, rss: list[ReplicaSet]
    ) -> tuple[ReplicaSet | None, bool]:
        new = find_new_replicaset(d, rss)
        old = [rs for rs in rss if new is None or rs.metadata.name != new.metadata.name]
        if new is not None:
            return self._sync_revision(d, new, old), False
        if d.spec.paused:
            return None, False
        fresh = new_replicaset(d, old)
        if d.spec.strategy.type != "Recreate":
            size = new_rs_replicas(d.spec, rs_state(fresh), [rs_state(rs) for rs in old])
            fresh = replace(fresh, spec=replace(fresh.spec, replicas=size))
        made = self.store.create(fresh)
        if made.spec.replicas:
            self._scaled(d, made.metadata.name, None, made.spec.replicas)
        return made, True

    def _sync_revision(self, d: Deployment, new: ReplicaSet, old: list[ReplicaSet]) -> ReplicaSet:
        """An RS reused by an undo gets the next revision; minReadySeconds follows."""
        revision = next_revision(old)
        ann = dict(new.metadata.annotations)
        spec = new.spec
        if revision_of(new) < revision:
            ann[REVISION] = str(revision)
        if spec.min_ready_seconds != d.spec.min_ready_seconds:
            spec = replace(spec, min_ready_seconds=d.spec.min_ready_seconds)
        if ann == new.metadata.annotations and spec is new.spec:
            return new
        meta = replace(new.metadata, annotations=ann)
        return self.store.update(replace(new, metadata=meta, spec=spec))

    async def _plan(self, d: Deployment, new: ReplicaSet | None, old: list[ReplicaSet]) -> Step:
        status_replicas = d.status.replicas if d.status else 0
        old_states = [rs_state(rs) for rs in old]
        if new is None:
            return proportional_scale(d.spec, None, old_states, status_replicas)
        running = 0
        if d.spec.strategy.type == "Recreate" and not d.spec.paused:
            ns = d.metadata.namespace or "default"
            pods = await self.backend.list_pods(ns, d.spec.selector)
            running = _old_pods_running([p for p in pods if not _owned_by_new(p, new)], None)
        return plan(
            d.spec,
            rs_state(new),
            old_states,
            status_replicas=status_replicas,
            old_pods_running=running,
        )

    def _apply(self, d: Deployment, step: Step, rss: list[ReplicaSet]) -> dict[str, ReplicaSet]:
        """Write the step's sizes; a proportional step also refreshes the replica
        annotations of every active RS (so the scaling event is over)."""
        desired = str(d.spec.replicas)
        maximum = str(d.spec.replicas + max_surge(d.spec))
        out: dict[str, ReplicaSet] = {}
        for rs in rss:
            size = step.scale.get(rs.metadata.name, rs.spec.replicas)
            touch = rs.metadata.name in step.scale or (
                step.action == "proportional" and rs.spec.replicas > 0
            )
            ann = rs.metadata.annotations
            if not touch or (
                size == rs.spec.replicas
                and ann.get(DESIRED_REPLICAS) == desired
                and ann.get(MAX_REPLICAS) == maximum
            ):
                continue
            meta = replace(
                rs.metadata, annotations={**ann, DESIRED_REPLICAS: desired, MAX_REPLICAS: maximum}
            )
            updated = replace(rs, metadata=meta, spec=replace(rs.spec, replicas=size))
            out[rs.metadata.name] = self.store.update(updated)
            if size != rs.spec.replicas:
                self._scaled(d, rs.metadata.name, rs.spec.replicas, size)
        return out

    def _prune(self, d: Deployment, old: list[ReplicaSet]) -> None:
        ns = d.metadata.namespace or "default"
        for name in revisions_to_prune([rs_state(rs) for rs in old], d.spec.revision_history_limit):
            try:
                self.store.delete(ReplicaSet, ns, name)
            except NotFound:
                pass

    def _write(
        self,
        d: Deployment,
        new: ReplicaSet | None,
        created: bool,
        counts: DeploymentStatus,
        now: float,
    ) -> float | None:
        before = d.status or DeploymentStatus()
        conditions = progressing_condition(
            d,
            counts,
            before.conditions,
            now,
            new_rs_name=new.metadata.name if new else None,
            new_rs_created=created,
        )
        conditions = available_condition(d.spec, counts, conditions, now)
        status = replace(counts, conditions=conditions, collision_count=before.collision_count)
        if new is not None and d.metadata.annotations.get(REVISION) != str(revision_of(new)):
            ann = {**d.metadata.annotations, REVISION: str(revision_of(new))}
            d = self.store.update(replace(d, metadata=replace(d.metadata, annotations=ann)))
        if status != d.status:
            self.store.update_status(replace(d, status=status))
        return _deadline_wait(d, status, now)

    def _orphaned(self, ns: str, name: str) -> None:
        for rs in self.store.list(ReplicaSet, ns):
            ref = controller_of(rs.metadata, "Deployment")
            if ref is not None and ref.name == name:
                try:
                    self.store.delete(ReplicaSet, ns, rs.metadata.name)
                except NotFound:
                    pass


def _owned_by_new(p: ObservedPod, new: ReplicaSet) -> bool:
    return owned(p.pod.metadata, new)


def _deadline_wait(d: Deployment, status: DeploymentStatus, now: float) -> float | None:
    """Seconds until the progress deadline would pass, while a rollout is under way."""
    cond = next((c for c in status.conditions if c.type == "Progressing"), None)
    if d.spec.paused or cond is None or cond.status != "True":
        return None
    if cond.reason == "NewReplicaSetAvailable":
        return None
    deadline = parse_time(cond.last_update_time) + d.spec.progress_deadline_seconds
    return max(deadline - now, 0.0) + 1.0


# -- rollout status --------------------------------------------------------------------


@record
class RolloutStatus:
    """``state`` is complete, progressing or failed; ``message`` as kubectl prints it."""

    state: str
    message: str

    @property
    def done(self) -> bool:
        return self.state != "progressing"


def rollout_status(d: Deployment) -> RolloutStatus:
    """``kubectl rollout status`` for one look at the Deployment (the CLI polls it)."""
    name = d.metadata.name
    status = d.status or DeploymentStatus()
    if (d.metadata.generation or 0) > (status.observed_generation or 0):
        return RolloutStatus("progressing", "Waiting for deployment spec update to be observed...")
    cond = next((c for c in status.conditions if c.type == "Progressing"), None)
    if cond is not None and cond.reason == "ProgressDeadlineExceeded":
        return RolloutStatus("failed", f'deployment "{name}" exceeded its progress deadline')
    wanted = d.spec.replicas
    prefix = f'Waiting for deployment "{name}" rollout to finish: '
    if status.updated_replicas < wanted:
        return RolloutStatus(
            "progressing",
            f"{prefix}{status.updated_replicas} out of {wanted} new replicas have been updated...",
        )
    if status.replicas > status.updated_replicas:
        pending = status.replicas - status.updated_replicas
        return RolloutStatus(
            "progressing", f"{prefix}{pending} old replicas are pending termination..."
        )
    if status.available_replicas < status.updated_replicas:
        return RolloutStatus(
            "progressing",
            f"{prefix}{status.available_replicas} of {status.updated_replicas} updated "
            "replicas are available...",
        )
    return RolloutStatus("complete", f'deployment "{name}" successfully rolled out')


# -- verbs -----------------------------------------------------------------------------


def rollout_undo(store: ObjectStore, namespace: str, name: str, to_revision: int = 0) -> Deployment:
    """``rollout undo [--to-revision N]``: the template of that revision (0: the previous
    one) written back; FailedPrecondition while paused, NotFound for a pruned revision."""
    d = store.get(Deployment, namespace, name)
    return store.update(rollback(d, owned_replicasets(store, d), to_revision))


def rollout_pause(store: ObjectStore, namespace: str, name: str) -> Deployment:
    return store.update(pause(store.get(Deployment, namespace, name)))


def rollout_resume(store: ObjectStore, namespace: str, name: str) -> Deployment:
    return store.update(resume(store.get(Deployment, namespace, name)))


def rollout_restart(store: ObjectStore, namespace: str, name: str, now: float) -> Deployment:
    """A new rollout of the same template: the ``restartedAt`` template annotation."""
    d = store.get(Deployment, namespace, name)
    t = d.spec.template
    ann = {**t.metadata.annotations, RESTARTED_AT: format_time(now)}
    t = replace(t, metadata=replace(t.metadata, annotations=ann))
    return store.update(replace(d, spec=replace(d.spec, template=t)))


def rollout_history(store: ObjectStore, namespace: str, name: str) -> list[RevisionEntry]:
    d = store.get(Deployment, namespace, name)
    return history(owned_replicasets(store, d))


def scale(store: ObjectStore, cls: type[Deployment | ReplicaSet], namespace: str, name: str,
          replicas: int) -> None:  # fmt: skip
    """``dockyard scale``: write ``spec.replicas`` of a Deployment or ReplicaSet."""
    obj = store.get(cls, namespace, name)
    store.update(replace(obj, spec=replace(obj.spec, replicas=replicas)))
