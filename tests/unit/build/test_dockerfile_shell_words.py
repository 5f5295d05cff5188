"""Variable expansion, table-driven (BuildKit's shell lexer semantics)."""

from __future__ import annotations

import pytest

from dockyard.build.parser import ShellLex, process_word, process_words
from dockyard.errors import InvalidArgument

ENV = {"A": "hello", "E": "", "S": "a b  c", "P": "/usr/local/bin.tar.gz", "N": "x"}

WORD_CASES = [
    ("plain", "plain"),
    ("$A", "hello"),
    ("${A}", "hello"),
    ("${A}x", "hellox"),
    ("$Ax", ""),
    ("$UNSET", ""),
    ("pre-$A-post", "pre-hello-post"),
    ("$", "$"),
    ("a$", "a$"),
    ("$ a", "$ a"),
    ("${B:-def}", "def"),
    ("${E:-def}", "def"),
    ("${A:-def}", "hello"),
    ("${B-def}", "def"),
    ("${E-def}", ""),
    ("${A:+alt}", "alt"),
    ("${E:+alt}", ""),
    ("${E+alt}", "alt"),
    ("${B+alt}", ""),
    ("${B:-$A}", "hello"),
    ("${B:-${N:-y}}", "x"),
    ("${B:-a b}", "a b"),
    ("'$A'", "$A"),
    ('"$A"', "hello"),
    ('"${A}s"', "hellos"),
    ('"\\$A"', "$A"),
    ('"a\\"b"', 'a"b'),
    ('"a\\b"', "a\\b"),
    ("\\$A", "$A"),
    ("a\\ b", "a b"),
    ("a\\", "a"),
    ("'a\\b'", "a\\b"),
    ("'it''s'", "its"),
    ('"it\'s"', "it's"),
    ("${P%.*}", "/usr/local/bin.tar"),
    ("${P%%.*}", "/usr/local/bin"),
    ("${P#*/}", "usr/local/bin.tar.gz"),
    ("${P##*/}", "bin.tar.gz"),
    ("${P/usr/opt}", "/opt/local/bin.tar.gz"),
    ("${P//l/L}", "/usr/LocaL/bin.tar.gz"),
    ("$1", ""),
    ("${A:?must be set}", "hello"),
]


@pytest.mark.parametrize(("word", "expected"), WORD_CASES)
def test_process_word(word: str, expected: str) -> None:
    assert process_word(word, ENV) == expected


WORDS_CASES = [
    ("a b", ["a", "b"]),
    ("  a   b  ", ["a", "b"]),
    ("$S", ["a", "b", "c"]),
    ('"$S"', ["a b  c"]),
    ("x$S", ["xa", "b", "c"]),
    ("'a b' c", ["a b", "c"]),
    ('""', []),
    ("a\\ b c", ["a b", "c"]),
    ("80/tcp $UNSET 443", ["80/tcp", "443"]),
]


@pytest.mark.parametrize(("word", "expected"), WORDS_CASES)
def test_process_words(word: str, expected: list[str]) -> None:
    assert process_words(word, ENV) == expected


def test_backtick_escape() -> None:
    assert process_word("a`$A", ENV, escape_token="`") == "a$A"
    assert process_word("C:\\dir\\$A", ENV, escape_token="`") == "C:\\dir\\hello"


ERRORS = [
    ("${A", "missing '}'"),
    ("${}", "bad substitution"),
    ("${:}", "bad substitution"),
    ("'abc", "matching single-quote"),
    ('"abc', "matching double-quote"),
    ("${B:?is required}", "B: is required"),
    ("${B?}", "B: is not allowed to be unset"),
    ("${E:?}", "E: is not allowed to be empty"),
    ("${A:#x}", "unsupported modifier (:#)"),
    ("${A!x}", "unsupported modifier (!)"),
]


@pytest.mark.parametrize(("word", "message"), ERRORS)
def test_errors(word: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match="failed to process") as info:
        process_word(word, ENV)
    assert message in str(info.value)


def test_skip_unset_and_raw_modes() -> None:
    lex = ShellLex(skip_unset_env=True)
    assert lex.process_word("$X ${Y} ${Z:-d} $A", ENV) == "$X ${Y} ${Z:-d} hello"
    raw = ShellLex(raw_quotes=True, raw_escapes=True)
    assert raw.process_word("'a' \"b\" c\\ d", ENV) == "'a' \"b\" c\\ d"


def test_matches_records_used_names() -> None:
    lex = ShellLex()
    lex.process_word("$A ${B:-x} $E", ENV)
    assert lex.matches == {"A", "E"}
