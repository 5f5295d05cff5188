"""The engine as PodBackend, pure halves: Pod → container options, records → ObservedPod."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network import PortSpec
from dockyard.orchestrator.enginepods import (
    container_name,
    container_options,
    observe_pod,
    pod_requests,
)
from dockyard.orchestrator.loader import load_manifests
from dockyard.orchestrator.objects import Pod
from dockyard.store.db import ContainerRecord

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web-abcde
  uid: 0123456789abcdef
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 7
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: host, hostPath: {path: /srv/data}}
  - {name: conf, configMap: {name: settings}}
  - {name: claim, persistentVolumeClaim: {claimName: dbdata}}
  containers:
  - name: web
    image: busybox:1.36
    command: [httpd]
    args: ["-f", "-p", "8080"]
    workingDir: /www
    env:
    - {name: A, value: "1"}
    - {name: B, value: "$(A)-x"}
    - name: POD
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    - name: KEY
      valueFrom: {configMapKeyRef: {name: settings, key: k}}
    - name: CPU
      valueFrom: {resourceFieldRef: {resource: limits.cpu}}
    ports: [{containerPort: 8080, hostPort: 18080}]
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {cpu: 500m, memory: 128Mi}
    volumeMounts:
    - {name: scratch, mountPath: /tmp/s}
    - {name: host, mountPath: /data, readOnly: true}
    - {name: conf, mountPath: /etc/app}
    - {name: claim, mountPath: /var/lib/db}
    securityContext: {runAsUser: 1000, capabilities: {add: [NET_ADMIN]}}
  - name: side
    image: busybox:1.36
    resources:
      requests: {cpu: 100m}
"""


def _pod(text: str = POD) -> Pod:
    (pod,) = load_manifests(text)
    assert isinstance(pod, Pod)
    return pod


def test_first_container_maps_command_env_resources_and_volumes() -> None:
    pod = _pod()
    data = {("ConfigMap", "default", "settings"): {"k": b"v"}}
    opts, dopts = container_options(
        pod,
        0,
        volume_dir=lambda v: f"/pods/x/{v}",
        resolve=lambda kind, ns, name, key: data[(kind, ns, name)][key].decode(),
        data=lambda kind, ns, name: data.get((kind, ns, name)),
    )
    assert opts.name == "web-abcde" and opts.image == "busybox:1.36"
    assert (opts.entrypoint, opts.command) == (["httpd"], ["-f", "-p", "8080"])
    assert opts.env == ["A=1", "B=1-x", "POD=web-abcde", "KEY=v", "CPU=1"]
    assert opts.workdir == "/www" and opts.hostname == "web-abcde"
    assert opts.network == "default"
    assert opts.memory == 128 * 1024 * 1024
    assert opts.nano_cpus == 500_000_000 and opts.cpu_shares == 256
    assert opts.user == "1000" and opts.cap_add == ["NET_ADMIN"]
    assert opts.labels["app"] == "web"
    assert opts.labels["io.kubernetes.pod.name"] == "web-abcde"
    assert opts.labels["io.kubernetes.container.name"] == "web"
    assert dopts.restart == "no" and dopts.stop_timeout == 7 and dopts.no_healthcheck
    assert dopts.publish == [PortSpec(8080, "tcp", "", 18080)]
    assert dopts.volumes == [
        "pod-0123456789abc-scratch:/tmp/s:nocopy",  # an emptyDir starts empty
        "/srv/data:/data:ro",
        "/pods/x/conf:/etc/app:ro",
        "dbdata:/var/lib/db",
    ]


def test_other_containers_join_the_first_ones_network() -> None:
    pod = _pod()
    opts, _ = container_options(pod, 1, first_id="c0ffee")
    assert opts.network == "container:c0ffee" and opts.hostname is None
    assert opts.name == "k8s_side_web-abcde_default"
    assert opts.entrypoint is None and opts.command == []
    assert container_name(pod, 0, "web") == "web-abcde"


def test_missing_config_map_key_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="couldn't find key k in ConfigMap default/settings"):
        container_options(_pod(), 0, volume_dir=str, resolve=lambda *a: None, data=lambda *a: None)


def test_requests_sum_and_default_to_limits() -> None:
    assert pod_requests(_pod()) == (350, 64 * 1024 * 1024)
    only_limits = _pod(POD.replace("requests: {cpu: 250m, memory: 64Mi}", "requests: {}"))
    assert pod_requests(only_limits) == (600, 128 * 1024 * 1024)


def _rec(status: str, code: int | None = None) -> ContainerRecord:
    return ContainerRecord(
        "id",
        "n",
        "busybox",
        "sha",
        "2024-01-01T00:00:00Z",
        status=status,
        exit_code=code,
        started_at="2024-01-01T00:00:05.123456789Z",
    )


def test_observed_phases_follow_the_containers() -> None:
    pod = _pod()
    pending = observe_pod(pod, {"web": _rec("running"), "side": None}, created=1.0)
    assert pending.phase == "Pending" and not pending.ready
    assert pending.container("side").reason == "ContainerCreating"  # type: ignore[union-attr]
    running = observe_pod(
        pod,
        {"web": _rec("running"), "side": _rec("running")},
        created=1.0,
        flags={"web": (True, True), "side": (True, True)},
        pod_ip="10.0.0.5",
        ready_since=9.0,
    )
    assert running.phase == "Running" and running.ready and running.pod_ip == "10.0.0.5"
    web = running.container("web")
    assert web is not None and web.started_at == 1704067205.123456
    half = observe_pod(
        pod,
        {"web": _rec("running"), "side": _rec("running")},
        created=1.0,
        flags={"web": (True, True)},
    )
    assert half.phase == "Running" and not half.ready
    died = observe_pod(pod, {"web": _rec("exited", 137), "side": _rec("running")}, created=1.0)
    assert died.phase == "Failed" and died.pod_ip is None
    assert died.container("web").reason == "Error"  # type: ignore[union-attr]
    done = observe_pod(pod, {"web": _rec("exited", 0), "side": _rec("exited", 0)}, created=1.0)
    assert done.phase == "Succeeded"
    unscheduled = observe_pod(pod, {}, created=1.0, scheduled=False, reason="Unschedulable")
    assert (unscheduled.phase, unscheduled.reason, unscheduled.scheduled) == (
        "Pending",
        "Unschedulable",
        False,
    )
    restarting = observe_pod(
        pod,
        {"web": _rec("exited", 137), "side": _rec("running")},
        created=1.0,
        restarting=frozenset({"web"}),
        restarts={"web": 2},
    )
    assert restarting.phase == "Pending"
    assert restarting.container("web").restart_count == 2  # type: ignore[union-attr]
    # restarted in place after its exit, backing off (issue 23): waiting, with its last exit
    backoff = observe_pod(
        pod,
        {"web": _rec("exited", 137), "side": _rec("running")},
        created=1.0,
        restarting=frozenset({"web"}),
        waiting={"web": ("CrashLoopBackOff", "back-off 10s restarting failed container=web")},
        last_exit={"web": 137},
    )
    web = backoff.container("web")
    assert web is not None and (web.state, web.reason, web.last_exit_code) == (
        "waiting", "CrashLoopBackOff", 137)  # fmt: skip
    assert backoff.phase != "Failed", "a container restarted in place never fails its pod"
    gone = observe_pod(
        pod,
        {"web": _rec("running"), "side": _rec("running")},
        created=1.0,
        flags={"web": (True, True), "side": (True, True)},
        terminating=True,
    )
    assert gone.terminating and not gone.ready and not gone.active
