"""The probe runner: the kubelet's prober, driving :mod:`..probes` through the backend.

One pass over every running pod (CONVENTIONS #7, with the pods as the desired set):

1. list the pods; for each running container find its probe state, fresh when the
   container instance changed (a restart, a new pod);
2. the probes that are due (:func:`..probes.due`) run concurrently through
   ``PodBackend.probe``; a probe that raises counts as a failure;
3. each result goes through :func:`..probes.observe`; a liveness or startup failure at
   its threshold restarts the container (``restart_container``);
4. the container's ``started``/``ready`` flags are written when they changed
   (``set_container_status``); the ReplicaSet controller and the Services see them.

A container without probes is started and ready as soon as it runs.
"""

from __future__ import annotations

import asyncio

from dockyard.errors import DockyardError

from ..backend import ObservedPod, PodBackend
from ..events import WARNING, EventLog, involved
from ..objects import Container
from ..probes import RESTART, ContainerProbes, due, new_container_probes, next_due, observe
from ._common import Key

__all__ = ["ProbeController"]

_CKey = tuple[str, str, str]  # namespace, pod, container


class ProbeController:
    """Runs the probes of every pod the backend lists."""

    name = "probes"

    def __init__(self, backend: PodBackend, *, events: EventLog | None = None) -> None:
        self.backend = backend
        self.events = events if events is not None else EventLog()
        self._states: dict[_CKey, ContainerProbes] = {}

    def targets(self) -> list[Key]:
        return [("", "")]

    def state(self, namespace: str, pod: str, container: str) -> ContainerProbes | None:
        return self._states.get((namespace, pod, container))

    async def reconcile(self, key: Key, now: float) -> float | None:
        pods = await self.backend.list_pods()
        live: dict[_CKey, tuple[ObservedPod, Container]] = {}
        for p in pods:
            if p.phase != "Running" or p.terminating:
                continue
            for c in p.pod.spec.containers:
                st = p.container(c.name)
                if st is None or st.state != "running":
                    continue
                ck = (p.namespace, p.name, c.name)
                instance = (st.started_at or 0.0, st.restart_count)
                cp = self._states.get(ck)
                if cp is None or cp.instance != instance:
                    self._states[ck] = new_container_probes(c, instance[0], instance[1])
                live[ck] = (p, c)
        for ck in [k for k in self._states if k not in live]:
            del self._states[ck]
        await self._run_due(live, now)
        await self._publish(live)
        times = [t for cp in self._states.values() if (t := next_due(cp)) is not None]
        return max(min(times) - now, 0.0) if times else None

    async def _run_due(self, live: dict[_CKey, tuple[ObservedPod, Container]], now: float) -> None:
        jobs = [(ck, kind) for ck in live for kind in due(self._states[ck], now)]
        results = await asyncio.gather(*(self._probe(live[ck], kind) for ck, kind in jobs))
        restart: list[_CKey] = []
        for (ck, kind), ok in zip(jobs, results, strict=True):
            if not ok:
                observed, c = live[ck]
                self.events.record(involved(observed.pod, f"spec.containers{{{c.name}}}"), WARNING,
                                   "Unhealthy", f"{kind.capitalize()} probe failed",
                                   "kubelet")  # fmt: skip
            cp, action = observe(self._states[ck], kind, ok, now)
            self._states[ck] = cp
            if action == RESTART:
                restart.append(ck)
        for ns, pod, container in restart:
            await self.backend.restart_container(ns, pod, container)

    async def _probe(self, target: tuple[ObservedPod, Container], kind: str) -> bool:
        pod, c = target
        probe = {
            "startup": c.startup_probe,
            "liveness": c.liveness_probe,
            "readiness": c.readiness_probe,
        }[kind]
        if probe is None:
            return True
        try:
            return await self.backend.probe(pod, c.name, kind, probe)
        except DockyardError:
            return False

    async def _publish(self, live: dict[_CKey, tuple[ObservedPod, Container]]) -> None:
        # the pods as they are now, after the probes' awaits: a container that exited and
        # was restarted meanwhile is a new instance whose first probe has not run, and the
        # old instance's result must not make it ready (it would enter the Services' maps
        # before it listens: connections refused)
        now = {(p.namespace, p.name): p for p in await self.backend.list_pods()}
        for ck, (_, c) in live.items():
            cp = self._states[ck]
            pod = now.get((ck[0], ck[1]))
            st = pod.container(c.name) if pod is not None else None
            if st is None or cp.held or st.state != "running":
                continue  # a restart was asked for: the new instance reports afresh
            if (st.started_at or 0.0, st.restart_count) != cp.instance:
                continue  # restarted meanwhile (see above)
            if (st.started, st.ready) != (cp.started, cp.ready):
                await self.backend.set_container_status(
                    ck[0], ck[1], ck[2], started=cp.started, ready=cp.ready
                )
