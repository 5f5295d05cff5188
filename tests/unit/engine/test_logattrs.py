"""``logs --details`` attributes as docker's json-file picks and writes them."""

from __future__ import annotations

import pytest

from dockyard.engine.logattrs import check_opts, details_prefix, extra_attributes
from dockyard.errors import InvalidArgument

LABELS = {"tier": "web", "team": "a b", "com.x.y": "1"}
ENV = ["PATH=/bin", "REGION=eu", "EMPTY=", "LANG=C"]


@pytest.mark.parametrize(
    ("opts", "want"),
    [
        ({}, {}),
        ({"labels": "tier,absent"}, {"tier": "web"}),
        ({"labels-regex": r"^com\."}, {"com.x.y": "1"}),
        ({"labels-regex": "ea"}, {"team": "a b"}),  # unanchored, as Go's MatchString
        ({"env": "REGION,EMPTY,NOPE"}, {"REGION": "eu", "EMPTY": ""}),
        ({"env-regex": "^LA", "labels": "tier"}, {"LANG": "C", "tier": "web"}),
    ],
)
def test_extra_attributes(opts: dict[str, str], want: dict[str, str]) -> None:
    assert extra_attributes(opts, LABELS, ENV) == want


def test_prefix_sorted_and_escaped() -> None:
    assert details_prefix({}) == b" "
    assert details_prefix({"tier": "web", "team": "a b", "a=b": "c,d"}) == (
        b"a%3Db=c%2Cd,team=a+b,tier=web "
    )


def test_bad_regex_refused() -> None:
    with pytest.raises(InvalidArgument, match="env-regex"):
        check_opts({"env-regex": "("})
