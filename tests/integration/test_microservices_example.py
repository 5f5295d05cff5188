"""The seed's shape, as ``examples/microservices`` ships it: three services that call each
other by name (``patient-record-service`` (5 replicas), ``appointment-scheduler-service``
(2), ``billing-service`` (1)), once as a compose file and once as Deployments + Services.

Every call succeeds; scaling one service changes no other; during a rolling update of one,
calls to it by name never fail. The example files are used as they are in the repository.

Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import collections
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "microservices"
SHAPE = {"patient-record-service": 5, "appointment-scheduler-service": 2, "billing-service": 1}

CALLER = """\
apiVersion: v1
kind: Pod
metadata:
  name: caller
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox:latest
    command: ["sleep", "1000000"]
"""

# calls http://$1:8080/cgi-bin/call until /tmp/stop exists, a line per call in /tmp/calls.log:
# "ok <first line of the answer>" or "fail <the whole answer on one line>"
LOOP = r"""
rm -f /tmp/stop /tmp/calls.log
while [ ! -e /tmp/stop ]; do
  if out=$(wget -qO- "http://$1:8080/cgi-bin/call" 2>&1) && ! echo "$out" | grep -q FAILED
  then echo "ok $(echo "$out" | head -n 1)"
  else echo "fail $(echo "$out" | tr '\n' ' ')"
  fi >> /tmp/calls.log
done
"""


def _call(kube: KubeDaemon, pod: str, name: str) -> str:
    r = kube.run("exec", pod, "--", "wget", "-qO-", f"http://{name}:8080/cgi-bin/call")
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def _assert_chain(answer: str) -> None:
    """billing's answer: itself, the scheduler (with the records it called), the records."""
    assert "FAILED" not in answer, answer
    shape = [(len(line) - len(line.lstrip()), line.split()[0]) for line in answer.splitlines()]
    assert shape == [
        (0, "billing-service"),
        (2, "appointment-scheduler-service"),
        (4, "patient-record-service"),
        (2, "patient-record-service"),
    ], answer


class Caller:
    """A loop of calls by name inside ``pod``, watched through its log."""

    def __init__(self, kube: KubeDaemon, pod: str, name: str) -> None:
        self.kube, self.pod = kube, pod
        self.proc = kube.popen("exec", pod, "--", "sh", "-c", LOOP, "loop", name)

    def lines(self) -> list[str]:
        r = self.kube.run("exec", self.pod, "--", "cat", "/tmp/calls.log")
        return r.stdout.splitlines() if r.returncode == 0 else []

    def stop(self) -> list[str]:
        self.kube.run("exec", self.pod, "--", "touch", "/tmp/stop")
        try:
            self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        return self.lines()


def _results(lines: list[str]) -> tuple[list[str], collections.Counter[str]]:
    """(the failed calls, answers per version of the called service)."""
    failed = [x for x in lines if not x.startswith("ok ")]
    versions = collections.Counter(x.split()[2] for x in lines if x.startswith("ok "))
    return failed, versions


def _start(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)


def test_the_config_map_carries_serve_sh_as_it_is() -> None:
    docs = list(yaml.safe_load_all((EXAMPLE / "k8s.yaml").read_text()))
    script = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["serve.sh"]
    assert script == (EXAMPLE / "serve.sh").read_text()
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"]: d["spec"]["replicas"] for d in deployments} == SHAPE
    compose = yaml.safe_load((EXAMPLE / "compose.yaml").read_text())
    assert {n: s["deploy"]["replicas"] for n, s in compose["services"].items()} == SHAPE


def _ready(kube: KubeDaemon, selector: str, count: int) -> list[str]:
    def ready() -> list[str]:
        pods = kube.ready_pods(selector)
        return sorted(pods) if len(pods) == count else []

    pods: list[str] = wait_until(ready, 90, f"{count} ready pods ({selector})")
    return pods


