"""The object store the controllers read and write: an interface and an in-memory version.

Vocabulary (the API server's):

* an object is identified by its *kind* (the record class: ``Deployment``…), its
  *namespace* (``default`` when unset; ``Namespace`` objects have none) and its *name*;
* the store owns the bookkeeping fields of ``metadata``: ``uid`` and
  ``creationTimestamp`` (set on create), ``resourceVersion`` (a new value on every
  write, unique across the store), ``generation`` (1 on create, +1 whenever ``spec``
  changes; a metadata-only or status write leaves it);
* ``update`` writes metadata and spec and keeps the stored ``status``;
  ``update_status`` writes status only (the ``/status`` subresource). Both check
  *optimistic concurrency*: when the object carries a ``resourceVersion`` it must be the
  stored one, else :class:`~dockyard.errors.Conflict` (re-read and try again); without
  one the write is unconditional;
* watchers are called synchronously after every write with a :class:`WatchEvent`.

Lifecycle of a Deployment as the controllers see it::

    d = store.create(Deployment(metadata=ObjectMeta(name="web"), spec=...))  # rv 1, gen 1
    d = store.get(Deployment, "default", "web")
    store.update_status(replace(d, status=DeploymentStatus(...)))  # rv 2, gen 1
    store.update(replace(d, spec=replace(d.spec, replicas=5)))  # Conflict: rv 1 is stale
    store.delete(Deployment, "default", "web")  # a DELETED event

Errors: NotFound (get/update/delete of a missing object), AlreadyExists (create),
Conflict (stale ``resourceVersion``), InvalidArgument (no name).

The daemon backs this interface with its SQLite database; it must pass the same
contract tests (``tests/unit/orchestrator/test_controllers_store.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.records import record, replace

from .selectors import LabelSelector, matches

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "MemoryObjectStore",
    "ObjectStore",
    "WatchEvent",
    "format_time",
    "parse_time",
]

T = TypeVar("T")

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@record
class WatchEvent:
    """One change: ``type`` is ADDED, MODIFIED or DELETED; ``object`` the object after
    the change (before it, for DELETED)."""

    type: str
    object: Any


def format_time(seconds: float) -> str:
    """RFC 3339 in UTC to the second, as the API server writes timestamps."""
    return datetime.fromtimestamp(seconds, UTC).strftime(_STAMP)


def parse_time(stamp: str | None) -> float:
    """The inverse of :func:`format_time`; ``None`` or empty is 0."""
    if not stamp:
        return 0.0
    return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC).timestamp()


class ObjectStore(Protocol):
    """Where desired state (and controller-written status) lives.

    ``cls`` is a record class of :mod:`.objects` (``Deployment``, ``ReplicaSet``,
    ``HorizontalPodAutoscaler``…); its ``kind`` default names the kind."""

    def get(self, cls: type[T], namespace: str | None, name: str) -> T:
        """The object, or NotFound."""
        ...

    def list(
        self,
        cls: type[T],
        namespace: str | None = None,
        selector: LabelSelector | None = None,
    ) -> list[T]:
        """Objects of that kind, in one namespace (``None``: all), whose labels match
        ``selector`` (``None``: no filter), sorted by namespace and name."""
        ...

    def create(self, obj: T) -> T:
        """Store a new object; returns it with uid, resourceVersion, generation and
        creationTimestamp set. ``metadata.generateName`` without a name gets a
        random suffix. AlreadyExists when the name is taken."""
        ...

    def update(self, obj: T) -> T:
        """Write metadata and spec (the stored status is kept); Conflict on a stale
        resourceVersion, NotFound when missing."""
        ...

    def update_status(self, obj: T) -> T:
        """Write status only; Conflict on a stale resourceVersion, NotFound when missing."""
        ...

    def delete(self, cls: type[Any], namespace: str | None, name: str) -> None:
        """Remove the object (NotFound when missing). Dependants are the controllers'
        business: the Deployment and ReplicaSet controllers delete what they own."""
        ...

    def watch(self, callback: Callable[[WatchEvent], None]) -> Callable[[], None]:
        """Call ``callback`` after every write; returns a function that unsubscribes."""
        ...


def kind_of(cls: type[Any]) -> str:
    kind = getattr(cls, "kind", None)
    if not isinstance(kind, str) or not kind:
        raise InvalidArgument(f"{cls.__name__} is not an object kind")
    return kind


def _namespace(kind: str, namespace: str | None) -> str:
    if kind == "Namespace":
        return ""
    return namespace or "default"


def _uid() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def _suffix() -> str:
    return "".join(_SUFFIX[b % len(_SUFFIX)] for b in os.urandom(5))


class Watchers:
    """The watch half of :class:`ObjectStore`, shared by its implementations."""

    _watchers: list[Callable[[WatchEvent], None]]

    def watch(self, callback: Callable[[WatchEvent], None]) -> Callable[[], None]:
        self._watchers.append(callback)

        def cancel() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)

        return cancel

    def _notify(self, kind: str, obj: Any) -> None:
        event = WatchEvent(kind, obj)
        for callback in list(self._watchers):
            callback(event)


class MemoryObjectStore(Watchers):
    """:class:`ObjectStore` in a dict, for tests and for a daemon without a database.

    ``clock`` gives the creation timestamps (seconds since the epoch). The object rules
    (names, versions, generations, conflicts) live here once; a persistent store
    (:class:`~dockyard.orchestrator.sqlite_store.SqliteObjectStore`) overrides only
    :meth:`_objects`, :meth:`_commit` and :meth:`_erase`."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cache: dict[tuple[str, str, str], Any] | None = {}
        self._version = 0
        self._watchers: list[Callable[[WatchEvent], None]] = []

    # -- storage hooks -----------------------------------------------------------------

    def _objects(self) -> dict[tuple[str, str, str], Any]:
        """Every object by (kind, namespace, name)."""
        assert self._cache is not None
        return self._cache

    def _commit(self, key: tuple[str, str, str], make: Callable[[str], Any]) -> Any:
        """Store ``make(next resource version)`` under ``key``; returns it."""
        self._version += 1
        stored = make(str(self._version))
        self._objects()[key] = stored
        return stored

    def _erase(self, key: tuple[str, str, str]) -> None:
        del self._objects()[key]

    # -- reads -------------------------------------------------------------------------

    def get(self, cls: type[T], namespace: str | None, name: str) -> T:
        kind = kind_of(cls)
        obj = self._objects().get((kind, _namespace(kind, namespace), name))
        if obj is None:
            raise NotFound(f'get {kind} "{name}": not found')
        result: T = obj
        return result

    def list(
        self,
        cls: type[T],
        namespace: str | None = None,
        selector: LabelSelector | None = None,
    ) -> list[T]:
        kind = kind_of(cls)
        want = None if namespace is None else _namespace(kind, namespace)
        out: list[T] = []
        for (k, ns, _), obj in sorted(self._objects().items(), key=lambda kv: kv[0]):
            if k != kind or (want is not None and ns != want):
                continue
            if selector is not None and not matches(selector, obj.metadata.labels):
                continue
            out.append(obj)
        return out

    # -- writes ------------------------------------------------------------------------

    @staticmethod
    def _key(obj: Any, op: str) -> tuple[str, str, str]:
        kind = kind_of(type(obj))
        meta = obj.metadata
        if not meta.name:
            raise InvalidArgument(f"{op} {kind}: metadata.name: Required value")
        return (kind, _namespace(kind, meta.namespace), meta.name)

    def create(self, obj: T) -> T:
        meta: Any = obj.metadata  # type: ignore[attr-defined]
        if not meta.name and meta.generate_name:
            meta = replace(meta, name=meta.generate_name + _suffix())
            obj = replace(obj, metadata=meta)
        key = self._key(obj, "create")
        if key in self._objects():
            raise AlreadyExists(f'create {key[0]} "{key[2]}": already exists')

        def make(version: str) -> Any:
            return replace(obj, metadata=replace(
                meta, namespace=key[1] or None, uid=_uid(), resource_version=version,
                generation=1, creation_timestamp=format_time(self._clock()),
            ))  # fmt: skip

        stored = self._commit(key, make)
        self._notify(ADDED, stored)
        result: T = stored
        return result

    def _current(self, obj: Any, op: str) -> tuple[tuple[str, str, str], Any]:
        key = self._key(obj, op)
        current = self._objects().get(key)
        if current is None:
            raise NotFound(f'{op} {key[0]} "{key[2]}": not found')
        rv = obj.metadata.resource_version
        if rv is not None and rv != current.metadata.resource_version:
            raise Conflict(
                f'{op} {key[0]} "{key[2]}": the object has been modified; please apply '
                "your changes to the latest version and try again"
            )
        return key, current

    def update(self, obj: T) -> T:
        key, current = self._current(obj, "update")
        old = current.metadata
        generation = old.generation or 1
        if getattr(obj, "spec", None) != getattr(current, "spec", None):
            generation += 1

        def make(version: str) -> Any:
            meta = replace(
                obj.metadata,  # type: ignore[attr-defined]
                namespace=old.namespace, uid=old.uid,
                creation_timestamp=old.creation_timestamp, resource_version=version,
                generation=generation,
            )  # fmt: skip
            changes: dict[str, Any] = {"metadata": meta}
            if hasattr(current, "status"):
                changes["status"] = current.status
            return replace(obj, **changes)

        stored = self._commit(key, make)
        self._notify(MODIFIED, stored)
        result: T = stored
        return result

    def update_status(self, obj: T) -> T:
        key, current = self._current(obj, "update status of")

        def make(version: str) -> Any:
            meta = replace(current.metadata, resource_version=version)
            return replace(current, metadata=meta, status=obj.status)  # type: ignore[attr-defined]

        stored = self._commit(key, make)
        self._notify(MODIFIED, stored)
        result: T = stored
        return result

    def delete(self, cls: type[Any], namespace: str | None, name: str) -> None:
        kind = kind_of(cls)
        key = (kind, _namespace(kind, namespace), name)
        obj = self._objects().get(key)
        if obj is None:
            raise NotFound(f'delete {kind} "{name}": not found')
        self._erase(key)
        self._notify(DELETED, obj)
