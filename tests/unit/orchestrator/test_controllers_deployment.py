"""The Deployment controller end to end on the fake backend, and ``rollout status``."""

from __future__ import annotations

import pytest
from test_controllers_harness import World, deployment, template

from dockyard.errors import FailedPrecondition, NotFound
from dockyard.orchestrator.controllers import (
    rollout_history,
    rollout_pause,
    rollout_restart,
    rollout_resume,
    rollout_status,
    rollout_undo,
    scale,
)
from dockyard.orchestrator.controllers.deployment import RESTARTED_AT
from dockyard.orchestrator.objects import (
    Deployment,
    DeploymentCondition,
    DeploymentSpec,
    DeploymentStatus,
    ObjectMeta,
    ReplicaSet,
)
from dockyard.orchestrator.rollout import REVISION, TEMPLATE_HASH
from dockyard.records import replace


def set_image(w: World, image: str, name: str = "web") -> None:
    d = w.deployment(name)
    w.store.update(replace(d, spec=replace(d.spec, template=template(image))))


def complete(w: World) -> bool:
    return rollout_status(w.deployment()).state == "complete"


# -- first rollout ---------------------------------------------------------------------


def test_create_makes_one_replicaset_and_completes() -> None:
    w = World(start_delay=1.0)
    w.store.create(deployment(replicas=3))
    w.run_until(complete)
    d = w.deployment()
    (rs,) = w.replicasets()
    assert rs.metadata.name == f"web-{rs.spec.template.metadata.labels[TEMPLATE_HASH]}"
    assert rs.metadata.annotations[REVISION] == "1"
    assert d.metadata.annotations[REVISION] == "1"
    assert rs.metadata.owner_references[0].uid == d.metadata.uid
    assert d.status is not None
    assert (d.status.replicas, d.status.updated_replicas, d.status.available_replicas) == (3, 3, 3)
    conds = {c.type: (c.status, c.reason) for c in d.status.conditions}
    assert conds == {
        "Progressing": ("True", "NewReplicaSetAvailable"),
        "Available": ("True", "MinimumReplicasAvailable"),
    }
    assert rollout_status(d).message == 'deployment "web" successfully rolled out'


@pytest.mark.parametrize(("start", "to"), [(3, 5), (5, 2), (3, 0), (0, 2)])
def test_scale_changes_pod_count(start: int, to: int) -> None:
    w = World()
    w.store.create(deployment(replicas=start))
    w.run_until(complete)
    scale(w.store, Deployment, "default", "web", to)
    w.run_until(lambda w: complete(w) and len(w.pods()) == to)
    assert w.ready() == to
    assert len(w.replicasets()) == 1


# -- rolling update --------------------------------------------------------------------


def test_rolling_update_never_drops_ready_pods_below_desired() -> None:
    """maxUnavailable 0 / maxSurge 1: ready pods ≥ 3 and RS sizes ≤ 4 at every tick."""
    w = World(start_delay=1.0)
    w.store.create(deployment(replicas=3, surge=1, unavailable=0))
    w.run_until(complete)
    set_image(w, "web:2")

    def invariant(w: World) -> None:
        assert w.ready() >= 3
        assert sum(rs.spec.replicas for rs in w.replicasets()) <= 4

    w.run_until(lambda w: complete(w) and w.images() == {"web:2": 3}, check=invariant)
    assert w.rs_for("web:1").spec.replicas == 0
    assert w.rs_for("web:2").metadata.annotations[REVISION] == "2"
    assert w.deployment().metadata.annotations[REVISION] == "2"
    assert [e.revision for e in rollout_history(w.store, "default", "web")] == [1, 2]


def test_rolling_update_reports_progress_while_under_way() -> None:
    w = World(start_delay=3.0)
    w.store.create(deployment(replicas=2))
    w.run_until(complete)
    set_image(w, "web:2")
    w.tick(2)
    st = rollout_status(w.deployment())
    assert st.state == "progressing"
    assert st.message.startswith('Waiting for deployment "web" rollout to finish: ')
    w.run_until(complete)


