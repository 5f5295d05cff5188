"""Typed records: ``@record``, a cheap stand-in for ``@dataclass(frozen=True)``.

Why: ``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``tokenize``)
and compiles generated source with ``exec`` for every class, about 1 ms per class
on this machine. The modules on a container's start path define dozens of data
classes, so that cost was paid on every ``dockyard run``. A record is built from
a handful of shared closures instead; nothing is compiled and nothing is imported.

What a record is (the same as the dataclass it replaces)::

    @record                      # frozen by default; @record(frozen=False) allows assignment
    class Layer:
        digest: str
        size: int = 0
        labels: dict[str, str] = field(default_factory=dict)
        raw: bytes = field(default=b"", compare=False, repr=False)

* ``__init__`` takes the fields in annotation order, positionally or by name; defaults
  and ``default_factory`` as dataclasses; ``__post_init__`` is called when defined.
  Fields of record base classes come first. ``ClassVar`` annotations are not fields.
* ``__eq__`` compares the ``compare`` fields of two objects of the same class;
  ``order=True`` adds ``<``, ``<=``, ``>``, ``>=`` on the same tuple.
* frozen records raise :class:`FrozenInstanceError` (an ``AttributeError``) on
  assignment and are hashable (by the tuple of their fields, or by the ``repr`` of
  the fields when one of them is unhashable); mutable records are unhashable.
* ``__repr__`` is ``Name(field=value, ...)`` over the ``repr`` fields.
* :func:`replace`, :func:`asdict`, :func:`fields`, :func:`is_record` stand in for
  their ``dataclasses`` namesakes.

``typing.dataclass_transform`` tells mypy to check records exactly like dataclasses.
This module imports nothing at run time (not even ``typing``): it sits beneath every
other package, beside ``errors``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform, overload

    T = TypeVar("T")
    R = TypeVar("R")
else:

    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f

    def overload(f: object) -> object:
        return f


__all__ = ["FrozenInstanceError", "asdict", "field", "fields", "is_record", "record", "replace"]

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record (as ``dataclasses.FrozenInstanceError``)."""


class _Field:
    __slots__ = ("compare", "default", "factory", "repr")

    def __init__(
        self, default: object, factory: Callable[[], object] | None, compare: bool, repr: bool
    ) -> None:
        self.default = default
        self.factory = factory
        self.compare = compare
        self.repr = repr


@overload
def field(*, default: T, compare: bool = True, repr: bool = True) -> T: ...
@overload
def field(  # noqa: F811
    *, default_factory: Callable[[], T], compare: bool = True, repr: bool = True
) -> T: ...
@overload
def field(  # noqa: F811
    *, compare: bool = True, repr: bool = True
) -> Any: ...


def field(  # noqa: F811
    *,
    default: Any = _MISSING,
    default_factory: Callable[[], Any] | None = None,
    compare: bool = True,
    repr: bool = True,
) -> Any:
    """A field with options (as ``dataclasses.field``): a default, a per-instance factory,
    left out of comparisons (``compare=False``) or of ``repr`` (``repr=False``)."""
    if default is not _MISSING and default_factory is not None:
        raise ValueError("cannot specify both default and default_factory")
    return _Field(default, default_factory, compare, repr)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@overload
