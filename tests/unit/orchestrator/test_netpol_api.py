"""NetworkPolicy evaluation without the corpus, and the pinned public API."""

from __future__ import annotations

import importlib

from dockyard import orchestrator
from dockyard.orchestrator.loader import load_manifests
from dockyard.orchestrator.netpol_evaluation import (
    Endpoint,
    connection_allowed,
    egress_allowed,
    ingress_allowed,
)
from dockyard.orchestrator.objects import NetworkPolicy

POLICIES = load_manifests("""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-metrics, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {team: ops}}}]
    ports: [{port: 9090}]
""")

API = Endpoint("api", "shop", {"app": "api"})
WEB = Endpoint("web", "shop", {"app": "web"})
OPS = Endpoint("prom", "monitoring", {"app": "prometheus"})
NS = {"monitoring": {"team": "ops"}}


def test_policies_are_additive() -> None:
    nps = [p for p in POLICIES if isinstance(p, NetworkPolicy)]
    assert connection_allowed(WEB, API, 8080, "TCP", nps, NS).allowed
    assert not connection_allowed(WEB, API, 9090, "TCP", nps, NS).allowed
    assert connection_allowed(OPS, API, 9090, "TCP", nps, NS).allowed
    verdict = connection_allowed(OPS, API, 8080, "TCP", nps, NS)
    assert not verdict.allowed and verdict.policies == ("api", "api-metrics")


def test_directions_are_independent() -> None:
    nps = [p for p in POLICIES if isinstance(p, NetworkPolicy)]
    assert egress_allowed(API, WEB, 80, "TCP", nps).allowed
    assert ingress_allowed(WEB, API, 80, "TCP", nps).reason == "not isolated for ingress"
    # a policy in another namespace does not select the pod
    assert connection_allowed(WEB, Endpoint("api", "other", {"app": "api"}), 1, "TCP", nps).allowed


def test_public_api_is_pinned() -> None:
    assert set(orchestrator.__all__) == {
        "KINDS", "ComposeProject", "ComposeService", "ConfigMap", "Dependency", "Deployment",
        "FieldError", "HorizontalPodAutoscaler", "LabelSelector", "Namespace", "NetworkPolicy",
        "Object", "Pod", "Quantity", "ReplicaSet", "Secret", "Service", "check", "from_dict",
        "load_compose", "load_compose_file", "load_manifests", "load_path", "load_paths",
        "matches", "parse_quantity", "parse_selector", "to_dict", "to_json", "to_yaml", "validate",
    }  # fmt: skip
    for name in orchestrator.__all__:
        assert getattr(orchestrator, name) is not None
    for module in ("compose", "export", "hpa_algorithm", "loader", "netpol_evaluation", "objects",
                   "quantity", "rollout", "selectors", "validation"):  # fmt: skip
        mod = importlib.import_module(f"dockyard.orchestrator.{module}")
        for name in mod.__all__:
            assert hasattr(mod, name), f"{module}.{name}"


def test_import_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dockyard.orchestrator; "
        "print('yaml' in sys.modules, 'dockyard.orchestrator.compose' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
