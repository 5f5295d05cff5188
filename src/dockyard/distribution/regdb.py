"""The registry's metadata: SQLite in WAL mode at ``<registry root>/registry.db``.

Terms
-----
*repository*: a name (``library/busybox``); it exists once anything was pushed
to it.  *blob link*: the fact that a blob (whose bytes live in the shared
content store) belongs to a repository; a blob is served from a repository
only through a link, so a blob pushed to ``a`` is not readable as ``b/...``
until it is pushed or mounted there.  *manifest*: a manifest or index whose
exact bytes are a blob, recorded per repository with what the referrers API
and garbage collection need (media type, size, subject, artifact type,
annotations, the digests it references).  *tag*: repository + tag → manifest
digest.  *upload*: an upload session id bound to one repository.

Every method is one short transaction, so a crash leaves either the old or
the new state: a manifest row and its tags are written together, after the
manifest bytes are committed to the content store.

Errors: a database locked beyond the timeout raises Unavailable.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import Unavailable
from dockyard.store.sqlite import migrate

__all__ = ["ManifestRow", "RegistryDB", "UploadRow"]

_SCHEMA = (
    """
    CREATE TABLE repos (name TEXT PRIMARY KEY, created REAL NOT NULL);
    CREATE TABLE blobs (
        repo TEXT NOT NULL REFERENCES repos(name),
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (repo, digest)
    );
    CREATE INDEX blobs_digest ON blobs(digest);
    CREATE TABLE manifests (
        repo TEXT NOT NULL REFERENCES repos(name),
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        subject TEXT,
        artifact_type TEXT,
        annotations TEXT NOT NULL DEFAULT '{}',
        refs TEXT NOT NULL DEFAULT '[]',
        created REAL NOT NULL,
        PRIMARY KEY (repo, digest)
    );
    CREATE INDEX manifests_subject ON manifests(repo, subject);
    CREATE TABLE tags (
        repo TEXT NOT NULL,
        tag TEXT NOT NULL,
        digest TEXT NOT NULL,
        PRIMARY KEY (repo, tag),
        FOREIGN KEY (repo, digest) REFERENCES manifests(repo, digest) ON DELETE CASCADE
    );
    CREATE TABLE uploads (
        id TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        started REAL NOT NULL,
        updated REAL NOT NULL
    );
    """,
)


@dataclass(frozen=True)
class ManifestRow:
    """One manifest of one repository."""

    repo: str
    digest: str
    media_type: str
    size: int
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class UploadRow:
    id: str
    repo: str
    algorithm: str
    started: float
    updated: float


def _manifest(row: sqlite3.Row) -> ManifestRow:
    return ManifestRow(
        repo=row["repo"],
        digest=row["digest"],
        media_type=row["media_type"],
        size=row["size"],
        subject=row["subject"],
        artifact_type=row["artifact_type"],
        annotations=json.loads(row["annotations"]),
        refs=tuple(json.loads(row["refs"])),
    )


class RegistryDB:
    """Typed access to ``registry.db``; see the module docstring."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._migrated = False

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        with self._lock:
            if not self._migrated:
                migrate(conn, _SCHEMA)
                self._migrated = True
        self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextlib.contextmanager
    def tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as e:
            raise Unavailable(f"open registry database {self.path}: {e}") from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- repositories -------------------------------------------------------------------

    def repo_exists(self, repo: str) -> bool:
        with self.tx() as c:
            return c.execute("SELECT 1 FROM repos WHERE name = ?", (repo,)).fetchone() is not None

    def repositories(self, last: str = "", limit: int = -1) -> list[str]:
        with self.tx() as c:
            rows = c.execute(
                "SELECT name FROM repos WHERE name > ? ORDER BY name LIMIT ?", (last, limit)
            ).fetchall()
        return [str(r[0]) for r in rows]

    # --- blobs --------------------------------------------------------------------------

    def link_blob(self, repo: str, digest: str, size: int) -> None:
        with self.tx(write=True) as c:
            _ensure_repo(c, repo)
            c.execute("INSERT OR REPLACE INTO blobs VALUES (?, ?, ?)", (repo, digest, size))

    def blob_linked(self, repo: str, digest: str) -> bool:
        with self.tx() as c:
            row = c.execute(
                "SELECT 1 FROM blobs WHERE repo = ? AND digest = ?", (repo, digest)
            ).fetchone()
        return row is not None

    def unlink_blob(self, repo: str, digest: str) -> bool:
        with self.tx(write=True) as c:
            n = c.execute("DELETE FROM blobs WHERE repo = ? AND digest = ?", (repo, digest))
            return n.rowcount > 0

    def linked_blobs(self) -> set[str]:
        with self.tx() as c:
            return {str(r[0]) for r in c.execute("SELECT DISTINCT digest FROM blobs")}

    # --- manifests and tags -------------------------------------------------------------

    def put_manifest(self, row: ManifestRow, tags: Sequence[str] = ()) -> None:
        """Record a manifest and point ``tags`` at it, in one transaction."""
        with self.tx(write=True) as c:
            _ensure_repo(c, row.repo)
            c.execute(
                "INSERT OR IGNORE INTO manifests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.repo,
                    row.digest,
                    row.media_type,
                    row.size,
                    row.subject,
                    row.artifact_type,
                    json.dumps(row.annotations, sort_keys=True),
                    json.dumps(list(row.refs)),
                    time.time(),
                ),
            )
            for tag in tags:
                c.execute(
                    "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)", (row.repo, tag, row.digest)
                )

    def get_manifest(self, repo: str, digest: str) -> ManifestRow | None:
        with self.tx() as c:
            row = c.execute(
                "SELECT * FROM manifests WHERE repo = ? AND digest = ?", (repo, digest)
            ).fetchone()
        return None if row is None else _manifest(row)

    def has_manifests(self, repo: str, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` that are not manifests of ``repo``."""
        with self.tx() as c:
            return [
                d
                for d in digests
                if c.execute(
                    "SELECT 1 FROM manifests WHERE repo = ? AND digest = ?", (repo, d)
                ).fetchone()
                is None
            ]

    def missing_blobs(self, repo: str, digests: Sequence[str]) -> list[str]:
        """Those of ``digests`` that are not linked to ``repo``."""
        with self.tx() as c:
            return [
                d
                for d in digests
                if c.execute(
                    "SELECT 1 FROM blobs WHERE repo = ? AND digest = ?", (repo, d)
                ).fetchone()
                is None
            ]

    def resolve_tag(self, repo: str, tag: str) -> str | None:
        with self.tx() as c:
            row = c.execute(
                "SELECT digest FROM tags WHERE repo = ? AND tag = ?", (repo, tag)
            ).fetchone()
        return None if row is None else str(row[0])

    def tags(self, repo: str, last: str = "", limit: int = -1) -> list[str]:
        with self.tx() as c:
            rows = c.execute(
                "SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?",
                (repo, last, limit),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def delete_tag(self, repo: str, tag: str) -> bool:
        with self.tx(write=True) as c:
            n = c.execute("DELETE FROM tags WHERE repo = ? AND tag = ?", (repo, tag))
            return n.rowcount > 0

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest and every tag pointing at it."""
        with self.tx(write=True) as c:
            c.execute("DELETE FROM tags WHERE repo = ? AND digest = ?", (repo, digest))
            n = c.execute("DELETE FROM manifests WHERE repo = ? AND digest = ?", (repo, digest))
            return n.rowcount > 0

    def referrers(self, repo: str, subject: str) -> list[ManifestRow]:
        with self.tx() as c:
            rows = c.execute(
                "SELECT * FROM manifests WHERE repo = ? AND subject = ? ORDER BY digest",
                (repo, subject),
            ).fetchall()
        return [_manifest(r) for r in rows]

    def all_manifests(self) -> list[ManifestRow]:
        with self.tx() as c:
            return [_manifest(r) for r in c.execute("SELECT * FROM manifests")]

    def untagged_manifests(self) -> list[ManifestRow]:
        """Manifests that no tag points at and that are not referenced by another."""
        with self.tx() as c:
            rows = c.execute(
                "SELECT * FROM manifests m WHERE NOT EXISTS "
                "(SELECT 1 FROM tags t WHERE t.repo = m.repo AND t.digest = m.digest)"
            ).fetchall()
        return [_manifest(r) for r in rows]

    # --- uploads ------------------------------------------------------------------------

    def add_upload(self, upload_id: str, repo: str, algorithm: str) -> None:
        now = time.time()
        with self.tx(write=True) as c:
            c.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?)", (upload_id, repo, algorithm, now, now)
            )

    def get_upload(self, upload_id: str) -> UploadRow | None:
        with self.tx() as c:
            row = c.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return None if row is None else UploadRow(**dict(row))

    def touch_upload(self, upload_id: str) -> None:
        with self.tx(write=True) as c:
            c.execute("UPDATE uploads SET updated = ? WHERE id = ?", (time.time(), upload_id))

    def delete_upload(self, upload_id: str) -> None:
        with self.tx(write=True) as c:
            c.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))

    def uploads(self) -> list[UploadRow]:
        with self.tx() as c:
            return [UploadRow(**dict(r)) for r in c.execute("SELECT * FROM uploads")]


def _ensure_repo(c: sqlite3.Connection, repo: str) -> None:
    c.execute("INSERT OR IGNORE INTO repos VALUES (?, ?)", (repo, time.time()))
