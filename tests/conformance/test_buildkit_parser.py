"""BuildKit's own parser corpus, reproduced byte for byte.

Reads ../shared/corpus/buildkit-parser (see its FORMAT.md); skips where absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dockyard.build.parser import (
    Heredoc,
    detect_syntax,
    dump_ast,
    instructions_from_ast,
    parse_directive,
    parse_dockerfile,
    read_dockerfile,
)
from dockyard.build.parser._args import parse_json_array, parse_words
from dockyard.build.parser._directives import DirectiveParser
from dockyard.build.parser._heredoc import heredocs_from_line, parse_heredoc
from dockyard.errors import InvalidArgument

pytestmark = pytest.mark.corpus

# Only to name the parametrized cases at collection time (same rule as the
# corpus_dir fixture); every test reads the files through corpus_dir.
_REPO = Path(__file__).resolve().parents[2]
_CORPUS = Path(os.environ.get("DOCKYARD_CORPUS", _REPO.parent / "shared" / "corpus"))


def _cases(folder: str) -> list[str]:
    base = _CORPUS / "buildkit-parser" / folder
    return sorted(p.name for p in base.iterdir()) if base.is_dir() else []


@pytest.fixture
def bk(corpus_dir: Path) -> Path:
    return corpus_dir / "buildkit-parser"


@pytest.mark.parametrize("case", _cases("testfiles") or ["(corpus absent)"])
def test_positive_dump_matches(bk: Path, case: str) -> None:
    folder = bk / "testfiles" / case
    result = parse_dockerfile(read_dockerfile(folder / "Dockerfile"))
    assert dump_ast(result).encode("utf-8", "surrogateescape") == (folder / "result").read_bytes()


def test_all_positive_cases_present(bk: Path) -> None:
    assert len(list((bk / "testfiles").iterdir())) == 33


NEGATIVE = {
    "empty_dockerfile": "file with no instructions",
    "only_comments": "file with no instructions",
    "env_no_value": "ENV must have two arguments",
    "shykes-nested-json": "arrays must be comprised of strings only",
}


@pytest.mark.parametrize("case", sorted(NEGATIVE))
def test_negative_fails(bk: Path, case: str) -> None:
    text = read_dockerfile(bk / "testfiles-negative" / case / "Dockerfile")
    with pytest.raises(InvalidArgument, match=r"^Dockerfile:\d+: ") as info:
        parse_dockerfile(text)
    assert NEGATIVE[case] in str(info.value)


def test_negative_cases_all_listed(bk: Path) -> None:
    assert sorted(p.name for p in (bk / "testfiles-negative").iterdir()) == sorted(NEGATIVE)


def test_line_numbers(bk: Path) -> None:
    expected = json.loads((bk / "extra" / "testfile-line.expected.json").read_text())
    ast = parse_dockerfile(read_dockerfile(bk / "testfile-line" / "Dockerfile")).ast
    assert (ast.start_line, ast.end_line) == (expected["root"]["start"], expected["root"]["end"])
    assert [[c.start_line, c.end_line] for c in ast.children] == expected["children"]


def _heredoc_dicts(docs: list[Heredoc]) -> list[dict[str, object]] | None:
    out: list[dict[str, object]] = [
        {
            "Name": h.name,
            "Content": h.content,
            "Expand": h.expand,
            "Chomp": h.chomp,
            "FileDescriptor": h.file_descriptor,
        }
        for h in docs
    ]
    return out or None


def test_heredoc_attachments(bk: Path) -> None:
    expected = json.loads((bk / "extra" / "heredoc" / "expected.json").read_text())
    ast = parse_dockerfile(read_dockerfile(bk / "extra" / "heredoc" / "Dockerfile")).ast
    assert len(ast.children) == len(expected["children"]) + 1
    for case in expected["children"]:
        node = ast.children[case["child_index"]]
        assert _heredoc_dicts(list(node.heredocs)) == case["heredocs"], case["instruction"]


def test_heredoc_json_form_never_heredoc(bk: Path) -> None:
    expected = json.loads((bk / "extra" / "heredoc" / "expected.json").read_text())
    ast = parse_dockerfile(expected["json_form_never_heredoc"]["dockerfile"]).ast
    assert all(not c.heredocs for c in ast.children[1:])


def test_heredoc_word_cases(bk: Path) -> None:
    cases = json.loads((bk / "extra" / "heredoc" / "expected.json").read_text())
    words = cases["heredoc_word_cases"]
    for word in words["valid_name_EOF"]:
        doc = parse_heredoc(word)
        assert doc is not None and doc.name == "EOF", word
    for word in words["error_unterminated_quote"]:
        with pytest.raises(InvalidArgument):
            parse_heredoc(word)
    for word in words["not_a_heredoc"]:
        assert parse_heredoc(word) is None, word
    for case in cases["heredocs_from_line_cases"]:
        assert [h.name for h in heredocs_from_line(case["line"])] == case["names"], case


def test_empty_continuation_warnings(bk: Path) -> None:
    folder = bk / "extra" / "empty-continuation"
    expected = json.loads((folder / "expected.json").read_text())
    warnings = parse_dockerfile(read_dockerfile(folder / "Dockerfile")).warnings
    assert len(warnings) == expected["warnings_count"]
    for i, warning in enumerate(warnings):
        for part in expected[f"warning_{i}_short_contains"]:
            assert part in warning.short
        assert expected["warning_detail_contains"] in warning.detail
        assert warning.url == expected["warning_url"]


@pytest.fixture
def unit(bk: Path) -> dict[str, object]:
    data = json.loads((bk / "extra" / "unit-expectations.json").read_text())
    assert isinstance(data, dict)
    return data


def test_unit_json_arrays(unit: dict[str, object]) -> None:
    valid = unit["json_arrays_valid"]
    assert isinstance(valid, dict)
    for text, values in valid.items():
        assert parse_json_array(text) == values, text
    invalid = unit["json_arrays_not_string_array_error"]
    assert isinstance(invalid, list)
    for text in invalid:
        with pytest.raises(InvalidArgument, match="strings only"):
            parse_json_array(text)


def test_unit_parse_words(unit: dict[str, object]) -> None:
    cases = unit["parse_words"]
    assert isinstance(cases, list)
    for text, words in cases:
        assert parse_words(text, "\\") == words, text


def test_unit_name_val(unit: dict[str, object]) -> None:
    def env_values(line: str) -> list[str]:
        node = parse_dockerfile(line).ast.children[0]
        return [arg.value for arg in node.args()]

    assert env_values("ENV foo bar") == ["foo", "bar", ""]
    assert env_values("ENV foo=bar thing=star") == ["foo", "bar", "=", "thing", "star", "="]
    with pytest.raises(InvalidArgument, match="ENV must have two arguments"):
        parse_dockerfile("ENV foo")


def test_unit_line_too_long(unit: dict[str, object]) -> None:
    expected = unit["scanner_line_too_long"]
    assert isinstance(expected, dict)
    with pytest.raises(InvalidArgument, match=expected["error"]):
        parse_dockerfile("FROM a\nLABEL x=" + "y" * 65536 + "\n")
    parse_dockerfile("FROM a\nLABEL x=" + "y" * (65535 - 8) + "\n")


def test_unit_directives(unit: dict[str, object]) -> None:
    cases = unit["directives"]
    assert isinstance(cases, list)
    for case in cases:
        parser = DirectiveParser()
        found = [(d.name, d.value) for d in parser.parse_all(case["text"])]
        assert found == [tuple(d) for d in case["directives"]]


@pytest.mark.parametrize("key", ["detect_syntax", "parse_directive_check"])
def test_unit_detect_directive(unit: dict[str, object], key: str) -> None:
    cases = unit[key]
    assert isinstance(cases, list)
    for case in cases:
        if key == "detect_syntax":
            found = detect_syntax(case["text"])
        else:
            found = parse_directive("check", case["text"])
        if case.get("found") is False:
            assert found is None, case
            continue
        assert found is not None, case
        ref, cmdline, line = found
        assert ref == case["ref"]
        if "cmdline" in case:
            assert cmdline == case["cmdline"]
        if "line" in case:
            assert line == case["line"]


def _awesome_compose(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "compose" / "awesome-compose").rglob("Dockerfile*"))


def test_awesome_compose_dockerfiles_parse(corpus_dir: Path) -> None:
    files = _awesome_compose(corpus_dir)
    assert len(files) == 22
    for path in files:
        result = parse_dockerfile(read_dockerfile(path), str(path))
        stages, _ = instructions_from_ast(result)
        assert stages, path
