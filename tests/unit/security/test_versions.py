"""Version ordering against the reference implementations: ``dpkg --compare-versions`` and
``packaging.version``, on at least 10,000 generated pairs each (a seeded generator, so a
failure reproduces)."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from dockyard.errors import InvalidArgument
from dockyard.security.versions import compare, compare_dpkg, compare_pep440, parse_dpkg

PAIRS = 10_000
_OPS = {-1: "lt", 0: "eq", 1: "gt"}


def _dpkg_part(rng: random.Random, alphabet: str) -> str:
    """A run of digits and characters, leaning on the hard cases: ``~``, ``+``, leading
    zeros, letters against digits, empty tails."""
    out = [rng.choice("0123456789")]
    for _ in range(rng.randrange(0, 6)):
        r = rng.random()
        if r < 0.45:
            number = str(rng.choice([0, 1, 2, 9, 10, 11, 100, 2024]))
            out.append(number.zfill(rng.choice([1, 1, 2])))  # leading zeros now and then
        else:
            out.append(rng.choice(alphabet))
    return "".join(out)


def _dpkg_version(rng: random.Random) -> str:
    epoch = f"{rng.choice([1, 2, 10])}:" if rng.random() < 0.15 else ""
    upstream = _dpkg_part(rng, "..~~+abzAZ")
    if epoch and rng.random() < 0.3:
        upstream += ":" + _dpkg_part(rng, ".~+a")  # a colon is allowed after an epoch
    revision = ""
    if rng.random() < 0.6:
        revision = "-" + _dpkg_part(rng, "..~+bdeu")
        if rng.random() < 0.2:
            upstream += "-" + _dpkg_part(rng, ".~a")  # hyphens before the last one
    return epoch + upstream + revision


def _near(rng: random.Random, v: str) -> str:
    """A version close to ``v``: most random pairs differ in their first character."""
    edits = [v + "~", v + "+b1", v + ".0", v.replace(".", ".0", 1), v + "~rc1", v + "a"]
    return rng.choice([*edits, _dpkg_version(rng)])


def _dpkg_pairs(n: int) -> list[tuple[str, str]]:
    rng = random.Random(20261206)
    pairs = []
    while len(pairs) < n:
        a = _dpkg_version(rng)
        b = _near(rng, a) if rng.random() < 0.6 else _dpkg_version(rng)
        pairs.append((a, b))
    return pairs


def test_dpkg_order_matches_dpkg_on_generated_pairs() -> None:
    dpkg = shutil.which("dpkg")
    if dpkg is None:
        pytest.skip("dpkg is not installed")
    pairs = _dpkg_pairs(PAIRS)
    # One shell loop: for each pair, ask dpkg whether the relation we computed holds
    # (lt, eq or gt determines the sign completely); print the index of every pair
    # where dpkg disagrees.
    lines = "".join(f"{i} {a} {_OPS[compare_dpkg(a, b)]} {b}\n" for i, (a, b) in enumerate(pairs))
    script = (
        "while read -r i a op b; do "
        'dpkg --compare-versions "$a" "$op" "$b" 2>/dev/null || echo "$i"; done'
    )
    proc = subprocess.run(
        ["sh", "-c", script], input=lines, capture_output=True, text=True, check=True, timeout=280
    )
    wrong = [pairs[int(i)] for i in proc.stdout.split()]
    assert not wrong, f"{len(wrong)} pairs ordered unlike dpkg, e.g. {wrong[:5]}"
    assert len(set(pairs)) > PAIRS * 0.9


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0+b1", -1),
        ("1:0.1", "9.9", 1),
        ("1.0-1", "1.0-1", 0),
        ("1.0", "1.0-0", 0),
        ("01.0", "1.0", 0),
        ("1.0a", "1.0+", -1),
        ("1.0~~", "1.0~", -1),
        ("2.36.1-8+deb12u1", "2.36.1-8", 1),
        ("3.0.11-1~deb12u2", "3.0.11-1", -1),
        ("0:1.2", "1.2", 0),
        ("1.2-3-4", "1.2-3-5", -1),
    ],
)
def test_dpkg_order_table(a: str, b: str, want: int) -> None:
    assert compare_dpkg(a, b) == want
    assert compare_dpkg(b, a) == -want


@pytest.mark.parametrize("bad", ["", "a1.0", "1.0-", "x:1.0", ":1.0", "1.0 2", "1.0_1"])
def test_dpkg_rejects_malformed(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_dpkg(bad)


def _pep440_version(rng: random.Random) -> str:
    rel = ".".join(str(rng.choice([0, 1, 2, 10, 100])) for _ in range(rng.randrange(1, 4)))
    out = (f"{rng.choice([1, 2])}!" if rng.random() < 0.05 else "") + rel
    r = rng.random()
    if r < 0.3:
        out += rng.choice(["a", "b", "rc", "alpha", "c", "pre"]) + str(rng.randrange(0, 3))
    if rng.random() < 0.2:
        out += rng.choice([".post", "-", "post"]) + str(rng.randrange(0, 3))
    if rng.random() < 0.2:
        out += ".dev" + str(rng.randrange(0, 3))
    if rng.random() < 0.1:
        out += "+" + rng.choice(["local", "ubuntu.1", "1.abc", "0"])
    return out.upper() if rng.random() < 0.05 else out


def test_pep440_order_matches_packaging_on_generated_pairs() -> None:
    from packaging.version import Version

    rng = random.Random(440)
    for _ in range(PAIRS):
        a, b = _pep440_version(rng), _pep440_version(rng)
        va, vb = Version(a), Version(b)
        want = (va > vb) - (va < vb)
        assert compare_pep440(a, b) == want, (a, b)
        assert compare("PyPI", a, b) == want


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("1.0.dev1", "1.0a1", -1),
        ("1.0a1", "1.0", -1),
        ("1.0", "1.0.post1", -1),
        ("1.0", "1.0.0", 0),
        ("1!0.1", "2.0", 1),
        ("1.0+local", "1.0", 1),
        ("1.0RC1", "1.0rc1", 0),
    ],
)
def test_pep440_order_table(a: str, b: str, want: int) -> None:
    assert compare_pep440(a, b) == want


def test_unknown_ecosystem_and_bad_pep440() -> None:
    with pytest.raises(InvalidArgument, match="unknown ecosystem"):
        compare("npm", "1", "2")
    with pytest.raises(InvalidArgument, match="invalid"):
        compare_pep440("not a version", "1.0")
    assert compare("Debian:12", "1.0~1", "1.0") == -1
