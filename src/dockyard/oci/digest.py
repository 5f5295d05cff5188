"""Content digests as the OCI image spec defines them: ``<algorithm>:<encoded>``.

A digest names bytes, never a JSON document: it is the hash of the exact bytes
that were stored or received.  ``parse_digest`` is strict for the registered
algorithms (``sha256`` is 64 lower-case hex characters, ``sha512`` 128) and,
as the spec requires, accepts any other algorithm whose name and encoding use
the allowed characters; such digests can be carried around but not verified
(:attr:`Digest.verifiable` is false and :class:`Hasher` refuses them).

Errors: a malformed digest raises :class:`~dockyard.errors.InvalidArgument`.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

__all__ = [
    "SHA256",
    "SHA512",
    "Digest",
    "Hasher",
    "parse_digest",
    "sha256_digest",
]

SHA256 = "sha256"
SHA512 = "sha512"

# The grammar, compiled on first use: the registered algorithms with well-formed hex (all
# digests dockyard makes or stores) are checked without ``re``, which costs a start-up.
_ALGORITHM = r"[a-z0-9]+(?:[+._-][a-z0-9]+)*"
_ENCODED = r"[a-zA-Z0-9=_-]+"
_REGISTERED = {SHA256: r"[a-f0-9]{64}", SHA512: r"[a-f0-9]{128}"}
_HEX_LEN = {SHA256: 64, SHA512: 128}
_HEX = frozenset("0123456789abcdef")
_COMPILED: dict[str, re.Pattern[str]] = {}


def _pattern(p: str) -> re.Pattern[str]:
    c = _COMPILED.get(p)
    if c is None:
        import re

        c = _COMPILED[p] = re.compile(p)
    return c


@record(order=True)
class Digest:
    """A parsed digest; ``str(d)`` gives ``algorithm:hex``."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def verifiable(self) -> bool:
        """Whether dockyard can compute this algorithm (sha256, sha512)."""
        return self.algorithm in _REGISTERED

    @property
    def short(self) -> str:
        """The first 12 characters of the encoded part, as ``docker images`` shows."""
        return self.hex[:12]


def parse_digest(s: str) -> Digest:
    """Parse ``algorithm:encoded`` strictly; raise InvalidArgument naming the input."""
    if not isinstance(s, str):
        raise InvalidArgument(f"parse digest: expected a string, got {type(s).__name__}")
    algorithm, sep, encoded = s.partition(":")
    if len(encoded) == _HEX_LEN.get(algorithm) and _HEX.issuperset(encoded):
        return Digest(algorithm, encoded)  # the common case, exactly what the patterns accept
    if not sep:
        raise InvalidArgument(f"parse digest {s!r}: missing algorithm")
    if not _pattern(_ALGORITHM).fullmatch(algorithm):
        raise InvalidArgument(f"parse digest {s!r}: invalid algorithm")
    if not _pattern(_ENCODED).fullmatch(encoded):
        raise InvalidArgument(f"parse digest {s!r}: invalid encoded part")
    pattern = _REGISTERED.get(algorithm)
    if pattern is not None and not _pattern(pattern).fullmatch(encoded):
        raise InvalidArgument(f"parse digest {s!r}: invalid {algorithm} hex")
    return Digest(algorithm, encoded)


def sha256_digest(data: bytes) -> Digest:
    """The sha256 digest of ``data``."""
    import hashlib  # lazily: with OpenSSL it costs a few ms, and most commands hash nothing

    return Digest(SHA256, hashlib.sha256(data).hexdigest())


class Hasher:
    """Incremental digest: ``update()`` bytes as they stream, then ``digest()``.

    ``size`` counts the bytes seen so far.
    """

    def __init__(self, algorithm: str = SHA256) -> None:
        if algorithm not in _REGISTERED:
            raise InvalidArgument(f"hash: unsupported digest algorithm {algorithm!r}")
        import hashlib

        self.algorithm = algorithm
        self._h = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._h.hexdigest())
