"""Rollout arithmetic, table by table; every worked example of corpus k8s/ROLLOUT.md is here."""

from __future__ import annotations

import pytest

from dockyard.errors import FailedPrecondition, NotFound
from dockyard.orchestrator.objects import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    DeploymentStrategy,
    ObjectMeta,
    PodSpec,
    PodTemplateSpec,
    ReplicaSet,
    RollingUpdateDeployment,
)
from dockyard.orchestrator.rollout import (
    CHANGE_CAUSE,
    REVISION,
    TEMPLATE_HASH,
    RSState,
    Step,
    available_condition,
    calculate_status,
    find_new_replicaset,
    history,
    is_pod_available,
    max_surge,
    max_unavailable,
    new_replicaset,
    next_revision,
    pause,
    plan,
    pod_template_hash,
    progressing_condition,
    proportional_scale,
    recreate_step,
    resolve_fenceposts,
    resume,
    revisions_to_prune,
    rollback,
    rolling_step,
)
from dockyard.orchestrator.selectors import LabelSelector
from dockyard.records import replace


def spec(replicas: int, surge: int | str = "25%", unavailable: int | str = "25%") -> DeploymentSpec:
    return DeploymentSpec(
        replicas=replicas,
        strategy=DeploymentStrategy("RollingUpdate", RollingUpdateDeployment(unavailable, surge)),
    )


# -- fenceposts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (3, "25%", "25%", (1, 0)),  # ROLLOUT.md: ceil(0.75) = 1, floor(0.75) = 0 -> 3..4 pods
        (4, "25%", "25%", (1, 1)),  # ROLLOUT.md: 3..5 pods
        (10, "25%", "30%", (3, 3)),  # maxUnavailable=30%: old RS straight down to 70%
        (10, "30%", "25%", (3, 2)),  # maxSurge=30%: the total can reach 130%
        (5, 0, "10%", (0, 1)),  # both resolve to 0: unavailable becomes 1
        (10, 2, 1, (2, 1)),  # plain ints
        (1, "25%", "25%", (1, 0)),
    ],
)
def test_fenceposts(
    replicas: int, surge: int | str, unavailable: int | str, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, replicas) == expected
    s = spec(replicas, surge, unavailable)
    assert (max_surge(s), max_unavailable(s)) == expected


def test_recreate_has_no_fenceposts() -> None:
    s = DeploymentSpec(replicas=4, strategy=DeploymentStrategy("Recreate"))
    assert (max_surge(s), max_unavailable(s)) == (0, 0)


# -- rolling update --------------------------------------------------------------------


def simulate(
    s: DeploymentSpec, new: RSState, old: list[RSState], available: bool = True
) -> list[tuple[str, int]]:
    """Run syncs until nothing changes; pods of the new RS become available at once
    when ``available``; returns the (rs, size) events in order."""
    events: list[tuple[str, int]] = []
    for _ in range(50):
        step = rolling_step(s, new, old)
        if not step.scale:
            return events
        for name, size in step.scale.items():
            events.append((name, size))
            if name == new.name:
                new = replace(new, replicas=size, available=size if available else new.available)
            else:
                old = [
                    replace(rs, replicas=size, available=min(rs.available, size))
                    if rs.name == name
                    else rs
                    for rs in old
                ]
    raise AssertionError("rollout did not converge")


def test_docs_event_sequence_for_three_replicas() -> None:
    # ROLLOUT.md: new 1, old 2, new 2, old 1, new 3, old 0
    events = simulate(spec(3), RSState("new", 0), [RSState("old", 3, available=3)])
    assert events == [("new", 1), ("old", 2), ("new", 2), ("old", 1), ("new", 3), ("old", 0)]


def test_invariants_hold_through_a_rollout() -> None:
    s = spec(10, "30%", "20%")  # surge 3, unavailable 2
    new, old = RSState("new", 0), [RSState("old", 10, available=10)]
    for _ in range(30):
        step = rolling_step(s, new, old)
        if not step.scale:
            break
        if "new" in step.scale:
            new = replace(new, replicas=step.scale["new"], available=step.scale["new"])
        if "old" in step.scale:
            old = [replace(old[0], replicas=step.scale["old"], available=step.scale["old"])]
        assert new.replicas + old[0].replicas <= 13
        assert new.available + old[0].available >= 8
    assert (new.replicas, old[0].replicas) == (10, 0)


