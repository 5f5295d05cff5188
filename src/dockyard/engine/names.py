"""Container ids and docker-style random names (``adjective_scientist``)."""

from __future__ import annotations

import os

# ``secrets`` imports ``hmac``, ``hashlib`` (OpenSSL), ``base64`` and ``random``: ~10 ms of a
# ``dockyard run``. Ids and names need only the kernel's random bytes.

__all__ = ["new_id", "random_name"]

_LEFT = (
    "admiring amazing angry awesome blissful bold brave busy charming clever cool "
    "dazzling determined eager ecstatic elegant epic fervent focused friendly gallant "
    "gifted happy hopeful jolly keen kind laughing loving lucid modest nifty nostalgic "
    "optimistic peaceful practical quirky relaxed serene sharp stoic sweet tender "
    "trusting upbeat vibrant wizardly youthful zealous"
).split()
_RIGHT = (
    "archimedes babbage bohr curie darwin dijkstra einstein euclid euler faraday "
    "fermat feynman gauss goldberg hamilton hopper hypatia kepler knuth lamport "
    "lovelace maxwell mccarthy meitner newton noether pascal pike ritchie shannon "
    "thompson torvalds turing wescoff wilson wozniak"
).split()


def new_id() -> str:
    """64 random hex digits (as ``secrets.token_hex(32)``)."""
    return os.urandom(32).hex()


def _choice(seq: list[str]) -> str:
    """A uniform pick (rejection sampling over 16 random bits, so no modulo bias)."""
    n = len(seq)
    limit = 65536 - 65536 % n
    while True:
        r = int.from_bytes(os.urandom(2), "little")
        if r < limit:
            return seq[r % n]


def random_name() -> str:
    return f"{_choice(_LEFT)}_{_choice(_RIGHT)}"
