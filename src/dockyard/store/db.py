"""The state database: SQLite in WAL mode under ``<root>/state.db``.

Protocol
--------
``StateDB(path)`` opens nothing until first use; each thread gets its own
connection (``busy_timeout`` 5 s, WAL, foreign keys on), so several threads
and several processes (CLI, daemon, supervisor) may use one database.  SQLite
connections must not cross ``fork()``: call ``close()`` before forking (a
connection inherited by a child is never used there; the child opens its own).  Every
method is one short transaction; writes take the write lock up front
(``BEGIN IMMEDIATE``) so that a read-modify-write never deadlocks.

Schema changes are numbered migrations applied in order on first use;
``PRAGMA user_version`` records how many have run.  Add a migration, never
edit one.

Tables: ``images`` (keyed by manifest digest; ``id`` is the config digest),
``tags`` (full reference → manifest digest), ``containers``; ``networks``, ``endpoints``,
``ipam_allocations``, ``ipam_cursors`` (engine/netplumb.py owns their rows);
``userns_ranges`` (engine/userns.py owns its rows).

Errors: an absent container or image raises NotFound; a duplicate container
id or name raises AlreadyExists; an ambiguous id prefix raises
InvalidArgument; a database locked beyond the timeout raises Unavailable.
"""

from __future__ import annotations

import _thread  # threading.local and Lock without importing threading
import os

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound, Unavailable
from dockyard.oci import fastjson
from dockyard.records import field, record
from dockyard.store.sqlite import migrate

TYPE_CHECKING = False  # ``typing`` and ``pathlib`` cost a start-up; mypy honours this
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping
    from pathlib import Path
    from types import TracebackType
    from typing import Any
else:
    try:  # the C module itself: the ``sqlite3`` package around it only adds datetime
        import _sqlite3 as sqlite3  # adapters (importing datetime, collections: ~4 ms)
    except ImportError:  # pragma: no cover
        import sqlite3

