"""Names in the distribution API: repositories, tags, ``<tag-or-digest>``.

A repository name is lower-case path components separated by ``/``
(``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*``), 255 characters at most; a tag is
``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``.  Neither grammar admits ``..``, an
empty component, a leading ``/`` or a percent sign, so a valid name can never
walk out of a directory.  Every failure raises InvalidArgument naming the
input.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, parse_digest

__all__ = ["NAME_MAX", "check_repository", "check_tag", "is_tag", "parse_tag_or_digest"]

NAME_MAX = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def check_repository(name: str) -> str:
    """Return ``name`` when it is a valid repository name; InvalidArgument otherwise."""
    if len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise InvalidArgument(f"repository {name[:300]!r}: invalid repository name")
    return name


def is_tag(s: str) -> bool:
    return _TAG.fullmatch(s) is not None


def check_tag(tag: str) -> str:
    if not is_tag(tag):
        raise InvalidArgument(f"tag {tag[:200]!r}: invalid tag")
    return tag


def parse_tag_or_digest(ref: str) -> tuple[str | None, Digest | None]:
    """``(tag, None)`` or ``(None, digest)``: a reference has a ``:`` only when it is a digest."""
    if ":" in ref:
        return None, parse_digest(ref)
    return check_tag(ref), None