def test_max_unavailable_30_percent_takes_old_straight_to_70() -> None:
    s = spec(10, 0, "30%")
    step = rolling_step(s, RSState("new", 0), [RSState("old", 10, available=10)])
    assert step == Step({"old": 7}, "scale-down")


def test_max_surge_30_percent_reaches_130() -> None:
    s = spec(10, "30%", 0)
    step = rolling_step(s, RSState("new", 0), [RSState("old", 10, available=10)])
    assert step == Step({"new": 3}, "scale-up")


def test_bad_rollout_stalls_and_undo_scales_the_broken_rs_to_zero() -> None:
    # ROLLOUT.md: nginx:1.161 never becomes available; 3 replicas with 25%/25%:
    # one new pod is created and the 3 old ones keep running.
    events = simulate(
        spec(3), RSState("broken", 0), [RSState("good", 3, available=3)], available=False
    )
    assert events == [("broken", 1)]
    # after undo the good RS is the new one again and the broken one goes to 0
    step = rolling_step(
        spec(3), RSState("good", 3, available=3), [RSState("broken", 1, available=0)]
    )
    assert step == Step({"broken": 0}, "scale-down")


def test_rollover_never_grows_the_interrupted_rs() -> None:
    # ROLLOUT.md: 3 of 5 nginx:1.14.2 pods are up when the image changes: that RS is old
    # at once and only shrinks.
    s = spec(5)
    events = simulate(
        s, RSState("v3", 0), [RSState("v2", 5, available=3, created=2), RSState("v1", 0, created=1)]
    )
    sizes = [size for name, size in events if name == "v2"]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] == 0
    assert events[-1] == ("v2", 0) or ("v3", 5) in events
    assert events[0][0] in ("v3", "v2")


def test_unhealthy_old_pods_are_removed_first() -> None:
    # total 5 (new 1 unavailable) with min available 3: budget 5 - 3 - 1 = 1 ... and
    # the oldest RS has 2 unhealthy pods: one of them goes first.
    s = spec(4)
    step = rolling_step(
        s, RSState("new", 1, available=0), [RSState("old", 4, available=2, created=1)]
    )
    assert step == Step({"old": 3}, "scale-down")


def test_new_rs_above_replicas_is_scaled_down() -> None:
    assert rolling_step(spec(3), RSState("new", 5, available=5), []) == Step(
        {"new": 3}, "scale-down"
    )


# -- recreate, proportional scaling, plan ----------------------------------------------


def test_recreate_sequence() -> None:
    s = DeploymentSpec(replicas=3, strategy=DeploymentStrategy("Recreate"))
    new, old = RSState("new", 0), [RSState("old", 3, available=3)]
    assert recreate_step(s, new, old, old_pods_running=3) == Step({"old": 0}, "scale-down")
    old = [RSState("old", 0)]
    assert recreate_step(s, new, old, old_pods_running=2) == Step({}, "recreate-wait")
    assert recreate_step(s, new, old, old_pods_running=0) == Step({"new": 3}, "scale-up")
    assert recreate_step(s, RSState("new", 3), old, 0) == Step()


def test_proportional_scaling_docs_example() -> None:
    # ROLLOUT.md: replicas 10, maxSurge 3, maxUnavailable 2, a stuck rollout with new RS 5
    # and old RS 8; scaling to 15 adds 3 to the old RS (11) and 2 to the new one (7).
    s = spec(15, 3, 2)
    new = RSState("new", 5, created=2, desired_replicas=10, max_replicas=13)
    old = [RSState("old", 8, available=8, created=1, desired_replicas=10, max_replicas=13)]
    step = proportional_scale(s, new, old, status_replicas=13)
    assert step == Step({"old": 11, "new": 7}, "proportional")
    assert plan(s, new, old, status_replicas=13) == step  # a scaling event


def test_proportional_scale_down() -> None:
    s = spec(5, 3, 2)  # allowed 8, currently 13: remove 5
    new = RSState("new", 5, created=2, desired_replicas=10, max_replicas=13)
    old = [RSState("old", 8, created=1, desired_replicas=10, max_replicas=13)]
    step = proportional_scale(s, new, old, status_replicas=13)
    assert sum(step.scale.values()) == 8
    assert step.scale == {"old": 5, "new": 3}


