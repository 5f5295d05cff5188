"""Traffic never meets a dying pod (issue 23), under an open-loop load.

The load (``bench/openloop.py``: a fixed request rate, a new connection per request, every
result recorded) goes to a Service's ClusterIP and its NodePort on 127.0.0.1 in turn, from
inside the daemon's namespaces. Scenarios:

* rolling updates and ``rollout undo`` in a row (no ``preStop`` in the manifest): 0 failed;
* a replica SIGKILLed from outside, again and again: ≤ 0.1% failed, and the dead pod's
  endpoint leaves the kernel's maps within a fraction of a second (timed with
  ``nft monitor``: the deletion of its ``ep-`` chain), full readiness back soon after;
* a scale-down from 10 replicas to 2: 0 failed;
* a compose service with replicas, through its ClusterIP: scale-down, and a kill, with and
  without an exec healthcheck (an exec in flight once held the dying init 150-250 ms:
  ``tests/regressions/test_exec_holds_dying_init.py``);
* the readiness gate: a pod enters the maps only after its first successful probe;
* ``network.conntrack`` on a real kernel (open connections counted, unreplied flows forgotten).

Counts are kept small for a 2-CPU machine (``DOCKYARD_TEST_ROLLOUTS``,
``DOCKYARD_TEST_KILLS`` raise them); ``python -m bench endpoints`` runs the full ones.
Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import IMAGE_CACHE, TIME_SCALE
from kube_kit import KubeDaemon, kube, wait_until, web_deployment

pytestmark = [pytest.mark.root, pytest.mark.slow]
__all__ = ["kube"]

REPO = Path(__file__).resolve().parents[2]
OPENLOOP = REPO / "bench" / "openloop.py"
NODE_PORT = 30081
ROLLOUTS = int(os.environ.get("DOCKYARD_TEST_ROLLOUTS") or 2)  # updates (and as many undos)
KILLS = int(os.environ.get("DOCKYARD_TEST_KILLS") or 6)
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


class OpenLoad:
    """``bench/openloop.py`` in the daemon's network namespace."""

    def __init__(self, kube: KubeDaemon, targets: list[str], rate: float, seconds: float) -> None:
        base = Path(kube.root).parent / f"load-{time.monotonic_ns()}"
        self.stop, self.out = Path(f"{base}.stop"), Path(f"{base}.json")
        argv = [sys.executable, str(OPENLOOP), "--rate", str(rate), "--seconds", str(seconds),
                "--stop", str(self.stop), "--out", str(self.out), *targets]  # fmt: skip
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(kube.holder), "-n", "--", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seconds = seconds

    def progress(self) -> dict[str, int]:
        try:
            value: dict[str, int] = json.loads(Path(f"{self.stop}.progress").read_text())
        except (OSError, ValueError):
            return {}
        return value

    def wait(self, what: str, fn: Any, timeout: float = 60) -> None:
        wait_until(lambda: (p := self.progress()) and fn(p), timeout, what, interval=0.05)

    def result(self) -> dict[str, Any]:
        self.stop.touch()
        try:
            _, err = self.proc.communicate(timeout=self.seconds + 20)
            assert self.proc.returncode == 0, err
            value: dict[str, Any] = json.loads(self.out.read_text())
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for p in (self.stop, self.out, Path(f"{self.stop}.progress")):
                p.unlink(missing_ok=True)
        return value

    def __enter__(self) -> OpenLoad:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def summary(res: dict[str, Any]) -> tuple[int, int, collections.Counter[str], list[str]]:
    ok = failed = 0
    bodies: collections.Counter[str] = collections.Counter()
    errors: list[str] = []
    for _start, _lat, good, _target, what in res["requests"]:
        if good:
            ok += 1
            bodies[what] += 1
        else:
            failed += 1
            errors.append(f"{_start:.3f}s target {_target}: {what}")
    return ok, failed, bodies, errors


