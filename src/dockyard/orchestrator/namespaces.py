"""Namespaces as the API server keeps them: an object may only be created in a Namespace that
exists (``default`` always does), and deleting a Namespace deletes what it holds.

:func:`require_namespace` raises NotFound (``namespaces "shop" not found``) for an object whose
namespace is not stored; :func:`delete_namespace_contents` deletes every stored object of the
namespace, kind by kind (:data:`CONTENT_KINDS`, in that order), then the pods no controller
owns — an owned pod goes with its ReplicaSet, through the controllers, as on a cluster.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import NotFound

from .backend import PodBackend
from .objects import KINDS, Namespace
from .store import ObjectStore

__all__ = ["CONTENT_KINDS", "delete_namespace_contents", "require_namespace"]

CONTENT_KINDS = (
    "Deployment",
    "ReplicaSet",
    "Service",
    "ConfigMap",
    "Secret",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
)


def _cls(kind: str) -> type[Any]:
    return next(c for (_v, k), c in KINDS.items() if k == kind)


def require_namespace(store: ObjectStore, obj: Any) -> None:
    ns = obj.metadata.namespace
    if obj.kind == "Namespace" or not ns or ns == "default":
        return
    try:
        store.get(Namespace, None, ns)
    except NotFound:
        raise NotFound(f'namespaces "{ns}" not found') from None


async def delete_namespace_contents(store: ObjectStore, backend: PodBackend, ns: str) -> None:
    for kind in CONTENT_KINDS:
        for obj in store.list(_cls(kind), ns):
            try:
                store.delete(type(obj), ns, obj.metadata.name)
            except NotFound:
                continue
    for p in await backend.list_pods(ns):
        if not p.terminating and not p.pod.metadata.owner_references:
            await backend.delete_pod(ns, p.name)
