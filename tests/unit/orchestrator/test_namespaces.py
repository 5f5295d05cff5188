"""Namespaces (orchestrator/namespaces.py): creation needs one; deletion empties it."""

from __future__ import annotations

import asyncio

import pytest

from dockyard.errors import NotFound
from dockyard.orchestrator.backend import FakePodBackend
from dockyard.orchestrator.loader import load_manifests
from dockyard.orchestrator.namespaces import delete_namespace_contents, require_namespace
from dockyard.orchestrator.objects import ConfigMap, Deployment, Service
from dockyard.orchestrator.store import MemoryObjectStore

OBJECTS = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf, namespace: shop}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf, namespace: default}
data: {k: v}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
"""
PODS = """
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: shop}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: owned
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: u1}]
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: default}
spec: {containers: [{name: c, image: busybox}]}
"""


def test_require_namespace() -> None:
    store = MemoryObjectStore()
    shop, conf, default_conf = load_manifests(OBJECTS)[:3]
    require_namespace(store, default_conf)  # default always exists
    require_namespace(store, shop)  # a Namespace needs none
    with pytest.raises(NotFound, match='namespaces "shop" not found'):
        require_namespace(store, conf)
    store.create(shop)
    require_namespace(store, conf)


def test_deleting_a_namespace_deletes_what_it_holds() -> None:
    store, backend = MemoryObjectStore(), FakePodBackend()
    for obj in load_manifests(OBJECTS):
        store.create(obj)

    async def scenario() -> None:
        for pod in load_manifests(PODS):
            await backend.create_pod(pod)
        await delete_namespace_contents(store, backend, "shop")

    asyncio.run(scenario())
    assert [c.metadata.namespace for c in store.list(ConfigMap)] == ["default"]
    assert store.list(Service, "shop") == [] and store.list(Deployment, "shop") == []
    # the bare pod goes; an owned one is its ReplicaSet's (the controllers delete it)
    left = {(p.namespace, p.name) for p in backend.pods() if not p.terminating}
    assert left == {("shop", "owned"), ("default", "bare")}
    assert [c for c in backend.calls if c[0] == "delete"] == [("delete", "bare")]
