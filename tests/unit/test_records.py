"""``dockyard.records.record`` behaves like the ``@dataclass`` it replaced."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from dockyard.records import FrozenInstanceError, asdict, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    raw: bytes = field(default=b"", compare=False, repr=False)
    KIND: ClassVar[str] = "point"


@dataclasses.dataclass(frozen=True)
class DPoint:
    x: int
    y: int = 0
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    raw: bytes = dataclasses.field(default=b"", compare=False, repr=False)


@record(order=True)
class Version:
    major: int
    minor: int = 0


@record(frozen=False)
class Box:
    items: list[int] = field(default_factory=list)


@record
class Point3(Point):
    z: int = 0


def test_init_defaults_and_factories_as_dataclasses() -> None:
    p, d = Point(1, tags={"a": "b"}), DPoint(1, tags={"a": "b"})
    assert (p.x, p.y, p.tags, p.raw) == (d.x, d.y, d.tags, d.raw)
    assert Point(1).tags is not Point(1).tags
    assert fields(Point) == ("x", "y", "tags", "raw") and Point.KIND == "point"
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point(1, nope=2)  # type: ignore[call-arg]


def test_repr_equality_and_hash() -> None:
    assert repr(Point(1, 2)) == repr(DPoint(1, 2)).replace("DPoint", "Point")
    assert Point(1, raw=b"x") == Point(1, raw=b"y")  # raw is not compared
    assert Point(1) != Point(2) and Point(1) != DPoint(1)
    assert hash(Version(1, 2)) == hash(Version(1, 2))
    assert len({Point(1), Point(1, tags={"a": "b"})}) == 2  # dict fields hash by repr


def test_frozen_and_mutable() -> None:
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.x  # type: ignore[misc]
    b = Box()
    b.items = [1]
    assert b.items == [1]
    with pytest.raises(TypeError):
        hash(b)


def test_order_inheritance_and_match() -> None:
    assert sorted([Version(1, 2), Version(1, 0), Version(0, 9)])[0] == Version(0, 9)
    assert Version(1) < Version(1, 1) <= Version(1, 1)
    p = Point3(1, 2, z=3)
    assert fields(p) == ("x", "y", "tags", "raw", "z") and p.z == 3
    match Point(4, 5):
        case Point(x, y):
            assert (x, y) == (4, 5)


def test_replace_and_asdict() -> None:
    p = Point(1, tags={"a": "b"})
    q = replace(p, y=7)
    assert (q.x, q.y, q.tags) == (1, 7, {"a": "b"}) and p.y == 0
    with pytest.raises(TypeError):
        replace(p, nope=1)
    nested = Box(items=[1, 2])
    assert asdict(nested) == {"items": [1, 2]}
    assert asdict(p) == dataclasses.asdict(DPoint(1, tags={"a": "b"}))


def test_post_init_runs() -> None:
    @record
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    assert Checked(1).n == 1
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)
