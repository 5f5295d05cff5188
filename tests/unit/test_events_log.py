"""The event log: folding repeats as the API server does, expiry, capacity, API shape."""

from __future__ import annotations

from dockyard.orchestrator.events import EventLog, InvolvedObject


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


POD = InvolvedObject("Pod", "default", "web-1", "u1")


def test_identical_events_fold_into_one_with_a_count() -> None:
    clock = Clock()
    log = EventLog(clock)
    log.record(POD, "Warning", "Unhealthy", "Readiness probe failed", "kubelet")
    clock.now += 5
    log.record(InvolvedObject("Pod", "default", "web-2", "u2"), "Normal", "Started", "x", "kubelet")
    clock.now += 5
    e = log.record(POD, "Warning", "Unhealthy", "Readiness probe failed", "kubelet")
    assert e.count == 2 and e.last - e.first == 10
    assert [x.involved.name for x in log.list()] == ["web-2", "web-1"]  # last seen order
    api = e.to_api()
    assert api["count"] == 2 and api["involvedObject"]["name"] == "web-1"
    assert api["firstTimestamp"] < api["lastTimestamp"] and api["source"] == {
        "component": "kubelet"
    }


def test_old_events_expire_and_the_log_is_bounded() -> None:
    clock = Clock()
    log = EventLog(clock, capacity=3, ttl=60)
    for i in range(5):
        log.record(POD, "Normal", "Pulled", f"image {i}", "kubelet")
    assert [e.message for e in log.list()] == ["image 2", "image 3", "image 4"]
    clock.now += 61
    assert log.list() == []


def test_filters_by_namespace_and_object() -> None:
    log = EventLog(Clock())
    log.record(POD, "Normal", "Scheduled", "a", "default-scheduler")
    log.record(InvolvedObject("Deployment", "prod", "web", "d1", "apps/v1"), "Normal",
               "ScalingReplicaSet", "b", "deployment-controller")  # fmt: skip
    assert [e.reason for e in log.list("prod")] == ["ScalingReplicaSet"]
    assert [e.reason for e in log.list(kind="Pod", name="web-1")] == ["Scheduled"]
