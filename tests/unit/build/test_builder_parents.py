"""``COPY --parents`` selection: parent directories kept, the ``./`` pivot, patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.context import SourceTree
from dockyard.build.dockerignore import IgnoreMatcher
from dockyard.build.parents import parents_entries, select_parents, split_pivot
from dockyard.errors import InvalidArgument, NotFound


@pytest.fixture
def tree(tmp_path: Path) -> SourceTree:
    for rel in ("x/a.txt", "y/a.txt", "x/y/b.txt", "x/y/c.md", "x/y/z/d.txt",
                "packages/p1/package.json", "packages/p2/package.json", "packages/p2/x.js",
                "skip/s.txt"):  # fmt: skip
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    return SourceTree(tmp_path, IgnoreMatcher(["skip"]))


def dests(tree: SourceTree, src: str, excludes: list[str] | None = None) -> list[tuple[str, str]]:
    return [(e.dest, e.kind) for _m, entries in parents_entries(tree, src, excludes)
            for e in entries]  # fmt: skip


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("a.txt", ("", "a.txt")),
        ("./x/a.txt", ("", "./x/a.txt")),  # a leading ./ is no pivot
        ("x/./y/*.txt", ("x", "y/*.txt")),
        ("/./x", ("", "x")),
    ],
)
def test_split_pivot(src: str, want: tuple[str, str]) -> None:
    assert split_pivot(src) == want


def test_files_keep_their_parent_directories(tree: SourceTree) -> None:
    assert dests(tree, "./x/a.txt") == [("x", "dir"), ("x/a.txt", "file")]
    assert dests(tree, "y/a.txt") == [("y", "dir"), ("y/a.txt", "file")]


def test_the_pivot_keeps_only_what_follows_it(tree: SourceTree) -> None:
    assert dests(tree, "./x/./y/*.txt") == [("y", "dir"), ("y/b.txt", "file")]
    assert dests(tree, "x/y/./z/d.txt") == [("z", "dir"), ("z/d.txt", "file")]


def test_a_directory_comes_with_everything_below_it(tree: SourceTree) -> None:
    assert dests(tree, "x/./y") == [("y", "dir"), ("y/b.txt", "file"), ("y/c.md", "file"),
                                    ("y/z", "dir"), ("y/z/d.txt", "file")]  # fmt: skip


def test_wildcards_and_double_star(tree: SourceTree) -> None:
    assert dests(tree, "packages/*/package.json") == [
        ("packages", "dir"), ("packages/p1", "dir"), ("packages/p1/package.json", "file"),
        ("packages", "dir"), ("packages/p2", "dir"), ("packages/p2/package.json", "file"),
    ]  # fmt: skip
    assert [d for d, k in dests(tree, "x/./**/*.txt") if k == "file"] == [
        "a.txt",
        "y/b.txt",
        "y/z/d.txt",
    ]


def test_excludes_apply_below_the_pivot(tree: SourceTree) -> None:
    assert dests(tree, "x/./y", ["**/*.md", "y/z"]) == [("y", "dir"), ("y/b.txt", "file")]


def test_ignored_and_missing_sources(tree: SourceTree) -> None:
    with pytest.raises(NotFound):
        dests(tree, "skip/s.txt")
    with pytest.raises(NotFound):
        dests(tree, "nothing/here.txt")
    with pytest.raises(NotFound, match="no source files"):
        dests(tree, "x/./*.nothing")


def test_paths_that_leave_the_pivot_or_the_context(tree: SourceTree) -> None:
    with pytest.raises(InvalidArgument, match="leaves"):
        dests(tree, "x/./../y/a.txt")
    with pytest.raises(InvalidArgument, match="outside the build context"):
        dests(tree, "../x/a.txt")
    with pytest.raises(InvalidArgument, match="wildcards before"):
        dests(tree, "x*/./a.txt")


def test_the_checksum_row_follows_the_destinations(tree: SourceTree) -> None:
    (row_pivot,) = [r for _m, _e, r in select_parents(tree, "x/./y/b.txt", None)]
    (row_full,) = [r for _m, _e, r in select_parents(tree, "x/y/b.txt", None)]
    assert row_pivot[0] == row_full[0] == "x/y/b.txt"
    assert row_pivot != row_full  # the same file lands elsewhere