class NftWatch:
    """``nft monitor`` in the daemon's namespace: every rule change with its arrival time
    (monotonic), so a test can wait for the deletion of an endpoint's chain."""

    def __init__(self, kube: KubeDaemon) -> None:
        self.kube = kube
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(kube.holder), "-n", "--", "nft", "monitor"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # listening once a change of a table of our own shows up
        for i in range(50):
            kube.sh(f"nft add table ip dyt-mark{i} && nft delete table ip dyt-mark{i}")
            if self.wait_line(f"dyt-mark{i}", 0.0, 0.2) is not None:
                break
        else:
            raise AssertionError("nft monitor shows nothing")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), line.strip()))
                self.cond.notify_all()

    def wait_line(self, text: str, after: float, timeout: float) -> float | None:
        """The arrival time of the first line after ``after`` that contains ``text``."""
        deadline = time.monotonic() + timeout * TIME_SCALE
        with self.cond:
            while True:
                for t, line in self.lines:
                    if t >= after and text in line:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def ep_chain(kube: KubeDaemon, address: str) -> str:
    """The name of the ``ep-`` chain that DNATs to ``address``."""
    listing = json.loads(kube.sh("nft -j list table ip dockyard-svc").stdout)["nftables"]
    for item in listing:
        rule = item.get("rule")
        if rule and rule["chain"].startswith("ep-") and f'"{address}"' in json.dumps(rule):
            return str(rule["chain"])
    raise AssertionError(f"no endpoint chain for {address}")


def start(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)


def deploy(kube: KubeDaemon, text: str, replicas: int = 3) -> list[str]:
    r = kube.apply(web_deployment(text=text, replicas=replicas) + SERVICE)
    assert r.returncode == 0, r.stderr
    settle(kube, replicas)
    vip = kube.get("svc", "web")["spec"]["clusterIP"]
    route_vip(kube, vip, kube.pods("app=web")[0]["status"]["podIP"])
    return [f"{vip}:80", f"127.0.0.1:{NODE_PORT}"]


def route_vip(kube: KubeDaemon, vip: str, pod_ip: str) -> None:
    """A route to ``vip`` in the test's namespace (it has no default route, and a local
    connect needs one before the output hook DNATs it): through the pods' bridge."""
    dev = json.loads(kube.sh(f"ip -j route get {pod_ip}").stdout)[0]["dev"]
    r = kube.sh(f"ip route replace {vip}/32 dev {dev}")
    assert r.returncode == 0, r.stderr


def settle(kube: KubeDaemon, replicas: int) -> None:
    st = kube.run("rollout", "status", "deploy/web", "--timeout", "120")
    assert st.returncode == 0, st.stdout + st.stderr

    def done() -> bool:
        return len(kube.ready_pods("app=web")) == replicas == len(kube.pods("app=web"))

    wait_until(done, 60, f"{replicas} pods, all ready")


def test_rolling_updates_and_undos_lose_no_request(kube: KubeDaemon) -> None:
    start(kube)
    targets = deploy(kube, "v1")
    with OpenLoad(kube, targets, rate=60, seconds=600) as load:
        load.wait("answers", lambda p: p.get("v:v1", 0) >= 30)
        for _ in range(ROLLOUTS):
            r = kube.apply(web_deployment(text="v2") + SERVICE)
            assert "deployment.apps/web configured" in r.stdout, r.stdout + r.stderr
            settle(kube, 3)
            seen = load.progress().get("v:v2", 0)
            load.wait("v2 answering", lambda p, seen=seen: p.get("v:v2", 0) >= seen + 30)
            assert kube.out("rollout", "undo", "deploy/web") == "deployment.apps/web rolled back"
            settle(kube, 3)
            seen = load.progress().get("v:v1", 0)
            load.wait("v1 answering", lambda p, seen=seen: p.get("v:v1", 0) >= seen + 30)
        res = load.result()
    ok, failed, bodies, errors = summary(res)
    print(f"{ROLLOUTS} updates + {ROLLOUTS} undos: {ok} ok, {failed} failed, {dict(bodies)}")
    assert failed == 0, errors[:20]
    assert set(bodies) == {"v1", "v2"}, bodies


def recovery_trace(kube: KubeDaemon, since: float, victim: str) -> dict[str, float]:
    """The steps from a kill (``since``, wall clock) to the pod serving again, in seconds
    after the kill, from the daemon's events: the victim's container ``die`` and
    ``start`` (the kubelet's restart in place) and the pod ``ready`` (its first
    readiness probe passed)."""
    out = kube.out("events", "--since", f"{since:.6f}", "--until", f"{time.time():.6f}",
                   "--format", "{{json .}}")  # fmt: skip
    steps: dict[str, float] = {}
    for line in out.splitlines():
        ev = json.loads(line)
        what = f"{ev['Type']} {ev['Action']}"
        name = ev["Actor"]["Attributes"].get("name") if ev["Type"] == "container" else None
        if ev["Type"] == "pod":
            name = ev["Actor"]["ID"]
        if name == victim and what in ("container die", "container start", "pod ready"):
            steps.setdefault(what.split()[1], ev["timeNano"] / 1e9 - since)
    return steps


