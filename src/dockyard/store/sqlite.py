"""Schema migrations of dockyard's SQLite files (``state.db``, the registry's ``registry.db``).

A schema is a list of scripts; script *i* (from 1) takes the file from ``PRAGMA user_version``
*i* - 1 to *i*.  :func:`migrate` runs the ones not yet run, in one ``BEGIN IMMEDIATE``
transaction, so two processes opening the same new file do not both create it, and a failed
script leaves the file as it was.  Opening a file that is up to date reads one pragma and takes
no write lock.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

__all__ = ["migrate"]


def _version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, scripts: Sequence[str]) -> None:
    """Apply the scripts not yet run (statements split on ``;``) and record the version."""
    if _version(conn) >= len(scripts):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _version(conn)
        for i, script in enumerate(scripts[version:], start=version + 1):
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {i}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
