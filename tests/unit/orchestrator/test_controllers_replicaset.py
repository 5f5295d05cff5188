"""The ReplicaSet controller: counts, deletion order, self-healing, status."""

from __future__ import annotations

import pytest
from test_controllers_harness import T0, World, template

from dockyard.orchestrator.backend import ContainerStatus, ObservedPod
from dockyard.orchestrator.controllers.replicaset import deletion_order, plan_pods
from dockyard.orchestrator.objects import ObjectMeta, Pod, ReplicaSet, ReplicaSetSpec
from dockyard.orchestrator.selectors import LabelSelector
from dockyard.records import replace


def replicaset(replicas: int, *, min_ready: int = 0) -> ReplicaSet:
    return ReplicaSet(
        metadata=ObjectMeta(name="web-abc", namespace="default"),
        spec=ReplicaSetSpec(
            replicas=replicas,
            min_ready_seconds=min_ready,
            selector=LabelSelector({"app": "web"}),
            template=template(),
        ),
    )


def rs_of(w: World) -> ReplicaSet:
    return w.store.get(ReplicaSet, "default", "web-abc")


def resize(w: World, replicas: int) -> None:
    rs = rs_of(w)
    w.store.update(replace(rs, spec=replace(rs.spec, replicas=replicas)))


@pytest.mark.parametrize(("start", "to"), [(0, 3), (3, 5), (5, 2), (3, 0), (2, 2)])
def test_pods_follow_replicas(start: int, to: int) -> None:
    w = World()
    w.store.create(replicaset(start))
    w.tick(2)
    assert len(w.pods()) == start
    resize(w, to)
    w.tick()
    assert len(w.pods()) == to
    w.tick()
    status = rs_of(w).status
    assert status is not None
    assert (status.replicas, status.ready_replicas, status.available_replicas) == (to, to, to)
    assert status.fully_labeled_replicas == to
    assert status.observed_generation == rs_of(w).metadata.generation


def test_pods_carry_labels_and_an_owner_reference() -> None:
    w = World()
    rs = w.store.create(replicaset(1))
    w.tick()
    (p,) = w.pods()
    assert p.name == "web-abc-00000"
    assert p.pod.metadata.labels == {"app": "web"}
    ref = p.pod.metadata.owner_references[0]
    assert (ref.kind, ref.name, ref.uid, ref.controller) == ("ReplicaSet", "web-abc",
                                                             rs.metadata.uid, True)  # fmt: skip


def test_an_exited_pod_is_replaced_within_one_tick() -> None:
    w = World(start_delay=0.5)
    w.store.create(replicaset(3))
    w.tick(3)
    victim = w.pods()[0].name
    w.backend.exit("default", victim, 137)
    w.tick()  # one period: the failed pod is deleted and a new one created
    names = {p.name for p in w.pods()}
    assert victim not in names and len(names) == 3
    w.tick(2)
    assert w.ready() == 3


def test_min_ready_seconds_gates_available_replicas() -> None:
    w = World()
    w.store.create(replicaset(2, min_ready=5))
    w.tick(3)
    status = rs_of(w).status
    assert status is not None
    assert (status.ready_replicas, status.available_replicas) == (2, 0)
    w.tick(5)
    status = rs_of(w).status
    assert status is not None and status.available_replicas == 2


def test_a_failed_create_sets_replica_failure_and_backs_off() -> None:
    w = World()
    w.store.create(replicaset(2))
    w.backend.down = True
    import asyncio

    asyncio.run(w.manager.run_once(w.clock.now()))
    assert ("replicaset", ("default", "web-abc")) in w.manager.errors
    w.backend.down = False
    w.clock.advance(1.0)
    w.tick(2)
    assert len(w.pods()) == 2


def test_replica_failure_condition_comes_and_goes() -> None:
    w = World()
    w.store.create(replicaset(1))
    w.backend.unschedulable()

    async def fail(pod: Pod) -> None:
        from dockyard.errors import PermissionDenied

        raise PermissionDenied("create pod: exceeded quota")

    original = w.backend.create_pod
    w.backend.create_pod = fail  # type: ignore[method-assign]
    import asyncio

    asyncio.run(w.manager.run_once(w.clock.now()))
    status = rs_of(w).status
    assert status is not None
    (cond,) = status.conditions
    assert (cond.type, cond.reason, cond.message) == ("ReplicaFailure", "FailedCreate",
                                                      "create pod: exceeded quota")  # fmt: skip
    w.backend.create_pod = original  # type: ignore[method-assign]
    w.manager.errors.clear()
    w.clock.advance(5.0)
    w.tick()
    status = rs_of(w).status
    assert status is not None and status.conditions == ()


def test_deleting_a_replicaset_deletes_its_pods() -> None:
    w = World()
    w.store.create(replicaset(3))
    w.tick()
    w.store.delete(ReplicaSet, "default", "web-abc")
    w.tick()
    assert w.backend.pods() == []


def test_pods_of_another_owner_are_left_alone() -> None:
    w = World()
    w.store.create(replicaset(1))
    other = replace(replicaset(1), metadata=ObjectMeta(name="other", namespace="default"))
    w.store.create(other)  # same selector, different owner
    w.tick(2)
    assert len(w.pods()) == 2


# -- deletion order (pure) -------------------------------------------------------------


def observed(name: str, **kw: object) -> ObservedPod:
    ready = kw.pop("ready", True)
    restarts = kw.pop("restarts", 0)
    phase = kw.pop("phase", "Running")
    c = ContainerStatus("web", "running", restart_count=restarts, ready=ready)  # type: ignore[arg-type]
    return ObservedPod(Pod(metadata=ObjectMeta(name=name)), phase, (c,), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pods", "first"),
    [
        ([observed("a"), observed("b", scheduled=False, phase="Pending")], "b"),
        ([observed("a"), observed("b", phase="Pending")], "b"),
        ([observed("a"), observed("b", ready=False)], "b"),
        ([observed("a", ready_since=T0), observed("b", ready_since=T0 + 10)], "b"),
        ([observed("a", restarts=0), observed("b", restarts=3)], "b"),
        ([observed("a", created=T0 + 5), observed("b", created=T0)], "a"),
    ],
    ids=["unscheduled", "pending", "not-ready", "ready-shorter", "restarts", "newer"],
)
def test_deletion_order_is_kubernetes(pods: list[ObservedPod], first: str) -> None:
    assert deletion_order(pods)[0].name == first


def test_plan_deletes_finished_pods_and_surplus() -> None:
    pods = [
        observed("done", phase="Failed"),
        observed("a", created=T0),
        observed("b", created=T0 + 1),
        observed("gone", terminating=True),
    ]
    step = plan_pods(1, pods)
    assert (step.create, step.delete) == (0, ("done", "b"))
    assert plan_pods(4, pods).create == 2