def restarts(pod: dict[str, Any]) -> int:
    statuses = pod["status"].get("containerStatuses") or []
    return sum(int(c.get("restartCount") or 0) for c in statuses)


def test_killed_replicas_leave_the_maps_at_once(kube: KubeDaemon) -> None:
    """A SIGKILLed container is restarted in place (same pod, restartCount + 1) at once,
    as the kubelet does on a first crash; a second crash of the same container within
    the back-off window waits CrashLoopBackOff's 10 s. So each kill takes a replica not
    killed before (``KILLS`` replicas), and one more kill checks the back-off."""
    replicas = max(3, KILLS)
    start(kube)
    targets = deploy(kube, "v1", replicas=replicas)
    watch = NftWatch(kube)
    removals: list[float] = []
    healed: list[float] = []  # kill -> the victim's "pod ready" event (the daemon's clock)
    seen_ready: list[float] = []  # kill -> the CLI saw every replica ready
    killed: list[str] = []

    def all_ready() -> bool:
        return len(kube.ready_pods("app=web")) == replicas

    try:
        with OpenLoad(kube, targets, rate=100, seconds=600) as load:
            load.wait("answers", lambda p: p.get("ok", 0) >= 50)
            for _ in range(KILLS):
                pods = {p["metadata"]["name"]: p for p in kube.pods("app=web")}
                victim = sorted(set(kube.ready_pods("app=web")) - set(killed))[0]
                killed.append(victim)
                address = pods[victim]["status"]["podIP"]
                chain = ep_chain(kube, address)
                pid = int(kube.out("inspect", "-f", "{{.State.Pid}}", victim))
                t0, wall0 = time.monotonic(), time.time()
                os.kill(pid, signal.SIGKILL)
                gone = watch.wait_line(f"delete chain ip dockyard-svc {chain}", t0, 10)
                assert gone is not None, f"{address}'s endpoint never left the maps"
                removals.append(gone - t0)
                wait_until(lambda v=victim: all_ready() and restarts(kube.get("pod", v)) == 1,
                           30, "the victim restarted and ready", interval=0.05)  # fmt: skip
                seen_ready.append(time.monotonic() - t0)
                steps = recovery_trace(kube, wall0, victim)
                assert "ready" in steps, steps
                healed.append(steps["ready"])
                print(f"kill {victim}: " + ", ".join(f"{k} +{v * 1000:.0f} ms"
                      for k, v in sorted(steps.items(), key=lambda kv: kv[1])) +
                      f"; the CLI saw all ready +{seen_ready[-1] * 1000:.0f} ms")  # fmt: skip
                seen = load.progress().get("ok", 0)
                load.wait("answers after the kill", lambda p, s=seen: p.get("ok", 0) >= s + 100)
            # the same container again: CrashLoopBackOff, restarted 10 s after its exit
            again = killed[-1]
            t0, wall0 = time.monotonic(), time.time()
            os.kill(int(kube.out("inspect", "-f", "{{.State.Pid}}", again)), signal.SIGKILL)

            def backing_off() -> bool:
                st = (kube.get("pod", again)["status"].get("containerStatuses") or [{}])[0]
                waiting = (st.get("state") or {}).get("waiting") or {}
                return bool(waiting.get("reason") == "CrashLoopBackOff")

            wait_until(backing_off, 5, "CrashLoopBackOff")
            wait_until(lambda: all_ready() and restarts(kube.get("pod", again)) == 2, 30,
                       "restarted after the back-off", interval=0.1)  # fmt: skip
            backoff = recovery_trace(kube, wall0, again)
            print(f"second kill of {again}: {backoff}")
            assert 10.0 <= backoff["start"] - backoff["die"] < 12.0 * TIME_SCALE, backoff
            said = json.loads(kube.out("get", "events", "-o", "json"))["items"]
            assert any(e["reason"] == "BackOff" and e["involvedObject"]["name"] == again
                       for e in said), [e["reason"] for e in said]  # fmt: skip
            res = load.result()
    finally:
        watch.close()
    ok, failed, _, errors = summary(res)
    removals.sort()
    healed.sort()
    slow = sum(1 for r in res["requests"] if r[2] and r[1] > 0.5)
    print(f"{KILLS} kills + 1: {ok} ok ({slow} after a retransmitted SYN), {failed} failed "
          f"({failed / (ok + failed):.3%}); "
          f"kill → endpoint removed: median {removals[len(removals) // 2] * 1000:.0f} ms, "
          f"max {removals[-1] * 1000:.0f} ms; kill → ready again (event): median "
          f"{healed[len(healed) // 2] * 1000:.0f} ms, max {healed[-1] * 1000:.0f} ms; "
          f"(seen by the CLI: max {max(seen_ready):.2f} s)")  # fmt: skip
    print("failed:", errors)
    # the bar, 0.1 % at 100 req/s with a kill every 5 s, is 0.5 failed per kill; kills
    # come faster here (once the replacement is ready), so the bar is held per kill
    assert failed <= 0.5 * (KILLS + 1), errors[:20]
    assert removals[-1] < 0.5 * TIME_SCALE, removals
    # back to full readiness within 2 s of every kill, by the daemon's own events (the
    # CLI's polling adds its own process starts on a busy machine: reported, not asserted)
    assert healed[-1] < 2.0 * TIME_SCALE, healed


