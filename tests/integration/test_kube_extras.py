"""Orchestrator extras on real containers: scheduling against the node's allocatable and
cgroup limits, ConfigMap/Secret as env and volumes, ``top pods`` and ``/metrics``, compose
``up -d``/``ps``/``down``/``config``, ``get pods -w`` and ``describe deploy/NAME``.

Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import base64
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]


def _start(kube: KubeDaemon, *settings: str) -> None:
    kube.start(*settings)
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)


def _sleeper(name: str, resources: str = "", spec_extra: str = "", extra: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:latest
        command: ["sleep", "1000000"]
{resources}{extra}{spec_extra}"""


def _exec(kube: KubeDaemon, pod: str, script: str) -> str:
    return kube.out("exec", pod, "--", "sh", "-c", script)


def test_scheduling_against_allocatable_and_limits_as_cgroup_limits(kube: KubeDaemon) -> None:
    _start(kube)
    big_cpu = _sleeper("bigcpu", "        resources:\n          requests: {cpu: '100000'}\n")
    big_mem = _sleeper("bigmem", "        resources:\n          requests: {memory: 100Ti}\n")
    fits = _sleeper(
        "fits",
        "        resources:\n"
        "          requests: {cpu: 10m, memory: 8Mi}\n"
        "          limits: {cpu: 250m, memory: 64Mi}\n",
    )
    r = kube.apply("---\n".join([big_cpu, big_mem, fits]))
    assert r.returncode == 0, r.stderr
    pod = wait_until(lambda: kube.ready_pods("app=fits"), 30, "the fitting pod")[0]

    for app, what in (("bigcpu", "cpu"), ("bigmem", "memory")):
        pods = wait_until(lambda a=app: kube.pods(f"app={a}"), 20, f"the {app} pod")
        p = pods[0]
        assert p["status"]["phase"] == "Pending", p["status"]
        assert p["status"].get("reason") == "Unschedulable", p["status"]
        assert f"Insufficient {what}" in p["status"].get("message", ""), p["status"]
        cond = {c["type"]: c for c in p["status"]["conditions"]}["PodScheduled"]
        assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
        assert f"Insufficient {what}" in cond.get("message", "")
        name = p["metadata"]["name"]
        table = kube.out("get", "pods", name)
        assert "Unschedulable" in table or "Pending" in table, table
        described = kube.out("describe", "pod", name)
        assert f"Insufficient {what}" in described, described
        assert "Unschedulable" in described
        assert not kube.ready_pods(f"app={app}")

    # limits → cgroup limits, read from inside the container
    mem = _exec(
        kube,
        pod,
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || "
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
    assert int(mem) == 64 * 1024 * 1024, mem
    cpu = _exec(kube, pod, "cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo none")
    if cpu != "none":
        quota, period = cpu.split()
        assert int(quota) * 1000 // int(period) == 250, cpu


CM_SECRET = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  GREETING: hello
  MODE: fast
  app.conf: "key=value"
---
apiVersion: v1
kind: Secret
metadata:
  name: sec
type: Opaque
data:
  password: {password}
  token: {token}
"""


def test_configmap_and_secret_as_env_and_volumes(kube: KubeDaemon) -> None:
    _start(kube)
    secret = CM_SECRET.format(
        password=base64.b64encode(b"s3cret").decode(), token=base64.b64encode(b"tok-42").decode()
    )
    env = """\
        env:
        - name: GREETING_VAR
          valueFrom: {configMapKeyRef: {name: cfg, key: GREETING}}
        - name: PASSWORD
          valueFrom: {secretKeyRef: {name: sec, key: password}}
        envFrom:
        - configMapRef: {name: cfg}
          prefix: CM_
        - secretRef: {name: sec}
          prefix: S_
        volumeMounts:
        - {name: cfgvol, mountPath: /etc/cfg}
        - {name: secvol, mountPath: /etc/sec}
"""
    vols = """\
      volumes:
      - name: cfgvol
        configMap: {name: cfg}
      - name: secvol
        secret: {secretName: sec}
"""
    r = kube.apply(secret + "---\n" + _sleeper("consumer", extra=env, spec_extra=vols))
    assert r.returncode == 0, r.stderr
    pod = wait_until(lambda: kube.ready_pods("app=consumer"), 30, "the consumer pod")[0]
    environ = dict(
        line.split("=", 1) for line in _exec(kube, pod, "env").splitlines() if "=" in line
    )
    assert environ["GREETING_VAR"] == "hello"
    assert environ["PASSWORD"] == "s3cret"
    assert environ["CM_GREETING"] == "hello" and environ["CM_MODE"] == "fast"
    assert environ["S_password"] == "s3cret" and environ["S_token"] == "tok-42"
    assert _exec(kube, pod, "cat /etc/cfg/GREETING") == "hello"
    assert _exec(kube, pod, "cat /etc/cfg/app.conf") == "key=value"
    assert _exec(kube, pod, "cat /etc/sec/password") == "s3cret"
    assert _exec(kube, pod, "cat /etc/sec/token") == "tok-42"
    assert sorted(_exec(kube, pod, "ls /etc/sec").split()) == ["password", "token"]


def _http_unix(sock_path: Path, target: str) -> tuple[int, str]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(str(sock_path))
        s.sendall(f"GET {target} HTTP/1.0\r\nHost: dockyard\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def test_top_pods_and_prometheus_metrics(kube: KubeDaemon) -> None:
    _start(kube)
    r = kube.apply(
        _sleeper("busy", "        resources:\n          requests: {cpu: 100m, memory: 16Mi}\n")
    )
    assert r.returncode == 0, r.stderr
    pod = wait_until(lambda: kube.ready_pods("app=busy"), 30, "the pod")[0]

    def top() -> str:
        res = kube.run("top", "pods")
        return res.stdout if res.returncode == 0 and pod in res.stdout else ""

    table = wait_until(top, 30, "top pods to list the pod", interval=0.5)
    header = table.splitlines()[0].split()
    assert header == ["NAME", "CPU(cores)", "MEMORY(bytes)"], table
    row = next(line.split() for line in table.splitlines() if line.startswith(pod))
    assert row[1].endswith("m") and row[2].endswith("Mi"), row

    status, text = _http_unix(kube.run_root / "dockyard.sock", "/metrics")
    assert status == 200
    assert "# TYPE dockyard_pod_cpu_millicores gauge" in text
    label = f'namespace="default",pod="{pod}"'
    series = [line for line in text.splitlines() if label in line and not line.startswith("#")]
    names = {line.split("{", 1)[0] for line in series}
    assert {
        "dockyard_pod_cpu_millicores",
        "dockyard_pod_memory_working_set_bytes",
        "dockyard_pod_ready",
    } <= names, text
    for line in series:
        float(line.rsplit(" ", 1)[1])  # each sample is a number
    ready = 'dockyard_deployment_replicas{namespace="default",deployment="busy",state="ready"} 1'
    assert ready in text, text

    # top nodes: the host's CPU (two /proc/stat samples) and memory (/proc/meminfo)
    nodes = kube.out("top", "nodes").splitlines()
    assert nodes[0].split() == ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
    _name, cpu, cpu_pct, mem, mem_pct = nodes[1].split()
    assert cpu.endswith("m") and cpu_pct.endswith("%") and mem.endswith("Mi"), nodes
    assert int(mem.removesuffix("Mi")) > 0 and 0 < int(mem_pct.removesuffix("%")) <= 100, nodes


COMPOSE = """\
name: demo
services:
  web:
    image: busybox:latest
    command:
      - sh
      - -c
      - mkdir -p /www && echo compose-ok > /www/index.html && exec httpd -f -p 8080 -h /www
    ports: ["18080:8080"]
  client:
    image: busybox:latest
    command: ["sleep", "1000000"]
    depends_on:
      web: {condition: service_started}
    environment:
      TARGET: web
{configs}    deploy:
      replicas: 2
configs:
  appconf:
    file: ./app.conf
"""
CONFIG_AS_FILE = """\
    configs:
      - source: appconf
        target: /etc/app.conf
"""


def test_compose_up_ps_down_and_config(kube: KubeDaemon, tmp_path: Path) -> None:
    _compose_up_ps_down_and_config(kube, tmp_path, config_as_file=False)


def test_compose_config_as_a_file(kube: KubeDaemon, tmp_path: Path) -> None:
    _compose_up_ps_down_and_config(kube, tmp_path, config_as_file=True)


def _compose_up_ps_down_and_config(kube: KubeDaemon, tmp_path: Path, config_as_file: bool) -> None:
    _start(kube)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "compose.yaml").write_text(
        COMPOSE.replace("{configs}", CONFIG_AS_FILE if config_as_file else "")
    )
    (proj / "app.conf").write_text("threads=4\n")
    compose = str(proj / "compose.yaml")

    cfg = kube.run("compose", "-f", compose, "config")
    assert cfg.returncode == 0, cfg.stderr
    import yaml

    docs = [d for d in yaml.safe_load_all(cfg.stdout) if d]
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert ("Deployment", "web") in kinds and ("Deployment", "client") in kinds, kinds
    assert ("Service", "web") in kinds, kinds
    if config_as_file:
        assert ("ConfigMap", "appconf") in kinds, kinds
    deploys = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    client = deploys["client"]
    assert client["spec"]["replicas"] == 2

    up = kube.run("compose", "-f", compose, "up", "-d", timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "deployment.apps/web" in up.stdout and "deployment.apps/client" in up.stdout

    def ready() -> list[str]:
        web = kube.ready_pods("dockyard.io/compose-service=web")
        clients = kube.ready_pods("dockyard.io/compose-service=client")
        return web + clients if len(web) == 1 and len(clients) == 2 else []

    pods = wait_until(ready, 30 if config_as_file else 60, "1 web + 2 client pods")
    ps = kube.out("compose", "-f", compose, "ps")
    assert ps.splitlines()[0].split()[:3] == ["NAME", "READY", "STATUS"], ps
    for p in pods:
        assert p in ps
    client_pod = kube.ready_pods("dockyard.io/compose-service=client")[0]
    assert _exec(kube, client_pod, "echo $TARGET") == "web"
    if config_as_file:
        assert _exec(kube, client_pod, "cat /etc/app.conf") == "threads=4"
    # the published port answers on the (namespaced) host's loopback
    body = kube.sh(
        f'{sys.executable} -c "import urllib.request as u; '
        "print(u.urlopen('http://127.0.0.1:18080/', timeout=5).read().decode().strip())\""
    )
    assert body.stdout.strip() == "compose-ok", body.stderr

    down = kube.run("compose", "-f", compose, "down")
    assert down.returncode == 0, down.stderr
    assert 'deployment.apps "web" deleted' in down.stdout
    assert 'deployment.apps "client" deleted' in down.stdout
    # compose's default grace is 30 s and `sleep` as PID 1 ignores SIGTERM
    wait_until(lambda: not kube.pods() and not kube.out("ps", "-aq"), 60, "no pods left")
    assert "No resources" in kube.run("get", "deploy").stderr
    assert not json.loads(kube.out("get", "configmaps", "-o", "json"))["items"]


def test_get_pods_watch_and_describe_deploy(kube: KubeDaemon) -> None:
    _start(kube)
    watcher = kube.popen("get", "pods", "-w")
    lines: list[str] = []
    try:
        # no need to wait for the first listing: a pod made before it is listed, one made
        # between the listing and the watch is in the watch's first ADDED events, one made
        # later is a change the stream reports (api/objects.py, cli/commands/kube/get.py)
        r = kube.apply(_sleeper("watched"))
        assert r.returncode == 0, r.stderr
        assert watcher.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(watcher.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 20
        buf = b""  # the pipe read raw: a buffered readline() may hold a second line back
        while time.monotonic() < deadline and not any("Running" in line for line in lines):
            if sel.select(timeout=max(0.0, deadline - time.monotonic())):
                chunk = os.read(watcher.stdout.fileno(), 65536)
                if not chunk:
                    break
                *done, buf = (buf + chunk).split(b"\n")
                lines += [line.decode() for line in done]
        sel.close()
    finally:
        watcher.terminate()
        try:
            watcher.wait(5)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
        if watcher.stdout is not None:
            watcher.stdout.close()
        if watcher.stderr is not None:
            watcher.stderr.close()
    changes = [line for line in lines if line.startswith("watched-")]
    assert changes, lines
    assert any("Running" in line for line in changes), lines

    wait_until(lambda: kube.ready_pods("app=watched"), 20, "the pod")
    text = kube.out("describe", "deploy/watched")
    assert text.startswith("Name:         watched"), text
    assert "conditions:" in text and "type: Available" in text, text
    assert "type: Progressing" in text and "NewReplicaSetAvailable" in text, text
    assert "ReplicaSets:" in text and "revision 1" in text, text
    assert text == kube.out("describe", "deployment", "watched")
