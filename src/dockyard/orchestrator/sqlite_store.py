"""The orchestrator's objects in ``state.db``: :class:`SqliteObjectStore`.

It implements :class:`dockyard.orchestrator.store.ObjectStore` (the contract in
``docs/controllers.md``; the tests in ``tests/unit/orchestrator/test_controllers_store.py``
run against it). Objects are kept as their Kubernetes JSON (``export.to_dict``, status
included) in one table of the daemon's database; the table and a schema-version row are
this module's own (``CREATE TABLE IF NOT EXISTS``), outside :data:`dockyard.store.db.MIGRATIONS`::

    orchestrator_meta(key PRIMARY KEY, value)   -- schema_version, resource_version, and
                                                -- the settings (setting(): service_cidr)
    orchestrator_objects(kind, namespace, name, uid, resource_version, body)
                                                -- PRIMARY KEY (kind, namespace, name)

The daemon is the only writer (the CLI goes through the API), so reads are served from
a write-through cache of decoded objects loaded on first use; every write is one
``BEGIN IMMEDIATE`` transaction that also advances the store-wide ``resource_version``
counter, so versions stay unique and increasing across daemon restarts.

The orchestrator's own settings (the Service VIP range) are rows of ``orchestrator_meta``
too, read and written only through :meth:`SqliteObjectStore.setting`: no SQL outside this
module (``docs/decisions/house-engine-interface.md``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from dockyard.errors import Internal
from dockyard.orchestrator.store import MemoryObjectStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from dockyard.store.db import StateDB

__all__ = ["SCHEMA_VERSION", "SqliteObjectStore"]

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
_RESERVED = frozenset({"schema_version", "resource_version"})  # the store's own rows


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


class SqliteObjectStore(MemoryObjectStore):
    """:class:`~dockyard.orchestrator.store.ObjectStore` on the daemon's ``state.db``: the
    object rules are :class:`MemoryObjectStore`'s; this class loads the objects once and
    writes each change (with its resource version) in one transaction."""

    def __init__(self, db: StateDB, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.db = db
        self._cache = None

    # -- schema and storage ------------------------------------------------------------

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

    def _commit(self, key: _Key, make: Callable[[str], Any]) -> Any:
        with self.db.transaction(write=True) as conn:
            stored = make(self._next_version(conn))
            meta = stored.metadata
            conn.execute(
                "INSERT OR REPLACE INTO orchestrator_objects VALUES (?, ?, ?, ?, ?, ?)",
                (*key, meta.uid or "", int(meta.resource_version), _encode(stored)),
            )
        self._objects()[key] = stored
        return stored

    def _erase(self, key: _Key) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute(
                "DELETE FROM orchestrator_objects WHERE kind = ? AND namespace = ? AND name = ?",
                key,
            )
        del self._objects()[key]

    # -- settings ----------------------------------------------------------------------

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """The orchestrator setting ``key``; on first use ``default()`` is stored (computed
        outside the transaction; if another writer stored one meanwhile, theirs is kept)."""
        if key in _RESERVED:
            raise Internal(f"orchestrator setting {key}: reserved")
        self._objects()  # the table exists from here on
        with self.db.transaction() as conn:
            row = conn.execute("SELECT value FROM orchestrator_meta WHERE key = ?", (key,))
            found = row.fetchone()
        if found is not None:
            return str(found[0])
        value = default()
        with self.db.transaction(write=True) as conn:
            conn.execute("INSERT OR IGNORE INTO orchestrator_meta VALUES (?, ?)", (key, value))
            row = conn.execute("SELECT value FROM orchestrator_meta WHERE key = ?", (key,))
            return str(row.fetchone()[0])
