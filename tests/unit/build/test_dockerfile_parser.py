"""The line reader and AST: continuations, directives, heredocs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.parser import dump_ast, parse_dockerfile, print_ast
from dockyard.build.parser._gostr import go_quote, go_quote_list
from dockyard.errors import InvalidArgument


def dump(text: str) -> str:
    return dump_ast(parse_dockerfile(text))


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain", '"plain"'),
        ('a"b\\c', '"a\\"b\\\\c"'),
        ("\x00\x07\x08\x0c\n\r\t\x0b\x1b\x7f", '"\\x00\\a\\b\\f\\n\\r\\t\\v\\x1b\\x7f"'),
        ("♥ ☃ é", '"♥ ☃ é"'),
        ("\u00a0\u200b", '"\\u00a0\\u200b"'),
        ("\U000e0001", '"\\U000e0001"'),
        ("\udcff", '"\\xff"'),
    ],
)
def test_go_quote(value: str, quoted: str) -> None:
    assert go_quote(value) == quoted


def test_go_quote_list() -> None:
    assert go_quote_list(["--a=1", 'b"']) == '["--a=1" "b\\""]'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM a\nRUN echo \\\n  hi\n", '(from "a")\n(run "echo   hi")\n'),
        ("FROM a\r\nRUN x\r\n", '(from "a")\n(run "x")\n'),
        ("\ufeffFROM a\n", '(from "a")\n'),
        ("  FROM a\n\t# c\nRUN b", '(from "a")\n(run "b")\n'),
        ("FROM a\nRUN a # not a comment\n", '(from "a")\n(run "a # not a comment")\n'),
        ("FROM a\nRUN a \\\n# c\n b\n", '(from "a")\n(run "a  b")\n'),
        ("FROM a\nRUN a \\\\\nRUN b\n", '(from "a")\n(run "a \\\\\\\\")\n(run "b")\n'),
        ("FROM a\nRUN a \\", '(from "a")\n(run "a")\n'),
        ("FROM a\nfoo bar baz\n", '(from "a")\n(foo "")\n'),
        ('FROM a\nCMD ["a", 1\n', '(from "a")\n(cmd "[\\"a\\", 1")\n'),
        ('FROM a\nCMD ["a"] x\n', '(from "a")\n(cmd "[\\"a\\"] x")\n'),
        ("FROM a\nCMD [NaN]\n", '(from "a")\n(cmd "[NaN]")\n'),
        ('FROM a\nARG abc="123 456" def\n', '(from "a")\n(arg "abc=\\"123 456\\"" "def")\n'),
        ("FROM a\nONBUILD RUN --x=1 y\n", '(from "a")\n(onbuild (run ["--x=1"] "y"))\n'),
        (
            "FROM a\nCOPY --a='x y' --b=\"\" -- c d\n",
            '(from "a")\n(copy ["--a=x y" "--b="] "c" "d")\n',
        ),
        ("FROM a\nHEALTHCHECK NONE\n", '(from "a")\n(healthcheck "NONE")\n'),
    ],
)
def test_dump(text: str, expected: str) -> None:
    assert dump(text) == expected


def test_escape_directive_changes_continuation() -> None:
    text = "# escape=`\nFROM a\nRUN dir c:\\ `\n  /b\n"
    result = parse_dockerfile(text)
    assert result.escape_token == "`"
    assert dump_ast(result) == '(from "a")\n(run "dir c:\\\\   /b")\n'
    assert [(d.name, d.value, d.line) for d in result.directives] == [("escape", "`", 1)]


def test_directives_only_at_top() -> None:
    text = "# syntax=docker/dockerfile:1\n# check=skip=all\n\n# escape=`\nFROM a\n"
    result = parse_dockerfile(text)
    assert result.directive("syntax") == "docker/dockerfile:1"
    assert result.directive("check") == "skip=all"
    assert result.escape_token == "\\"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Dockerfile:1: file with no instructions"),
        ("# only\n\n# comments\n", "Dockerfile:3: file with no instructions"),
        ("# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
        ("# syntax=a\n# syntax=b\nFROM a\n", "Dockerfile:2: only one syntax parser directive"),
        ("FROM a\n\nENV PATH\n", "Dockerfile:3: ENV must have two arguments"),
        ("FROM a\nLABEL a=b c\n", 'Dockerfile:2: Syntax error - can\'t find = in "c"'),
        ('FROM a\nCMD ["a", ["b"]]\n', "Dockerfile:2: when using JSON array syntax"),
        ("FROM a\nRUN <<EOF\nno end\n", "Dockerfile:2: unterminated heredoc"),
        ("FROM a\nRUN x\nLABEL a=" + "b" * 70000, "Dockerfile:3: dockerfile line greater"),
    ],
)
def test_errors_carry_line_numbers(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_dockerfile(text)
    assert str(info.value).startswith(message)


def test_filename_in_errors() -> None:
    with pytest.raises(InvalidArgument, match=r"^build/Dockerfile.dev:1: "):
        parse_dockerfile("", "build/Dockerfile.dev")


def test_line_ranges_and_comments() -> None:
    text = "# top\nFROM a\n\n# about run\nRUN a \\\n  b \\\n\n  c\nCOPY <<EOF /x\nbody\nEOF\n"
    result = parse_dockerfile(text)
    ranges = [(c.start_line, c.end_line) for c in result.ast.children]
    assert ranges == [(2, 2), (5, 8), (9, 11)]
    assert result.ast.children[1].prev_comment == ["about run"]
    assert len(result.warnings) == 1 and result.warnings[0].line == 8


def test_heredoc_with_chomp_and_several() -> None:
    text = "FROM a\nCOPY <<-A <<B /d\n\tone\n\tA\ntwo\nB\nRUN x\n"
    node = parse_dockerfile(text).ast.children[1]
    assert [(h.name, h.content, h.chomp) for h in node.heredocs] == [
        ("A", "\tone\n", True),
        ("B", "two\n", False),
    ]
    assert (node.start_line, node.end_line) == (2, 6)


def test_heredoc_only_for_run_copy_add() -> None:
    node = parse_dockerfile("FROM a\nUSER <<X\n").ast.children[1]
    assert node.heredocs == []
    onbuild = parse_dockerfile("FROM a\nONBUILD RUN <<X\nhi\nX\n").ast.children[1]
    assert [h.content for h in onbuild.heredocs] == ["hi\n"]


def test_flags_non_ascii_kept_bytewise() -> None:
    # BuildKit scans flag words byte by byte; the dump shows Latin-1 runes.
    assert dump("FROM a\nCOPY --chown=é x y\n") == '(from "a")\n(copy ["--chown=Ã©"] "x" "y")\n'


def test_print_ast(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"FROM a\nRUN echo \xff\n")
    assert print_ast(path) == '(from "a")\n(run "echo \\xff")\n'
    bad = tmp_path / "Bad"
    bad.write_text("FROM a\nENV X\n")
    with pytest.raises(InvalidArgument, match=rf"^{bad}:2: ENV must have two arguments"):
        print_ast(bad)
    with pytest.raises(InvalidArgument, match="read "):
        print_ast(tmp_path / "missing")
