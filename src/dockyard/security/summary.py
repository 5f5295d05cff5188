"""The security summary recorded for an image: its last lint and its last scan.

``dockyard build`` records the lint checks it ran over the Dockerfile; ``dockyard scan``
records what it found.  ``dockyard inspect IMAGE`` shows both (docs/security.md).

On disk: ``<root>/security/<image id hex>.json``, ``{"lint": {...}, "scan": {...}}``,
written whole (temporary file, ``rename``), so a reader sees the old summary or the new
one.  Keyed by the image id (the config digest): a rebuild that gives the same image keeps
its summary, a different image starts empty.  A summary is advice for people, never a
gate (admission scans again): a damaged file reads as no summary.

Example::

    record_lint(root, image_id, report)
    read_summary(root, image_id)["lint"]["warnings"]
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.security.lint import LintReport
    from dockyard.security.packages import Inventory
    from dockyard.security.scan import Finding

__all__ = ["read_summary", "record_lint", "record_scan"]

_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")


def _path(root: str | os.PathLike[str], image_id: str) -> str:
    hex_ = image_id.partition(":")[2] or image_id
    if not hex_.isalnum():
        from dockyard.errors import InvalidArgument

        raise InvalidArgument(f"security summary: bad image id {image_id!r}")
    return os.path.join(os.fspath(root), "security", f"{hex_}.json")


def read_summary(root: str | os.PathLike[str], image_id: str) -> dict[str, Any]:
    """The recorded summary (``{}`` when none or unreadable)."""
    try:
        with open(_path(root, image_id)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _update(root: str | os.PathLike[str], image_id: str, key: str, value: dict[str, Any]) -> None:
    path = _path(root, image_id)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    data = read_summary(root, image_id)
    data[key] = value
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def record_lint(root: str | os.PathLike[str], image_id: str, report: LintReport) -> None:
    """Record the lint checks a build ran (counts by severity and the rules that fired)."""
    levels = Counter(f.severity.label for f in report.findings)
    _update(
        root,
        image_id,
        "lint",
        {
            "time": _now(),
            "file": report.filename,
            "findings": len(report.findings),
            "severities": dict(sorted(levels.items())),
            "rules": sorted({f.rule for f in report.findings}),
        },
    )


def record_scan(
    root: str | os.PathLike[str], image_id: str, inv: Inventory, findings: Iterable[Finding]
) -> None:
    """Record a scan's result (all findings, before any report filter)."""
    found = list(findings)
    levels = Counter(f.severity for f in found)
    _update(
        root,
        image_id,
        "scan",
        {
            "time": _now(),
            "packages": len(inv.packages),
            "findings": len(found),
            "severities": {s: levels[s] for s in _SEVERITIES if levels[s]},
            "fixable": sum(1 for f in found if f.fixed),
        },
    )