def test_recreate_stops_every_old_pod_before_starting_new_ones() -> None:
    w = World(start_delay=1.0, terminate_delay=2.0)
    w.store.create(deployment(replicas=3, strategy="Recreate"))
    w.run_until(complete)
    set_image(w, "web:2")

    def never_both(w: World) -> None:
        images = {p.pod.spec.containers[0].image for p in w.backend.pods()}
        assert images != {"web:1", "web:2"}, "old and new pods at once"

    w.run_until(lambda w: complete(w) and w.images() == {"web:2": 3}, check=never_both)


# -- history, undo, pause --------------------------------------------------------------


def roll_through(w: World, *images: str) -> None:
    for image in images:
        set_image(w, image)
        w.run_until(lambda w, i=image: complete(w) and w.images() == {i: 3})  # type: ignore[misc]


def test_undo_to_a_kept_revision_renumbers_it() -> None:
    w = World()
    w.store.create(deployment(replicas=3))
    w.run_until(complete)
    roll_through(w, "web:2", "web:3")
    rollout_undo(w.store, "default", "web", to_revision=1)
    w.run_until(lambda w: complete(w) and w.images() == {"web:1": 3})
    assert w.rs_for("web:1").metadata.annotations[REVISION] == "4"
    assert w.deployment().metadata.annotations[REVISION] == "4"
    assert [(e.revision, e.template.spec.containers[0].image) for e in rollout_history(
        w.store, "default", "web"
    )] == [(2, "web:2"), (3, "web:3"), (4, "web:1")]  # fmt: skip


def test_undo_without_revision_goes_to_the_previous_one() -> None:
    w = World()
    w.store.create(deployment(replicas=2))
    w.run_until(complete)
    set_image(w, "web:2")
    w.run_until(lambda w: complete(w) and w.images() == {"web:2": 2})
    rollout_undo(w.store, "default", "web")
    w.run_until(lambda w: complete(w) and w.images() == {"web:1": 2})


def test_revision_history_limit_prunes_old_replicasets() -> None:
    w = World()
    w.store.create(deployment(replicas=3, history_limit=1))
    w.run_until(complete)
    roll_through(w, "web:2", "web:3", "web:4")
    w.tick()
    images = sorted(rs.spec.template.spec.containers[0].image for rs in w.replicasets())
    assert images == ["web:3", "web:4"]
    with pytest.raises(NotFound, match="unable to find specified revision 1"):
        rollout_undo(w.store, "default", "web", to_revision=1)


def test_pause_holds_template_changes_and_resume_rolls_them_out_as_one() -> None:
    w = World()
    w.store.create(deployment(replicas=3))
    w.run_until(complete)
    rollout_pause(w.store, "default", "web")
    set_image(w, "web:2")
    w.tick(3)
    set_image(w, "web:3")
    w.tick(3)
    assert w.images() == {"web:1": 3}
    assert len(w.replicasets()) == 1
    d = w.deployment()
    assert d.status is not None
    cond = next(c for c in d.status.conditions if c.type == "Progressing")
    assert (cond.status, cond.reason) == ("Unknown", "DeploymentPaused")
    with pytest.raises(FailedPrecondition, match="paused"):
        rollout_undo(w.store, "default", "web")
    rollout_resume(w.store, "default", "web")
    w.run_until(lambda w: complete(w) and w.images() == {"web:3": 3})
    assert sorted(rs.metadata.annotations[REVISION] for rs in w.replicasets()) == ["1", "2"]


def test_progress_deadline_exceeded_fails_the_rollout_and_keeps_old_pods() -> None:
    w = World()
    w.store.create(deployment(replicas=3, deadline=30))
    w.run_until(complete)
    w.backend.fail_image("web:broken")
    set_image(w, "web:broken")
    w.tick(20)
    assert rollout_status(w.deployment()).state == "progressing"
    w.run_until(lambda w: rollout_status(w.deployment()).state == "failed", limit=30)
    d = w.deployment()
    assert d.status is not None
    cond = next(c for c in d.status.conditions if c.type == "Progressing")
    assert (cond.status, cond.reason) == ("False", "ProgressDeadlineExceeded")
    assert w.ready("web:1") == 3  # maxUnavailable 0: the old pods keep serving
    assert rollout_status(d).message == 'deployment "web" exceeded its progress deadline'
    rollout_undo(w.store, "default", "web")
    w.run_until(lambda w: complete(w) and w.images() == {"web:1": 3})


