"""Objects back to Kubernetes YAML or JSON (``dockyard export kubernetes``, ``get -o yaml``).

The wire form is the codec's: camelCase keys in declaration order (``apiVersion``,
``kind``, ``metadata``, ``spec``…), ``None`` and empty lists/maps left out, quantities
as written. Defaults the loader applied are shown, as ``kubectl get -o yaml`` shows
the API server's. Loading an export gives back equal objects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._codec import encode
from .objects import Object

__all__ = ["SERVER_ANNOTATIONS", "exportable", "to_dict", "to_json", "to_wire", "to_yaml"]

# what a cluster sets and ``kubectl apply`` must not be given back
SERVER_ANNOTATIONS = (
    "deployment.kubernetes.io/revision",
    "kubectl.kubernetes.io/last-applied-configuration",
)


def to_dict(obj: Object) -> dict[str, Any]:
    """One object as its Kubernetes mapping."""
    out: dict[str, Any] = encode(obj)
    return out


def to_wire(value: object) -> Any:
    """Any part of an object (a selector, a pod template) as its wire form, the same
    mapping :func:`to_dict` gives for whole objects."""
    return encode(value)


def to_yaml(objects: Sequence[Object]) -> str:
    """A multi-document YAML stream (``---`` between documents)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    docs = [to_dict(o) for o in objects]
    return yaml.dump_all(
        docs, Dumper=dumper, sort_keys=False, default_flow_style=False, explicit_start=True
    )


def to_json(objects: Sequence[Object], indent: int | None = 2) -> str:
    """One object as itself; several as a ``v1`` ``List``."""
    if len(objects) == 1:
        body: dict[str, Any] = to_dict(objects[0])
    else:
        body = {"apiVersion": "v1", "kind": "List", "items": [to_dict(o) for o in objects]}
    return json.dumps(body, indent=indent) + "\n"


def exportable(item: dict[str, Any]) -> dict[str, Any]:
    """A stored object as ``kubectl apply`` takes it: no status, no uid, resourceVersion,
    generation, creationTimestamp, ownerReferences or managedFields, no annotations the
    server writes, no allocated ClusterIP (a cluster allocates its own)."""
    keep = ("name", "namespace", "labels", "annotations")
    meta = {k: v for k, v in (item.get("metadata") or {}).items() if k in keep}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    doc = {k: v for k, v in item.items() if k != "status"}
    if item.get("kind") == "Service" and isinstance(doc.get("spec"), dict):
        spec = dict(doc["spec"])
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        doc["spec"] = spec
    return {**doc, "metadata": meta}
