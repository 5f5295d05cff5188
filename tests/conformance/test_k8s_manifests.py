"""Every manifest of corpus k8s/manifests loads, or is refused as an unsupported kind.

Whole objects: each file loads, or fails with exactly ``kind X is not supported``
(the ingress-nginx bundle: RBAC, Jobs, webhooks); with ``on_unsupported`` its
supported documents load. The two ``k8s-website-docs`` fragment files hold parts of
objects, not objects: the loader refuses them (``apiVersion not set, kind not set``)
and each fragment decodes as the part it is (an HPA spec or metric, a NetworkPolicy spec).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.orchestrator.export import to_yaml
from dockyard.orchestrator.hpa_algorithm import decide
from dockyard.orchestrator.loader import (
    from_fragment,
    load_manifests,
    load_path,
    parse_yaml_documents,
)
from dockyard.orchestrator.objects import (
    Deployment,
    HorizontalPodAutoscaler,
    HPASpec,
    MetricSpec,
    NetworkPolicy,
    NetworkPolicySpec,
    Service,
)

pytestmark = pytest.mark.corpus

_REPO = Path(__file__).resolve().parents[2]
_CORPUS = Path(os.environ.get("DOCKYARD_CORPUS", _REPO.parent / "shared" / "corpus"))
_MANIFESTS = _CORPUS / "k8s" / "manifests"
FRAGMENT_FILES = {
    "k8s-website-docs/hpa-behavior-snippets.yaml",
    "k8s-website-docs/netpol-peer-and-vs-or.yaml",
}


def _files() -> list[str]:
    if not _MANIFESTS.is_dir():
        return ["(corpus absent)"]
    return sorted(str(p.relative_to(_MANIFESTS)) for p in _MANIFESTS.rglob("*.yaml"))


@pytest.fixture
def manifests(corpus_dir: Path) -> Path:
    return corpus_dir / "k8s" / "manifests"


def test_corpus_has_33_manifests(manifests: Path) -> None:
    assert len(list(manifests.rglob("*.yaml"))) == 33


@pytest.mark.parametrize("name", [f for f in _files() if f not in FRAGMENT_FILES])
def test_manifest_loads_or_is_an_unsupported_kind(manifests: Path, name: str) -> None:
    path = manifests / name
    try:
        objects = load_path(path)
    except InvalidArgument as e:
        assert re.fullmatch(rf"{re.escape(str(path))}:\d+: kind \w+ is not supported", str(e)), str(
            e
        )
        skipped: list[str] = []
        objects = load_path(path, on_unsupported=skipped.append)
        assert skipped
    assert objects
    assert load_manifests(to_yaml(objects)) == objects  # export round trip


def test_ingress_nginx_bundle(manifests: Path) -> None:
    path = manifests / "ingress-nginx/deploy/static/provider/cloud/deploy.yaml"
    with pytest.raises(InvalidArgument, match=r":9: kind ServiceAccount is not supported$"):
        load_path(path)
    skipped: list[str] = []
    objects = load_path(path, on_unsupported=skipped.append)
    assert [o.kind for o in objects] == [
        "Namespace",
        "ConfigMap",
        "Service",
        "Service",
        "Deployment",
    ]
    assert len(skipped) == 14
    deployment = objects[-1]
    assert isinstance(deployment, Deployment)
    assert deployment.spec.revision_history_limit == 10
    assert deployment.spec.strategy.rolling_update is not None
    assert deployment.spec.strategy.rolling_update.max_unavailable == 1
    assert deployment.spec.strategy.rolling_update.max_surge == "25%"  # merged with the default
    lb = objects[2]
    assert isinstance(lb, Service) and lb.spec.type == "LoadBalancer"


def test_edge_cases(manifests: Path) -> None:
    # Deployment without replicas defaults to 1; multi-document file
    deployment, _service = load_path(manifests / "k8s-website/application/php-apache.yaml")
    assert isinstance(deployment, Deployment) and deployment.spec.replicas == 1
    # flow style with trailing commas; autoscaling/v1 converted
    (v1,) = load_path(manifests / "k8s-website/controllers/hpa-rs.yaml")
    assert isinstance(v1, HorizontalPodAutoscaler) and v1.api_version == "autoscaling/v2"
    assert v1.spec.scale_target_ref.kind == "ReplicaSet"
    res = v1.spec.metrics[0].resource
    assert res is not None and res.target.average_utilization == 50
    # v2beta2 with a status block holding a placeholder
    (multi,) = load_path(manifests / "k8s-website-docs/hpa-walkthrough-multi-metric.yaml")
    assert isinstance(multi, HorizontalPodAutoscaler)
    assert [m.type for m in multi.spec.metrics] == ["Resource", "Pods", "Object"]
    assert multi.status is None
    # "..." document end; targetPort by name
    (backend,) = load_path(manifests / "k8s-website/service/access/backend-service.yaml")
    assert isinstance(backend, Service) and backend.spec.ports[0].target_port == "http"
    # endPort, ipBlock.except
    (multiport,) = load_path(
        manifests / "k8s-website/service/networking/networkpolicy-multiport-egress.yaml"
    )
    assert isinstance(multiport, NetworkPolicy)
    assert (multiport.spec.egress[0].ports[0].port, multiport.spec.egress[0].ports[0].end_port) == (
        32000,
        32768,
    )
    (np,) = load_path(manifests / "k8s-website/service/networking/networkpolicy.yaml")
    assert isinstance(np, NetworkPolicy)
    block = np.spec.ingress[0].from_[0].ip_block
    assert block is not None and block.except_ == ("172.17.1.0/24",)
    guestbook = load_path(
        manifests / "kubernetes-examples/web/guestbook/all-in-one/guestbook-all-in-one.yaml"
    )
    assert len(guestbook) == 6


def test_fragment_files_are_refused_as_objects(manifests: Path) -> None:
    for name in sorted(FRAGMENT_FILES):
        with pytest.raises(InvalidArgument, match="apiVersion not set, kind not set"):
            load_path(manifests / name)


def test_hpa_behavior_snippets_decode(manifests: Path) -> None:
    path = manifests / "k8s-website-docs/hpa-behavior-snippets.yaml"
    docs = [d for _, d in parse_yaml_documents(path.read_text(), str(path))]
    assert len(docs) == 10
    metrics = [from_fragment(MetricSpec, d) for d in docs[:2]]
    assert [m.type for m in metrics] == ["Resource", "ContainerResource"]
    specs = [from_fragment(HPASpec, {**d, "maxReplicas": 100}) for d in docs[2:]]
    # snippet 3 is HPA.md's worked example: 80 -> 72 -> 64, and 40 -> 36
    example = specs[0]
    assert decide(example, 80, [1], now=0).replicas == 72
    assert decide(example, 72, [1], now=0).replicas == 64
    assert decide(example, 40, [1], now=0).replicas == 36
    # snippet 5: a 5% scale-up tolerance
    up = specs[2].behavior
    assert up is not None and up.scale_up is not None and up.scale_up.tolerance is not None
    assert float(up.scale_up.tolerance.value) == 0.05
    # snippet 10: scale-down disabled
    assert decide(specs[7], 8, [1], now=0).replicas == 8


def test_netpol_fragments_decode(manifests: Path) -> None:
    path = manifests / "k8s-website-docs/netpol-peer-and-vs-or.yaml"
    one, two = (
        from_fragment(NetworkPolicySpec, d)
        for _, d in parse_yaml_documents(path.read_text(), str(path))
    )
    assert len(one.ingress[0].from_) == 1 and len(two.ingress[0].from_) == 2
