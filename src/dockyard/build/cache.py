"""The build cache: step keys and the records that map them to layers.

Keys
----
A stage starts from a *base key*: ``image:<config digest>`` for an image,
``scratch:<os>/<arch>`` for scratch, the final key of another stage for
``FROM <stage>``.  Every instruction then moves the key on::

    key(step) = sha256(canonical JSON [key(previous step), what the step is])

*what the step is* is the instruction after variable expansion, plus

* RUN: the build args in scope (they are its environment) and, for bind
  mounts of the context, the checksum of what is mounted;
* COPY/ADD: the content checksums of exactly the files it reads
  (:func:`dockyard.build.context.checksum`) — not their mtimes, so ``touch``
  keeps the cache and an edit misses from the first step that reads the file;
  ``--from`` a stage: that stage's final key; ``--from`` an image: its id;
* ONBUILD triggers: the trigger text.

Records
-------
``<root>/buildcache/cache.db`` (SQLite, WAL), table ``steps``: key → the
layer the step made (digest, diff ID, size, media type; NULL for a step that
changed nothing), its history timestamp and when it was last used.  A record
is used only while its layer blob is still in the content store (a garbage
collection may have taken it).  ``prune`` empties the table (and the two below).

Table ``builds``: the memo of a whole build (:mod:`dockyard.build.memo`), by
memo key.

Table ``files`` remembers the content digest of context files (:class:`FileSums`):
host path → ``(size, mtime_ns, ctime_ns, inode, device)`` and the sha256 of the
content.  A file whose ``lstat`` still shows all five is not read again, so a
rebuild with no change hashes nothing, and after a ``touch`` only the touched
file is read (its digest, hence the step key, is unchanged: a cache hit).
Any write to a file changes its ctime; a digest is not recorded when the
file's ctime is so recent (within :data:`RACY_NS` of the time it was hashed)
that a later write could carry the same timestamp, nor when the file changed
while it was read — the racy-git rule.

Errors: a database locked beyond the busy timeout → Unavailable.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import Unavailable
from dockyard.records import record

if TYPE_CHECKING:
    from dockyard.build.state import LayerRef

__all__ = ["RACY_NS", "BuildCache", "CacheRecord", "FileSums", "step_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    key TEXT PRIMARY KEY,
    layer TEXT,
    created TEXT NOT NULL,
    used_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (
    key TEXT PRIMARY KEY,
    memo TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    stat TEXT NOT NULL,
    digest TEXT NOT NULL
);
"""

RACY_NS = 100_000_000  # timestamps come from a coarse clock (a jiffy or so): keep a margin


def step_key(parent: str, step: object) -> str:
    """The cache key of a step: ``parent`` key plus a JSON-able description."""
    data = json.dumps([parent, step], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode("utf-8", "surrogateescape")).hexdigest()


@record
class CacheRecord:
    """What a cached step produced: its layer (None: no change) and history time."""

    layer: LayerRef | None
    created: str


