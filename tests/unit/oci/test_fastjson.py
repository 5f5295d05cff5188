"""``fastjson`` matches ``json`` where dockyard relies on it."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import fastjson

VALUE = {"b": [1, 2.5, None, True, 'é\n"x'], "a": {"z": 1, "y": []}, "": -3}


def test_round_trip_and_same_bytes_as_json() -> None:
    assert fastjson.dumps(VALUE) == json.dumps(VALUE, separators=(",", ":"))
    assert fastjson.dumps(VALUE, sort_keys=True) == json.dumps(
        VALUE, separators=(",", ":"), sort_keys=True
    )
    assert fastjson.loads(fastjson.dumps(VALUE)) == VALUE
    assert fastjson.loads(b" \n[1]\t") == [1]


@pytest.mark.parametrize("bad", [b"{", b"[1] x", b"\xff", b"NaN", b""])
def test_bad_input_is_invalid_argument(bad: bytes) -> None:
    with pytest.raises(InvalidArgument, match="parse thing: invalid json"):
        fastjson.loads(bad, "thing")