def test_scale_ten_to_two_loses_no_request(kube: KubeDaemon) -> None:
    start(kube)
    targets = deploy(kube, "v1", replicas=10)
    with OpenLoad(kube, targets, rate=80, seconds=600) as load:
        load.wait("answers", lambda p: p.get("ok", 0) >= 50)
        assert kube.run("scale", "deploy/web", "--replicas", "2").returncode == 0
        wait_until(lambda: len(kube.pods("app=web")) == 2, 60, "8 pods gone")
        seen = load.progress().get("ok", 0)
        load.wait("answers after", lambda p: p.get("ok", 0) >= seen + 50)
        res = load.result()
    ok, failed, _, errors = summary(res)
    print(f"scale 10 → 2: {ok} ok, {failed} failed")
    assert failed == 0, errors[:20]


SERVE = "mkdir -p /www && echo c1 > /www/index.html && exec httpd -f -p 8080 -h /www"
COMPOSE = f"""\
name: shop
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "{SERVE}"]
    expose: ["8080"]
    stop_grace_period: 2s
    deploy: {{replicas: 4}}
    healthcheck:
      test: ["CMD", "wget", "-qO", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 3
"""


def compose_up(kube: KubeDaemon, tmp_path: Path, text: str) -> tuple[str, str]:
    """``compose up -d`` of ``text`` (4 replicas of ``web``), all ready; (file, VIP:port)."""
    start(kube)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "compose.yaml").write_text(text)
    compose = str(proj / "compose.yaml")
    up = kube.run("compose", "-f", compose, "up", "-d", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    wait_until(lambda: len(kube.ready_pods(COMPOSE_WEB)) == 4, 60, "4 ready replicas")
    vip = kube.get("svc", "web")["spec"]["clusterIP"]
    route_vip(kube, vip, kube.pods(COMPOSE_WEB)[0]["status"]["podIP"])
    return compose, f"{vip}:8080"


COMPOSE_WEB = "dockyard.io/compose-service=web"


def test_compose_replicas_drain_through_the_cluster_ip(kube: KubeDaemon, tmp_path: Path) -> None:
    compose, target = compose_up(kube, tmp_path, COMPOSE)
    try:
        with OpenLoad(kube, [target], rate=80, seconds=600) as load:
            load.wait("answers", lambda p: p.get("ok", 0) >= 50)
            scaled = kube.run("compose", "-f", compose, "up", "-d", "--scale", "web=2",
                              timeout=180)  # fmt: skip
            assert scaled.returncode == 0, scaled.stdout + scaled.stderr
            wait_until(lambda: len(kube.pods(COMPOSE_WEB)) == 2, 60, "2 replicas left")
            seen = load.progress().get("ok", 0)
            load.wait("answers after the scale-down", lambda p: p.get("ok", 0) >= seen + 50)
            res = load.result()
        ok, failed, _, errors = summary(res)
        print(f"compose 4 → 2 through the ClusterIP: {ok} ok, {failed} failed")
        assert failed == 0, errors[:20]
    finally:
        kube.run("compose", "-f", compose, "down", timeout=120)


@pytest.mark.parametrize("healthcheck", [False, True], ids=["no-healthcheck", "exec-healthcheck"])
def test_a_killed_compose_replica_leaves_the_cluster_ip_at_once(
    kube: KubeDaemon, tmp_path: Path, healthcheck: bool
) -> None:
    text = COMPOSE if healthcheck else COMPOSE.split("    healthcheck:", maxsplit=1)[0]
    compose, target = compose_up(kube, tmp_path, text)
    try:
        with OpenLoad(kube, [target], rate=80, seconds=600) as load:
            load.wait("answers", lambda p: p.get("ok", 0) >= 50)
            victim = sorted(kube.ready_pods(COMPOSE_WEB))[0]
            os.kill(int(kube.out("inspect", "-f", "{{.State.Pid}}", victim)), signal.SIGKILL)
            wait_until(lambda: len(kube.ready_pods(COMPOSE_WEB)) == 4
                       and restarts(kube.get("pod", victim)) == 1,
                       30, "the victim restarted in place and ready", interval=0.05)  # fmt: skip
            seen = load.progress().get("ok", 0)
            load.wait("answers after the kill", lambda p: p.get("ok", 0) >= seen + 50)
            res = load.result()
        ok, failed, _, errors = summary(res)
        print(f"compose replica killed (healthcheck {healthcheck}): {ok} ok, {failed} failed")
        # requests in flight at the kill die with it (reset while reading); a new connection
        # meets the dying pod only in the few milliseconds before the exit is seen
        assert failed <= 3, errors
        assert sum(1 for e in errors if ": connect: " in e) <= 1, errors
    finally:
        kube.run("compose", "-f", compose, "down", timeout=120)


CONNTRACK = r"""
import socket, subprocess, sys
import pyroute2
from dockyard.network.conntrack import forget_address, open_connections
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["nft", "-f", "-"], input=b"table ip t {\n chain o {\n type filter hook output "
               b"priority 0;\n ct state new counter\n }\n}\n", check=True)
here = "/proc/self/ns/net"
srv = socket.create_server(("127.0.0.1", 0)); port = srv.getsockname()[1]
assert open_connections(here) == 0
c = socket.create_connection(("127.0.0.1", port))
assert open_connections(here) == 1, "accepted (in the queue) counts, the client's end not"
s, _ = srv.accept()
assert open_connections(here) == 1
c.close(); s.close()
assert open_connections(here) == 0, "closed"
c = socket.create_connection(("127.0.0.1", port)); s, _ = srv.accept()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"x", ("127.0.0.9", 9))  # never answered
def entries(addr):
    with pyroute2.Conntrack() as ct:
        return [e for e in ct.dump_entries() if e.tuple_orig.daddr == addr]
assert len(entries("127.0.0.9")) == 1
assert forget_address("127.0.0.9") == 1 and entries("127.0.0.9") == []
assert forget_address("127.0.0.1") == 0, "a connection that saw a reply is kept"
assert len(entries("127.0.0.1")) >= 1
print("ok")
"""


def test_open_connections_and_forgotten_flows_on_a_real_kernel() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = subprocess.run(["unshare", "--net", "--", sys.executable, "-c", CONNTRACK],
                       check=False, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


GATED = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: gated
spec:
  replicas: 1
  selector:
    matchLabels: {{app: gated}}
  template:
    metadata:
      labels: {{app: gated}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:latest
        command: ["sh", "-c", "{SERVE}"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe:
          exec: {{command: ["test", "-f", "/tmp/ready"]}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: gated
spec:
  type: NodePort
  selector: {{app: gated}}
  ports: [{{port: 80, targetPort: http, nodePort: {NODE_PORT + 1}}}]
"""


def test_a_pod_enters_the_maps_only_after_its_first_successful_readiness_probe(
    kube: KubeDaemon,
) -> None:
    start(kube)
    # a Service with a ready pod first, so that the table exists for nft monitor to watch
    deploy(kube, "v1", replicas=1)
    watch = NftWatch(kube)
    try:
        assert kube.apply(GATED).returncode == 0

        def running() -> str:
            pods = kube.pods("app=gated")
            ok = pods and pods[0]["status"].get("phase") == "Running"
            return str(pods[0]["status"].get("podIP") or "") if ok else ""

        address = wait_until(running, 60, "the gated pod running (not ready)")
        assert not kube.ready_pods("app=gated")
        refused = kube.sh(f"wget -qO- -T 2 http://127.0.0.1:{NODE_PORT + 1}/")
        assert refused.returncode != 0, "no endpoint yet: the node port refuses"
        t_ready = time.monotonic()
        kube.run("exec", kube.pods("app=gated")[0]["metadata"]["name"], "--",
                 "touch", "/tmp/ready", check=True)  # fmt: skip
        entered = watch.wait_line(f"dnat to {address}:", 0.0, 30)
        assert entered is not None, "the ready pod never entered the maps"
        assert entered >= t_ready, "it entered before its first successful readiness probe"
        wait_until(lambda: kube.ready_pods("app=gated"), 30, "the gated pod ready")
        got = kube.sh(f"wget -qO- -T 5 http://127.0.0.1:{NODE_PORT + 1}/")
        assert got.stdout.strip() == "c1", got
    finally:
        watch.close()
