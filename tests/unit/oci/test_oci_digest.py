"""Digests: strict parsing, hashing, incremental hashing."""

from __future__ import annotations

import hashlib

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, Hasher, parse_digest, sha256_digest

HEX = "a" * 64


def test_parse_sha256() -> None:
    d = parse_digest(f"sha256:{HEX}")
    assert (d.algorithm, d.hex, str(d)) == ("sha256", HEX, f"sha256:{HEX}")
    assert d.verifiable and d.short == "a" * 12


@pytest.mark.parametrize(
    "s",
    [
        "",
        "sha256",
        f"sha256:{HEX[:-1]}",
        f"sha256:{HEX.upper()}",
        f"SHA256:{HEX}",
        f"sha512:{HEX}",
        ":abc",
        "sha256+foo+-b:abc",
        "sha256:ab/cd",
    ],
)
def test_parse_refuses(s: str) -> None:
    with pytest.raises(InvalidArgument, match="parse digest"):
        parse_digest(s)


@pytest.mark.parametrize(
    "s", ["sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7", "multihash+base58:Qm1"]
)
def test_unknown_algorithms_accepted_but_not_verifiable(s: str) -> None:
    d = parse_digest(s)
    assert not d.verifiable
    with pytest.raises(InvalidArgument, match="unsupported"):
        Hasher(d.algorithm)


def test_sha512() -> None:
    h = hashlib.sha512(b"x").hexdigest()
    assert parse_digest(f"sha512:{h}").verifiable


def test_sha256_and_hasher_agree() -> None:
    h = Hasher()
    for chunk in (b"hel", b"lo"):
        h.update(chunk)
    assert h.digest() == sha256_digest(b"hello")
    assert h.size == 5
    assert sha256_digest(b"hello") == Digest("sha256", hashlib.sha256(b"hello").hexdigest())
