"""The ObjectStore contract: every implementation runs these (the daemon's SQLite store
is added to IMPLEMENTATIONS when it exists)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.orchestrator.objects import (
    Deployment,
    DeploymentSpec,
    DeploymentStatus,
    Namespace,
    ObjectMeta,
    ReplicaSet,
)
from dockyard.orchestrator.selectors import parse_selector
from dockyard.orchestrator.sqlite_store import SqliteObjectStore
from dockyard.orchestrator.store import (
    MemoryObjectStore,
    ObjectStore,
    WatchEvent,
    format_time,
    parse_time,
)
from dockyard.records import replace
from dockyard.store.db import StateDB

T0 = 1_700_000_000.0
IMPLEMENTATIONS: dict[str, Callable[[], ObjectStore]] = {
    "memory": lambda: MemoryObjectStore(lambda: T0),
    "sqlite": lambda: SqliteObjectStore(StateDB(":memory:"), lambda: T0),
}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def store(request: pytest.FixtureRequest) -> ObjectStore:
    return IMPLEMENTATIONS[request.param]()


def dep(name: str = "web", ns: str | None = None, **labels: str) -> Deployment:
    return Deployment(metadata=ObjectMeta(name=name, namespace=ns, labels=labels))


def test_create_sets_bookkeeping(store: ObjectStore) -> None:
    d = store.create(dep())
    m = d.metadata
    assert (m.namespace, m.generation, m.creation_timestamp) == ("default", 1, format_time(T0))
    assert m.uid and m.resource_version
    assert store.get(Deployment, None, "web") == d
    with pytest.raises(AlreadyExists, match='create Deployment "web": already exists'):
        store.create(dep())


def test_names_are_required_or_generated(store: ObjectStore) -> None:
    with pytest.raises(InvalidArgument, match=r"metadata\.name"):
        store.create(dep(""))
    d = store.create(Deployment(metadata=ObjectMeta(generate_name="web-")))
    assert d.metadata.name.startswith("web-") and len(d.metadata.name) == 9


def test_get_missing_is_not_found(store: ObjectStore) -> None:
    with pytest.raises(NotFound, match='get Deployment "x": not found'):
        store.get(Deployment, "default", "x")


def test_list_by_kind_namespace_and_selector(store: ObjectStore) -> None:
    store.create(dep("a", app="web", tier="front"))
    store.create(dep("b", app="db"))
    store.create(dep("c", "other", app="web"))
    store.create(ReplicaSet(metadata=ObjectMeta(name="a")))
    names = [d.metadata.name for d in store.list(Deployment)]
    assert names == ["a", "b", "c"]
    assert [d.metadata.name for d in store.list(Deployment, "default")] == ["a", "b"]
    sel = parse_selector("app=web")
    assert [d.metadata.name for d in store.list(Deployment, None, sel)] == ["a", "c"]
    assert len(store.list(ReplicaSet)) == 1


def test_update_checks_resource_version_and_counts_generations(store: ObjectStore) -> None:
    d = store.create(dep())
    relabeled = store.update(replace(d, metadata=replace(d.metadata, labels={"x": "y"})))
    assert relabeled.metadata.generation == 1
    assert relabeled.metadata.resource_version != d.metadata.resource_version
    with pytest.raises(Conflict, match="the object has been modified"):
        store.update(replace(d, spec=DeploymentSpec(replicas=5)))
    scaled = store.update(replace(relabeled, spec=DeploymentSpec(replicas=5)))
    assert scaled.metadata.generation == 2 and scaled.metadata.uid == d.metadata.uid
    unconditional = replace(scaled, metadata=replace(scaled.metadata, resource_version=None))
    assert store.update(unconditional).metadata.generation == 2


def test_status_is_written_separately(store: ObjectStore) -> None:
    d = store.create(dep())
    with_status = store.update_status(replace(d, status=DeploymentStatus(replicas=3)))
    assert with_status.status == DeploymentStatus(replicas=3)
    assert with_status.metadata.generation == 1
    # update keeps the stored status; update_status ignores spec changes
    updated = store.update(replace(with_status, status=None, spec=DeploymentSpec(replicas=2)))
    assert updated.status == DeploymentStatus(replicas=3)
    again = store.update_status(replace(updated, spec=DeploymentSpec(replicas=9)))
    assert again.spec.replicas == 2
    with pytest.raises(Conflict):
        store.update_status(replace(d, status=DeploymentStatus()))


def test_delete_and_watch(store: ObjectStore) -> None:
    seen: list[WatchEvent] = []
    cancel = store.watch(seen.append)
    d = store.create(dep())
    store.update_status(replace(d, status=DeploymentStatus()))
    store.delete(Deployment, "default", "web")
    assert [e.type for e in seen] == ["ADDED", "MODIFIED", "DELETED"]
    with pytest.raises(NotFound):
        store.delete(Deployment, "default", "web")
    with pytest.raises(NotFound):
        store.update(d)
    cancel()
    store.create(dep())
    assert len(seen) == 3


def test_namespaces_are_cluster_scoped(store: ObjectStore) -> None:
    ns = store.create(Namespace(metadata=ObjectMeta(name="team", namespace="ignored")))
    assert ns.metadata.namespace is None
    assert store.get(Namespace, "whatever", "team") == ns


def test_time_round_trips() -> None:
    assert parse_time(format_time(T0)) == T0
    assert parse_time(None) == 0.0
