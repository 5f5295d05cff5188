from __future__ import annotations

import pytest

from dockyard.engine.options import parse_cpus, parse_env, parse_size, parse_ulimit
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("value", "expected"),
    [("64m", 64 * 2**20), ("1g", 2**30), ("512k", 512 * 1024), ("100", 100), ("1.5g", 3 * 2**29),
     ("64M", 64 * 2**20), ("64mb", 64 * 2**20)],
)  # fmt: skip
def test_parse_size(value: str, expected: int) -> None:
    assert parse_size(value, "--memory") == expected


@pytest.mark.parametrize("value", ["lots", "-1m", "0", "12x", ""])
def test_parse_size_rejects_nonsense(value: str) -> None:
    with pytest.raises(InvalidArgument, match="--memory"):
        parse_size(value, "--memory")


def test_parse_cpus() -> None:
    assert parse_cpus("0.5") == 500_000_000
    with pytest.raises(InvalidArgument):
        parse_cpus("half")
    with pytest.raises(InvalidArgument):
        parse_cpus("0")


def test_parse_env_takes_unset_values_from_the_host() -> None:
    assert parse_env(["A=1", "B", "C"], {"B": "x"}) == ["A=1", "B=x"]
    with pytest.raises(InvalidArgument):
        parse_env(["=x"], {})


def test_parse_ulimit() -> None:
    assert parse_ulimit("nofile=1024:2048") == ("RLIMIT_NOFILE", 1024, 2048)
    assert parse_ulimit("nproc=10") == ("RLIMIT_NPROC", 10, 10)
    for bad in ("nofile", "bogus=1", "nofile=2:1", "nofile=a"):
        with pytest.raises(InvalidArgument):
            parse_ulimit(bad)
