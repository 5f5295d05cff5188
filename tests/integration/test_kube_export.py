"""``dockyard export kubernetes``: manifests and compose files in, multi-document
Kubernetes YAML out that loads back to equal objects, passes the Kubernetes 1.29 schemas
and carries nothing a server sets; ``--all`` exports a running daemon's object store."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_kit import CLI
from kube_kit import KubeDaemon, kube

from dockyard.orchestrator.compose import load_compose_file
from dockyard.orchestrator.export import to_dict
from dockyard.orchestrator.kubeschema import document_problems
from dockyard.orchestrator.loader import load_manifests, load_path

__all__ = ["kube"]

SERVER_FIELDS = {"uid", "resourceVersion", "creationTimestamp", "generation", "ownerReferences"}

APP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {MODE: prod}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox:latest
        command: [sleep, "3600"]
        envFrom: [{configMapRef: {name: settings}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {role: client}}}]}]
"""


def _cli(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    argv = [*CLI, "--root", str(root / "root"), "--run-root", str(root / "run"), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def _check_documents(text: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert text.startswith("---\n")
    for doc in docs:
        assert "status" not in doc
        assert not SERVER_FIELDS & set(doc["metadata"])
    assert document_problems(docs) == []
    return docs


def test_export_files_round_trips(tmp_path: Path) -> None:
    d = tmp_path / "manifests" / "sub"
    d.mkdir(parents=True)
    (d / "app.yaml").write_text(APP)
    r = _cli("export", "kubernetes", "-f", str(tmp_path / "manifests"), "-R", root=tmp_path)
    assert r.returncode == 0, r.stderr
    docs = _check_documents(r.stdout)
    assert [x["kind"] for x in docs][:2] == ["Namespace", "ConfigMap"]
    assert load_manifests(r.stdout, "export") == load_path(d / "app.yaml")


def test_export_refuses_an_invalid_file_in_one_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(APP.replace("replicas: 0", "replicas: -1"))
    r = _cli("export", "kubernetes", "-f", str(f), root=tmp_path)
    assert r.returncode != 0 and r.stdout == ""
    assert "spec.replicas" in r.stderr and r.stderr.count("\n") == 1


@pytest.mark.corpus
def test_export_of_every_corpus_compose_app_round_trips(corpus_dir: Path, tmp_path: Path) -> None:
    apps = sorted((corpus_dir / "compose" / "awesome-compose").glob("*/compose.yaml"))
    if not apps:
        pytest.skip("no compose apps in the corpus")
    for path in apps:
        r = _cli("export", "kubernetes", "-f", str(path), root=tmp_path)
        assert r.returncode == 0, f"{path}: {r.stderr}"
        _check_documents(r.stdout)
        assert load_manifests(r.stdout, str(path)) == list(load_compose_file(path).objects)


@pytest.mark.root
def test_export_all_prints_the_daemons_store_and_applies_back_unchanged(
    kube: KubeDaemon,
) -> None:
    kube.start()
    r = kube.apply(APP)
    assert r.returncode == 0, r.stderr
    stored_service = kube.get("svc", "web")
    assert stored_service["spec"].get("clusterIP")  # the daemon allocated one ...
    assert stored_service["metadata"].get("uid")
    text = kube.out("export", "kubernetes", "--all") + "\n"
    docs = _check_documents(text)
    service = next(d for d in docs if d["kind"] == "Service")
    assert "clusterIP" not in service["spec"]  # ... which a cluster must allocate itself
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == sorted(
        [
            ("Namespace", "shop"),
            ("ConfigMap", "settings"),
            ("Secret", "creds"),
            ("Deployment", "web"),
            ("Service", "web"),
            ("HorizontalPodAutoscaler", "web"),
            ("NetworkPolicy", "web-allow"),
        ]
    )
    # what was applied is what was exported, in the namespace it went to (the Service
    # aside: it carries the NodePort the daemon allocated)
    exported = {(o.kind, o.metadata.name): o for o in load_manifests(text, "export")}
    for obj in load_manifests(APP, "app"):
        if obj.kind in ("Service", "Namespace"):
            continue
        doc = to_dict(exported[(obj.kind, obj.metadata.name)])
        assert doc["metadata"].pop("namespace") == "default"
        assert doc == to_dict(obj)
    # and apply takes the export back; the daemon's apply compares whole objects, so the
    # Service (allocated clusterIP left out) and the Deployment (server revision annotation
    # left out) count as configured, where a cluster's server-side apply keeps both
    again = kube.apply(text)
    assert again.returncode == 0, again.stderr
    changed = [x for x in again.stdout.splitlines() if not x.endswith(" unchanged")]
    assert set(changed) <= {"service/web configured", "deployment.apps/web configured"}
    assert len(again.stdout.splitlines()) == 7
    assert kube.run("export", "kubernetes", "--all", "-n", "default").returncode != 0