class BuildCache:
    """Cache records under ``<root>/buildcache``."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / "buildcache"
        self._conn: sqlite3.Connection | None = None
        # one connection, shared by the threads of one build (stages run in parallel):
        # every use of it holds this lock
        self.lock = threading.RLock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.dir / "cache.db", timeout=10.0, isolation_level=None,
                                   check_same_thread=False)  # fmt: skip
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                # a lost last transaction after a power cut loses a cache record, never
                # consistency (blobs are fsynced before a record names them)
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
            except sqlite3.OperationalError as exc:
                conn.close()
                raise Unavailable(f"build cache {self.dir}: {exc}") from None
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def get(self, key: str) -> CacheRecord | None:
        try:
            with self.lock:
                row = (
                    self._db()
                    .execute("SELECT layer, created FROM steps WHERE key = ?", (key,))
                    .fetchone()
                )
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"build cache: {exc}") from None
        if row is None:
            return None
        from dockyard.build.state import LayerRef

        layer = LayerRef.from_json(json.loads(row[0])) if row[0] else None
        return CacheRecord(layer, str(row[1]))

    def put(self, key: str, record: CacheRecord) -> None:
        layer = json.dumps(record.layer.to_json()) if record.layer is not None else None
        try:
            with self.lock:
                self._db().execute(
                    "INSERT OR REPLACE INTO steps (key, layer, created, used_at) "
                    "VALUES (?, ?, ?, ?)",
                    (key, layer, record.created, time.time()),
                )
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"build cache: {exc}") from None

    def touch(self, key: str) -> None:
        try:
            with self.lock:
                db = self._db()
                db.execute("UPDATE steps SET used_at = ? WHERE key = ?", (time.time(), key))
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"build cache: {exc}") from None

    def touch_many(self, keys: list[str]) -> None:
        now = time.time()
        try:
            db = self._db()
            db.execute("BEGIN")
            db.executemany("UPDATE steps SET used_at = ? WHERE key = ?", [(now, k) for k in keys])
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"build cache: {exc}") from None

    def get_memo(self, key: str) -> str | None:
        """The memo of a whole build (:mod:`dockyard.build.memo`), or None."""
        try:
            row = self._db().execute("SELECT memo FROM builds WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:
            return None
        return None if row is None else str(row[0])

    def put_memo(self, key: str, memo: str) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # only a shortcut: never fatal
            self._db().execute(
                "INSERT OR REPLACE INTO builds (key, memo) VALUES (?, ?)", (key, memo)
            )

    def count(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM steps").fetchone()[0])

    def prune(self) -> int:
        """Forget every record (and every remembered file digest); return how many
        step records there were."""
        n = self.count()
        self._db().execute("DELETE FROM steps")
        self._db().execute("DELETE FROM builds")
        self._db().execute("DELETE FROM files")
        return n


def _stat_key(st: os.stat_result) -> str:
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"


class FileSums:
    """Content digests of context files, remembered by their ``lstat`` (see above).

    ``digest(path, st)`` returns the hex sha256 of the regular file ``path`` whose
    ``lstat`` is ``st``; ``save()`` records what was hashed (one transaction).
    """

    def __init__(self, cache: BuildCache) -> None:
        self.cache = cache
        self.pending: list[tuple[str, str, str]] = []
        self.hashed = 0  # files read by this build (tests, benchmarks)
        self.known: dict[str, tuple[str, str]] = {}  # path -> (stat key, digest)
        self.loaded: set[str] = set()  # directories whose rows are in ``known``

    def _row(self, name: str) -> tuple[str, str] | None:
        # one query per directory (a range scan of the primary key), not one per file
        parent = os.path.dirname(name) + "/"
        with self.cache.lock:
            if parent not in self.loaded:
                self.loaded.add(parent)
                try:
                    rows = self.cache._db().execute(
                        "SELECT path, stat, digest FROM files WHERE path >= ? AND path < ?",
                        (parent, parent[:-1] + "0"),  # "0" sorts right after "/"
                    )
                    for path, key, digest in rows:
                        if "/" not in path[len(parent) :]:
                            self.known[str(path)] = (str(key), str(digest))
                except sqlite3.OperationalError:
                    pass
            return self.known.get(name)

    def digest(self, path: str | os.PathLike[str], st: os.stat_result) -> str:
        from dockyard.build.context import file_digest

        name = os.fspath(path)
        key = _stat_key(st)
        row = self._row(name)
        if row is not None and row[0] == key:
            return row[1]
        started = time.time_ns()
        digest = file_digest(name)
        with self.cache.lock:
            self.hashed += 1
        after = os.lstat(name)
        if _stat_key(after) == key and st.st_ctime_ns < started - RACY_NS:
            self.pending.append((name, key, digest))
        return digest

    def save(self) -> None:
        if not self.pending:
            return
        rows, self.pending = self.pending, []
        try:
            db = self.cache._db()
            db.execute("BEGIN")
            db.executemany(
                "INSERT OR REPLACE INTO files (path, stat, digest) VALUES (?, ?, ?)", rows
            )
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            # only a shortcut for the next build: never fail this one over it
            with contextlib.suppress(sqlite3.Error):
                self.cache._db().execute("ROLLBACK")