def test_single_active_rs_takes_the_whole_count() -> None:
    s = spec(6)
    assert proportional_scale(
        s, RSState("new", 3, desired_replicas=3), [RSState("old", 0)]
    ) == Step({"new": 6}, "proportional")


def test_paused_deployment_only_scales() -> None:
    s = replace(spec(3), paused=True)
    assert (
        plan(s, RSState("new", 0), [RSState("old", 3, available=3, desired_replicas=3)]) == Step()
    )


# -- revisions -------------------------------------------------------------------------


def template(image: str) -> PodTemplateSpec:
    return PodTemplateSpec(
        ObjectMeta(labels={"app": "web"}), PodSpec(containers=(Container("web", image),))
    )


def deployment(image: str, **annotations: str) -> Deployment:
    return Deployment(
        metadata=ObjectMeta(name="web", annotations=dict(annotations)),
        spec=DeploymentSpec(
            replicas=3, selector=LabelSelector({"app": "web"}), template=template(image)
        ),
    )


def test_pod_template_hash_is_stable_and_follows_the_template() -> None:
    a = pod_template_hash(template("nginx:1.14.2"))
    assert a == pod_template_hash(template("nginx:1.14.2"))
    assert a != pod_template_hash(template("nginx:1.16.1"))
    assert a != pod_template_hash(template("nginx:1.14.2"), collision_count=1)
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(a) <= 10


def test_new_replicaset_carries_hash_revision_and_cause() -> None:
    d = deployment("nginx:1.14.2", **{CHANGE_CAUSE: "kubectl set image"})
    rs = new_replicaset(d, [], replicas=1)
    h = pod_template_hash(d.spec.template)
    assert rs.metadata.name == f"web-{h}"
    assert rs.spec.selector is not None and rs.spec.selector.match_labels[TEMPLATE_HASH] == h
    assert rs.spec.template.metadata.labels[TEMPLATE_HASH] == h
    assert rs.metadata.annotations[REVISION] == "1"
    assert rs.metadata.annotations[CHANGE_CAUSE] == "kubectl set image"
    assert rs.metadata.owner_references[0].kind == "Deployment"
    assert find_new_replicaset(d, [rs]) is rs
    assert find_new_replicaset(deployment("nginx:1.16.1"), [rs]) is None


def revisions(*images: str) -> list[ReplicaSet]:
    rss: list[ReplicaSet] = []
    for image in images:
        rss.append(new_replicaset(deployment(image, **{CHANGE_CAUSE: image}), rss))
    return rss


def test_undo_renumbers_the_reused_revision() -> None:
    # ROLLOUT.md: with revisions 1, 2, 3, undoing 3 gives revision 4 and 2 leaves history.
    rss = revisions("nginx:1", "nginx:2", "nginx:3")
    assert [e.revision for e in history(rss)] == [1, 2, 3]
    current = deployment("nginx:3")
    undone = rollback(current, rss)
    assert undone.spec.template == template("nginx:2")
    assert undone.spec.replicas == current.spec.replicas  # only the template changes
    assert undone.metadata.annotations[CHANGE_CAUSE] == "nginx:2"
    reused = find_new_replicaset(undone, rss)
    assert reused is not None
    old = [rs for rs in rss if rs is not reused]
    renumbered = replace(
        reused,
        metadata=replace(
            reused.metadata,
            annotations={**reused.metadata.annotations, REVISION: str(next_revision(old))},
        ),
    )
    after = history([*old, renumbered])
    assert [e.revision for e in after] == [1, 3, 4]
    assert after[-1].change_cause == "nginx:2"


def test_undo_to_revision() -> None:
    rss = revisions("nginx:1", "nginx:2", "nginx:3")
    assert rollback(deployment("nginx:3"), rss, to_revision=1).spec.template == template("nginx:1")
    with pytest.raises(NotFound, match="unable to find specified revision 7 in history"):
        rollback(deployment("nginx:3"), rss, to_revision=7)
    with pytest.raises(FailedPrecondition, match="current template already matches revision 3"):
        rollback(deployment("nginx:3"), rss, to_revision=3)
    with pytest.raises(NotFound, match="no rollout history found"):
        rollback(deployment("nginx:1"), rss[:1])


