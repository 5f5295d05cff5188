"""Go ``filepath.Match`` and ``.dockerignore`` matching, table-driven."""

# ruff: noqa: RUF001 - Go's own cases use Greek letters on purpose

from __future__ import annotations

import pytest

from dockyard.build.dockerignore import IgnoreMatcher, parse_dockerignore
from dockyard.build.gomatch import has_wildcards, match
from dockyard.errors import InvalidArgument

# (pattern, name, matches) — Go's path/filepath match_test.go cases, Unix flavour.
GO_MATCH = [
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", False),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
    ("*.py", "app.py", True),
    ("src/*.py", "src/a.py", True),
    ("src/*.py", "src/sub/a.py", False),
]

GO_BAD = ["[]a]", "[-]", "[x-]", "[a-b-c]", "[", "[^", "[^bc", "a[", "\\", "[\\", "a*[", "*x\\"]


@pytest.mark.parametrize(("pattern", "name", "want"), GO_MATCH)
def test_go_match(pattern: str, name: str, want: bool) -> None:
    assert match(pattern, name) is want


@pytest.mark.parametrize("pattern", GO_BAD)
def test_go_match_bad_pattern(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match="syntax error in pattern"):
        match(pattern, "a")


@pytest.mark.parametrize(
    ("pattern", "want"),
    [("a", False), ("a*", True), ("a?", True), ("[ab]", True), ("a\\*", False), ("x/y", False)],
)
def test_has_wildcards(pattern: str, want: bool) -> None:
    assert has_wildcards(pattern) is want


def test_parse_dockerignore_reading_rules() -> None:
    text = "\ufeff# comment\n  *.log  \n\n!keep.log\n/abs/path\n./dot/../clean\n #not comment\n"
    assert parse_dockerignore(text) == ["*.log", "!keep.log", "abs/path", "clean", "#not comment"]


# (patterns, path, excluded)
IGNORE = [
    (["*.log"], "a.log", True),
    (["*.log"], "dir/a.log", False),
    (["**/*.log"], "dir/sub/a.log", True),
    (["**/*.log"], "a.log", True),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["!README.md", "*.md"], "README.md", True),  # later rules win
    (["build"], "build/x/y.o", True),  # a parent that matches excludes the file
    (["build", "!build/keep"], "build/keep", False),
    (["build", "!build/keep"], "build/other", True),
    (["dir/**"], "dir/a/b", True),
    (["dir/**"], "dirx/a", False),
    (["**"], "anything/at/all", True),
    (["**/node_modules"], "a/b/node_modules/x.js", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["[ab].txt"], "b.txt", True),
    # moby quirk kept: without another wildcard the rule is compared as written
    (["\\*.txt"], "*.txt", False),
    (["\\**.txt"], "*x.txt", True),
    (["\\**.txt"], "ax.txt", False),
    (["docs/*.tmp"], "docs/x.tmp", True),
    (["docs/*.tmp"], "docs/sub/x.tmp", False),
    (["**.go"], "dir/a.go", True),
    ([".git"], ".git/HEAD", True),
    (["*", "!src"], "src/main.py", False),
]


@pytest.mark.parametrize(("patterns", "path", "want"), IGNORE)
def test_dockerignore_matching(patterns: list[str], path: str, want: bool) -> None:
    assert IgnoreMatcher(patterns).excluded(path) is want


def test_exception_keeps_walking_into_excluded_dirs() -> None:
    m = IgnoreMatcher(["build", "!build/keep"])
    assert m.may_include_below("build")
    assert not IgnoreMatcher(["build"]).may_include_below("build")
    assert not m.may_include_below("other")
