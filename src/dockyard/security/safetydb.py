"""PyPI's ``safety-db`` (a real, offline database of insecure Python package versions) as
OSV records, for ``dockyard scan db import --safety-db [FILE]``.

``insecure_full.json`` maps a package name to advisories, each with ``specs`` (PEP 440
specifier sets such as ``<5.4`` or ``>=1.0,<1.2.3``), an ``id``, an optional ``cve`` and the
``advisory`` text. Each advisory becomes one OSV record (``PyPI`` ecosystem; one id covering
several packages gets one ``affected`` entry each): ``>=A,<B`` is the range introduced A,
fixed B; ``<=B`` last_affected B; ``==V`` an explicit version. A set with an exclusive lower
bound (``>A``) cannot be said exactly in OSV and is left out, as is a version that PEP 440
does not parse; an advisory with nothing left is skipped. The records carry no severity
(safety-db has none): a scan reports them as ``UNKNOWN``.

The data of the installed ``safety_db`` package is found without importing it (its
``__init__`` opens files relative to the working directory).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument, NotFound

__all__ = ["default_path", "osv_range", "records_from_safety_db"]

_CLAUSE = re.compile(r"(>=|<=|<|==|>)\s*(\S+)")


def default_path() -> Path:
    """``insecure_full.json`` of the installed ``safety_db`` package."""
    import importlib.util

    spec = importlib.util.find_spec("safety_db")
    if spec is None or spec.origin is None:
        raise NotFound("safety-db is not installed (pip install safety-db; make setup does)")
    return Path(spec.origin).parent / "insecure_full.json"


def osv_range(spec: str) -> dict[str, Any] | None:
    """One specifier set as an OSV range (or ``{"versions": [...]}``), None where OSV
    cannot say it exactly."""
    from packaging.version import InvalidVersion, Version

    lower: str | None = None
    upper: tuple[str, str] | None = None
    for clause in (c.strip() for c in spec.split(",") if c.strip()):
        m = _CLAUSE.fullmatch(clause)
        if m is None or m[1] == ">":
            return None
        try:
            Version(m[2])
        except InvalidVersion:
            return None
        if m[1] == "==":
            return {"versions": [m[2]]}
        if m[1] == ">=":
            lower = m[2]
        else:
            upper = (m[1], m[2])
    events: list[dict[str, str]] = [{"introduced": lower or "0"}]
    if upper is not None:
        events.append({"fixed" if upper[0] == "<" else "last_affected": upper[1]})
    return {"type": "ECOSYSTEM", "events": events}


def records_from_safety_db(path: Path | None = None) -> list[dict[str, Any]]:
    """The OSV records of safety-db's ``insecure_full.json`` at ``path`` (default: the
    installed package's); InvalidArgument naming the file when it is not safety-db's."""
    path = path or default_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"safety-db {path}: {e}") from None
    if not isinstance(data, dict) or "$meta" not in data:
        raise InvalidArgument(f"safety-db {path}: not safety-db's insecure_full.json")
    records: dict[str, dict[str, Any]] = {}
    for name, advisories in data.items():
        if name == "$meta" or not isinstance(advisories, list):
            continue
        for adv in advisories:
            if not isinstance(adv, dict) or not adv.get("id"):
                continue
            ranges: list[dict[str, Any]] = []
            versions: list[str] = []
            for spec in adv.get("specs") or []:
                converted = osv_range(str(spec))
                if converted is None:
                    continue
                if "versions" in converted:
                    versions += converted["versions"]
                else:
                    ranges.append(converted)
            if not ranges and not versions:
                continue
            rid = str(adv["id"])
            affected = {"package": {"ecosystem": "PyPI", "name": name}, "ranges": ranges,
                        "versions": versions}  # fmt: skip
            if rid in records:  # one advisory id can cover several packages
                records[rid]["affected"].append(affected)
                continue
            records[rid] = {
                "id": rid,
                "modified": "2021-07-17T00:00:00Z",
                "aliases": [adv["cve"]] if adv.get("cve") else [],
                "details": str(adv.get("advisory") or ""),
                "affected": [affected],
            }
    return list(records.values())
