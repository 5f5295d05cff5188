"""Kubernetes Events: what the scheduler, the kubelet and the controllers did, listed by
``kubectl get events``, filtered by ``fieldSelector`` and shown at the end of ``kubectl
describe`` (a Pending pod says why: FailedScheduling "Insufficient cpu")."""

from __future__ import annotations

import json

import pytest
from daemon_kit import IMAGE_CACHE, api_request
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 2
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:latest
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: huge
spec:
  containers:
  - name: main
    image: busybox:latest
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: "1000"}
"""


def _events(kube: KubeDaemon, *args: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = json.loads(kube.out("get", "events", "-o", "json",
                                                         *args))["items"]  # fmt: skip
    return items


def test_events_tell_what_happened_and_why_a_pod_waits(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    assert kube.apply(MANIFEST).returncode == 0
    wait_until(lambda: len(kube.ready_pods("app=app")) == 2, 60, "two ready pods")

    def reasons() -> set[str]:
        return {str(e["reason"]) for e in _events(kube)}

    want = {"Scheduled", "Created", "Started", "SuccessfulCreate", "ScalingReplicaSet",
            "FailedScheduling"}  # fmt: skip
    wait_until(lambda: want <= reasons(), 30, f"events {want}")
    events = _events(kube)
    failed = [e for e in events if e["reason"] == "FailedScheduling"]
    assert failed[0]["type"] == "Warning" and "Insufficient cpu" in str(failed[0]["message"])
    assert failed[0]["involvedObject"] == {**failed[0]["involvedObject"],  # type: ignore[dict-item]
                                          "kind": "Pod", "name": "huge"}  # fmt: skip
    scaled = [e for e in events if e["reason"] == "ScalingReplicaSet"]
    assert str(scaled[0]["message"]).startswith("Scaled up replica set app-")
    assert str(scaled[0]["message"]).endswith(" to 2")

    table = kube.out("get", "events")
    assert table.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert "pod/huge" in table and "deployment/app" in table, table

    pod = kube.pods("app=app")[0]["metadata"]["name"]
    described = kube.out("describe", "pod", pod)
    events_part = described[described.index("Events:") :]
    assert "Scheduled" in events_part and "default-scheduler" in events_part, described
    assert "Started container main" in events_part, described
    assert "FailedScheduling" in kube.out("describe", "pod", "huge")
    assert "ScalingReplicaSet" in kube.out("describe", "deploy", "app")

    # scaling down: the ReplicaSet deletes a pod, the Deployment says so, kubelet stops it
    assert kube.run("scale", "deploy/app", "--replicas", "1").returncode == 0
    wait_until(lambda: {"SuccessfulDelete", "Killing"} <= reasons(), 30, "scale-down events")
    down = [e for e in _events(kube) if e["reason"] == "ScalingReplicaSet"
            and "down" in str(e["message"])]  # fmt: skip
    assert down and str(down[-1]["message"]).endswith(" to 1 from 2"), down


def _api(kube: KubeDaemon, path: str) -> tuple[int, dict[str, object]]:
    status, _, body = api_request(kube.run_root, path)
    return status, json.loads(body)


def test_field_selectors_as_the_api_server(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    assert kube.apply(MANIFEST).returncode == 0
    sel = "involvedObject.name=huge,type=Warning"
    status, body = wait_until(
        lambda: (r := _api(kube, f"/api/v1/namespaces/default/events?fieldSelector={sel}"))[1]
        .get("items") and r, 30, "huge's warning")  # fmt: skip
    assert status == 200 and body["kind"] == "EventList"
    items = body["items"]
    assert isinstance(items, list)
    assert {e["reason"] for e in items} == {"FailedScheduling"}, items
    assert _api(kube, "/api/v1/namespaces/other/events")[1]["items"] == []
    status, body = _api(kube, "/api/v1/events?fieldSelector=spec.nodeName=x")
    assert status == 400 and "is not a known field selector" in str(body["message"]), body
