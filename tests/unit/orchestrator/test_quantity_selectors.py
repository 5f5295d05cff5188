"""Quantities, int-or-percent values and label selectors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dockyard.errors import InvalidArgument
from dockyard.orchestrator.quantity import Quantity, parse_quantity, scaled_int_or_percent
from dockyard.orchestrator.selectors import (
    LabelSelector,
    LabelSelectorRequirement,
    format_selector,
    matches,
    parse_selector,
)


@pytest.mark.parametrize(
    ("text", "value", "milli"),
    [
        ("500m", Decimal("0.5"), 500),
        ("1.5", Decimal("1.5"), 1500),
        (1.5, Decimal("1.5"), 1500),
        (2, Decimal(2), 2000),
        ("128Mi", Decimal(128 * 1024**2), 128 * 1024**2 * 1000),
        ("1G", Decimal(10**9), 10**12),
        ("1Ki", Decimal(1024), 1024000),
        ("1e3", Decimal(1000), 1000000),
        ("1E-3", Decimal("0.001"), 1),
        ("100n", Decimal("1E-7"), 1),  # milli-value rounds up
        ("0.1m", Decimal("0.0001"), 1),
        ("1k", Decimal(1000), 1000000),
        ("-1", Decimal(-1), -1000),
        (".5", Decimal("0.5"), 500),
    ],
)
def test_parse_quantity(text: str | float, value: Decimal, milli: int) -> None:
    q = parse_quantity(text)
    assert q.value == value
    assert q.milli_value() == milli


@pytest.mark.parametrize("text", ["", "12x", "1.2.3", "Mi", "1 Gi", "1MB", "abc", "1e", "--1"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(InvalidArgument, match="quantities must match the regular expression"):
        parse_quantity(text)


def test_quantity_equality_is_by_value_and_text_survives() -> None:
    assert parse_quantity("1000m") == parse_quantity("1")
    assert str(parse_quantity("1000m")) == "1000m"
    assert Quantity.from_milli(1500).text == "1500m"
    assert Quantity.from_milli(2000).text == "2"
    assert Quantity.from_bytes(50 * 1024**2).text == "50Mi"
    assert Quantity.from_bytes(1000).text == "1000"


@pytest.mark.parametrize(
    ("value", "total", "up", "expected"),
    [
        ("25%", 3, True, 1),
        ("25%", 3, False, 0),
        ("25%", 4, False, 1),
        (2, 10, True, 2),
        ("0%", 5, True, 0),
    ],
)
def test_scaled_int_or_percent(value: int | str, total: int, up: bool, expected: int) -> None:
    assert scaled_int_or_percent(value, total, up) == expected


def test_scaled_bad_percent() -> None:
    with pytest.raises(InvalidArgument):
        scaled_int_or_percent("25", 4, True)


LABELS = {"app": "web", "tier": "front", "env": "a"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("tier!=db", True),
        ("tier!=front", False),
        ("missing!=x", True),
        ("env in (a,b)", True),
        ("env in (b, c)", False),
        ("env notin (b,c)", True),
        ("app", True),
        ("canary", False),
        ("!canary", True),
        ("!app", False),
        ("app=web,tier!=db,env in (a,b),!canary", True),
        ("app=web,canary", False),
    ],
)
def test_selector_strings(text: str, expected: bool) -> None:
    assert matches(parse_selector(text), LABELS) is expected


@pytest.mark.parametrize("text", ["app=web,", "env in ()", "env in (a", "=x", "a b"])
def test_bad_selector_strings(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid label selector"):
        parse_selector(text)


def test_selector_objects() -> None:
    sel = LabelSelector(
        {"app": "web"},
        (
            LabelSelectorRequirement("env", "In", ("a", "b")),
            LabelSelectorRequirement("x", "DoesNotExist"),
        ),
    )
    assert matches(sel, LABELS)
    assert not matches(sel, {"app": "web"})
    assert matches(LabelSelector(), {})  # empty selects everything
    assert not matches(None, LABELS)  # missing selects nothing
    assert format_selector(sel) == "app=web,env in (a,b),!x"
    assert matches(parse_selector(format_selector(sel)), LABELS)
