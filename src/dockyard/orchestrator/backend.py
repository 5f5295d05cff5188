"""What the controllers need from the engine: pods, their state, probes and metrics.

Vocabulary:

* a *pod* is what the engine runs for a :class:`~.objects.Pod`: its containers share
  an address; the controllers create it from a template (labels, owner reference,
  containers with resources and probes) and never touch its containers directly;
* an :class:`ObservedPod` is the engine's view of one pod: its phase, one
  :class:`ContainerStatus` per container, its IP and times; it is *terminating* from
  ``delete_pod`` until its containers are gone (then it is no longer listed);
* *phase*: ``Pending`` (created, not every container running yet, or not admitted:
  ``scheduled`` False with a ``reason``), ``Running``, ``Succeeded`` / ``Failed``
  (every container exited, with status 0 / not, and the engine will not restart them);
* *started* and *ready* of a container are written by the probe runner
  (:meth:`PodBackend.set_container_status`); the pod is ready when every container is,
  and ``ready_since`` is when that last became true. Services route only to ready pods,
  so the engine keeps this state where the network layer can read it.

Lifecycle, as the ReplicaSet controller and the probe runner drive it::

    await backend.create_pod(pod)                      # listed at once, phase Pending
    ... engine starts the containers                   # phase Running, containers running
    await backend.probe(observed, "web", "readiness", probe) -> True
    await backend.set_container_status("default", name, "web", started=True, ready=True)
    ... the main process is killed                     # phase Failed (or the engine restarts
                                                       #   the container: restart_count + 1)
    await backend.restart_container(...)               # liveness failed: kill, start again
    await backend.delete_pod("default", name, grace=30) # terminating, then gone

Rules the controllers rely on: ``list_pods`` reflects every ``create_pod`` and
``delete_pod`` that has returned (read your writes: there are no "expectations");
``create_pod`` of an existing name raises AlreadyExists; ``delete_pod`` of a missing pod
raises NotFound; an engine that is down raises Unavailable (the controllers retry with
backoff). ``probe`` returns False for a failure *or* a timeout (``probe.timeout_seconds``)
and never raises for the probed program's behaviour.

:class:`FakePodBackend` implements it on an injected clock for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from dockyard.errors import AlreadyExists, NotFound, Unavailable
from dockyard.records import field, record, replace

from .metrics import PodMetrics
from .objects import Pod, PodCondition, PodStatus, Probe
from .selectors import LabelSelector, matches
from .store import format_time

__all__ = [
    "ContainerStatus",
    "FakePodBackend",
    "ObservedPod",
    "PodBackend",
]


@record
class ContainerStatus:
    """One container of a pod: ``state`` waiting, running or terminated."""

    name: str
    state: str = "waiting"
    reason: str | None = None  # ContainerCreating, ImagePullBackOff, Completed, Error…
    exit_code: int | None = None
    started_at: float | None = None  # when this instance started running
    restart_count: int = 0
    started: bool = False
    ready: bool = False
    message: str | None = None  # why it waits, in words (CreateContainerConfigError…)
    last_exit_code: int | None = None  # the previous instance's exit (``lastState``)


@record
class ObservedPod:
    """A pod as the engine sees it; ``pod`` is the object it was created from."""

    pod: Pod
    phase: str = "Pending"
    containers: tuple[ContainerStatus, ...] = ()
    pod_ip: str | None = None
    created: float = 0.0
    start_time: float | None = None  # when the engine admitted and began starting it
    scheduled: bool = True  # admitted against the node's allocatable resources
    reason: str | None = None  # why Pending/Failed (Unschedulable…)
    message: str | None = None  # the human-readable why ("0/1 nodes are available: …")
    ready_since: float | None = None  # last transition of the Ready condition
    terminating: bool = False

    @property
    def name(self) -> str:
        return self.pod.metadata.name

    @property
    def namespace(self) -> str:
        return self.pod.metadata.namespace or "default"

    @property
    def ready(self) -> bool:
        return (
            self.phase == "Running"
            and not self.terminating
            and bool(self.containers)
            and all(c.ready for c in self.containers)
        )

    @property
    def active(self) -> bool:
        """Counts towards a ReplicaSet: not finished and not terminating."""
        return self.phase not in ("Succeeded", "Failed") and not self.terminating

    def container(self, name: str) -> ContainerStatus | None:
        return next((c for c in self.containers if c.name == name), None)

    def to_pod(self) -> Pod:
        """The Pod object with its status filled in, for ``get pods -o yaml``."""
        conditions = (
            PodCondition(
                "PodScheduled",
                "True" if self.scheduled else "False",
                self.reason,
                None if self.scheduled else self.message,
            ),
            PodCondition(
                "Ready",
                "True" if self.ready else "False",
                last_transition_time=format_time(self.ready_since) if self.ready_since else None,
            ),
        )
        statuses = tuple(_container_status_dict(c) for c in self.containers)
        status = PodStatus(
            phase=self.phase,
            conditions=conditions,
            pod_ip=self.pod_ip,
            start_time=format_time(self.start_time) if self.start_time is not None else None,
            container_statuses=statuses,
        )
        return replace(self.pod, status=status)


def _container_status_dict(c: ContainerStatus) -> dict[str, object]:
    state: dict[str, object] = {}
    if c.state == "running":
        state = {"running": {"startedAt": format_time(c.started_at or 0.0)}}
    elif c.state == "terminated":
        state = {"terminated": {"exitCode": c.exit_code or 0, "reason": c.reason or "Completed"}}
    else:
        waiting: dict[str, object] = {"reason": c.reason or "ContainerCreating"}
        if c.message:
            waiting["message"] = c.message
        state = {"waiting": waiting}
    last: dict[str, object] = {}
    if c.last_exit_code is not None:
        code = c.last_exit_code
        last = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}
    return {
        "name": c.name,
        "state": state,
        "lastState": last,
        "ready": c.ready,
        "started": c.started,
        "restartCount": c.restart_count,
    }


class PodBackend(Protocol):
    """The engine, as the controllers use it. Every method may raise Unavailable."""

    async def create_pod(self, pod: Pod) -> None:
        """Create and start a pod (metadata carries name, namespace, labels and the owner
        reference). AlreadyExists when the name is taken."""
        ...

    async def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> None:
        """Stop a pod (SIGTERM, then SIGKILL after ``grace`` seconds; None: the pod's
        ``terminationGracePeriodSeconds``) and remove it. NotFound when missing."""
        ...

    async def list_pods(
        self, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> list[ObservedPod]:
        """Pods in a namespace (None: all) whose labels match (None: every pod),
        terminating ones included, sorted by namespace and name."""
        ...

    async def restart_container(self, namespace: str, name: str, container: str) -> None:
        """Kill a container and start it again (its restart count grows); its started
        and ready flags drop to False."""
        ...

    async def set_container_status(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        started: bool | None = None,
        ready: bool | None = None,
    ) -> None:
        """Record the probe runner's verdict (None: unchanged); the pod's Ready and
        ``ready_since`` follow."""
        ...

    async def probe(self, pod: ObservedPod, container: str, kind: str, probe: Probe) -> bool:
        """Run one probe (``probes.probe_target`` resolves ports and host); True for
        success. ``kind`` (liveness, readiness, startup) is for events and logs."""
        ...

    async def pod_metrics(self, namespace: str, name: str) -> PodMetrics | None:
        """Recent usage of a running pod from its cgroups (None: no sample yet)."""
        ...


# -- the fake --------------------------------------------------------------------------


@record(frozen=False)
class _FakeContainer:
    name: str
    image: str
    state: str = "waiting"
    reason: str | None = "ContainerCreating"
    exit_code: int | None = None
    started_at: float | None = None
    restart_count: int = 0
    started: bool = False
    ready: bool = False


@record(frozen=False)
class _FakePod:
    pod: Pod
    created: float
    ip: str
    containers: list[_FakeContainer] = field(default_factory=list)
    phase: str = "Pending"
    reason: str | None = None
    scheduled: bool = True
    start_time: float | None = None
    run_at: float = 0.0
    ready_since: float | None = None
    was_ready: bool = False
    gone_at: float | None = None  # terminating until then


class FakePodBackend:
    """An engine in memory, on an injected clock.

    A created pod is Pending, and Running ``start_delay`` seconds later (its containers
    running, started/ready False until the probe runner says otherwise); a deleted pod
    is terminating for ``min(grace, terminate_delay)`` seconds. Knobs for tests:
    :meth:`fail_image` (pods of that image stay Pending in ImagePullBackOff),
    :meth:`unschedulable`, :meth:`exit` (the main process exits), :meth:`set_probe`,
    :meth:`set_metrics`, :attr:`down` (every call raises Unavailable). ``calls`` records
    create/delete/restart for assertions."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        start_delay: float = 0.0,
        terminate_delay: float = 0.0,
    ) -> None:
        self.clock = clock
        self.start_delay = start_delay
        self.terminate_delay = terminate_delay
        self.down = False
        self.calls: list[tuple[str, str]] = []
        self._pods: dict[tuple[str, str], _FakePod] = {}
        self._failing_images: set[str] = set()
        self._unschedulable = False
        self._probes: dict[tuple[str, str, str], bool] = {}
        self._metrics: dict[str, tuple[int, int]] = {}
        self._next_ip = 2

    # -- knobs -------------------------------------------------------------------------

    def fail_image(self, image: str) -> None:
        self._failing_images.add(image)

    def unschedulable(self, value: bool = True) -> None:
        self._unschedulable = value

    def exit(self, namespace: str, name: str, code: int = 137) -> None:
        """Every container of the pod exits; the pod is Failed (Succeeded for 0)."""
        p = self._get(namespace, name)
        for c in p.containers:
            c.state, c.exit_code, c.ready, c.started = "terminated", code, False, False
            c.reason = "Completed" if code == 0 else "Error"
        p.phase = "Succeeded" if code == 0 else "Failed"

    def set_probe(self, pod: str, container: str, kind: str, success: bool) -> None:
        """The answer of a probe; ``pod`` ``*`` for every pod. Default: success."""
        self._probes[(pod, container, kind)] = success

    def set_metrics(self, pod: str, cpu_millicores: int, memory_bytes: int = 0) -> None:
        """Usage of a pod (``*``: every pod without its own)."""
        self._metrics[pod] = (cpu_millicores, memory_bytes)

    def pods(self) -> list[ObservedPod]:
        """Synchronous view for assertions."""
        self._advance()
        return [self._observed(p) for _, p in sorted(self._pods.items())]

    # -- the interface -----------------------------------------------------------------

    def _check(self) -> None:
        if self.down:
            raise Unavailable("engine: not responding")

    def _get(self, namespace: str, name: str) -> _FakePod:
        p = self._pods.get((namespace, name))
        if p is None:
            raise NotFound(f'pod "{name}": not found')
        return p

    async def create_pod(self, pod: Pod) -> None:
        self._check()
        ns = pod.metadata.namespace or "default"
        key = (ns, pod.metadata.name)
        if key in self._pods:
            raise AlreadyExists(f'create pod "{pod.metadata.name}": already exists')
        now = self.clock()
        meta = replace(pod.metadata, namespace=ns)
        p = _FakePod(replace(pod, metadata=meta), now, f"10.88.0.{self._next_ip}")
        self._next_ip += 1
        p.containers = [_FakeContainer(c.name, c.image) for c in pod.spec.containers]
        p.run_at = now + self.start_delay
        if self._unschedulable:
            p.scheduled, p.reason = False, "Unschedulable"
        else:
            p.start_time = now
        self._pods[key] = p
        self.calls.append(("create", pod.metadata.name))

    async def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> None:
        self._check()
        p = self._get(namespace, name)
        if p.gone_at is not None:
            return
        if grace is None:
            grace = p.pod.spec.termination_grace_period_seconds
        p.gone_at = self.clock() + min(float(grace), self.terminate_delay)
        self.calls.append(("delete", name))
        self._advance()

    async def list_pods(
        self, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> list[ObservedPod]:
        self._check()
        self._advance()
        out = []
        for (ns, _), p in sorted(self._pods.items()):
            if namespace is not None and ns != namespace:
                continue
            if selector is not None and not matches(selector, p.pod.metadata.labels):
                continue
            out.append(self._observed(p))
        return out

    async def restart_container(self, namespace: str, name: str, container: str) -> None:
        self._check()
        p = self._get(namespace, name)
        for c in p.containers:
            if c.name == container:
                c.restart_count += 1
                c.started_at = self.clock()
                c.started = c.ready = False
                c.state, c.reason = "running", None
        self.calls.append(("restart", f"{name}/{container}"))
        self._update_ready(p)

    async def set_container_status(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        started: bool | None = None,
        ready: bool | None = None,
    ) -> None:
        self._check()
        p = self._get(namespace, name)
        for c in p.containers:
            if c.name == container and c.state == "running":
                if started is not None:
                    c.started = started
                if ready is not None:
                    c.ready = ready
        self._update_ready(p)

    async def probe(self, pod: ObservedPod, container: str, kind: str, probe: Probe) -> bool:
        self._check()
        self.calls.append(("probe", f"{pod.name}/{container}/{kind}"))
        for key in ((pod.name, container, kind), ("*", container, kind)):
            if key in self._probes:
                return self._probes[key]
        return True

    async def pod_metrics(self, namespace: str, name: str) -> PodMetrics | None:
        self._check()
        p = self._get(namespace, name)
        usage = self._metrics.get(name, self._metrics.get("*"))
        if usage is None or p.phase != "Running":
            return None
        return PodMetrics(usage[0], usage[1], self.clock(), 30.0)

    # -- time --------------------------------------------------------------------------

    def _advance(self) -> None:
        now = self.clock()
        for key, p in list(self._pods.items()):
            if p.gone_at is not None and p.gone_at <= now:
                del self._pods[key]
                continue
            if p.phase != "Pending" or not p.scheduled or now < p.run_at:
                continue
            bad = [c for c in p.containers if c.image in self._failing_images]
            for c in bad:
                c.reason = "ImagePullBackOff"
            if bad:
                continue
            for c in p.containers:
                c.state, c.reason, c.started_at = "running", None, p.run_at
            p.phase = "Running"
        for p in self._pods.values():
            self._update_ready(p)

    def _update_ready(self, p: _FakePod) -> None:
        ready = self._observed(p).ready
        if ready != p.was_ready:
            p.was_ready = ready
            p.ready_since = self.clock()

    def _observed(self, p: _FakePod) -> ObservedPod:
        containers = tuple(
            ContainerStatus(
                c.name, c.state, c.reason, c.exit_code, c.started_at, c.restart_count, c.started,
                c.ready,
            )
            for c in p.containers
        )  # fmt: skip
        return ObservedPod(
            pod=p.pod,
            phase=p.phase,
            containers=containers,
            pod_ip=p.ip if p.phase == "Running" else None,
            created=p.created,
            start_time=p.start_time,
            scheduled=p.scheduled,
            reason=p.reason,
            ready_since=p.ready_since,
            terminating=p.gone_at is not None,
        )
