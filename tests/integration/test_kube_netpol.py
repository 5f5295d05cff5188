"""NetworkPolicy on real containers: only the labelled client reaches the web pods.

Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import time

import pytest
from kube_kit import KubeDaemon, kube, wait_until, web_deployment

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

CLIENTS = """\
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  labels: {role: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    command: ["sleep", "100000"]
---
apiVersion: v1
kind: Pod
metadata:
  name: other
  labels: {role: other}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    command: ["sleep", "100000"]
"""
POLICY = """\
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-from-client
spec:
  podSelector:
    matchLabels: {app: web}
  ingress:
  - from:
    - podSelector:
        matchLabels: {role: client}
    ports:
    - port: http
"""


def fetch(kube: KubeDaemon, pod: str, url: str) -> tuple[bool, float]:
    """(answered, seconds) for one GET from ``pod``, bounded at 3 s."""
    t0 = time.monotonic()
    r = kube.run("exec", pod, "--", "timeout", "3", "wget", "-qO-", url, timeout=20)
    return r.returncode == 0 and r.stdout.startswith("v1"), time.monotonic() - t0


@pytest.mark.parametrize("nf", ["1", "0"], ids=["br_netfilter-on", "br_netfilter-off"])
def test_policy_admits_only_the_labelled_client(kube: KubeDaemon, nf: str) -> None:
    """Once with bridge netfilter on in the daemon's namespace, once off (a host without
    br_netfilter: pods of one bridge are filtered by the bridge table alone)."""
    from test_kube_deployments import kube_image

    key = "/proc/sys/net/bridge/bridge-nf-call-iptables"
    got = kube.sh(f"[ ! -e {key} ] || echo {nf} > {key}; cat {key} 2>/dev/null || echo 0")
    if got.stdout.strip() != nf:
        pytest.skip("br_netfilter is not loaded on this host: no bridge netfilter to turn on")
    kube.start()
    kube.run("load", "-i", str(kube_image()), check=True)
    r = kube.apply(web_deployment(replicas=2) + CLIENTS)
    assert r.returncode == 0, r.stderr
    wait_until(lambda: len(kube.ready_pods("app=web")) == 2, 30, "2 web pods")
    wait_until(lambda: {"client", "other"} <= set(kube.ready_pods()), 30, "the clients")
    ips = [p["status"]["podIP"] for p in kube.pods("app=web")]
    assert all(ips), ips
    # no policy yet: both reach every web pod
    for ip in ips:
        assert fetch(kube, "client", f"http://{ip}:8080/")[0]
        assert fetch(kube, "other", f"http://{ip}:8080/")[0]

    r = kube.apply(POLICY)
    assert r.returncode == 0, r.stderr
    assert "networkpolicy.networking.k8s.io/web-from-client created" in r.stdout
    wait_until(lambda: not fetch(kube, "other", f"http://{ips[0]}:8080/")[0], 10, "isolation")
    for ip in ips:
        ok, _ = fetch(kube, "client", f"http://{ip}:8080/")
        assert ok, ip
        denied, took = fetch(kube, "other", f"http://{ip}:8080/")
        assert not denied and took < 10, (ip, took)
    # the node itself is never filtered (probes keep the pods ready)
    assert len(kube.ready_pods("app=web")) == 2

    # deleting the policy lifts the isolation
    assert kube.out("delete", "networkpolicy", "web-from-client").startswith("networkpolicy")
    wait_until(lambda: fetch(kube, "other", f"http://{ips[0]}:8080/")[0], 10, "isolation lifted")
    assert kube.out("delete", "pod", "client", "other")
