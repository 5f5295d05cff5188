"""Image references with Docker's normalisation.

Grammar (distribution/reference)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]
    path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}

Normalisation: the first component is a domain only when it contains ``.`` or
``:``, is ``localhost``, or has upper-case letters; otherwise the domain is
``docker.io``, and a single-component path on ``docker.io`` gets ``library/``.
``index.docker.io`` becomes ``docker.io``.  A reference with neither tag nor
digest gets the tag ``latest``.  Every failure is an
:class:`~dockyard.errors.InvalidArgument` naming the input.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, parse_digest
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_TAG", "Reference", "parse_reference"]

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"
_NAME_MAX = 255

# Domains and paths other than the plain ones are checked by these patterns, compiled on
# first use (``re`` costs a start-up, and ``busybox`` needs none of them).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_COMPILED: dict[str, re.Pattern[str]] = {}
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_TAG_REST = _WORD | {".", "-"}
_HEX = frozenset("0123456789abcdef")


def _full(pattern: str, s: str) -> bool:
    c = _COMPILED.get(pattern)
    if c is None:
        import re

        c = _COMPILED[pattern] = re.compile(pattern)
    return c.fullmatch(s) is not None


def _is_tag(s: str) -> bool:
    """``[\\w][\\w.-]{0,127}`` (ASCII)."""
    return 0 < len(s) <= 128 and s[0] in _WORD and _TAG_REST.issuperset(s)


def _is_id(s: str) -> bool:
    """``[a-f0-9]{64}``."""
    return len(s) == 64 and _HEX.issuperset(s)


def _is_path(s: str) -> bool:
    """The path grammar; components of plain ``[a-z0-9]`` are decided without ``re``."""
    parts = s.split("/")
    if all(p and _LOWER_ALNUM.issuperset(p) for p in parts):
        return True
    return _full(_PATH, s)


def _is_domain(s: str) -> bool:
    return s == DEFAULT_DOMAIN or _full(_DOMAIN, s)


@record
class Reference:
    """A normalised reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @property
    def repository(self) -> str:
        """``domain/path``, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        return self.repository + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag is not None else ""
        return out + (f"@{self.digest}" if self.digest is not None else "")

    def familiar_name(self) -> str:
        """The repository as ``docker`` shows it: ``busybox``, ``localhost:5000/app``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.repository
        if self.path.startswith(_OFFICIAL_PREFIX) and self.path.count("/") == 1:
            return self.path.removeprefix(_OFFICIAL_PREFIX)
        return self.path

    def familiar(self) -> str:
        """Docker's short form: ``busybox:latest``, ``localhost:5000/app:v1``."""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """This repository with ``tag`` and no digest."""
        if not _is_tag(tag):
            raise InvalidArgument(f"parse reference {self.repository}:{tag}: invalid tag")
        return Reference(self.domain, self.path, tag, None)


def parse_reference(s: str) -> Reference:
    """Parse and normalise ``s`` (``busybox`` → ``docker.io/library/busybox:latest``)."""
    if not s:
        raise InvalidArgument("parse reference: empty reference")
    rest, digest = _split_digest(s)
    name, tag = _split_tag(s, rest)
    if _is_id(name):
        raise InvalidArgument(
            f"parse reference {s}: cannot specify 64-byte hexadecimal strings as a name"
        )
    if len(name) > _NAME_MAX:
        raise InvalidArgument(f"parse reference {s}: repository name must not exceed 255 chars")
    domain, path = _split_domain(s, name)
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_digest(s: str) -> tuple[str, Digest | None]:
    rest, sep, raw = s.partition("@")
    if not sep:
        return s, None
    try:
        return rest, parse_digest(raw)
    except InvalidArgument:
        raise InvalidArgument(f"parse reference {s}: invalid digest {raw!r}") from None


def _split_tag(s: str, rest: str) -> tuple[str, str | None]:
    colon = rest.rfind(":")
    if colon == -1 or "/" in rest[colon + 1 :]:
        return rest, None
    tag = rest[colon + 1 :]
    if not _is_tag(tag):
        raise InvalidArgument(f"parse reference {s}: invalid tag {tag!r}")
    return rest[:colon], tag


def _split_domain(s: str, name: str) -> tuple[str, str]:
    first, sep, remainder = name.partition("/")
    is_domain = any(c in first for c in ".:") or first == "localhost" or first.lower() != first
    domain, path = (first, remainder) if sep and is_domain else (DEFAULT_DOMAIN, name)
    if not _is_domain(domain):
        raise InvalidArgument(f"parse reference {s}: invalid domain {domain!r}")
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if not _is_path(path):
        if path.lower() != path and _is_path(path.lower()):
            raise InvalidArgument(f"parse reference {s}: repository name must be lowercase")
        raise InvalidArgument(f"parse reference {s}: invalid repository name")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    return domain, path
