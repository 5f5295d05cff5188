"""Admission: refusing containers of images with known vulnerabilities at or above a level.

Terms
-----
*Policy*: ``<root>/admission.json``, ``{"severity": "HIGH"}``; absent means no policy
(the default: nothing is scanned, a create costs one ``stat``).  Written by
``dockyard scan admission SEVERITY`` and removed by ``dockyard scan admission off``.

Check
-----
The engine calls :func:`check` before it makes a container (``run``, ``create``, and
the containers of pods that ``apply`` creates).  With a policy, the image is scanned
against the local OSV database and refused with FailedPrecondition when a finding is at
or above the policy's level (findings without a fixed version count too: the policy
is about risk, not about whether an upgrade exists)::

    run python:3.11-slim: refused by the admission policy (HIGH): 2 findings,
    worst DSA-5800-1 CRITICAL in libexpat1 2.5.0-1+deb12u1 (dockyard scan IMAGE lists them)

Results are kept per image id and database state (size and mtime of ``osv.db``), so a
second run of the same image does not scan again.  An empty database admits nothing
unchecked: it is refused like an unscannable image would be (FailedPrecondition).

Errors: FailedPrecondition for a refusal; InvalidArgument for a malformed policy file.
"""

from __future__ import annotations

import json
import os

from dockyard.errors import FailedPrecondition, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.security.scan import Finding
    from dockyard.store.images import Image, ImageStore

__all__ = ["POLICY_FILE", "check", "read_policy", "write_policy"]

POLICY_FILE = "admission.json"
_LEVELS = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")
_cache: dict[tuple[str, int, int], list[Finding]] = {}


def read_policy(root: str | os.PathLike[str]) -> str | None:
    """The policy's severity, or None when there is no policy."""
    path = os.path.join(os.fspath(root), POLICY_FILE)
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        level = json.loads(text)["severity"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(f'admission policy {path}: want {{"severity": LEVEL}}') from None
    if level not in _LEVELS:
        raise InvalidArgument(f"admission policy {path}: unknown severity {level!r}")
    return str(level)


def write_policy(root: str | os.PathLike[str], level: str | None) -> None:
    """Set the policy to ``level`` (one of UNKNOWN ... CRITICAL), or remove it (None)."""
    path = os.path.join(os.fspath(root), POLICY_FILE)
    if level is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    if level not in _LEVELS:
        raise InvalidArgument(f"admission: unknown severity {level!r} (want {', '.join(_LEVELS)})")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"severity": level}, f)
    os.replace(tmp, path)


def _findings(root: str, store: ImageStore, image: Image, name: str) -> list[Finding]:
    from dockyard.security.osv import OsvDB
    from dockyard.security.packages import inventory
    from dockyard.security.scan import scan

    db = OsvDB.at_root(root)
    try:
        st = os.stat(db.path)
    except FileNotFoundError:
        st = None
    if st is None or db.count() == 0:
        raise FailedPrecondition(
            f"run {name}: the admission policy needs a vulnerability database"
            " (dockyard scan db import PATH, or dockyard scan admission off)"
        )
    key = (str(image.id), st.st_size, st.st_mtime_ns)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = scan(inventory(store, image, name), db)
    return found


def check(root: str | os.PathLike[str], store: ImageStore, name: str) -> None:
    """Refuse ``name`` (an image reference) when the policy says so; see the module doc."""
    level = read_policy(root)
    if level is None:
        return
    image = store.resolve(name)
    findings = _findings(os.fspath(root), store, image, name)
    bad = [f for f in findings if _LEVELS.index(f.severity) >= _LEVELS.index(level)]
    if not bad:
        return
    worst = bad[0]  # scan() sorts worst first
    raise FailedPrecondition(
        f"run {name}: refused by the admission policy ({level}): {len(bad)} findings, worst "
        f"{worst.id} {worst.severity} in {worst.package.name} {worst.package.version}"
        " (dockyard scan IMAGE lists them)"
    )
