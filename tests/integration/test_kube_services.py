"""Services on real containers: a NodePort in front of a 3-replica Deployment, answering
through self-healing, a rolling update and an undo with 0 failed requests.

Each test runs its own daemon in private namespaces (``kube_kit``); the load generator runs
inside them too (``nsenter``), bounded in time, every request counted."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import subprocess
import sys
import time
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from kube_kit import KubeDaemon, kube, wait_until, web_deployment

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

NODE_PORT = 30080
SERVICE = f"""\
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {{app: web}}
  ports:
  - name: http
    port: 80
    targetPort: http
    nodePort: {NODE_PORT}
"""

# sequential GETs, one new connection each, from `threads` threads, until `stop` exists
# or `seconds` passed; prints {"ok": n, "failed": n, "bodies": {...}, "errors": [...]} (each
# error after its time, seconds since the epoch, for `explained`), and
# keeps the counts so far in `stop`.progress (replaced every 20 ms) for the test to watch
LOADGEN = r"""
import collections, http.client, json, os, sys, threading, time
host, port, seconds, threads, stop = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
end = time.monotonic() + seconds
lock = threading.Lock()
ok = [0]; failed = [0]; bodies = collections.Counter(); errors = []
def worker():
    while time.monotonic() < end and not os.path.exists(stop):
        try:
            c = http.client.HTTPConnection(host, port, timeout=3)
            c.request("GET", "/", headers={"Connection": "close"})
            r = c.getresponse(); body = r.read().decode().strip(); c.close()
            good = r.status == 200
        except Exception as e:
            good, body = False, f"{type(e).__name__}: {e}"
        with lock:
            if good:
                ok[0] += 1; bodies[body] += 1
            else:
                failed[0] += 1
                if len(errors) < 20: errors.append(f"{time.time():.3f} {body}")
def report():
    with lock:
        data = json.dumps({"ok": ok[0], "failed": failed[0], "bodies": bodies})
    with open(stop + ".tmp", "w") as f:
        f.write(data)
    os.replace(stop + ".tmp", stop + ".progress")
ts = [threading.Thread(target=worker) for _ in range(threads)]
[t.start() for t in ts]
while any(t.is_alive() for t in ts):
    report(); time.sleep(0.02)
