"""Vulnerability records in the OSV schema, and the local database that holds them.

Terms
-----
*Record*: one OSV JSON object (``id``, ``modified``, ``affected``, ``severity``, ...), as
osv.dev publishes them, one per file, in a directory or a zip per ecosystem.
*Affected*: a package of a record (``ecosystem`` + ``name``) with its ``ranges``
(``ECOSYSTEM`` events ``introduced`` / ``fixed`` / ``last_affected`` / ``limit``) and an
explicit ``versions`` list.  Ecosystems read: ``PyPI``, ``Debian`` and ``Debian:N``; any
other is refused (a scanner that silently drops records it cannot match would report
a clean image it never checked).

Database
--------
``<root>/osv.db``, SQLite, beside ``state.db``: table ``records`` (id, modified, the
record's JSON) and ``affected`` (record id, ecosystem, family ``PyPI``/``Debian``, the
package name as matched: PEP 503-normalised for PyPI, as given for Debian, whose records
name *source* packages).  ``import_path`` reads and checks every record first and then
writes all of them in one transaction (a record with an id already present replaces
it), so a malformed file, an unknown ecosystem or a corrupt zip raises InvalidArgument
naming the file and leaves the database as it was.

Example::

    db = OsvDB.at_root("/var/lib/dockyard")
    db.import_path(Path("PyPI.zip"))
    for rec in db.candidates("PyPI", "jinja2"): ...

Errors: InvalidArgument for bad input (one line: ``scan db import X.zip: a.json:
affected[0]: unknown ecosystem 'npm'``); NotFound for a missing path.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument, NotFound

__all__ = [
    "Affected",
    "Event",
    "OsvDB",
    "Range",
    "Record",
    "family_of",
    "match_name",
    "parse_record",
]

_DEBIAN_RELEASE = re.compile(r"^Debian:\d+(\.\d+)?$")
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_RANGE_TYPES = ("ECOSYSTEM", "SEMVER", "GIT")
_SEVERITY_TYPES = ("CVSS_V2", "CVSS_V3", "CVSS_V4", "Ubuntu")
MAX_RECORD = 16 << 20


@dataclass(frozen=True, slots=True)
class Event:
    """One range event: ``kind`` is introduced, fixed, last_affected or limit."""

    kind: str
    version: str


@dataclass(frozen=True, slots=True)
class Range:
    type: str
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Affected:
    ecosystem: str
    name: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    severity: tuple[tuple[str, str], ...]  # (type, score) of this package, if given


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    modified: str
    summary: str
    aliases: tuple[str, ...]
    severity: tuple[tuple[str, str], ...]  # (type, vector)
    db_severity: str  # database_specific.severity (GHSA: LOW ... CRITICAL, MODERATE)
    affected: tuple[Affected, ...]
    withdrawn: bool


def family_of(ecosystem: str) -> str:
    """``PyPI`` or ``Debian``; InvalidArgument for any other ecosystem."""
    if ecosystem == "PyPI":
        return "PyPI"
    if ecosystem == "Debian" or _DEBIAN_RELEASE.match(ecosystem):
        return "Debian"
    raise InvalidArgument(f"unknown ecosystem {ecosystem!r}")


def match_name(family: str, name: str) -> str:
    """The name as packages are looked up: PEP 503 for PyPI, verbatim for Debian."""
    if family == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


# --- parsing (strict: every field read is checked for its type) ------------------------


def _str(obj: dict[str, Any], key: str, where: str, required: bool = False) -> str:
    value = obj.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise InvalidArgument(f"{where}: {key}: want a non-empty string")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidArgument(f"{where}: {key}: want a list")
    return value


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where}: want an object")
    return value


def _severity(items: list[Any], where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for i, raw in enumerate(items):
        at = f"{where}[{i}]"
        item = _obj(raw, at)
        kind, score = _str(item, "type", at, True), _str(item, "score", at, True)
        if kind not in _SEVERITY_TYPES:
            raise InvalidArgument(f"{at}: unknown severity type {kind!r}")
        if kind.startswith("CVSS"):
            _check_cvss(kind, score, at)
        out.append((kind, score))
    return tuple(out)


def _check_cvss(kind: str, vector: str, where: str) -> None:
    import cvss

    cls = {"CVSS_V2": cvss.CVSS2, "CVSS_V3": cvss.CVSS3, "CVSS_V4": cvss.CVSS4}[kind]
    try:
        cls(vector)
    except cvss.CVSSError as e:
        raise InvalidArgument(f"{where}: invalid {kind} vector {vector!r}: {e}") from None


def _ranges(items: list[Any], where: str) -> tuple[Range, ...]:
    out = []
    for i, raw in enumerate(items):
        at = f"{where}.ranges[{i}]"
        item = _obj(raw, at)
        kind = _str(item, "type", at, True)
        if kind not in _RANGE_TYPES:
            raise InvalidArgument(f"{at}: unknown range type {kind!r}")
        events = []
        for j, ev in enumerate(_list(item, "events", at)):
            e = _obj(ev, f"{at}.events[{j}]")
            if len(e) != 1 or next(iter(e)) not in _EVENT_KINDS:
                raise InvalidArgument(f"{at}.events[{j}]: want one of {', '.join(_EVENT_KINDS)}")
            key = next(iter(e))
            events.append(Event(key, _str(e, key, f"{at}.events[{j}]", True)))
        if not events:
            raise InvalidArgument(f"{at}: no events")
        out.append(Range(kind, tuple(events)))
    return tuple(out)


def _affected(raw: Any, where: str) -> Affected:
    item = _obj(raw, where)
    pkg = _obj(item.get("package"), f"{where}.package")
    ecosystem = _str(pkg, "ecosystem", f"{where}.package", True)
    try:
        family_of(ecosystem)
    except InvalidArgument as e:
        raise InvalidArgument(f"{where}: {e}") from None
    name = _str(pkg, "name", f"{where}.package", True)
    versions = _list(item, "versions", where)
    if not all(isinstance(v, str) for v in versions):
        raise InvalidArgument(f"{where}: versions: want strings")
    severity = _severity(_list(item, "severity", where), f"{where}.severity")
    return Affected(
        ecosystem, name, _ranges(_list(item, "ranges", where), where), tuple(versions), severity
    )


def parse_record(data: Any, where: str) -> Record:
    """A checked :class:`Record` from decoded JSON; InvalidArgument names ``where``."""
    obj = _obj(data, where)
    rid = _str(obj, "id", where, True)
    aliases = _list(obj, "aliases", where)
    if not all(isinstance(a, str) for a in aliases):
        raise InvalidArgument(f"{where}: aliases: want strings")
    db_specific = obj.get("database_specific")
    db_severity = ""
    if isinstance(db_specific, dict) and isinstance(db_specific.get("severity"), str):
        db_severity = db_specific["severity"]
    affected = tuple(
        _affected(a, f"{where}: affected[{i}]") for i, a in enumerate(_list(obj, "affected", where))
    )
    return Record(
        rid,
        _str(obj, "modified", where, True),
        _str(obj, "summary", where) or _str(obj, "details", where).split("\n", 1)[0][:200],
        tuple(aliases),
        _severity(_list(obj, "severity", where), f"{where}: severity"),
        db_severity,
        affected,
        bool(obj.get("withdrawn")),
    )


# --- reading a directory or a zip -------------------------------------------------------


def _decode(data: bytes, where: str) -> list[Record]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidArgument(f"{where}: invalid JSON: {e}") from None
    items = doc if isinstance(doc, list) else [doc]
    return [
        parse_record(item, where if len(items) == 1 else f"{where}[{i}]")
        for i, item in enumerate(items)
    ]


def _read_dir(path: Path) -> Iterator[tuple[str, bytes]]:
    for p in sorted(path.rglob("*.json")):
        if p.is_file():
            if p.stat().st_size > MAX_RECORD:
                raise InvalidArgument(f"{p}: larger than {MAX_RECORD} bytes")
            yield str(p.relative_to(path)), p.read_bytes()


def _read_zip(path: Path) -> Iterator[tuple[str, bytes]]:
    import zipfile

    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise InvalidArgument(f"not a valid zip: {e}") from None
    with zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.endswith(".json"):
                continue
            if info.file_size > MAX_RECORD:
                raise InvalidArgument(f"{info.filename}: larger than {MAX_RECORD} bytes")
            try:
                yield info.filename, zf.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                raise InvalidArgument(f"{info.filename}: corrupt zip member: {e}") from None


def read_records(path: Path) -> list[Record]:
    """Every record under ``path`` (a directory, a zip or one JSON file), all checked."""
    where = f"scan db import {path}"
    if not path.exists():
        raise NotFound(f"{where}: no such file or directory")
    if path.is_dir():
        files = _read_dir(path)
    elif path.suffix == ".json":
        files = iter([(path.name, path.read_bytes())])
    else:
        files = _read_zip(path)
    try:
        return [rec for name, data in files for rec in _decode(data, name)]
    except InvalidArgument as e:
        raise InvalidArgument(f"{where}: {e}") from None


# --- the database ----------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY, modified TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS affected (
    record_id TEXT NOT NULL, ecosystem TEXT NOT NULL, family TEXT NOT NULL, name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS affected_by_name ON affected (family, name);
CREATE INDEX IF NOT EXISTS affected_by_record ON affected (record_id);
"""


