"""SqliteObjectStore beyond the shared contract: persistence and its own schema."""

from __future__ import annotations

from pathlib import Path

from dockyard.orchestrator.loader import load_manifests
from dockyard.orchestrator.objects import Deployment, DeploymentStatus
from dockyard.orchestrator.sqlite_store import SCHEMA_VERSION, SqliteObjectStore
from dockyard.records import replace
from dockyard.store.db import MIGRATIONS, StateDB

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: busybox
        resources: {requests: {cpu: 100m, memory: 64Mi}}
        readinessProbe: {httpGet: {path: /, port: 80}}
"""


def test_objects_survive_a_reopen_with_status_and_versions(tmp_path: Path) -> None:
    db_path = tmp_path / "state.db"
    store = SqliteObjectStore(StateDB(db_path), lambda: 1_700_000_000.0)
    (d,) = load_manifests(MANIFEST)
    created = store.create(d)
    stored = store.update_status(replace(created, status=DeploymentStatus(replicas=2)))
    again = SqliteObjectStore(StateDB(db_path))
    assert again.get(Deployment, "default", "web") == stored
    assert again.schema_version == SCHEMA_VERSION
    newer = again.update(replace(stored, spec=replace(stored.spec, replicas=3)))
    assert int(newer.metadata.resource_version or 0) > int(stored.metadata.resource_version or 0)
    assert newer.metadata.generation == 2 and newer.status == DeploymentStatus(replicas=2)
    again.delete(Deployment, "default", "web")
    assert SqliteObjectStore(StateDB(db_path)).list(Deployment) == []


def test_own_tables_leave_the_migrations_alone(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    SqliteObjectStore(db).list(Deployment)
    assert db.schema_version == len(MIGRATIONS)
    with db.transaction() as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"orchestrator_meta", "orchestrator_objects"} <= names
