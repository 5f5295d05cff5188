"""The orchestrator's objects in ``state.db``: :class:`SqliteObjectStore`.

It implements :class:`dockyard.orchestrator.store.ObjectStore` (the contract in
``docs/controllers.md``; the tests in ``tests/unit/orchestrator/test_controllers_store.py``
run against it). Objects are kept as their Kubernetes JSON (``export.to_dict``, status
included) in one table of the daemon's database; the table and a schema-version row are
this module's own (``CREATE TABLE IF NOT EXISTS``), outside :data:`dockyard.store.db.MIGRATIONS`::

    orchestrator_meta(key PRIMARY KEY, value)   -- schema_version, resource_version
    orchestrator_objects(kind, namespace, name, uid, resource_version, body)
                                                -- PRIMARY KEY (kind, namespace, name)

The daemon is the only writer (the CLI goes through the API), so reads are served from
a write-through cache of decoded objects loaded on first use; every write is one
``BEGIN IMMEDIATE`` transaction that also advances the store-wide ``resource_version``
counter, so versions stay unique and increasing across daemon restarts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dockyard.errors import AlreadyExists, Conflict, Internal, InvalidArgument, NotFound
from dockyard.orchestrator.store import Watchers
from dockyard.records import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from dockyard.orchestrator.selectors import LabelSelector
    from dockyard.orchestrator.store import WatchEvent
    from dockyard.store.db import StateDB

__all__ = ["SCHEMA_VERSION", "SqliteObjectStore"]

T = TypeVar("T")
SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS orchestrator_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS orchestrator_objects (
        kind TEXT NOT NULL,
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        uid TEXT NOT NULL,
        resource_version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (kind, namespace, name)
    )""",
)

_Key = tuple[str, str, str]


def _kinds() -> dict[str, type[Any]]:
    from dockyard.orchestrator.objects import KINDS

    return {kind: cls for (_v, kind), cls in KINDS.items()}


def _encode(obj: Any) -> str:
    from dockyard.orchestrator.export import to_dict

    return json.dumps(to_dict(obj), separators=(",", ":"))


def _decode(cls: type[Any], body: str) -> Any:
    from dockyard.orchestrator._codec import DecodeErrors, decode

    errs = DecodeErrors()
    obj = decode(cls, json.loads(body), "", errs)
    if errs:
        raise Internal(f"state database: stored {cls.kind} does not decode: {errs.message()}")
    return obj


