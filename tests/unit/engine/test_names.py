"""Container ids and names from ``os.urandom``."""

from __future__ import annotations

from dockyard.engine import names


def test_ids_are_64_hex_and_differ() -> None:
    a, b = names.new_id(), names.new_id()
    assert len(a) == 64 and set(a) <= set("0123456789abcdef") and a != b


def test_names_pick_from_both_lists() -> None:
    seen = {names.random_name() for _ in range(300)}
    assert len(seen) > 100
    for n in seen:
        left, _, right = n.partition("_")
        assert left in names._LEFT and right in names._RIGHT
