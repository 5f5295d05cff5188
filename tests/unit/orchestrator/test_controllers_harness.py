"""The controllers' test world: memory store + fake backend + fake clock + manager.

Imported by the other ``test_controllers_*`` modules; it holds no tests of its own
except a smoke test of itself.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from dockyard.orchestrator.backend import FakePodBackend, ObservedPod
from dockyard.orchestrator.controllers import FakeClock, Manager, build_manager
from dockyard.orchestrator.events import EventLog
from dockyard.orchestrator.hpa_algorithm import HPAConfig
from dockyard.orchestrator.objects import (
    Container,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    ObjectMeta,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ReplicaSet,
    ResourceRequirements,
    RollingUpdateDeployment,
)
from dockyard.orchestrator.quantity import parse_quantity
from dockyard.orchestrator.rollout import TEMPLATE_HASH
from dockyard.orchestrator.selectors import LabelSelector
from dockyard.orchestrator.store import MemoryObjectStore

T0 = 1_700_000_000.0


def container(
    image: str = "web:1",
    *,
    cpu: str | None = "100m",
    memory: str | None = None,
    readiness: Probe | None = None,
    liveness: Probe | None = None,
    startup: Probe | None = None,
) -> Container:
    requests = {}
    if cpu is not None:
        requests["cpu"] = parse_quantity(cpu)
    if memory is not None:
        requests["memory"] = parse_quantity(memory)
    return Container(
        name="web",
        image=image,
        resources=ResourceRequirements(requests=requests),
        readiness_probe=readiness,
        liveness_probe=liveness,
        startup_probe=startup,
    )


def template(image: str = "web:1", **kw: object) -> PodTemplateSpec:
    return PodTemplateSpec(
        metadata=ObjectMeta(labels={"app": "web"}),
        spec=PodSpec(containers=(container(image, **kw),)),  # type: ignore[arg-type]
    )


def deployment(
    name: str = "web",
    replicas: int = 3,
    image: str = "web:1",
    *,
    strategy: str = "RollingUpdate",
    surge: int | str = 1,
    unavailable: int | str = 0,
    min_ready: int = 0,
    deadline: int = 600,
    history_limit: int = 10,
    **kw: object,
) -> Deployment:
    rolling = RollingUpdateDeployment(unavailable, surge) if strategy == "RollingUpdate" else None
    return Deployment(
        metadata=ObjectMeta(name=name, namespace="default"),
        spec=DeploymentSpec(
            replicas=replicas,
            selector=LabelSelector({"app": "web"}),
            template=template(image, **kw),
            strategy=DeploymentStrategy(strategy, rolling),
            min_ready_seconds=min_ready,
            progress_deadline_seconds=deadline,
            revision_history_limit=history_limit,
        ),
    )


class World:
    """Everything wired together; :meth:`tick` runs the manager and moves the clock."""

    def __init__(
        self,
        *,
        start_delay: float = 0.0,
        terminate_delay: float = 0.0,
        hpa_sync_period: float = 15.0,
        hpa_config: HPAConfig | None = None,
        tick: float = 1.0,
    ) -> None:
        self.clock = FakeClock(T0)
        self.store = MemoryObjectStore(self.clock.now)
        self.backend = FakePodBackend(
            self.clock.now, start_delay=start_delay, terminate_delay=terminate_delay
        )
        counter = itertools.count()
        self.events = EventLog(self.clock.now)
        self.manager: Manager = build_manager(
            self.store,
            self.backend,
            tick=tick,
            hpa_sync_period=hpa_sync_period,
            hpa_config=hpa_config or HPAConfig(),
            pod_suffix=lambda: f"{next(counter):05d}",
            events=self.events,
        )
        self.step = tick

    def tick(self, n: int = 1, check: Callable[[World], None] | None = None) -> None:
        """``n`` ticks of ``self.step`` seconds; ``check`` runs after each one."""
        for _ in range(n):
            asyncio.run(self.manager.run_once(self.clock.now()))
            assert not self.manager.errors, self.manager.errors
            if check is not None:
                check(self)
            self.clock.advance(self.step)

    def run_until(self, done: Callable[[World], bool], limit: int = 100, **kw: object) -> int:
        for i in range(limit):
            if done(self):
                return i
            self.tick(**kw)  # type: ignore[arg-type]
        raise AssertionError(f"not done after {limit} ticks")

    # -- views -------------------------------------------------------------------------

    def pods(self, *, active: bool = True) -> list[ObservedPod]:
        return [p for p in self.backend.pods() if p.active or not active]

    def ready(self, image: str | None = None) -> int:
        return sum(1 for p in self.pods() if p.ready and (image is None or _image(p) == image))

    def images(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.pods():
            out[_image(p)] = out.get(_image(p), 0) + 1
        return out

    def deployment(self, name: str = "web") -> Deployment:
        return self.store.get(Deployment, "default", name)

    def replicasets(self) -> list[ReplicaSet]:
        return self.store.list(ReplicaSet, "default")

    def rs_for(self, image: str) -> ReplicaSet:
        (rs,) = [r for r in self.replicasets() if r.spec.template.spec.containers[0].image == image]
        return rs


def _image(p: ObservedPod) -> str:
    return p.pod.spec.containers[0].image


def test_harness_runs_a_deployment() -> None:
    w = World()
    w.store.create(deployment(replicas=2))
    w.tick(3)
    assert w.ready() == 2
    (rs,) = w.replicasets()
    assert rs.metadata.labels[TEMPLATE_HASH] in rs.metadata.name
