"""All 20 awesome-compose applications of the corpus load and translate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.orchestrator.compose import load_compose_file, schema_from_file
from dockyard.orchestrator.export import to_yaml
from dockyard.orchestrator.loader import load_manifests
from dockyard.orchestrator.objects import Deployment, Pod, Secret

pytestmark = pytest.mark.corpus

_REPO = Path(__file__).resolve().parents[2]
_CORPUS = Path(os.environ.get("DOCKYARD_CORPUS", _REPO.parent / "shared" / "corpus"))
_APPS = _CORPUS / "compose" / "awesome-compose"


def _apps() -> list[str]:
    return sorted(p.name for p in _APPS.iterdir()) if _APPS.is_dir() else ["(corpus absent)"]


@pytest.fixture(scope="module")
def schema(corpus_dir: Path) -> dict[str, object]:
    return schema_from_file(corpus_dir / "compose" / "compose-spec.json")


def test_twenty_apps(corpus_dir: Path) -> None:
    assert len(list((corpus_dir / "compose" / "awesome-compose").iterdir())) == 20


@pytest.mark.parametrize("app", _apps())
def test_app_loads(corpus_dir: Path, schema: dict[str, object], app: str) -> None:
    path = corpus_dir / "compose" / "awesome-compose" / app / "compose.yaml"
    project = load_compose_file(path, schema=schema)
    assert project.name == app
    order = project.start_order()
    assert sorted(order) == sorted(project.services)
    for name, svc in project.services.items():  # dependencies start first
        for dep in svc.depends_on:
            assert order.index(dep.service) < order.index(name)
    # one workload per service: a Deployment, or a bare Pod for what runs once
    # (`restart: "no"` written, or waited on with service_completed_successfully)
    workloads = [o for o in project.objects if isinstance(o, (Deployment, Pod))]
    assert len(workloads) == len(project.services)
    assert project.warnings == () or all("not supported" in w or "obsolete" in w
                                         for w in project.warnings)  # fmt: skip
    assert load_manifests(to_yaml(project.objects)) == list(project.objects)


def test_nginx_flask_mysql(corpus_dir: Path, schema: dict[str, object]) -> None:
    project = load_compose_file(
        corpus_dir / "compose/awesome-compose/nginx-flask-mysql/compose.yaml", schema=schema
    )
    backend = project.services["backend"]
    assert [(d.service, d.condition) for d in backend.depends_on] == [("db", "service_healthy")]
    db = next(o for o in project.objects if isinstance(o, Deployment) and o.metadata.name == "db")
    probe = db.spec.template.spec.containers[0].readiness_probe
    assert probe is not None and probe.exec_ is not None
    assert "$(cat /run/secrets/db-password)" in probe.exec_.command[-1]  # $$ escaping
    secret = next(o for o in project.objects if isinstance(o, Secret))
    assert secret.decoded()["db-password"].strip()
    assert project.start_order() == ["db", "backend", "proxy"]


def test_elk_networks_and_command(corpus_dir: Path, schema: dict[str, object]) -> None:
    project = load_compose_file(
        corpus_dir / "compose/awesome-compose/elasticsearch-logstash-kibana/compose.yaml",
        schema=schema,
    )
    assert project.services["logstash"].networks == {"elastic": ()}
    logstash = next(
        o for o in project.objects if isinstance(o, Deployment) and o.metadata.name == "logstash"
    )
    c = logstash.spec.template.spec.containers[0]
    assert c.args[:2] == ("logstash", "-f")
    assert {(p.container_port, p.protocol) for p in c.ports} >= {(5000, "TCP"), (5000, "UDP")}