[t.join() for t in ts]
print(json.dumps({"ok": ok[0], "failed": failed[0], "bodies": bodies, "errors": errors}))
"""


class Load:
    """The load generator in the daemon's namespaces (bounded: ``seconds`` at most)."""

    def __init__(self, kube: KubeDaemon, port: int, seconds: float, threads: int = 4,
                 host: str = "127.0.0.1") -> None:  # fmt: skip
        self.stop_file = Path(kube.root).parent / f"stop-load-{time.monotonic_ns()}"
        argv = [sys.executable, "-c", LOADGEN, host, str(port), str(seconds), str(threads),
                str(self.stop_file)]  # fmt: skip
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(kube.holder), "-n", "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seconds = seconds

    def progress(self) -> dict[str, Any]:
        """The counts so far ({} before the first report)."""
        try:
            value: dict[str, Any] = json.loads(Path(f"{self.stop_file}.progress").read_text())
        except (OSError, ValueError):
            return {}
        return value

    def wait(self, what: str, fn: Any, timeout: float = 60) -> None:
        """Until ``fn(progress)`` holds (the load has done what the step needs)."""
        wait_until(lambda: (p := self.progress()) and fn(p), timeout, what, interval=0.02)

    def result(self) -> dict[str, Any]:
        self.stop_file.touch()
        try:
            out, err = self.proc.communicate(timeout=self.seconds + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.stop_file.unlink(missing_ok=True)
            Path(f"{self.stop_file}.progress").unlink(missing_ok=True)
        assert self.proc.returncode == 0, err
        value: dict[str, Any] = json.loads(out)
        return value


def burst(kube: KubeDaemon, requests: int = 150, threads: int = 2) -> dict[str, Any]:
    """``requests`` answered or failed requests (however long a machine takes for them)."""
    load = Load(kube, NODE_PORT, 60, threads)
    try:
        load.wait(f"{requests} requests", lambda p: p["ok"] + p["failed"] >= requests)
    finally:
        res = load.result()
    return res


def explained(kube: KubeDaemon, res: dict[str, Any]) -> str:
    """``res`` and, for each failed request, what the daemon did around it: the pods' ready
    and unready events and the Services' endpoint changes (``dockyard events``) from 3 s
    before to 1 s after — a failure too rare to reproduce at will explains itself."""
    lines = [json.dumps(res)[:2000]]
    times = [float(e.split()[0]) for e in res.get("errors", [])]
    if not times:
        return lines[0]
    r = kube.run("events", "--since", f"{min(times) - 3:.3f}", "--until", f"{max(times) + 1:.3f}",
                 "--format", "{{json .}}")  # fmt: skip
    for line in r.stdout.splitlines():
        with contextlib.suppress(ValueError, KeyError):
            ev = json.loads(line)
            if ev["Type"] in ("pod", "service"):
                attrs = ev["Actor"]["Attributes"]
                lines.append(f"{ev['timeNano'] / 1e9:.3f} {ev['Type']} {ev['Action']} "
                             f"{ev['Actor']['ID']} {attrs}")  # fmt: skip
    return "\n".join(lines)


def by_version(res: dict[str, Any]) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for body, n in res["bodies"].items():
        out[body.split()[0]] += n
    return out


def named_web(text: str, image: str = "busybox:latest") -> str:
    # each pod answers "<text> <its hostname>" (the pod's name)
    return web_deployment(image=image, text=f"{text} $(hostname)")


def _start(kube: KubeDaemon) -> None:
    from test_kube_deployments import kube_image

    kube.start()
    kube.run("load", "-i", str(kube_image()), check=True)


def test_nodeport_spreads_heals_and_rolls_with_zero_failures(kube: KubeDaemon) -> None:
    _start(kube)
    r = kube.apply(named_web("v1") + SERVICE)
    assert r.returncode == 0, r.stderr
    assert "service/web created" in r.stdout
    assert kube.run("rollout", "status", "deploy/web", "--timeout", "60").returncode == 0
    pods = wait_until(lambda: len(kube.ready_pods("app=web")) == 3 and kube.ready_pods(), 30,
                      "3 ready pods")  # fmt: skip

    svc = kube.get("svc", "web")
    vip = svc["spec"]["clusterIP"]
    assert ip_address(vip) in ip_network("10.96.0.0/12") or ip_address(vip).is_private
    assert svc["spec"]["clusterIPs"] == [vip]
    assert svc["spec"]["ports"][0]["nodePort"] == NODE_PORT
    assert svc["spec"]["ports"][0]["targetPort"] == "http"

    # spread over the three pods, nothing failed
    res = wait_until(lambda: (b := burst(kube)) and len(b["bodies"]) == 3 and b, 60,
                     "answers from 3 pods")  # fmt: skip
    assert res["failed"] == 0, explained(kube, res)
    assert {b.split()[1] for b in res["bodies"]} == set(pods)
    counts = list(res["bodies"].values())
    assert min(counts) >= max(counts) // 3, res  # round robin: about even

    # the VIP answers from a pod (busybox's wget -T crashes: the time limit is `timeout`'s)
    got = kube.run("exec", pods[1], "--", "timeout", "5", "wget", "-qO-", f"http://{vip}:80/")
    assert got.stdout.startswith("v1 "), got

    # self-healing: main process killed → restarted in place (the kubelet's way: same pod,
    # restartCount 1) and ready within 5 s, Service answers
    victim = pods[0]
    pid = int(kube.out("inspect", "-f", "{{.State.Pid}}", victim))
    t0 = time.monotonic()
    os.kill(pid, 9)

    def restarted() -> bool:
        st = kube.get("pod", victim)["status"]["containerStatuses"][0]
        return st["restartCount"] == 1 and len(kube.ready_pods("app=web")) == 3

    wait_until(restarted, 5.0, "the victim restarted and ready", interval=0.1)
    healed = time.monotonic() - t0
    assert healed < 5.0
    new = set(kube.ready_pods("app=web"))
    res = wait_until(lambda: (b := burst(kube, 100)) and len(b["bodies"]) == 3 and b, 60,
                     "the replacement serving")  # fmt: skip
    assert res["failed"] == 0, explained(kube, res)
    assert {b.split()[1] for b in res["bodies"]} == new

    # rolling update (maxUnavailable 0) under load: 0 failed requests
    kube.run("tag", "busybox:latest", "busybox:v2", check=True)
    load = Load(kube, NODE_PORT, 90, threads=4)
    try:
        load.wait("answers from v1", lambda p: by_version(p)["v1"] >= 20)
        r = kube.apply(named_web("v2", image="busybox:v2") + SERVICE)
        assert "deployment.apps/web configured" in r.stdout, r.stdout + r.stderr
        st = kube.run("rollout", "status", "deploy/web", "--timeout", "60")
        assert st.returncode == 0, st.stdout + st.stderr
        wait_until(lambda: len(kube.ready_pods("app=web")) == 3 and len(kube.pods("app=web")) == 3,
                   20, "old pods gone")  # fmt: skip
        v2 = by_version(load.progress())["v2"]
        load.wait("answers from v2 alone", lambda p: by_version(p)["v2"] >= v2 + 20
                  and p["ok"] > 200)  # fmt: skip
    finally:
        update = load.result()
    versions = by_version(update)
    print(f"rolling update: {update['ok']} ok, {update['failed']} failed, {dict(versions)}")
    assert update["failed"] == 0, explained(kube, update)
    assert versions["v1"] > 0 and versions["v2"] > 0, versions
    assert update["ok"] > 200

    # rollout undo under load: 0 failed requests
    load = Load(kube, NODE_PORT, 90, threads=4)
    try:
        load.wait("answers from v2", lambda p: by_version(p)["v2"] >= 20)
        assert kube.out("rollout", "undo", "deploy/web") == "deployment.apps/web rolled back"
        st = kube.run("rollout", "status", "deploy/web", "--timeout", "60")
        assert st.returncode == 0, st.stdout + st.stderr
        wait_until(lambda: len(kube.ready_pods("app=web")) == 3 and len(kube.pods("app=web")) == 3,
                   20, "v2 pods gone")  # fmt: skip
        v1 = by_version(load.progress())["v1"]
        load.wait("answers from v1 alone", lambda p: by_version(p)["v1"] >= v1 + 20)
    finally:
        undo = load.result()
    versions = by_version(undo)
    print(f"undo: {undo['ok']} ok, {undo['failed']} failed, {dict(versions)}")
    assert undo["failed"] == 0, explained(kube, undo)
    assert versions["v1"] > 0 and versions["v2"] > 0, versions
    last = burst(kube, 100)
    assert {b.split()[0] for b in last["bodies"]} == {"v1"} and last["failed"] == 0

    # deleting the Service: the node port refuses at once, its VIP is released
    assert kube.out("delete", "svc", "web") == 'service "web" deleted'
    gone = wait_until(lambda: (b := burst(kube, 5, 1)) and b["ok"] == 0 and b, 60,
                      "the node port closed")  # fmt: skip
    assert gone["failed"] > 0
