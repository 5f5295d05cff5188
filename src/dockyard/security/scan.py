"""Matching an image's packages against the local OSV database.

Terms
-----
*Finding*: one record that affects one installed package: the record's id and aliases,
the package (with the layer that added it), the installed version, the version that
fixes it (empty when none is known) and a severity.

Matching
--------
Python distributions are looked up by PEP 503 name in ecosystem ``PyPI``.  Debian
packages are looked up by *source* package name and source version (``Source:`` of the
dpkg database; Debian's advisories are per source package) in ``Debian`` and in
``Debian:N`` for the image's own release only (``VERSION_ID`` of os-release); an image
whose os-release ``ID`` is not ``debian`` gets no Debian matches.

An affected entry matches when the version is in its ``versions`` list, or when one of
its ``ECOSYSTEM`` ranges includes it.  A range is evaluated as the OSV schema says:
events sorted by version (``introduced: 0`` first), and walking them, ``introduced <=
v`` makes the version affected, ``fixed <= v`` or ``last_affected < v`` unaffected
again.  The fixed version reported is the lowest ``fixed`` event above the installed
version in a range that includes it.  ``SEMVER`` and ``GIT`` ranges are not evaluated
(osv.dev uses ``ECOSYSTEM`` for PyPI and Debian); events whose version does not parse in
the ecosystem are skipped.  Withdrawn records never match.

Severity
--------
From the record's (or the affected entry's) CVSS vector, preferring v3, then v4, then
v2: the base score computed by the ``cvss`` library, rated as CVSS v3 does — 0.1-3.9
LOW, 4.0-6.9 MEDIUM, 7.0-8.9 HIGH, 9.0-10.0 CRITICAL (0.0 and no vector: UNKNOWN, or
the database's own ``database_specific.severity`` when it gives one).

Example::

    findings = scan(inventory(store, image), OsvDB.at_root(root))
    sarif = to_sarif(inv, findings)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dockyard import __version__
from dockyard.errors import InvalidArgument
from dockyard.security.osv import Affected, OsvDB, Range, Record
from dockyard.security.packages import Inventory, Package
from dockyard.security.versions import compare

__all__ = [
    "SEVERITIES",
    "Filter",
    "Finding",
    "includes",
    "rate",
    "scan",
    "severity_of",
    "to_json",
    "to_sarif",
]

SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True, slots=True)
class Finding:
    """One record affecting one installed package (see the module doc)."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    package: Package
    installed: str  # the version compared (a deb's source version)
    fixed: str
    severity: str
    score: float | None
    vector: str


@dataclass(frozen=True, slots=True)
class Filter:
    """``--severity`` and ``--ignore-unfixed``."""

    severities: frozenset[str]
    ignore_unfixed: bool = False

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        return [
            f
            for f in findings
            if f.severity in self.severities and not (self.ignore_unfixed and not f.fixed)
        ]


# --- severity --------------------------------------------------------------------------


