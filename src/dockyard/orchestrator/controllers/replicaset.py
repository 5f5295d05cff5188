"""The ReplicaSet controller: keep ``spec.replicas`` pods of the template running.

One reconcile (CONVENTIONS #7):

1. read the ReplicaSet (gone: delete the pods it owned, done);
2. list its pods from the backend (matching the selector *and* owned by it);
3. :func:`plan_pods`: create the missing ones; delete finished pods (exited: the
   self-healing path) and, when there are too many, the surplus in Kubernetes' order
   (:func:`deletion_order`: unscheduled, pending, not ready, ready for less time,
   more restarts, newer first);
4. apply: ``create_pod`` / ``delete_pod``; the first failed create stops the batch;
5. write :func:`replicaset_status` (replicas, fullyLabeledReplicas, readyReplicas,
   availableReplicas after ``minReadySeconds``, observedGeneration, ReplicaFailure).

A pod whose liveness probe fails is restarted in place by the probe runner, one whose
container exits by the backend (the kubelet's restartPolicy); a pod that ends Failed or
Succeeded (a policy that does not restart) is replaced here, within one tick.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from dockyard.errors import AlreadyExists, DockyardError, NotFound
from dockyard.records import record, replace

from ..backend import ObservedPod, PodBackend
from ..events import NORMAL, WARNING, EventLog, involved
from ..objects import DeploymentCondition, ObjectMeta, Pod, ReplicaSet, ReplicaSetStatus
from ..rollout import is_pod_available
from ..store import ObjectStore
from ._common import Key, Tracked, controller_of, drop_condition, key_of, owned, owner_reference
from ._common import set_condition as _set_condition

__all__ = [
    "RSPlan",
    "ReplicaSetController",
    "deletion_order",
    "plan_pods",
    "pod_for",
    "random_suffix",
    "replicaset_status",
]

_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix() -> str:
    """Five characters of Kubernetes' safe alphabet (``web-7d4b9-x2kqp``)."""
    return "".join(_SAFE[b % len(_SAFE)] for b in os.urandom(5))


@record
class RSPlan:
    """What one reconcile does: how many pods to create, which to delete."""

    create: int = 0
    delete: tuple[str, ...] = ()


_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _deletion_key(p: ObservedPod) -> tuple[object, ...]:
    restarts = max((c.restart_count for c in p.containers), default=0)
    ready_for = -(p.ready_since or 0.0) if p.ready else 0.0
    return (
        p.scheduled,
        _PHASE_RANK.get(p.phase, 0),
        p.ready,
        ready_for,  # ready more recently first
        -restarts,
        -p.created,  # newer first
        p.name,
    )


def deletion_order(pods: Sequence[ObservedPod]) -> list[ObservedPod]:
    """Pods in the order a scale-down removes them (``controller.ActivePodsWithRanks``)."""
    return sorted(pods, key=_deletion_key)


def plan_pods(replicas: int, pods: Sequence[ObservedPod]) -> RSPlan:
    """The pure decision: ``pods`` are the RS's own (terminating ones included)."""
    finished = [p.name for p in pods if p.phase in ("Succeeded", "Failed") and not p.terminating]
    active = [p for p in pods if p.active]
    diff = len(active) - replicas
    if diff < 0:
        return RSPlan(-diff, tuple(finished))
    surplus = [p.name for p in deletion_order(active)[:diff]]
    return RSPlan(0, tuple(finished + surplus))


def replicaset_status(rs: ReplicaSet, pods: Sequence[ObservedPod], now: float) -> ReplicaSetStatus:
    """Counts over the RS's active pods (conditions are carried over)."""
    active = [p for p in pods if p.active]
    wanted = rs.spec.template.metadata.labels
    mrs = rs.spec.min_ready_seconds
    old = rs.status or ReplicaSetStatus()
    return ReplicaSetStatus(
        replicas=len(active),
        fully_labeled_replicas=sum(
            1 for p in active if all(p.pod.metadata.labels.get(k) == v for k, v in wanted.items())
        ),
        ready_replicas=sum(1 for p in active if p.ready),
        available_replicas=sum(
            1 for p in active if is_pod_available(p.ready, p.ready_since or 0.0, mrs, now)
        ),
        observed_generation=rs.metadata.generation,
        conditions=old.conditions,
    )


