"""``apply`` planned by a pure function: manifests + what exists → one action per object.

Terms:

* *items*: the manifests of one ``apply`` (``POST /apis/dockyard.io/v1/apply``), decoded by
  :func:`decode_items` (a namespaced object without a namespace gets the request's);
* *observed*: what the store and the pod backend hold now, gathered by the caller —
  ``existing`` maps an object's :func:`key_of` to its stored version (Pods: any value, only
  presence counts), ``namespaces`` names the stored Namespaces;
* a *step*: ``created``, ``configured`` (labels, annotations or the body changed) or
  ``unchanged``, as ``kubectl apply`` prints it, with the stored object it replaces.

:func:`plan_apply` is all or nothing: it raises before the caller writes anything —
InvalidArgument for an undecodable item or a change to an immutable field (a Deployment's or
ReplicaSet's ``spec.selector``), NotFound for a namespace that neither exists nor is created by
the same apply; each message names the item (``items[2]: ...``). The steps come back with the
Namespaces first, the rest in the order given. A Pod that exists is ``unchanged`` (pods are
not updated in place). dockyard's ``apply`` has no ``--prune``: objects absent from the items
are left alone.

One apply, as the API handler runs it::

    objects = decode_items(body["items"], body["namespace"])
    existing = {key_of(o): stored for o in objects if (stored := lookup(o)) is not None}
    for step in plan_apply(objects, existing, stored_namespace_names):
        ...create, update (resourceVersion dropped) or skip, by step.action
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from dockyard.errors import InvalidArgument, NotFound
from dockyard.records import record, replace

from .export import to_wire
from .objects import Object

__all__ = [
    "ApplyStep",
    "Key",
    "check_immutable",
    "decode_items",
    "key_of",
    "plan_apply",
    "unchanged",
]

# (kind, namespace, name): how an object is found in ``existing``
Key = tuple[str, str | None, str]

_GROUP_KIND = {
    "Deployment": "Deployment.apps",
    "ReplicaSet": "ReplicaSet.apps",
    "HorizontalPodAutoscaler": "HorizontalPodAutoscaler.autoscaling",
    "NetworkPolicy": "NetworkPolicy.networking.k8s.io",
}
# what a change of makes an object ``configured`` (besides labels and annotations)
_BODY_FIELDS = ("spec", "data", "binary_data", "string_data", "type", "immutable")


@record
class ApplyStep:
    action: str  # created | configured | unchanged
    obj: Any  # the object to write (an Object)
    old: Any = None  # the stored version it replaces (configured, unchanged), else None


def key_of(obj: Object) -> Key:
    return (obj.kind, obj.metadata.namespace, obj.metadata.name)


def decode_items(raw: object, default_namespace: str) -> list[Object]:
    """The request's ``items``: each decoded and validated (``items[i]: ...`` on error); a
    namespaced object without a namespace is put in ``default_namespace``."""
    from .loader import from_dict

    if not isinstance(raw, list):
        raise InvalidArgument("apply: items must be a list of manifests")
    objects: list[Object] = []
    for i, doc in enumerate(raw):
        try:
            obj = from_dict(doc)
        except InvalidArgument as e:
            raise InvalidArgument(f"items[{i}]: {e}") from None
        if obj.kind != "Namespace" and not obj.metadata.namespace:
            obj = replace(obj, metadata=replace(obj.metadata, namespace=default_namespace))
        objects.append(obj)
    return objects


def check_immutable(old: Any, new: Any) -> None:
    """InvalidArgument, in the API server's words, when ``new`` changes an immutable field of
    ``old`` (a Deployment's or ReplicaSet's ``spec.selector``)."""
    if new.kind in ("Deployment", "ReplicaSet") and old.spec.selector != new.spec.selector:
        raise InvalidArgument(
            f'{_GROUP_KIND.get(new.kind, new.kind)} "{new.metadata.name}" is invalid: '
            f"spec.selector: Invalid value: {to_wire(new.spec.selector)}: field is immutable"
        )


def unchanged(old: Any, new: Any) -> bool:
    """Whether applying ``new`` over ``old`` changes nothing the user wrote."""
    if old.metadata.labels != new.metadata.labels:
        return False
    if old.metadata.annotations != new.metadata.annotations:
        return False
    return all(getattr(old, f, None) == getattr(new, f, None) for f in _BODY_FIELDS)


def _check_namespace(i: int, obj: Object, known: Collection[str], created: set[str]) -> None:
    ns = obj.metadata.namespace
    if not ns or ns == "default" or obj.kind == "Namespace" or ns in created:
        return
    if ns not in known:
        raise NotFound(f'items[{i}]: namespaces "{ns}" not found')


def _step(i: int, obj: Object, existing: Mapping[Key, Any]) -> ApplyStep:
    old = existing.get(key_of(obj))
    if obj.kind == "Pod":
        return ApplyStep("unchanged" if key_of(obj) in existing else "created", obj)
    if old is None:
        return ApplyStep("created", obj)
    try:
        check_immutable(old, obj)
    except InvalidArgument as e:
        raise InvalidArgument(f"items[{i}]: {e}") from None
    return ApplyStep("unchanged" if unchanged(old, obj) else "configured", obj, old)


def plan_apply(
    objects: Sequence[Object], existing: Mapping[Key, Any], namespaces: Collection[str]
) -> list[ApplyStep]:
    """One step per object, Namespaces first; raises (naming the item) before any step
    when one object cannot be applied. Pure: reads only its arguments."""
    created = {o.metadata.name for o in objects if o.kind == "Namespace"}
    steps = []
    for i, obj in enumerate(objects):
        _check_namespace(i, obj, namespaces, created)
        steps.append(_step(i, obj, existing))
    return sorted(steps, key=lambda step: step.obj.kind != "Namespace")