def rate(score: float) -> str:
    """CVSS v3's qualitative rating of a base score."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MEDIUM"
    if score > 0.0:
        return "LOW"
    return "UNKNOWN"


_DB_SEVERITY = {"MODERATE": "MEDIUM", "IMPORTANT": "HIGH"}


def severity_of(
    vectors: Iterable[tuple[str, str]], db_severity: str = ""
) -> tuple[str, float | None, str]:
    """(rating, base score, vector) from OSV severity entries (see the module doc)."""
    import cvss

    by_type = dict(vectors)
    for kind, cls in (("CVSS_V3", cvss.CVSS3), ("CVSS_V4", cvss.CVSS4), ("CVSS_V2", cvss.CVSS2)):
        vector = by_type.get(kind)
        if vector is None:
            continue
        c = cls(vector)
        score = float(c.base_score)
        return rate(score), score, vector
    text = _DB_SEVERITY.get(db_severity.upper(), db_severity.upper())
    return (text if text in SEVERITIES else "UNKNOWN"), None, ""


# --- ranges ----------------------------------------------------------------------------


def _sorted_events(ecosystem: str, r: Range) -> list[tuple[str, str]]:
    import functools

    usable = []
    for e in r.events:
        if e.kind == "limit":
            continue
        if e.kind == "introduced" and e.version == "0":
            usable.append((e.kind, e.version))
            continue
        try:
            compare(ecosystem, e.version, e.version)
        except InvalidArgument:
            continue  # does not parse in this ecosystem: cannot be placed
        usable.append((e.kind, e.version))

    def cmp(a: tuple[str, str], b: tuple[str, str]) -> int:
        if a[1] == "0" and a[0] == "introduced":
            return -1 if not (b[1] == "0" and b[0] == "introduced") else 0
        if b[1] == "0" and b[0] == "introduced":
            return 1
        return compare(ecosystem, a[1], b[1])

    return sorted(usable, key=functools.cmp_to_key(cmp))


def includes(ecosystem: str, r: Range, version: str) -> tuple[bool, str]:
    """Whether the ``ECOSYSTEM`` range ``r`` includes ``version``, and the fix above it."""
    if r.type != "ECOSYSTEM":
        return False, ""
    events = _sorted_events(ecosystem, r)
    affected = False
    for kind, v in events:
        order = 1 if v == "0" and kind == "introduced" else compare(ecosystem, version, v)
        if kind == "introduced" and order >= 0:
            affected = True
        elif (kind == "fixed" and order >= 0) or (kind == "last_affected" and order > 0):
            affected = False
    if not affected:
        return False, ""
    fixes = [v for kind, v in events if kind == "fixed" and compare(ecosystem, v, version) > 0]
    return True, fixes[0] if fixes else ""


def _affects(a: Affected, ecosystem: str, version: str) -> tuple[bool, str]:
    if version in a.versions:
        hit, fixed = True, ""
        for r in a.ranges:
            inside, fix = includes(ecosystem, r, version)
            if inside and fix:
                fixed = fix
        return hit, fixed
    for r in a.ranges:
        inside, fix = includes(ecosystem, r, version)
        if inside:
            return True, fix
    return False, ""


# --- scanning --------------------------------------------------------------------------


def _lookup(pkg: Package, inv: Inventory) -> tuple[str, str, str, set[str]] | None:
    """(family, name, version, ecosystems accepted) for a package, or None."""
    if pkg.kind == "pypi":
        return "PyPI", pkg.name, pkg.version, {"PyPI"}
    if pkg.kind == "deb" and inv.distro.id == "debian":
        ecos = {"Debian"}
        if inv.distro.version_id:
            ecos.add(f"Debian:{inv.distro.version_id}")
        return "Debian", pkg.source_name or pkg.name, pkg.source_version or pkg.version, ecos
    return None


def _match(rec: Record, pkg: Package, name: str, version: str, ecos: set[str]) -> Finding | None:
    from dockyard.security.osv import family_of, match_name

    for a in rec.affected:
        if a.ecosystem not in ecos:
            continue
        family = family_of(a.ecosystem)
        if match_name(family, a.name) != match_name(family, name):
            continue
        try:
            hit, fixed = _affects(a, a.ecosystem, version)
        except InvalidArgument:
            continue  # the installed version does not parse: no range can place it
        if hit:
            sev, score, vector = severity_of(a.severity or rec.severity, rec.db_severity)
            return Finding(
                rec.id, rec.aliases, rec.summary, pkg, version, fixed, sev, score, vector
            )
    return None


def scan(inv: Inventory, db: OsvDB) -> list[Finding]:
    """Every finding for the inventory's packages, worst first."""
    out = []
    try:
        for pkg in inv.packages:
            key = _lookup(pkg, inv)
            if key is None:
                continue
            family, name, version, ecos = key
            for rec in db.candidates(family, name):
                if rec.withdrawn:
                    continue
                finding = _match(rec, pkg, name, version, ecos)
                if finding is not None:
                    out.append(finding)
    finally:
        db.close()
    out.sort(key=lambda f: (-SEVERITIES.index(f.severity), f.package.name, f.id))
    return out


# --- documents --------------------------------------------------------------------------


def _finding_json(f: Finding) -> dict[str, Any]:
    return {
        "id": f.id,
        "aliases": list(f.aliases),
        "summary": f.summary,
        "package": f.package.name,
        "kind": f.package.kind,
        "purl": f.package.purl,
        "installed": f.package.version,
        "matched_version": f.installed,
        "fixed": f.fixed or None,
        "severity": f.severity,
        "score": f.score,
        "vector": f.vector or None,
        "layer": f.package.layer,
        "layer_index": f.package.layer_index,
        "path": f.package.path,
    }


def to_json(inv: Inventory, findings: list[Finding]) -> dict[str, Any]:
    return {
        "image": inv.image,
        "image_id": inv.image_id,
        "distro": inv.distro.purl_distro,
        "packages": len(inv.packages),
        "findings": [_finding_json(f) for f in findings],
    }


_SARIF_LEVEL = {"CRITICAL": "error", "HIGH": "error", "MEDIUM": "warning", "LOW": "note"}


def to_sarif(inv: Inventory, findings: list[Finding]) -> dict[str, Any]:
    """A SARIF 2.1.0 log: one rule per vulnerability id, one result per finding."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for f in findings:
        if f.id not in index:
            index[f.id] = len(rules)
            props: dict[str, Any] = {"tags": ["security", "vulnerability", f.severity]}
            if f.score is not None:
                props["security-severity"] = f"{f.score:.1f}"
            rules.append(
                {
                    "id": f.id,
                    "shortDescription": {"text": f.summary or f.id},
                    "defaultConfiguration": {"level": _SARIF_LEVEL.get(f.severity, "warning")},
                    "properties": props,
                }
            )
        fix = f"fixed in {f.fixed}" if f.fixed else "no fixed version"
        results.append(
            {
                "ruleId": f.id,
                "ruleIndex": index[f.id],
                "level": _SARIF_LEVEL.get(f.severity, "warning"),
                "message": {
                    "text": f"{f.package.name} {f.package.version} ({f.package.purl}): "
                    f"{f.id} {f.severity}, {fix}; layer {f.package.layer}"
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.package.path.lstrip("/")}
                        },
                        "message": {"text": f"{inv.image or inv.image_id}: {f.package.path}"},
                    }
                ],
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "dockyard", "version": __version__, "rules": rules}},
                "results": results,
            }
        ],
    }
