"""``images --filter``: which images (and which of their tags) docker would list (pure).

Filters, as ``docker images -f`` takes them: ``dangling=true|false`` (untagged or not),
``label=KEY`` / ``label=KEY=VALUE`` (every label filter must hold), ``reference=PATTERN``
(shell pattern against ``repo`` or ``repo:tag``; only the matching tags are listed),
``before=IMAGE`` / ``since=IMAGE`` (created strictly before / after that image). Several
values of one key: any of them (label: all of them, as dockerd). Another key raises
InvalidArgument ``invalid filter 'KEY'``.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.store.images import Image

__all__ = ["KEYS", "parse_filters", "repo_digests", "select"]

KEYS = ("dangling", "label", "reference", "before", "since")


def parse_filters(items: list[str]) -> dict[str, list[str]]:
    """``["dangling=true", "label=a"]`` → ``{"dangling": ["true"], "label": ["a"]}``."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        if key not in KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "dangling" and value.lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        out.setdefault(key, []).append(value)
    return out


def repo_digests(img: Image) -> list[str]:
    """``repo@sha256:…`` for each repository the image is tagged in."""
    out: list[str] = []
    for tag in img.repo_tags:
        entry = f"{tag.rsplit(':', 1)[0]}@{img.manifest_digest}"
        if entry not in out:
            out.append(entry)
    return out


def _labels_hold(img: Image, wanted: list[str]) -> bool:
    labels = img.config.config.labels
    for w in wanted:
        k, sep, v = w.partition("=")
        if k not in labels or (sep and labels[k] != v):
            return False
    return True


def _tag_matches(tag: str, patterns: list[str]) -> bool:
    repo = tag.rsplit(":", 1)[0]
    return any(fnmatch.fnmatchcase(tag, p) or fnmatch.fnmatchcase(repo, p) for p in patterns)


def _image_holds(img: Image, f: dict[str, list[str]], created: Callable[[str], str]) -> bool:
    if "dangling" in f and (f["dangling"][-1].lower() in ("true", "1")) == bool(img.repo_tags):
        return False
    if "label" in f and not _labels_hold(img, f["label"]):
        return False
    mine = img.created or ""
    if "before" in f and not any(mine < created(r) for r in f["before"]):
        return False
    return not ("since" in f and not any(mine > created(r) for r in f["since"]))


def select(
    images: list[Image], filters: dict[str, list[str]], created: Callable[[str], str]
) -> list[tuple[Image, str | None]]:
    """The rows ``docker images`` lists: ``(image, tag)``, ``tag`` None for an untagged
    image. ``created(ref)`` gives the creation time of the image a ``before``/``since``
    filter names (it raises NotFound for an unknown one)."""
    rows: list[tuple[Image, str | None]] = []
    for img in images:
        if not _image_holds(img, filters, created):
            continue
        tags: list[str | None] = list(img.repo_tags) or [None]
        if "reference" in filters:
            tags = [t for t in tags if t is not None and _tag_matches(t, filters["reference"])]
        rows += [(img, t) for t in tags]
    return rows