__all__ = ["MIGRATIONS", "ContainerRecord", "ImageRecord", "StateDB"]

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE images (
        manifest_digest TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        media_type TEXT NOT NULL,
        created TEXT,
        size INTEGER NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE INDEX images_id ON images(id);
    CREATE TABLE tags (
        ref TEXT PRIMARY KEY,
        manifest_digest TEXT NOT NULL REFERENCES images(manifest_digest) ON DELETE CASCADE
    );
    CREATE INDEX tags_manifest ON tags(manifest_digest);
    CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        image_ref TEXT NOT NULL,
        image_id TEXT NOT NULL,
        created TEXT NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        exit_code INTEGER,
        oom_killed INTEGER NOT NULL DEFAULT 0,
        started_at TEXT,
        finished_at TEXT,
        config TEXT NOT NULL DEFAULT '{}',
        labels TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX containers_image ON containers(image_id);
    """,
    # 2: networking (engine/netplumb.py): networks, live endpoints, IPAM allocations
    """
    CREATE TABLE networks (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE TABLE endpoints (
        container_id TEXT NOT NULL,
        network TEXT NOT NULL REFERENCES networks(name),
        data TEXT NOT NULL,
        PRIMARY KEY (container_id, network)
    );
    CREATE TABLE ipam_allocations (
        network TEXT NOT NULL,
        address TEXT NOT NULL,
        owner TEXT NOT NULL,
        PRIMARY KEY (network, address)
    );
    CREATE TABLE ipam_cursors (
        network TEXT PRIMARY KEY,
        address TEXT NOT NULL
    );
    """,
    # the image a ``commit`` was made from (dockerd's local ``Parent``; pulled, loaded and
    # built images have none)
    """
    CREATE TABLE image_parents (
        id TEXT PRIMARY KEY,
        parent TEXT NOT NULL
    );
    """,
    # 4: user-namespace id ranges held by containers (engine/userns.py owns the rows)
    """
    CREATE TABLE userns_ranges (
        owner TEXT PRIMARY KEY,
        uid_base INTEGER NOT NULL,
        gid_base INTEGER NOT NULL,
        size INTEGER NOT NULL
    );
    """,
)


@record
class ImageRecord:
    """One row of ``images``."""

    manifest_digest: str
    id: str
    media_type: str
    created: str | None
    size: int
    added_at: float


@record
class ContainerRecord:
    """One row of ``containers``; ``config`` and ``labels`` are stored as JSON. The store
    keeps ``config`` as the JSON object it is; ``dockyard.engine.record`` gives it its types
    (run options, published ports, pod membership …): read it there, not by key here."""

    id: str
    name: str
    image_ref: str
    image_id: str
    created: str
    status: str = "created"
    pid: int | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    started_at: str | None = None
    finished_at: str | None = None
    config: Mapping[str, object] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


_CONTAINER_COLUMNS = (
    "id, name, image_ref, image_id, created, status, pid, exit_code, oom_killed, "
    "started_at, finished_at, config, labels"
)


def _container_row(r: ContainerRecord) -> tuple[Any, ...]:
    return (
        r.id,
        r.name,
        r.image_ref,
        r.image_id,
        r.created,
        r.status,
        r.pid,
        r.exit_code,
        int(r.oom_killed),
        r.started_at,
        r.finished_at,
        fastjson.dumps(dict(r.config), sort_keys=True),
        fastjson.dumps(dict(r.labels), sort_keys=True),
    )


def _container(row: sqlite3.Row) -> ContainerRecord:
    return ContainerRecord(
        id=row["id"],
        name=row["name"],
        image_ref=row["image_ref"],
        image_id=row["image_id"],
        created=row["created"],
        status=row["status"],
        pid=row["pid"],
        exit_code=row["exit_code"],
        oom_killed=bool(row["oom_killed"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        config=fastjson.loads(row["config"], "container config"),
        labels=fastjson.loads(row["labels"], "container labels"),
    )


class StateDB:
    """Typed access to ``state.db``; see the module docstring for the protocol."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self._path = os.fspath(path)
        self.timeout = timeout
        self._local = _thread._local()
        self._migrated = False
        self._secured = False
        self._lock = _thread.allocate_lock()

    @property
    def path(self) -> Path:
        from pathlib import Path

        return Path(self._path)

    # --- connections --------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        if self._path == ":memory:":  # sqlite's in-memory database: no file to make
            self._secured = True
        else:
            os.makedirs(os.path.dirname(self._path) or ".", exist_ok=True)
        if not self._secured:  # 0600: Secrets live here (see perms.py)
            from dockyard.store.perms import secure_db

            secure_db(self._path)
            self._secured = True
        conn = sqlite3.connect(self._path, timeout=self.timeout, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            if not self._migrated:
                migrate(conn, MIGRATIONS)
                self._migrated = True
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def transaction(self, write: bool = False) -> _Transaction:
        """One transaction (a context manager giving the connection); ``write`` takes the
        write lock at the start."""
        return _Transaction(self, write)

    @property
    def schema_version(self) -> int:
        with self.transaction() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # --- images and tags ----------------------------------------------------------------

    def put_image(self, rec: ImageRecord, tags: tuple[str, ...] = ()) -> None:
        """Insert or update an image row and point ``tags`` at it, atomically. An image
        already there keeps its other tags (``INSERT OR REPLACE`` would delete the row
        and, through ``ON DELETE CASCADE``, every tag on it: a ``load`` or ``pull`` of an
        image tagged ``mine:1`` untagged it)."""
        with self.transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(manifest_digest) DO "
                "UPDATE SET id = excluded.id, media_type = excluded.media_type, "
                "created = excluded.created, size = excluded.size, added_at = excluded.added_at",
                (rec.manifest_digest, rec.id, rec.media_type, rec.created, rec.size, rec.added_at),
            )
            for ref in tags:
                conn.execute(
                    "INSERT OR REPLACE INTO tags VALUES (?, ?)", (ref, rec.manifest_digest)
                )

    def get_image(self, manifest_digest: str) -> ImageRecord:
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM images WHERE manifest_digest = ?", (manifest_digest,)
            ).fetchone()
        if row is None:
            raise NotFound(f"image {manifest_digest}: not found")
        return ImageRecord(**dict(row))

    def list_images(self) -> list[ImageRecord]:
        with self.transaction() as conn:
            rows = conn.execute("SELECT * FROM images ORDER BY added_at DESC").fetchall()
        return [ImageRecord(**dict(r)) for r in rows]

    def find_images(self, id_prefix: str) -> list[ImageRecord]:
        """Images whose id (``sha256:<hex>``) or manifest digest starts with ``id_prefix``."""
        pattern = id_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT * FROM images WHERE id LIKE ? ESCAPE '\\' OR manifest_digest LIKE ? "
                "ESCAPE '\\' ORDER BY added_at DESC",
                (pattern, pattern),
            ).fetchall()
        return [ImageRecord(**dict(r)) for r in rows]

    def delete_image(self, manifest_digest: str) -> None:
        """Delete an image row and its tags (and its parent, when no other row has its id)."""
        with self.transaction(write=True) as conn:
            conn.execute("DELETE FROM images WHERE manifest_digest = ?", (manifest_digest,))
            conn.execute("DELETE FROM image_parents WHERE id NOT IN (SELECT id FROM images)")

    def set_parent(self, image_id: str, parent_id: str) -> None:
        with self.transaction(write=True) as conn:
            conn.execute("INSERT OR REPLACE INTO image_parents (id, parent) VALUES (?, ?)",
                         (image_id, parent_id))  # fmt: skip

    def parent_of(self, image_id: str) -> str:
        """The id ``image_id`` was committed from, or ``""``."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT parent FROM image_parents WHERE id = ?", (image_id,)
            ).fetchone()
        return str(row[0]) if row else ""

    def set_tag(self, ref: str, manifest_digest: str) -> None:
        with self.transaction(write=True) as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM images WHERE manifest_digest = ?", (manifest_digest,)
                ).fetchone()
                is None
            ):
                raise NotFound(f"tag {ref}: image {manifest_digest} not found")
            conn.execute("INSERT OR REPLACE INTO tags VALUES (?, ?)", (ref, manifest_digest))

    def get_tag(self, ref: str) -> str | None:
        with self.transaction() as conn:
            row = conn.execute("SELECT manifest_digest FROM tags WHERE ref = ?", (ref,)).fetchone()
        return None if row is None else str(row[0])

    def delete_tag(self, ref: str) -> None:
        with self.transaction(write=True) as conn:
            if conn.execute("DELETE FROM tags WHERE ref = ?", (ref,)).rowcount == 0:
                raise NotFound(f"untag {ref}: no such tag")

    def tags_of(self, manifest_digest: str) -> list[str]:
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT ref FROM tags WHERE manifest_digest = ? ORDER BY ref", (manifest_digest,)
            ).fetchall()
        return [str(r[0]) for r in rows]

    def all_tags(self) -> dict[str, str]:
        """Every tag: reference → manifest digest."""
        with self.transaction() as conn:
            return {
                str(r[0]): str(r[1]) for r in conn.execute("SELECT ref, manifest_digest FROM tags")
            }

    # --- containers ---------------------------------------------------------------------

    def add_container(self, rec: ContainerRecord) -> None:
        """Insert a container; AlreadyExists when its id or name is taken."""
        placeholders = ", ".join("?" * 13)
        with self.transaction(write=True) as conn:
            try:
                conn.execute(
                    f"INSERT INTO containers ({_CONTAINER_COLUMNS}) VALUES ({placeholders})",
                    _container_row(rec),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(
                    f"create container {rec.name}: id or name already in use"
                ) from None

    def container_name_taken(self, name: str) -> bool:
        """Whether a container is called ``name`` (without reading every record)."""
        with self.transaction() as conn:
            row = conn.execute("SELECT 1 FROM containers WHERE name = ?", (name,)).fetchone()
        return row is not None

    def set_container_status(self, cid: str, **columns: Any) -> None:
        """Update some of a container's status columns (``status``, ``pid``, ``exit_code``,
        ``oom_killed``, ``started_at``, ``finished_at``) without rewriting its config."""
        bad = set(columns) - _STATUS_COLUMNS
        if bad:
            raise InvalidArgument(f"update container {cid}: not status columns: {sorted(bad)}")
        sets = ", ".join(f"{c} = ?" for c in columns)
        values = [int(v) if c == "oom_killed" else v for c, v in columns.items()]
        with self.transaction(write=True) as conn:
            cur = conn.execute(f"UPDATE containers SET {sets} WHERE id = ?", (*values, cid))
            if cur.rowcount == 0:
                raise NotFound(f"update container {cid}: no such container")

    def get_container(self, ref: str) -> ContainerRecord:
        """Resolve like docker: full id, then exact name, then a unique id prefix."""
        with self.transaction() as conn:
            return _container(self._resolve_container(conn, ref))

    def _resolve_container(self, conn: sqlite3.Connection, ref: str) -> sqlite3.Row:
        sel = f"SELECT {_CONTAINER_COLUMNS} FROM containers"
        name = ref.removeprefix("/")
        row: sqlite3.Row | None = conn.execute(f"{sel} WHERE id = ?", (ref,)).fetchone()
        if row is None:  # spares (prepared ahead, engine/spares.py) only by their full id
            row = conn.execute(f"{sel} WHERE name = ? AND status != 'spare'", (name,)).fetchone()
        if row is not None:
            return row
        if ref and all(c in "0123456789abcdef" for c in ref):
            rows = conn.execute(
                f"{sel} WHERE id LIKE ? AND status != 'spare'", (ref + "%",)
            ).fetchall()
            if len(rows) == 1:
                return rows[0]  # type: ignore[no-any-return]
            if len(rows) > 1:
                raise InvalidArgument(f"get container {ref}: ambiguous id prefix")
        raise NotFound(f"get container {ref}: no such container")

    def list_containers(self, *, spares: bool = False) -> list[ContainerRecord]:
        """Containers, newest first; ``spares``: only the containers prepared ahead of
        their process (status ``spare``, engine/spares.py), which are otherwise left out."""
        cond = "=" if spares else "!="
        with self.transaction() as conn:
            rows = conn.execute(
                f"SELECT {_CONTAINER_COLUMNS} FROM containers WHERE status {cond} 'spare' "
                "ORDER BY created DESC"
            ).fetchall()
        return [_container(r) for r in rows]

    def update_container(self, rec: ContainerRecord) -> None:
        """Replace the stored record whose id is ``rec.id`` (NotFound if absent)."""
        sets = ", ".join(f"{c.strip()} = ?" for c in _CONTAINER_COLUMNS.split(",")[1:])
        with self.transaction(write=True) as conn:
            try:
                cur = conn.execute(
                    f"UPDATE containers SET {sets} WHERE id = ?",
                    (*_container_row(rec)[1:], rec.id),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"update container {rec.id}: name {rec.name} in use") from None
            if cur.rowcount == 0:
                raise NotFound(f"update container {rec.id}: no such container")

    def remove_container(self, ref: str) -> ContainerRecord:
        """Delete a container resolved like ``get_container``; return what was removed."""
        with self.transaction(write=True) as conn:
            row = self._resolve_container(conn, ref)
            conn.execute("DELETE FROM containers WHERE id = ?", (row["id"],))
        return _container(row)

    def containers_using(self, image_id: str) -> list[str]:
        """Ids of containers created from image ``image_id``."""
        with self.transaction() as conn:
            rows = conn.execute(
                "SELECT id FROM containers WHERE image_id = ? AND status != 'spare'", (image_id,)
            )
            return [str(r[0]) for r in rows]


_STATUS_COLUMNS = frozenset(
    ("status", "pid", "exit_code", "oom_killed", "started_at", "finished_at")
)


class _Transaction:
    """``with db.transaction() as conn``: BEGIN (IMMEDIATE for writes), then COMMIT, or
    ROLLBACK on an exception (a class, not ``contextlib``, which costs a start-up)."""

    def __init__(self, db: StateDB, write: bool) -> None:
        self._db = db
        self._write = write
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        conn = self._db._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if self._write else "BEGIN")
        except sqlite3.OperationalError as e:
            raise Unavailable(f"open state database {self._db._path}: {e}") from None
        self._conn = conn
        return conn

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        self._conn.execute("ROLLBACK" if kind is not None else "COMMIT")