class OsvDB:
    """The local OSV database (see the module doc)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._cache: dict[str, Record] = {}
        self._reader: sqlite3.Connection | None = None

    @classmethod
    def at_root(cls, root: str | os.PathLike[str]) -> OsvDB:
        return cls(os.path.join(os.fspath(root), "osv.db"))

    def _connect(self) -> sqlite3.Connection:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30)
        conn.executescript(_SCHEMA)
        return conn

    def import_path(self, path: Path) -> int:
        """Import every record under ``path`` in one transaction; return their number."""
        records = read_records(path)
        self.store(records)
        return len(records)

    def store(self, records: list[Record]) -> None:
        """Write checked records, all or none."""
        rows = [(r.id, r.modified, json.dumps(_to_json(r))) for r in records]
        affected = [
            (r.id, a.ecosystem, family_of(a.ecosystem), match_name(family_of(a.ecosystem), a.name))
            for r in records
            for a in r.affected
        ]
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    "DELETE FROM affected WHERE record_id = ?", [(r[0],) for r in rows]
                )
                conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", rows)
                conn.executemany("INSERT INTO affected VALUES (?, ?, ?, ?)", affected)
        finally:
            conn.close()
        self._cache.clear()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def count(self) -> int:
        if not os.path.exists(self.path):
            return 0
        conn = self._connect()
        try:
            return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
        finally:
            conn.close()

    def candidates(self, family: str, name: str) -> list[Record]:
        """The records that name the package ``name`` of ``family`` in any ecosystem."""
        if self._reader is None:
            if not os.path.exists(self.path):
                return []
            self._reader = self._connect()
        rows = self._reader.execute(
            "SELECT DISTINCT r.id, r.body FROM affected a JOIN records r ON r.id = a.record_id"
            " WHERE a.family = ? AND a.name = ? ORDER BY r.id",
            (family, match_name(family, name)),
        ).fetchall()
        out = []
        for rid, body in rows:
            if rid not in self._cache:
                self._cache[rid] = parse_record(json.loads(body), f"osv.db {rid}")
            out.append(self._cache[rid])
        return out


def _to_json(r: Record) -> dict[str, Any]:
    """The checked record, re-encoded in the OSV schema (only the fields dockyard reads)."""
    return {
        "id": r.id,
        "modified": r.modified,
        "summary": r.summary,
        "aliases": list(r.aliases),
        "severity": [{"type": t, "score": s} for t, s in r.severity],
        "database_specific": {"severity": r.db_severity} if r.db_severity else {},
        "withdrawn": "withdrawn" if r.withdrawn else None,
        "affected": [
            {
                "package": {"ecosystem": a.ecosystem, "name": a.name},
                "ranges": [
                    {"type": g.type, "events": [{e.kind: e.version} for e in g.events]}
                    for g in a.ranges
                ],
                "versions": list(a.versions),
                "severity": [{"type": t, "score": s} for t, s in a.severity],
            }
            for a in r.affected
        ],
    }