def test_paused_deployment_cannot_be_rolled_back() -> None:
    rss = revisions("nginx:1", "nginx:2")
    paused = pause(deployment("nginx:2"))
    assert paused.spec.paused
    with pytest.raises(FailedPrecondition, match="cannot rollback a paused deployment"):
        rollback(paused, rss)
    assert rollback(resume(paused), rss).spec.template == template("nginx:1")


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (10, []),
        (2, ["r1"]),  # 3 old, keep 2: the oldest goes
        (1, ["r1"]),  # r2 still has replicas: kept even beyond the limit
        (0, ["r1", "r3"]),  # 0: every old RS with no replicas goes; undo is impossible
    ],
)
def test_revision_history_limit(limit: int, expected: list[str]) -> None:
    old = [RSState("r1", 0, revision=1), RSState("r2", 2, revision=2), RSState("r3", 0, revision=3)]
    assert revisions_to_prune(old, limit) == expected


# -- availability and conditions -------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "since", "min_ready", "now", "expected"),
    [
        (True, 100.0, 0, 100.0, True),
        (True, 100.0, 10, 105.0, False),
        (True, 100.0, 10, 111.0, True),
        (False, 0.0, 0, 100.0, False),
    ],
)
def test_min_ready_seconds(
    ready: bool, since: float, min_ready: int, now: float, expected: bool
) -> None:
    assert is_pod_available(ready, since, min_ready, now) is expected


def test_available_condition() -> None:
    s = spec(4)  # maxUnavailable 1: 3 available is enough
    ok = available_condition(s, DeploymentStatus(available_replicas=3), (), 0.0)
    assert (ok[0].status, ok[0].reason) == ("True", "MinimumReplicasAvailable")
    bad = available_condition(s, DeploymentStatus(available_replicas=2), ok, 10.0)
    assert (bad[0].status, bad[0].reason) == ("False", "MinimumReplicasUnavailable")


def test_progressing_then_deadline_exceeded_then_complete() -> None:
    d = replace(
        deployment("nginx:1"),
        spec=replace(deployment("nginx:1").spec, progress_deadline_seconds=600),
    )
    conds = progressing_condition(
        d, DeploymentStatus(), (), 0.0, new_rs_name="web-abc", new_rs_created=True
    )
    assert (conds[0].status, conds[0].reason) == ("True", "NewReplicaSetCreated")
    moving = DeploymentStatus(
        replicas=4, updated_replicas=1, ready_replicas=3, available_replicas=3
    )
    conds = progressing_condition(d, moving, conds, 10.0, new_rs_name="web-abc")
    assert conds[0].reason == "ReplicaSetUpdated"
    assert conds[0].message == 'ReplicaSet "web-abc" is progressing.'
    stuck = replace(d, status=moving)
    assert progressing_condition(stuck, moving, conds, 600.0)[0].reason == "ReplicaSetUpdated"
    late = progressing_condition(stuck, moving, conds, 611.0, new_rs_name="web-abc")
    assert (late[0].status, late[0].reason) == ("False", "ProgressDeadlineExceeded")
    done = DeploymentStatus(
        observed_generation=0,
        replicas=3,
        updated_replicas=3,
        ready_replicas=3,
        available_replicas=3,
    )
    final = progressing_condition(stuck, done, late, 700.0, new_rs_name="web-abc")
    assert (final[0].status, final[0].reason) == ("True", "NewReplicaSetAvailable")
    assert progressing_condition(replace(d, status=done), done, final, 9999.0) == final


def test_paused_condition() -> None:
    d = pause(deployment("nginx:1"))
    conds = progressing_condition(d, DeploymentStatus(), (), 0.0)
    assert (conds[0].status, conds[0].reason) == ("Unknown", "DeploymentPaused")
    resumed = progressing_condition(resume(d), DeploymentStatus(), conds, 5.0)
    assert resumed[0].reason == "DeploymentResumed"


def test_calculate_status() -> None:
    new = RSState("new", 2, available=1, ready=2)
    old = RSState("old", 2, available=2, ready=2)
    st = calculate_status(new, [new, old], generation=3)
    assert (st.replicas, st.updated_replicas, st.available_replicas, st.unavailable_replicas) == (
        4,
        2,
        3,
        1,
    )