class SqliteObjectStore(Watchers):
    """:class:`~dockyard.orchestrator.store.ObjectStore` on the daemon's ``state.db``."""

    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self._clock = clock
        self._cache: dict[_Key, Any] | None = None
        self._watchers: list[Callable[[WatchEvent], None]] = []

    # -- schema and cache --------------------------------------------------------------

    def _objects(self) -> dict[_Key, Any]:
        if self._cache is not None:
            return self._cache
        kinds = _kinds()
        cache: dict[_Key, Any] = {}
        with self.db.transaction(write=True) as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
            row = conn.execute(
                "SELECT value FROM orchestrator_meta WHERE key = 'schema_version'"
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO orchestrator_meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise Internal(
                    f"state database: orchestrator schema {row[0]} is newer than this "
                    f"dockyard's ({SCHEMA_VERSION})"
                )
            rows = conn.execute(
                "SELECT kind, namespace, name, body FROM orchestrator_objects"
            ).fetchall()
        for kind, ns, name, body in rows:
            cls = kinds.get(kind)
            if cls is not None:
                cache[(kind, ns, name)] = _decode(cls, body)
        self._cache = cache
        return cache

    @property
    def schema_version(self) -> int:
        self._objects()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT value FROM orchestrator_meta WHERE key = 'schema_version'"
            ).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _next_version(conn: sqlite3.Connection) -> str:
        row = conn.execute(
            "SELECT value FROM orchestrator_meta WHERE key = 'resource_version'"
        ).fetchone()
        version = (int(row[0]) if row else 0) + 1
        conn.execute(
            "INSERT OR REPLACE INTO orchestrator_meta VALUES ('resource_version', ?)",
            (str(version),),
        )
        return str(version)

    # -- reads -------------------------------------------------------------------------

    def get(self, cls: type[T], namespace: str | None, name: str) -> T:
        from dockyard.orchestrator.store import _namespace, kind_of

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
        from dockyard.orchestrator.selectors import matches
        from dockyard.orchestrator.store import _namespace, kind_of

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
    def _key(obj: Any, op: str) -> _Key:
        from dockyard.orchestrator.store import _namespace, kind_of

        kind = kind_of(type(obj))
        meta = obj.metadata
        if not meta.name:
            raise InvalidArgument(f"{op} {kind}: metadata.name: Required value")
        return (kind, _namespace(kind, meta.namespace), meta.name)

    def _write(self, conn: sqlite3.Connection, key: _Key, obj: Any) -> None:
        meta = obj.metadata
        conn.execute(
            "INSERT OR REPLACE INTO orchestrator_objects VALUES (?, ?, ?, ?, ?, ?)",
            (*key, meta.uid or "", int(meta.resource_version), _encode(obj)),
        )

    def create(self, obj: T) -> T:
        from dockyard.orchestrator.store import ADDED, _suffix, _uid, format_time

        objects = self._objects()
        meta: Any = obj.metadata  # type: ignore[attr-defined]
        if not meta.name and meta.generate_name:
            meta = replace(meta, name=meta.generate_name + _suffix())
            obj = replace(obj, metadata=meta)
        key = self._key(obj, "create")
        if key in objects:
            raise AlreadyExists(f'create {key[0]} "{key[2]}": already exists')
        with self.db.transaction(write=True) as conn:
            meta = replace(
                meta,
                namespace=key[1] or None,
                uid=_uid(),
                resource_version=self._next_version(conn),
                generation=1,
                creation_timestamp=format_time(self._clock()),
            )
            stored = replace(obj, metadata=meta)
            self._write(conn, key, stored)
        objects[key] = stored
        self._notify(ADDED, stored)
        return stored

    def _current(self, obj: Any, op: str) -> tuple[_Key, Any]:
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
        from dockyard.orchestrator.store import MODIFIED

        key, current = self._current(obj, "update")
        old = current.metadata
        generation = old.generation or 1
        if getattr(obj, "spec", None) != getattr(current, "spec", None):
            generation += 1
        with self.db.transaction(write=True) as conn:
            meta = replace(
                obj.metadata,  # type: ignore[attr-defined]
                namespace=old.namespace,
                uid=old.uid,
                creation_timestamp=old.creation_timestamp,
                resource_version=self._next_version(conn),
                generation=generation,
            )
            changes: dict[str, Any] = {"metadata": meta}
            if hasattr(current, "status"):
                changes["status"] = current.status
            stored = replace(obj, **changes)
            self._write(conn, key, stored)
        self._objects()[key] = stored
        self._notify(MODIFIED, stored)
        return stored

    def update_status(self, obj: T) -> T:
        from dockyard.orchestrator.store import MODIFIED

        key, current = self._current(obj, "update status of")
        with self.db.transaction(write=True) as conn:
            meta = replace(current.metadata, resource_version=self._next_version(conn))
            stored = replace(current, metadata=meta, status=obj.status)  # type: ignore[attr-defined]
            self._write(conn, key, stored)
        self._objects()[key] = stored
        self._notify(MODIFIED, stored)
        result: T = stored
        return result

    def delete(self, cls: type[Any], namespace: str | None, name: str) -> None:
        from dockyard.orchestrator.store import DELETED, _namespace, kind_of

        kind = kind_of(cls)
        key = (kind, _namespace(kind, namespace), name)
        objects = self._objects()
        obj = objects.get(key)
        if obj is None:
            raise NotFound(f'delete {kind} "{name}": not found')
        with self.db.transaction(write=True) as conn:
            conn.execute(
                "DELETE FROM orchestrator_objects WHERE kind = ? AND namespace = ? AND name = ?",
                key,
            )
        del objects[key]
        self._notify(DELETED, obj)
