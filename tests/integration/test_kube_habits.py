"""kubectl habits of issue 16 against a private daemon: ``-n``/``-c`` on ``logs`` and
``exec``, jsonpath filters, ``-o custom-columns``, ``get all`` and ``get deploy,svc``,
``set image``, and a watch (``get -w``) that streams changes, deletions included."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import time

import pytest
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:latest
        command: ["sh", "-c", "echo main-says-hi; exec sleep 1000000"]
        env: [{name: WHO, value: main}]
      - name: side
        image: busybox:latest
        command: ["sh", "-c", "echo side-says-hi; exec sleep 1000000"]
        env: [{name: WHO, value: side}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def _start(kube: KubeDaemon) -> str:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    kube.run("tag", "busybox:latest", "busybox:other", check=True)
    r = kube.apply(APP)
    assert r.returncode == 0, r.stderr
    return str(wait_until(lambda: kube.ready_pods("app=web"), 30, "the pod")[0])


def test_kubectl_habits(kube: KubeDaemon) -> None:
    pod = _start(kube)
    # jsonpath filter and custom columns (before: "unable to match a printer")
    ready = '{.status.conditions[?(@.type=="Ready")].status}'
    assert kube.out("get", "pod", pod, "-o", f"jsonpath={ready}") == "True"
    names = kube.out("get", "pods", "-o", '{.items[?(@.metadata.labels.app=="web")].metadata.name}'
                     .join(["jsonpath=", ""]))  # fmt: skip
    assert names == pod
    cols = kube.out("get", "pods", "-o", "custom-columns=NAME:.metadata.name,"
                    'READY:.status.conditions[?(@.type=="Ready")].status,'
                    "IMAGES:.spec.containers[*].image,NODE:.spec.nodeName")  # fmt: skip
    head, row = cols.splitlines()
    assert head.split() == ["NAME", "READY", "IMAGES", "NODE"]
    assert row.split() == [pod, "True", "busybox:latest,busybox:latest", "<none>"]
    assert (
        kube.out("get", "deploy", "--no-headers", "-o", "custom-columns=N:.metadata.name") == "web"
    )
    # get all, get deploy,svc (before: 'the server doesn't have a resource type "all"')
    every = kube.out("get", "all")
    blocks = every.split("\n\n")
    assert [b.splitlines()[1].split()[0].split("/")[0] for b in blocks] == [
        "pod", "service", "deployment.apps", "replicaset.apps"]  # fmt: skip
    assert f"pod/{pod}" in every
    two = kube.out("get", "deploy,svc", "-o", "name").split()
    assert two == ["deployment.apps/web", "service/web"]
    assert kube.out("get", "deploy/web", "svc/web", "-o", "name").split() == two
    # logs and exec: -c CONTAINER, -n NAMESPACE, a bare pod name
    assert kube.out("logs", pod, "-c", "side") == "side-says-hi"
    assert kube.out("logs", "-n", "default", f"pod/{pod}", "-c", "main") == "main-says-hi"
    assert kube.out("logs", pod) == "main-says-hi"  # no such container: the pod's first
    assert kube.out("logs", "deploy/web", "-c", "side", "-n", "1") == "side-says-hi"  # -n: tail
    assert (
        kube.out("exec", pod, "-c", "side", "-n", "default", "--", "sh", "-c", "echo $WHO")
        == "side"
    )
    assert kube.out("exec", pod, "--", "sh", "-c", "echo $WHO") == "main"  # the pod's first
    assert kube.out("exec", "-n", "default", "-c", "side", pod, "--", "echo", "ok") == "ok"
    p = kube.run("exec", pod, "-c", "nope", "--", "true")
    assert p.returncode != 0 and "container nope is not valid" in p.stderr
    p = kube.run("logs", "-n", "elsewhere", pod)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    # set image: the template changes, a rollout replaces the pod
    p = kube.run("set", "image", "deployment/web", "nope=busybox:other")
    assert p.returncode != 0 and 'unable to find container named "nope"' in p.stderr
    assert kube.out("set", "image", "deployment/web", "side=busybox:other") == (
        "deployment.apps/web image updated")  # fmt: skip
    images = "{.spec.template.spec.containers[*].image}"
    assert kube.out("get", "deploy", "web", "-o", f"jsonpath={images}") == (
        "busybox:latest busybox:other")  # fmt: skip

    def rolled() -> bool:
        pods = [p for p in kube.pods("app=web") if not p["metadata"].get("deletionTimestamp")]
        return bool(pods) and all(
            [c["image"] for c in p["spec"]["containers"]] == ["busybox:latest", "busybox:other"]
            and p["metadata"]["name"] in kube.ready_pods("app=web") for p in pods)  # fmt: skip

    wait_until(rolled, 60, "the rollout of the new image")


def test_watch_streams_changes_and_deletions(kube: KubeDaemon) -> None:
    pod = _start(kube)
    watcher = kube.popen("get", "pods", "-w", "--output-watch-events")
    lines: list[str] = []

    buf = [b""]

    def read_until(pred: object, timeout: float) -> None:
        """Lines of the watcher's stdout, read raw (a buffered readline() after select()
        may hold a second line back) until ``pred(lines)``."""
        assert watcher.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(watcher.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not pred(lines):  # type: ignore[operator]
                if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    chunk = os.read(watcher.stdout.fileno(), 65536)
                    if not chunk:
                        return
                    *done, buf[0] = (buf[0] + chunk).split(b"\n")
                    lines.extend(line.decode() for line in done)
        finally:
            sel.close()

    try:
        read_until(lambda ls: any(pod in line for line in ls), 20)  # the first listing
        assert lines[0].split()[:2] == ["NAME", "READY"], lines
        kube.out("delete", "pod", pod)  # the ReplicaSet replaces it
        read_until(lambda ls: any(line.startswith("DELETED") and pod in line for line in ls), 30)
    finally:
        watcher.terminate()
        try:
            watcher.wait(5)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
        for f in (watcher.stdout, watcher.stderr):
            if f is not None:
                f.close()
    assert any(line.startswith("DELETED") and pod in line for line in lines), lines
    assert any(line.startswith(("ADDED", "MODIFIED")) and pod not in line
               and "web-" in line for line in lines), lines  # fmt: skip
    # a watch that ends by itself: --request-timeout, the JSON events of kubectl
    p = kube.run("get", "deploy", "web", "-w", "-o", "json", "--output-watch-events",
                 "--request-timeout", "2")  # fmt: skip
    assert p.returncode == 0, p.stderr
    first = json.loads(p.stdout[: p.stdout.index("\n}") + 2])
    assert first["metadata"]["name"] == "web"
    p = kube.run("get", "all", "-w")
    assert p.returncode != 0 and "single resource type" in p.stderr
