"""Offline validation against the Kubernetes 1.29 OpenAPI schemas (``kubeschema``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.errors import InvalidArgument
from dockyard.orchestrator.export import to_dict, to_yaml
from dockyard.orchestrator.kubeschema import (
    SCHEMA_VERSION,
    document_problems,
    schema_errors,
    validate_documents,
    validate_objects,
)
from dockyard.orchestrator.loader import load_manifests, load_path, parse_yaml_documents


def deployment(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", **container}]},
            },
        },
    }


def test_schema_version_is_recorded() -> None:
    assert SCHEMA_VERSION == "1.29"


def test_a_valid_deployment_has_no_errors() -> None:
    assert schema_errors(deployment(ports=[{"containerPort": 80, "name": "http"}])) == []


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        (
            {"ports": [{"containerPort": "80"}]},
            'spec.template.spec.containers[0].ports[0].containerPort: Invalid value: "80": '
            "must be of type integer",
        ),
        (
            {"imagePullPolize": "Always"},
            'unknown field "spec.template.spec.containers[0].imagePullPolize"',
        ),
        (
            {"env": [{"value": "x"}]},
            "spec.template.spec.containers[0].env[0].name: Required value",
        ),
        (
            {"readinessProbe": {"httpGet": {"port": 80, "httpHeaders": [{"name": "X"}]}}},
            "spec.template.spec.containers[0].readinessProbe.httpGet.httpHeaders[0].value: "
            "Required value",
        ),
        (
            {"readinessProbe": {"httpGet": {"port": 1.5}}},
            "spec.template.spec.containers[0].readinessProbe.httpGet.port: Invalid value: 1.5: "
            "must be of type integer or string",
        ),
    ],
)
def test_errors_name_the_field_path(container: dict[str, Any], expected: str) -> None:
    assert schema_errors(deployment(**container)) == [expected]


def test_enum_lists_supported_values() -> None:
    # the 1.29 schemas carry enums only for apiVersion and kind
    doc = {**deployment(), "apiVersion": "apps.example.com/v1"}
    assert schema_errors(doc) == [
        'apiVersion: Unsupported value: "apps.example.com/v1": supported values: "apps/v1"'
    ]


def test_every_error_of_a_document_is_reported_in_path_order() -> None:
    doc = deployment(ports=[{"containerPort": "80"}], bogus=1)
    doc["spec"]["replicas"] = "two"
    assert schema_errors(doc) == [
        'spec.replicas: Invalid value: "two": must be of type integer',
        'unknown field "spec.template.spec.containers[0].bogus"',
        'spec.template.spec.containers[0].ports[0].containerPort: Invalid value: "80": '
        "must be of type integer",
    ]


def test_unknown_kind_and_missing_type_fields() -> None:
    job = {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler"}
    assert schema_errors(job) == [
        'no Kubernetes 1.29 schema for kind "HorizontalPodAutoscaler" in "autoscaling/v2beta2"'
    ]
    assert schema_errors({"metadata": {}}) == ["apiVersion: Required value", "kind: Required value"]


def test_validate_documents_names_every_bad_object_at_once() -> None:
    good = deployment()
    bad1 = deployment(bogus=1)
    bad2 = {**deployment(), "metadata": {"name": "api"}}
    bad2["spec"] = {**bad2["spec"], "replicas": -1.5}
    assert document_problems([good]) == []
    with pytest.raises(InvalidArgument) as e:
        validate_documents([good, bad1, bad2])
    assert str(e.value).splitlines() == [
        "schema validation failed (Kubernetes 1.29; --validate=false skips):",
        'Deployment.apps "web" is invalid: unknown field "spec.template.spec.containers[0].bogus"',
        'Deployment.apps "api" is invalid: spec.replicas: Invalid value: -1.5: '
        "must be of type integer",
    ]


def test_non_strict_mode_allows_unknown_fields() -> None:
    assert schema_errors(deployment(bogus=1), strict=False) == []


def test_loaded_objects_of_every_kind_validate() -> None:
    text = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c, namespace: shop}
data: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {a: b}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: NodePort, selector: {app: web}, ports: [{port: 80, targetPort: http}]}
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 4
  targetCPUUtilizationPercentage: 60
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny}
spec: {podSelector: {}, policyTypes: [Ingress]}
"""
    objects = load_manifests(text, "all.yaml")
    validate_objects(objects)  # the exported forms, defaults included
    assert [to_dict(o)["kind"] for o in objects][-2:] == [
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
    ]


# -------------------------------------------------------------- corpus conformance


def _corpus_files(corpus_dir: Path) -> list[Path]:
    manifests = corpus_dir / "k8s" / "manifests"
    if not manifests.is_dir():
        pytest.skip(f"no k8s manifests in {corpus_dir}")
    return sorted(manifests.rglob("*.yaml"))


@pytest.mark.corpus
def test_every_corpus_manifest_dockyard_loads_passes_the_schemas(corpus_dir: Path) -> None:
    """What dockyard loads (and would send) is valid Kubernetes 1.29; so are the source
    documents of the kinds it supports, except API versions 1.29 no longer serves
    (``autoscaling/v2beta2``, which the loader converts to ``autoscaling/v2``)."""
    loaded = 0
    failures: list[str] = []
    for path in _corpus_files(corpus_dir):
        try:
            objects = load_path(path, on_unsupported=lambda _m: None)
        except InvalidArgument:
            continue  # fragments, not objects (test_k8s_manifests covers them)
        loaded += len(objects)
        failures += [f"{path}: {p}" for p in document_problems([to_dict(o) for o in objects])]
        for line, doc in parse_yaml_documents(path.read_text(), str(path)):
            if not isinstance(doc, dict) or doc.get("apiVersion") == "autoscaling/v2beta2":
                continue
            failures += [f"{path}:{line}: {p}" for p in document_problems([doc])]
    assert loaded >= 40
    assert failures == []


@pytest.mark.corpus
def test_corpus_export_round_trips(corpus_dir: Path) -> None:
    """export -> load -> equal, and every exported document has no server fields."""
    for path in _corpus_files(corpus_dir):
        try:
            objects = load_path(path, on_unsupported=lambda _m: None)
        except InvalidArgument:
            continue
        if not objects:
            continue
        text = to_yaml(objects)
        assert load_manifests(text, f"export of {path}") == objects
        for doc in yaml.safe_load_all(text):
            assert "status" not in doc
            assert not {"uid", "resourceVersion", "creationTimestamp"} & set(doc["metadata"])