def pod_for(rs: ReplicaSet, name: str) -> Pod:
    """A pod of the RS's template: its labels and annotations, an owner reference."""
    t = rs.spec.template
    meta = ObjectMeta(
        name=name,
        namespace=rs.metadata.namespace or "default",
        labels=dict(t.metadata.labels),
        annotations=dict(t.metadata.annotations),
        owner_references=(owner_reference(rs),),
    )
    return Pod(metadata=meta, spec=t.spec)


def _next_availability(rs: ReplicaSet, pods: Sequence[ObservedPod], now: float) -> float | None:
    """Seconds until a ready pod becomes available (minReadySeconds), if any."""
    mrs = rs.spec.min_ready_seconds
    waits = [
        (p.ready_since or 0.0) + mrs - now
        for p in pods
        if p.ready and not is_pod_available(True, p.ready_since or 0.0, mrs, now)
    ]
    return max(min(waits), 0.001) if waits else None


class ReplicaSetController:
    """Reconciles every ReplicaSet of the store against the backend's pods."""

    name = "replicaset"

    def __init__(
        self,
        store: ObjectStore,
        backend: PodBackend,
        *,
        suffix: Callable[[], str] = random_suffix,
        events: EventLog | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.suffix = suffix
        self.events = events if events is not None else EventLog()
        self._tracked = Tracked()

    def targets(self) -> list[Key]:
        return self._tracked.keys(key_of(rs.metadata) for rs in self.store.list(ReplicaSet))

    async def reconcile(self, key: Key, now: float) -> float | None:
        ns, name = key
        try:
            rs = self.store.get(ReplicaSet, ns, name)
        except NotFound:
            await self._orphaned(ns, name)
            self._tracked.forget(key)
            return None
        listed = await self.backend.list_pods(ns, rs.spec.selector)
        pods = [p for p in listed if owned(p.pod.metadata, rs)]
        step = plan_pods(rs.spec.replicas, pods)
        error = await self._apply(rs, step)
        if step.create or step.delete:
            listed = await self.backend.list_pods(ns, rs.spec.selector)
            pods = [p for p in listed if owned(p.pod.metadata, rs)]
        status = replicaset_status(rs, pods, now)
        status = replace(status, conditions=self._failure(status, error, now))
        if status != rs.status:
            self.store.update_status(replace(rs, status=status))
        if error is not None:
            raise error
        return _next_availability(rs, pods, now)

    async def _apply(self, rs: ReplicaSet, step: RSPlan) -> DockyardError | None:
        ns = rs.metadata.namespace or "default"
        for pod_name in step.delete:
            try:
                await self.backend.delete_pod(ns, pod_name)
            except NotFound:
                continue
            self._event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {pod_name}")
        for _ in range(step.create):
            try:
                name = await self._create(rs)
            except DockyardError as e:
                self._event(rs, WARNING, "FailedCreate", f"Error creating: {e}")
                return e
            self._event(rs, NORMAL, "SuccessfulCreate", f"Created pod: {name}")
        return None

    def _event(self, rs: ReplicaSet, type_: str, reason: str, message: str) -> None:
        self.events.record(involved(rs), type_, reason, message, "replicaset-controller")

    async def _create(self, rs: ReplicaSet) -> str:
        for attempt in range(5):
            pod = pod_for(rs, f"{rs.metadata.name}-{self.suffix()}")
            try:
                await self.backend.create_pod(pod)
                return pod.metadata.name
            except AlreadyExists:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def _failure(
        self, status: ReplicaSetStatus, error: DockyardError | None, now: float
    ) -> tuple[DeploymentCondition, ...]:
        if error is None:
            return drop_condition(status.conditions, "ReplicaFailure")
        return _set_condition(
            status.conditions, "ReplicaFailure", "True", "FailedCreate", str(error), now
        )

    async def _orphaned(self, ns: str, name: str) -> None:
        """The RS is gone: delete the pods it controlled (the garbage collector's job)."""
        for p in await self.backend.list_pods(ns):
            ref = controller_of(p.pod.metadata, "ReplicaSet")
            if ref is not None and ref.name == name and not p.terminating:
                try:
                    await self.backend.delete_pod(ns, p.name)
                except NotFound:
                    pass
