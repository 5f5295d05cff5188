"""Differential test against PyPI ``dockerfile`` (BuildKit's Go parser, wrapped).

Skipped when the package is not installed.  Both parsers read the same
generated Dockerfiles; instructions, arguments, flags, JSON-ness, line ranges
and heredocs must agree.

Known differences, all on the side of the wrapped parser (dockerfile 3.4.0
embeds an older BuildKit and a C bridge), hence not generated here:
``<<  EOF`` (blanks after ``<<``) is a heredoc only in newer BuildKit (the
corpus's ``extra/heredoc`` expects it), and a JSON ``"\u0000"`` is cut at
the NUL by the bridge.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.build.parser import Node, parse_dockerfile
from dockyard.errors import InvalidArgument

dockerfile: Any = pytest.importorskip("dockerfile", reason="PyPI dockerfile is not installed")

pytestmark = pytest.mark.slow

_WORD = st.text(alphabet="abcXYZ019_-./:$={}", min_size=1, max_size=8)
_QUOTED = st.builds(lambda q, w: q + w + q, st.sampled_from(["'", '"']), _WORD)
_ARG = st.one_of(_WORD, _QUOTED, st.sampled_from(["\\ ", "\\\\", "a\\ b", '"a b"', "'c d'"]))
_SEP = st.sampled_from([" ", "  ", "\t", " \\\n  ", " \\\n# c\n  ", " \\\n\n "])
_KEYWORD = st.sampled_from(
    [
        "FROM", "RUN", "CMD", "ENTRYPOINT", "ENV", "LABEL", "ARG", "EXPOSE", "COPY", "ADD",
        "WORKDIR", "USER", "VOLUME", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD",
        "MAINTAINER", "run", "Copy", "BOGUS",
    ]
)  # fmt: skip
_FLAG = st.sampled_from(["--from=a", "--chown=1:1", "--link", "--mount=type=cache,target=/x", "--"])


@st.composite
def _instruction(draw: st.DrawFn) -> str:
    keyword = draw(_KEYWORD)
    if keyword == "ONBUILD":
        keyword += " " + draw(st.sampled_from(["RUN", "COPY", "ENV"]))
    flags = draw(st.lists(_FLAG, max_size=2))
    if draw(st.booleans()) and keyword not in ("ENV", "LABEL", "ARG"):
        items = draw(st.lists(_WORD, max_size=3))
        rest = "[" + ", ".join('"' + w.replace("\\", "") + '"' for w in items) + "]"
    else:
        args: list[str] = draw(st.lists(_ARG, max_size=4))
        if keyword in ("ENV", "LABEL") and args and draw(st.booleans()):
            args = [f"{a}={b}" for a, b in zip(args, [*args[1:], "v"], strict=True)]
        seps = [draw(_SEP) for _ in args]
        rest = "".join(s + a for s, a in zip(seps, args, strict=True)).lstrip(" \t")
    return " ".join([keyword, *flags, rest]).rstrip() + "\n"


_HEREDOC = st.sampled_from(
    ["RUN <<EOF\necho hi\nEOF\n", "COPY <<-A <<B /d\n\tx\n\tA\ny\nB\n", "RUN cat <<'X'\n$a\nX\n"]
)
_BLANKS = st.sampled_from(["", "\n", "# comment\n", "  \n"])


@st.composite
def _dockerfile(draw: st.DrawFn) -> str:
    parts = [draw(st.sampled_from(["", "# syntax=docker/dockerfile:1\n", "# escape=\\\n"]))]
    parts.append("FROM scratch\n")
    for _ in range(draw(st.integers(1, 6))):
        parts.append(draw(_BLANKS))
        parts.append(draw(st.one_of(_instruction(), _HEREDOC)))
    return "".join(parts)


def _ours(node: Node) -> tuple[Any, ...]:
    target, sub_cmd = node, None
    if node.value.lower() == "onbuild" and node.next is not None and node.next.children:
        target = node.next.children[0]
        sub_cmd = target.value
    values = [arg.value for arg in target.args()]
    if target.value.lower() in ("env", "label"):
        values = [v for i, v in enumerate(values) if i % 3 != 2]
    heredocs = tuple((h.name, h.content) for h in node.heredocs)
    return (
        node.value,
        sub_cmd,
        target.json,
        node.start_line,
        node.end_line,
        tuple(node.flags),
        tuple(values),
        heredocs,
    )


def _theirs(cmd: Any) -> tuple[Any, ...]:
    heredocs = tuple((h.name, h.content) for h in cmd.heredocs)
    return (
        cmd.cmd,
        cmd.sub_cmd,
        cmd.json,
        cmd.start_line,
        cmd.end_line,
        tuple(cmd.flags),
        tuple(cmd.value),
        heredocs,
    )


def _compare(text: str) -> None:
    try:
        theirs = [_theirs(c) for c in dockerfile.parse_string(text)]
    except dockerfile.GoParseError:
        with pytest.raises(InvalidArgument):
            parse_dockerfile(text)
        return
    ours = [_ours(n) for n in parse_dockerfile(text).ast.children]
    assert ours == theirs, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_dockerfile())
def test_same_as_buildkit(text: str) -> None:
    _compare(text)


@pytest.mark.parametrize(
    "text",
    [
        'FROM a\nENV a b c\nENV x=1 y="2 3"\nLABEL a=b\n',
        'FROM a\nONBUILD RUN ["a"]\nONBUILD ADD x y\n',
        'FROM a\nHEALTHCHECK --interval=5s CMD ["a"]\nHEALTHCHECK NONE\n',
        "FROM a\nCOPY --from=b --chown=1 x y\nRUN --mount=type=cache,target=/x make\n",
        "FROM a\nRUN <<EOF\nhi\nEOF\n",
        'FROM a\nCMD ["a", 1]\n',
        "FROM a\nFOO bar\n",
    ],
)
def test_examples_same_as_buildkit(text: str) -> None:
    _compare(text)
