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

__all__ = ["to_dict", "to_json", "to_wire", "to_yaml"]


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
