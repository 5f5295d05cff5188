"""Events: what the controllers and the pod backend did, as Kubernetes ``core/v1`` Events.

``kubectl describe`` ends with them and ``kubectl get events`` lists them; without them a
Pending pod says ``Unschedulable`` and never why. The reasons and messages are the
Kubernetes components' own (``default-scheduler``: Scheduled, FailedScheduling;
``kubelet``: Pulling, Pulled, Failed, Created, Started, Killing, Unhealthy, BackOff;
``replicaset-controller``: SuccessfulCreate, SuccessfulDelete, FailedCreate;
``deployment-controller``: ScalingReplicaSet; ``horizontal-pod-autoscaler``:
SuccessfulRescale).

As the API server, an identical event for the same object (same type, reason, message,
source) is folded into the last one: its ``count`` grows and ``lastTimestamp`` moves.
Events live in memory, at most ``capacity`` and ``ttl`` seconds (the API server's
default event TTL is one hour); a daemon restart starts a fresh log, which is the
Kubernetes contract too (events are best-effort, not a record of truth).

Example::

    log = EventLog()
    log.record(InvolvedObject("Pod", "default", "web-1", "uid-1"), "Normal", "Scheduled",
               "Successfully assigned default/web-1 to node", "default-scheduler")
    [e.reason for e in log.list("default")]   # ['Scheduled']
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from dockyard.records import record, replace

from .store import format_time

__all__ = ["NORMAL", "WARNING", "Event", "EventLog", "InvolvedObject", "involved"]

NORMAL, WARNING = "Normal", "Warning"


@record
class InvolvedObject:
    kind: str
    namespace: str
    name: str
    uid: str = ""
    api_version: str = "v1"
    field_path: str = ""


def involved(obj: Any, field_path: str = "") -> InvolvedObject:
    """The reference to a stored object (a Pod, Deployment, ReplicaSet, HPA)."""
    kind = type(obj).__name__
    meta = obj.metadata
    api = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1",
           "HorizontalPodAutoscaler": "autoscaling/v2"}.get(kind, "v1")  # fmt: skip
    return InvolvedObject(kind, meta.namespace or "default", meta.name, meta.uid or "", api,
                          field_path)  # fmt: skip


@record
class Event:
    name: str
    involved: InvolvedObject
    type: str
    reason: str
    message: str
    component: str
    count: int
    first: float
    last: float
    version: int

    def to_api(self) -> dict[str, Any]:
        """The ``core/v1`` Event object."""
        obj: dict[str, Any] = {"kind": self.involved.kind, "namespace": self.involved.namespace,
                               "name": self.involved.name, "uid": self.involved.uid,
                               "apiVersion": self.involved.api_version}  # fmt: skip
        if self.involved.field_path:
            obj["fieldPath"] = self.involved.field_path
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": self.name,
                "namespace": self.involved.namespace,
                "resourceVersion": str(self.version),
                "creationTimestamp": format_time(self.first),
            },
            "involvedObject": obj,
            "reason": self.reason,
            "message": self.message,
            "source": {"component": self.component},
            "firstTimestamp": format_time(self.first),
            "lastTimestamp": format_time(self.last),
            "count": self.count,
            "type": self.type,
            "reportingComponent": self.component,
        }


class EventLog:
    """Recent events, thread-safe (the pod backend records from worker threads)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        *,
        capacity: int = 1000,
        ttl: float = 3600.0,
    ) -> None:
        self.clock = clock
        self.capacity = capacity
        self.ttl = ttl
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._versions = itertools.count(1)

    def record(
        self,
        obj: InvolvedObject,
        type_: str,
        reason: str,
        message: str,
        component: str,
    ) -> Event:
        now = self.clock()
        with self._lock:
            self._expire(now)
            for i in range(len(self._events) - 1, -1, -1):
                e = self._events[i]
                if (e.involved, e.type, e.reason, e.message, e.component) == (
                    obj, type_, reason, message, component,
                ):  # fmt: skip
                    folded = replace(e, count=e.count + 1, last=now, version=next(self._versions))
                    del self._events[i]
                    self._events.append(folded)
                    return folded
            version = next(self._versions)
            event = Event(f"{obj.name}.{int(now * 1e9) + version:x}", obj, type_, reason,
                          message, component, 1, now, now, version)  # fmt: skip
            self._events.append(event)
            del self._events[: -self.capacity]
            return event

    def list(
        self,
        namespace: str | None = None,
        *,
        kind: str | None = None,
        name: str | None = None,
        uid: str | None = None,
    ) -> list[Event]:
        """Events in the order they last happened, oldest first."""
        with self._lock:
            self._expire(self.clock())
            return [
                e for e in self._events
                if (namespace is None or e.involved.namespace == namespace)
                and (kind is None or e.involved.kind == kind)
                and (name is None or e.involved.name == name)
                and (uid is None or e.involved.uid == uid)
            ]  # fmt: skip

    def _expire(self, now: float) -> None:
        cutoff = now - self.ttl
        while self._events and self._events[0].last < cutoff:
            self._events.pop(0)
