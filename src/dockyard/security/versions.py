"""Version ordering per ecosystem: Debian's dpkg rules and PEP 440.

Terms
-----
*dpkg version*: ``[epoch:]upstream[-revision]`` (Debian policy §5.6.12).  The epoch is a
decimal number (absent: 0); the revision is what follows the *last* hyphen (absent:
empty, which sorts as ``0`` would); the upstream part is what lies between.  Upstream
and revision are compared by the same rule: alternate runs of non-digits and digits,
the non-digit runs compared character by character where ``~`` sorts before anything
(even the end of the string), letters before non-letters, and the digit runs compared
as numbers.  ``1.0~rc1 < 1.0 < 1.0+b1``, ``1:0.1 > 9.9``.

*PEP 440 version*: compared with ``packaging.version.Version``, the reference
implementation of the specification (pip uses it); a version that is not valid PEP 440
raises InvalidArgument.

Both comparisons are checked against the reference tools on generated pairs
(``tests/unit/security/test_versions.py``: ``dpkg --compare-versions`` and
``packaging``).

Example::

    assert compare_dpkg("1:1.0", "2.0") > 0
    assert compare("PyPI", "2.0.0rc1", "2.0.0") < 0

Errors: a malformed version raises InvalidArgument naming it; an ecosystem other than
``PyPI`` or ``Debian``(``:N``) raises InvalidArgument.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from packaging.version import Version

__all__ = ["DpkgVersion", "compare", "compare_dpkg", "compare_pep440", "parse_dpkg"]


@dataclass(frozen=True, slots=True)
class DpkgVersion:
    """A parsed dpkg version."""

    epoch: int
    upstream: str
    revision: str

    def __str__(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        revision = f"-{self.revision}" if self.revision else ""
        return f"{epoch}{self.upstream}{revision}"


_ALLOWED_UPSTREAM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+-~:")
_ALLOWED_REVISION = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+~")


@lru_cache(maxsize=4096)
def parse_dpkg(text: str) -> DpkgVersion:
    """Parse ``[epoch:]upstream[-revision]`` as dpkg's ``parseversion`` does."""
    s = text.strip()
    if not s or any(c.isspace() for c in s):
        raise InvalidArgument(f"dpkg version {text!r}: empty or contains spaces")
    epoch = 0
    if ":" in s:
        head, _, s = s.partition(":")
        if not head.isdigit() or not head.isascii():
            raise InvalidArgument(f"dpkg version {text!r}: epoch is not a number")
        epoch = int(head)
    upstream, sep, revision = s.rpartition("-")
    if not sep:
        upstream, revision = s, ""
    if not upstream or (sep and not revision):
        raise InvalidArgument(f"dpkg version {text!r}: empty upstream version or revision")
    if not upstream[0].isdigit():
        raise InvalidArgument(f"dpkg version {text!r}: must start with a digit")
    if not set(upstream) <= _ALLOWED_UPSTREAM or not set(revision) <= _ALLOWED_REVISION:
        raise InvalidArgument(f"dpkg version {text!r}: invalid character")
    return DpkgVersion(epoch, upstream, revision)


def _order(c: str) -> int:
    """dpkg's ``order()``: ``~`` lowest, then end of string, digits, letters, the rest."""
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's ``verrevcmp``: non-digit runs by :func:`_order`, digit runs as numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def _sign(n: int) -> int:
    return (n > 0) - (n < 0)


def compare_dpkg(a: str, b: str) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b`` by dpkg's rules."""
    va, vb = parse_dpkg(a), parse_dpkg(b)
    if va.epoch != vb.epoch:
        return _sign(va.epoch - vb.epoch)
    r = _verrevcmp(va.upstream, vb.upstream)
    if r:
        return _sign(r)
    return _sign(_verrevcmp(va.revision, vb.revision))


def compare_pep440(a: str, b: str) -> int:
    """-1, 0 or 1 by PEP 440 (``packaging.version``)."""
    va, vb = _pep440(a), _pep440(b)
    return (va > vb) - (va < vb)


@lru_cache(maxsize=4096)
def _pep440(text: str) -> Version:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        raise InvalidArgument(f"PEP 440 version {text!r}: invalid") from None


def compare(ecosystem: str, a: str, b: str) -> int:
    """Compare two versions of ``ecosystem`` (``PyPI``, ``Debian`` or ``Debian:N``)."""
    if ecosystem == "PyPI":
        return compare_pep440(a, b)
    if ecosystem == "Debian" or ecosystem.startswith("Debian:"):
        return compare_dpkg(a, b)
    raise InvalidArgument(f"compare versions: unknown ecosystem {ecosystem!r}")