def record(cls: type[R], /) -> type[R]: ...
@overload
def record(  # noqa: F811
    *, frozen: bool = True, order: bool = False
) -> Callable[[type[R]], type[R]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(  # noqa: F811
    cls: type[R] | None = None, /, *, frozen: bool = True, order: bool = False
) -> type[R] | Callable[[type[R]], type[R]]:
    """Make ``cls`` a record (see the module docstring); ``@record`` or ``@record(...)``."""
    if cls is None:
        return lambda c: _make_record(c, frozen, order)
    return _make_record(cls, frozen, order)


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _collect(cls: type) -> tuple[list[str], dict[str, _Field]]:
    """Field names in order (bases first) and their options."""
    names: list[str] = []
    specs: dict[str, _Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for name in base.__dict__.get("__record_fields__", ()):
            if name not in specs:
                names.append(name)
            specs[name] = base.__dict__["__record_specs__"][name]
    own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 (inspect is slow to import)
    for name, annotation in own.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, _MISSING)
        if isinstance(value, _Field):
            spec = value
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
        else:
            spec = _Field(value, None, True, True)
        if name not in specs:
            names.append(name)
        specs[name] = spec
    return names, specs


def _make_record(cls: type[R], frozen: bool, order: bool) -> type[R]:
    names_list, specs = _collect(cls)
    names = tuple(names_list)
    nameset = frozenset(names)
    defaults = {n: s.default for n, s in specs.items() if s.default is not _MISSING}
    factories = {n: s.factory for n, s in specs.items() if s.factory is not None}
    compared = tuple(n for n in names if specs[n].compare)
    shown = tuple(n for n in names if specs[n].repr)
    post_init = getattr(cls, "__post_init__", None) is not None
    count = len(names)
    qualname = cls.__qualname__

    def __init__(self: Any, *args: object, **kwargs: object) -> None:
        if len(args) > count:
            raise TypeError(
                f"{qualname}.__init__() takes {count + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        values = dict(zip(names, args, strict=False))
        if kwargs:
            for k in kwargs:
                if k in values:
                    raise TypeError(f"{qualname}.__init__() got multiple values for argument {k!r}")
                if k not in nameset:
                    raise TypeError(
                        f"{qualname}.__init__() got an unexpected keyword argument {k!r}"
                    )
            values.update(kwargs)
        if len(values) < count:
            for n in names:
                if n in values:
                    continue
                if n in defaults:
                    values[n] = defaults[n]
                elif n in factories:
                    values[n] = factories[n]()
                else:
                    raise TypeError(
                        f"{qualname}.__init__() missing 1 required positional argument: {n!r}"
                    )
        self.__dict__.update(values)
        if post_init:
            self.__post_init__()

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        return f"{qualname}({inner})"

    def _key(self: object) -> tuple[object, ...]:
        return tuple([getattr(self, n) for n in compared])

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return _key(self) == _key(other)

    def __hash__(self: object) -> int:
        key = _key(self)
        try:
            return hash(key)
        except TypeError:  # a dict or list field: hash what it shows
            return hash(tuple([repr(v) for v in key]))

    methods: dict[str, object] = {
        "__init__": __init__,
        "__repr__": __repr__,
        "__eq__": __eq__,
        "__hash__": __hash__ if frozen else None,
        "__record_fields__": names,
        "__record_specs__": specs,
        "__match_args__": names,
    }
    if frozen:
        methods["__setattr__"] = _frozen_setattr
        methods["__delattr__"] = _frozen_delattr
    if order:
        methods.update(_order_methods(_key))
    for name, value in methods.items():
        if name in ("__init__", "__repr__", "__eq__", "__hash__") and name in cls.__dict__:
            continue  # the class wrote its own
        setattr(cls, name, value)
    return cls


def _order_methods(key: Callable[[object], tuple[object, ...]]) -> dict[str, object]:
    def compare(op: Callable[[Any, Any], bool]) -> Callable[[object, object], bool]:
        def method(self: object, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented  # type: ignore[no-any-return]
            return op(key(self), key(other))

        return method

    return {
        "__lt__": compare(lambda a, b: a < b),
        "__le__": compare(lambda a, b: a <= b),
        "__gt__": compare(lambda a, b: a > b),
        "__ge__": compare(lambda a, b: a >= b),
    }


def is_record(obj: object) -> bool:
    """Whether ``obj`` is a record instance or class."""
    cls = obj if isinstance(obj, type) else type(obj)
    return "__record_fields__" in cls.__dict__ or hasattr(cls, "__record_fields__")


def fields(obj: object) -> tuple[str, ...]:
    """The field names of a record (instance or class), in order."""
    cls = obj if isinstance(obj, type) else type(obj)
    try:
        return cls.__record_fields__  # type: ignore[attr-defined,no-any-return]
    except AttributeError:
        raise TypeError(f"{cls.__qualname__} is not a record") from None


def replace(obj: R, /, **changes: Any) -> R:
    """A copy of record ``obj`` with ``changes`` (as ``dataclasses.replace``)."""
    values = {n: getattr(obj, n) for n in fields(obj)}
    values.update(changes)
    return type(obj)(**values)


def asdict(obj: object) -> dict[str, Any]:
    """A record as a dict, recursing into records, lists, tuples and dicts (as
    ``dataclasses.asdict``; other values are shared, not deep-copied)."""
    if not is_record(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on record instances")
    return {n: _value(getattr(obj, n)) for n in fields(obj)}


def _value(v: Any) -> Any:
    if is_record(v) and not isinstance(v, type):
        return asdict(v)
    if isinstance(v, tuple) and hasattr(v, "_fields"):  # a namedtuple
        return type(v)(*[_value(x) for x in v])
    if isinstance(v, (list, tuple)):
        return type(v)(_value(x) for x in v)
    if isinstance(v, dict):
        return type(v)((_value(k), _value(x)) for k, x in v.items())
    return v
