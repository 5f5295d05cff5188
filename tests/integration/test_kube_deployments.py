"""Deployments on real containers: up, self-healing, rolling update, undo, HPA.

Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import os
import threading
import time

import pytest
from kube_kit import KubeDaemon, kube, wait_until, web_deployment

pytestmark = [pytest.mark.root]
__all__ = ["kube"]


def test_three_replicas_heal_roll_out_and_roll_back(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(kube_image()), check=True)
    r = kube.apply(web_deployment())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "deployment.apps/web created"
    assert kube.run("rollout", "status", "deploy/web", "--timeout", "60").returncode == 0
    ready = wait_until(
        lambda: len(kube.ready_pods("app=web")) == 3 and kube.ready_pods(), 30, "3 ready pods"
    )
    table = kube.out("get", "pods")
    assert table.splitlines()[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sum(" 1/1 " in line and "Running" in line for line in table.splitlines()) == 3
    body = kube.out("exec", ready[0], "--", "wget", "-qO-", "http://127.0.0.1:8080/")
    assert body == "v1"

    # self-healing: the main process killed → restarted in place, as the kubelet does (the
    # same pod, restartCount 1), and ready within 5 s
    victim = ready[0]
    pid = int(kube.out("inspect", "-f", "{{.State.Pid}}", victim))
    t0 = time.monotonic()
    os.kill(pid, 9)

    def restarted() -> bool:
        st = kube.get("pod", victim)["status"]["containerStatuses"][0]
        return st["restartCount"] == 1 and len(kube.ready_pods("app=web")) == 3

    wait_until(restarted, 5.0, "the victim restarted and ready", interval=0.1)
    assert time.monotonic() - t0 < 5.0
    assert len(kube.pods("app=web")) == 3

    # rolling update with maxUnavailable 0: ready pods never below 3
    kube.run("tag", "busybox:latest", "busybox:v2", check=True)
    low: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            low.append(len(kube.ready_pods("app=web")))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        r = kube.apply(web_deployment(image="busybox:v2", text="v2"))
        assert r.stdout.strip() == "deployment.apps/web configured", r.stderr
        st = kube.run("rollout", "status", "deploy/web", "--timeout", "60")
        assert st.returncode == 0, st.stdout + st.stderr
        assert 'deployment "web" successfully rolled out' in st.stdout
    finally:
        stop.set()
        watcher.join()
    assert low and min(low) >= 3, low
    d = kube.get("deploy", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:v2"
    pods = wait_until(
        lambda: len(kube.ready_pods("app=web")) == 3 and kube.ready_pods("app=web"),
        20,
        "3 new pods",
    )
    assert kube.out("exec", pods[0], "--", "wget", "-qO-", "http://127.0.0.1:8080/") == "v2"
    history = kube.out("rollout", "history", "deploy/web")
    assert [line.split()[0] for line in history.splitlines()[2:]] == ["1", "2"]

    # undo back to revision 1's template
    assert kube.out("rollout", "undo", "deploy/web") == "deployment.apps/web rolled back"
    assert kube.run("rollout", "status", "deploy/web", "--timeout", "60").returncode == 0
    d = kube.get("deploy", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:latest"
    pods = wait_until(
        lambda: len(kube.ready_pods("app=web")) == 3 and kube.ready_pods("app=web"),
        20,
        "3 old-template pods",
    )
    assert kube.out("exec", pods[0], "--", "wget", "-qO-", "http://127.0.0.1:8080/") == "v1"
    rs = kube.out("get", "rs", "-o", "jsonpath={range .items[*]}{.spec.replicas} {end}")
    assert sorted(rs.split()) == ["0", "3"]

    # deleting the Deployment removes its ReplicaSets and pods
    assert kube.out("delete", "deploy", "web") == 'deployment.apps "web" deleted'
    wait_until(lambda: not kube.pods() and not kube.out("ps", "-aq"), 20, "no pods left")


HPA = """\
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleUp: {stabilizationWindowSeconds: 0}
    scaleDown:
      stabilizationWindowSeconds: 6
      policies: [{type: Percent, value: 100, periodSeconds: 1}]
"""
BURN = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
spec:
  replicas: 1
  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: burn
        image: busybox:latest
        command: ["sleep", "1000000"]
        resources:
          requests: {cpu: 100m}
          limits: {cpu: 500m}
"""


def test_hpa_scales_up_under_load_and_down_after_the_window(kube: KubeDaemon) -> None:
    kube.start("--hpa-sync-period", "2")
    kube.run("load", "-i", str(kube_image()), check=True)
    r = kube.apply(BURN + HPA)
    assert r.returncode == 0, r.stderr
    pod = wait_until(lambda: kube.ready_pods("app=burn"), 20, "the first pod")[0]
    wait_until(lambda: "cpu: 0%/50%" in kube.out("get", "hpa"), 20, "a first metric")
    # load: a busy loop in the pod's cgroup for 12 s (limit 500m: 500% of the request)
    kube.run(
        "exec",
        "-d",
        pod,
        "sh",
        "-c",
        "end=$(($(date +%s)+12)); while [ $(date +%s) -lt $end ]; do :; done",
        check=True,
    )
    t0 = time.monotonic()
    wait_until(lambda: kube.get("deploy", "burn")["spec"]["replicas"] == 3, 10, "scale-up")
    up = time.monotonic() - t0
    hpa = kube.get("hpa", "burn")
    assert hpa["status"]["desiredReplicas"] == 3
    wait_until(lambda: len(kube.ready_pods("app=burn")) == 3, 20, "3 ready replicas")
    assert "CPU(cores)" in kube.out("top", "pods")
    # the load ends after 12 s; the 6 s scale-down window then brings it back to 1
    wait_until(lambda: kube.get("deploy", "burn")["spec"]["replicas"] == 1, 40, "scale-down")
    down = time.monotonic() - t0
    assert down >= 12 + 6 - 2, (up, down)
    wait_until(lambda: len(kube.ready_pods("app=burn")) == 1, 20, "one pod left")
    print(f"HPA: scale-up decision {up:.1f}s after the load started, back to 1 after {down:.1f}s")


def kube_image() -> object:
    from daemon_kit import IMAGE_CACHE

    return IMAGE_CACHE / "busybox_latest.tar"
