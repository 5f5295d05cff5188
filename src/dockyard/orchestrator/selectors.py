"""Label selectors: the ``matchLabels``/``matchExpressions`` object and the ``-l`` string.

Semantics (apimachinery ``labels.Selector``):

* a selector is the AND of its requirements; ``matchLabels: {a: b}`` is ``a In (b)``;
* ``In``: the label is present and its value is one of the values;
  ``NotIn``: the label is absent, or present with another value;
  ``Exists`` / ``DoesNotExist``: presence only (no values allowed);
* the empty selector ``{}`` matches everything; a missing selector (``None``) matches
  nothing — callers decide what a missing one means for them.

The string syntax (``kubectl get -l``)::

    app=web,tier!=db,env in (a,b),env notin (c),release,!canary

``=`` and ``==`` are ``In`` with one value, ``!=`` is ``NotIn``, a bare key is
``Exists`` and ``!key`` is ``DoesNotExist``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dockyard.errors import InvalidArgument
from dockyard.records import field, record

__all__ = [
    "OPERATORS",
    "LabelSelector",
    "LabelSelectorRequirement",
    "format_selector",
    "matches",
    "parse_selector",
    "requirements",
    "selector_from_map",
]

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


@record
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry: ``key operator (values)``."""

    key: str = ""
    operator: str = ""
    values: tuple[str, ...] = ()


@record
class LabelSelector:
    """``{matchLabels, matchExpressions}``; the two are ANDed."""

    match_labels: dict[str, str] = field(default_factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


def selector_from_map(labels: Mapping[str, str]) -> LabelSelector:
    """A selector requiring exactly these labels (a Service's ``spec.selector``)."""
    return LabelSelector(match_labels=dict(labels))


def requirements(selector: LabelSelector) -> list[LabelSelectorRequirement]:
    """``matchLabels`` as ``In`` requirements followed by ``matchExpressions``."""
    reqs = [
        LabelSelectorRequirement(k, "In", (v,)) for k, v in sorted(selector.match_labels.items())
    ]
    return reqs + list(selector.match_expressions)


def _match_one(req: LabelSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    if req.operator == "In":
        return present and labels[req.key] in req.values
    if req.operator == "NotIn":
        return not present or labels[req.key] not in req.values
    if req.operator == "Exists":
        return present
    if req.operator == "DoesNotExist":
        return not present
    raise InvalidArgument(f"{req.operator!r} is not a valid label selector operator")


def matches(selector: LabelSelector | None, labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy ``selector`` (``None`` matches nothing, ``{}`` everything)."""
    if selector is None:
        return False
    return all(_match_one(r, labels) for r in requirements(selector))


_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<op>==|!=|=|!)|(?P<word>[^\s,()=!]+))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidArgument(f"invalid label selector {text!r}: unexpected {text[pos:]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def fail(self, why: str) -> InvalidArgument:
        return InvalidArgument(f"invalid label selector {self.text!r}: {why}")

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, kind: str) -> str:
        k, v = self.peek()
        if k != kind:
            raise self.fail(f"expected {kind}, found {v or 'end of input'!r}")
        self.i += 1
        return v

    def requirement(self) -> LabelSelectorRequirement:
        kind, value = self.peek()
        if kind == "op" and value == "!":
            self.i += 1
            return LabelSelectorRequirement(self.take("word"), "DoesNotExist")
        key = self.take("word")
        kind, value = self.peek()
        if kind in ("comma", "end"):
            return LabelSelectorRequirement(key, "Exists")
        if kind == "op" and value != "!":
            self.i += 1
            nxt = self.peek()
            val = self.take("word") if nxt[0] == "word" else ""
            return LabelSelectorRequirement(key, "NotIn" if value == "!=" else "In", (val,))
        if kind == "word" and value in ("in", "notin"):
            self.i += 1
            return LabelSelectorRequirement(key, "In" if value == "in" else "NotIn", self.values())
        raise self.fail(f"unexpected {value!r} after {key!r}")

    def values(self) -> tuple[str, ...]:
        self.take("lp")
        vals: list[str] = []
        while self.peek()[0] != "rp":
            if vals:
                self.take("comma")
            vals.append(self.take("word"))
        self.take("rp")
        if not vals:
            raise self.fail("a set requires at least one value")
        return tuple(vals)

    def parse(self) -> LabelSelector:
        reqs: list[LabelSelectorRequirement] = []
        while self.peek()[0] != "end":
            if reqs:
                self.take("comma")
            reqs.append(self.requirement())
        return LabelSelector(match_expressions=tuple(reqs))


def parse_selector(text: str) -> LabelSelector:
    """Parse the ``-l`` syntax into a selector of ``matchExpressions`` (``""`` matches all)."""
    return _Parser(text).parse()


def format_selector(selector: LabelSelector) -> str:
    """The ``-l`` string of a selector (``app=web,env in (a,b),!canary``)."""
    parts: list[str] = []
    for r in requirements(selector):
        if r.operator == "In" and len(r.values) == 1:
            parts.append(f"{r.key}={r.values[0]}")
        elif r.operator == "NotIn" and len(r.values) == 1:
            parts.append(f"{r.key}!={r.values[0]}")
        elif r.operator in ("In", "NotIn"):
            parts.append(f"{r.key} {r.operator.lower()} ({','.join(sorted(r.values))})")
        elif r.operator == "Exists":
            parts.append(r.key)
        else:
            parts.append(f"!{r.key}")
    return ",".join(parts)