def test_deployments_call_each_other_by_name_scale_and_roll(kube: KubeDaemon) -> None:
    _start(kube)
    manifest = (EXAMPLE / "k8s.yaml").read_text()
    assert kube.apply(manifest).returncode == 0
    assert kube.apply(CALLER).returncode == 0
    pods = {name: _ready(kube, f"app={name}", n) for name, n in SHAPE.items()}
    _ready(kube, "", sum(SHAPE.values()) + 1)

    # every call succeeds, by each of a Service's names, and reaches several replicas
    billing = pods["billing-service"][0]
    for name in ("billing-service", "billing-service.default", "billing-service.default.svc",
                 "billing-service.default.svc.cluster.local"):  # fmt: skip
        _assert_chain(_call(kube, "caller", name))
    _assert_chain(_call(kube, billing, "billing-service"))
    seen = set()
    for _ in range(20):
        answer = _call(kube, "caller", "patient-record-service")
        assert answer.startswith("patient-record-service v1 "), answer
        seen.add(answer.split()[2])
    assert len(seen) > 1 and seen <= set(pods["patient-record-service"]), seen

    # scaling one service changes no other
    scale = kube.run("scale", "deployment", "patient-record-service", "--replicas", "6")
    assert scale.returncode == 0, scale.stderr
    _ready(kube, "app=patient-record-service", 6)
    for name in ("appointment-scheduler-service", "billing-service"):
        assert _ready(kube, f"app={name}", SHAPE[name]) == pods[name]
        assert kube.get("deployment", name)["spec"]["replicas"] == SHAPE[name]
    _assert_chain(_call(kube, "caller", "billing-service"))

    # a rolling update of one: calls to it by name (directly and through billing) never fail
    direct = Caller(kube, "caller", "patient-record-service")
    through = Caller(kube, billing, "billing-service")
    try:
        wait_until(lambda: len(direct.lines()) >= 5 and len(through.lines()) >= 5, 60, "calls")
        env = "- {name: SERVICE, value: patient-record-service}\n        - {name: VERSION, value: "
        v2 = manifest.replace(env + "v1}", env + "v2}")
        assert v2 != manifest
        # the replicas set by `scale` stay (apply of the file would set 5 again: keep 6)
        v2 = v2.replace("name: patient-record-service\nspec:\n  replicas: 5",
                        "name: patient-record-service\nspec:\n  replicas: 6")  # fmt: skip
        assert kube.apply(v2).returncode == 0
        status = kube.run("rollout", "status", "deployment/patient-record-service", timeout=240)
        assert status.returncode == 0, status.stdout + status.stderr
        done = len(direct.lines())
        wait_until(lambda: len(direct.lines()) >= done + 5, 60, "calls after the rollout")
    finally:
        lines, via_billing = direct.stop(), through.stop()
    failed, versions = _results(lines)
    print(f"direct: {len(lines)} calls, {len(failed)} failed, {dict(versions)}")
    print(f"through billing: {len(via_billing)} calls, {len(_results(via_billing)[0])} failed")
    assert not failed, failed[:5]
    assert not _results(via_billing)[0], _results(via_billing)[0][:5]
    assert versions["v1"] and versions["v2"], versions
    assert lines[-1].split()[2] == "v2", lines[-1]
    scheduler = "appointment-scheduler-service"
    assert _ready(kube, f"app={scheduler}", 2) == pods[scheduler]


def test_compose_services_call_each_other_by_name_and_scale(kube: KubeDaemon) -> None:
    _start(kube)
    compose = str(EXAMPLE / "compose.yaml")
    label = "dockyard.io/compose-service={}"
    try:
        up = kube.run("compose", "-f", compose, "up", "-d", timeout=180)
        assert up.returncode == 0, up.stdout + up.stderr
        pods = {name: _ready(kube, label.format(name), n) for name, n in SHAPE.items()}
        billing = pods["billing-service"][0]
        for _ in range(5):
            _assert_chain(_call(kube, billing, "billing-service"))
        for scheduler in pods["appointment-scheduler-service"]:
            answer = _call(kube, scheduler, "appointment-scheduler-service")
            assert [x.split()[0] for x in answer.splitlines()] == [
                "appointment-scheduler-service", "patient-record-service"], answer  # fmt: skip
            assert "FAILED" not in answer, answer

        def addresses(pod: str, name: str) -> set[str]:
            out = kube.run("exec", pod, "--", "nslookup", f"{name}.").stdout
            return set(re.findall(r"^Address:\s*(\d+\.\d+\.\d+\.\d+)\s*$", out, re.M))

        ips = {p["status"]["podIP"] for p in kube.pods(label.format("patient-record-service"))}
        assert len(ips) == 5 and addresses(billing, "patient-record-service") == ips

        # --scale one service: the others keep their pods
        scaled = kube.run("compose", "-f", compose, "up", "-d", "--scale",
                          "patient-record-service=6", timeout=180)  # fmt: skip
        assert scaled.returncode == 0, scaled.stdout + scaled.stderr
        _ready(kube, label.format("patient-record-service"), 6)
        for name in ("appointment-scheduler-service", "billing-service"):
            assert _ready(kube, label.format(name), SHAPE[name]) == pods[name]
        ips = {p["status"]["podIP"] for p in kube.pods(label.format("patient-record-service"))}
        wait_until(lambda: addresses(billing, "patient-record-service") == ips, 10, "6 addresses")
        _assert_chain(_call(kube, billing, "billing-service"))
    finally:
        down = kube.run("compose", "-f", compose, "down", timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr
