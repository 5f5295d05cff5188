"""What the controllers share: keys, ownership, the set of objects a controller tracks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dockyard.records import replace

from ..objects import DeploymentCondition, ObjectMeta, OwnerReference
from ..store import format_time

__all__ = [
    "Key",
    "Tracked",
    "controller_of",
    "drop_condition",
    "key_of",
    "owned",
    "owner_reference",
    "set_condition",
]

Key = tuple[str, str]  # (namespace, name)


def key_of(meta: ObjectMeta) -> Key:
    return (meta.namespace or "default", meta.name)


def owner_reference(obj: Any) -> OwnerReference:
    """A controller owner reference to ``obj`` (a Deployment or a ReplicaSet)."""
    meta: ObjectMeta = obj.metadata
    return OwnerReference(obj.api_version, obj.kind, meta.name, meta.uid or "", True, True)


def controller_of(meta: ObjectMeta, kind: str) -> OwnerReference | None:
    """The controller owner reference of that kind, if any."""
    for ref in meta.owner_references:
        if ref.kind == kind and ref.controller:
            return ref
    return None


def owned(meta: ObjectMeta, owner: Any) -> bool:
    """Whether ``owner`` (by kind and uid; by name when it has no uid) controls ``meta``."""
    ref = controller_of(meta, owner.kind)
    if ref is None:
        return False
    uid: str | None = owner.metadata.uid
    name: str = owner.metadata.name
    return ref.uid == uid if uid else ref.name == name


class Tracked:
    """The keys a controller has seen, so that it can clean up after one disappears."""

    def __init__(self) -> None:
        self._seen: set[Key] = set()

    def keys(self, current: Iterable[Key]) -> list[Key]:
        """The current keys plus those seen before (now gone: their reconcile cleans up)."""
        now = set(current)
        out = sorted(now | self._seen)
        self._seen = now | self._seen
        return out

    def forget(self, key: Key) -> None:
        self._seen.discard(key)


def set_condition(
    conditions: Sequence[DeploymentCondition],
    kind: str,
    status: str,
    reason: str,
    message: str,
    now: float,
) -> tuple[DeploymentCondition, ...]:
    """Set one condition; its transition time is kept while its status does not change,
    and nothing changes when status, reason and message are the same."""
    current = next((c for c in conditions if c.type == kind), None)
    if current is not None and (current.status, current.reason, current.message) == (
        status,
        reason,
        message,
    ):
        return tuple(conditions)
    stamp = format_time(now)
    cond = DeploymentCondition(kind, status, reason, message, None, stamp)
    if current is not None and current.status == status:
        cond = replace(cond, last_transition_time=current.last_transition_time)
    return (*(c for c in conditions if c.type != kind), cond)


def drop_condition(
    conditions: Sequence[DeploymentCondition], kind: str
) -> tuple[DeploymentCondition, ...]:
    return tuple(c for c in conditions if c.type != kind)
