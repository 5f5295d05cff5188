"""The probe runner against the fake backend: readiness, liveness restarts, startup."""

from __future__ import annotations

from typing import Any

from test_controllers_harness import World, deployment

from dockyard.orchestrator.objects import ExecAction, Probe, ReplicaSet


def probe(period: int = 1, failures: int = 2, delay: int = 0) -> Probe:
    return Probe(
        exec_=ExecAction(("check",)),
        period_seconds=period,
        failure_threshold=failures,
        initial_delay_seconds=delay,
    )


def rs_ready(w: World) -> int:
    (rs,) = w.store.list(ReplicaSet, "default")
    return rs.status.ready_replicas if rs.status else 0


def test_readiness_failure_takes_a_pod_out_and_success_brings_it_back() -> None:
    w = World()
    w.store.create(deployment(replicas=2, readiness=probe(failures=2)))
    w.tick(3)
    assert w.ready() == 2
    victim = w.pods()[0].name
    w.backend.set_probe(victim, "web", "readiness", False)
    w.tick()
    assert w.ready() == 2  # one failure of two
    w.tick()
    assert w.ready() == 1
    w.tick()
    assert rs_ready(w) == 1
    assert len(w.pods()) == 2  # not ready is not replaced
    w.backend.set_probe(victim, "web", "readiness", True)
    w.tick(2)
    assert w.ready() == 2 and rs_ready(w) == 2


def test_liveness_failure_restarts_the_container() -> None:
    w = World()
    w.store.create(deployment(replicas=1, liveness=probe(failures=3)))
    w.tick(2)
    (p,) = w.pods()
    w.backend.set_probe(p.name, "web", "liveness", False)
    w.tick(3)
    assert ("restart", f"{p.name}/web") in w.backend.calls
    (p2,) = w.pods()
    assert p2.name == p.name and p2.containers[0].restart_count == 1
    w.backend.set_probe(p.name, "web", "liveness", True)
    w.tick(2)
    assert w.ready() == 1


def test_startup_probe_gates_liveness_and_readiness() -> None:
    w = World()
    w.backend.set_probe("*", "web", "startup", False)
    w.store.create(
        deployment(
            replicas=1,
            startup=probe(failures=100),
            liveness=probe(),
            readiness=probe(),
        )
    )
    w.tick(5)
    kinds = {c[1].rsplit("/", 1)[1] for c in w.backend.calls if c[0] == "probe"}
    assert kinds == {"startup"}
    assert w.ready() == 0
    w.backend.set_probe("*", "web", "startup", True)
    w.tick(2)
    assert w.ready() == 1
    (p,) = w.pods()
    assert p.containers[0].started


def test_a_probe_that_raises_counts_as_failure() -> None:
    w = World()
    w.store.create(deployment(replicas=1, readiness=probe(failures=1)))
    w.tick(2)
    assert w.ready() == 1

    async def broken(*_a: object) -> bool:
        from dockyard.errors import Unavailable

        raise Unavailable("exec: shim not responding")

    w.backend.probe = broken  # type: ignore[method-assign,assignment]
    w.tick(2)
    assert w.ready() == 0


def test_a_result_from_before_a_restart_does_not_make_the_new_instance_ready() -> None:
    """Issue 23: the engine restarts an exited container in place while its last probe may
    still be in flight (a probe to a dead address waits for its timeout). That probe's
    result belongs to the old instance: published, it made the restarted container ready
    before its first probe, and the Services sent it connections it refused."""
    w = World()
    w.store.create(deployment(replicas=1, readiness=probe(failures=1)))
    w.backend.set_probe("*", "web", "readiness", False)
    w.tick(2)
    assert w.ready() == 0
    real_probe = w.backend.probe

    async def restarted_meanwhile(pod: Any, container: str, kind: str, p: Probe) -> bool:
        await w.backend.restart_container(pod.namespace, pod.name, container)
        return True  # (the old instance's answer)

    w.backend.probe = restarted_meanwhile  # type: ignore[method-assign]
    w.tick()
    assert w.ready() == 0, "the new instance was never probed"
    w.backend.probe = real_probe  # type: ignore[method-assign]
    w.backend.set_probe("*", "web", "readiness", True)
    w.tick()
    assert w.ready() == 1