def test_min_ready_seconds_delays_availability() -> None:
    w = World()
    w.store.create(deployment(replicas=2, min_ready=5))
    w.tick(3)
    d = w.deployment()
    assert d.status is not None and d.status.available_replicas == 0
    assert w.ready() == 2
    w.run_until(complete, limit=10)


def test_restart_rolls_out_new_pods_of_the_same_image() -> None:
    w = World()
    w.store.create(deployment(replicas=2))
    w.run_until(complete)
    before = {p.name for p in w.pods()}
    rollout_restart(w.store, "default", "web", w.clock.now())
    assert RESTARTED_AT in w.deployment().spec.template.metadata.annotations
    w.run_until(lambda w: complete(w) and len(w.pods()) == 2 and not before & {
        p.name for p in w.pods()
    })  # fmt: skip
    assert len(w.replicasets()) == 2


def test_scaling_during_a_rollout_is_proportional() -> None:
    w = World()
    w.backend.fail_image("web:2")
    w.store.create(deployment(replicas=10, surge=3, unavailable=2))
    w.run_until(complete)
    set_image(w, "web:2")
    w.tick(3)  # stuck: new 5, old 8 (13 = 10 + surge)
    assert (w.rs_for("web:1").spec.replicas, w.rs_for("web:2").spec.replicas) == (8, 5)
    scale(w.store, Deployment, "default", "web", 15)
    w.tick()
    assert (w.rs_for("web:1").spec.replicas, w.rs_for("web:2").spec.replicas) == (11, 7)


def test_deleting_a_deployment_removes_its_replicasets_and_pods() -> None:
    w = World()
    w.store.create(deployment(replicas=2))
    w.run_until(complete)
    w.store.delete(Deployment, "default", "web")
    w.tick(3)
    assert w.replicasets() == []
    assert w.backend.pods() == []


# -- rollout status (pure) -------------------------------------------------------------


def _d(generation: int, wanted: int, **status: object) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name="web", generation=generation),
        spec=DeploymentSpec(replicas=wanted),
        status=DeploymentStatus(**status),  # type: ignore[arg-type]
    )


_TIMED_OUT = (DeploymentCondition("Progressing", "False", "ProgressDeadlineExceeded"),)


@pytest.mark.parametrize(
    ("d", "state", "message"),
    [
        (_d(2, 3, observed_generation=1), "progressing",
         "Waiting for deployment spec update to be observed..."),
        (_d(1, 3, observed_generation=1, conditions=_TIMED_OUT), "failed",
         'deployment "web" exceeded its progress deadline'),
        (_d(1, 3, observed_generation=1, updated_replicas=1, replicas=4), "progressing",
         'Waiting for deployment "web" rollout to finish: 1 out of 3 new replicas have been '
         "updated..."),
        (_d(1, 3, observed_generation=1, updated_replicas=3, replicas=4), "progressing",
         'Waiting for deployment "web" rollout to finish: 1 old replicas are pending '
         "termination..."),
        (_d(1, 3, observed_generation=1, updated_replicas=3, replicas=3, available_replicas=2),
         "progressing",
         'Waiting for deployment "web" rollout to finish: 2 of 3 updated replicas are '
         "available..."),
        (_d(1, 3, observed_generation=1, updated_replicas=3, replicas=3, available_replicas=3),
         "complete", 'deployment "web" successfully rolled out'),
    ],
)  # fmt: skip
def test_rollout_status_reads_like_kubectl(d: Deployment, state: str, message: str) -> None:
    st = rollout_status(d)
    assert (st.state, st.message) == (state, message)
    assert st.done == (state != "progressing")


def test_replicaset_kinds_scale_too() -> None:
    w = World()
    w.store.create(deployment(replicas=1))
    w.run_until(complete)
    (rs,) = w.replicasets()
    scale(w.store, ReplicaSet, "default", rs.metadata.name, 1)
    assert w.replicasets()[0].spec.replicas == 1
