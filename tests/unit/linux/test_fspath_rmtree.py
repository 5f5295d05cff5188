"""``rmtree``: removes trees without following links, opens up unlistable directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.linux.fspath import rmtree


def test_removes_a_tree_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "f").write_text("y")
    (tree / "dirlink").symlink_to(outside)
    (tree / "filelink").symlink_to(outside / "keep")
    os.mkfifo(tree / "fifo")
    rmtree(tree)
    assert not tree.exists()
    assert (outside / "keep").read_text() == "x"


def test_missing_and_plain_file(tmp_path: Path) -> None:
    rmtree(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError):
        rmtree(tmp_path / "nothing", missing_ok=False)
    f = tmp_path / "f"
    f.write_text("")
    rmtree(f)
    assert not f.exists()


def test_mode_000_directories(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "work" / "work").mkdir(parents=True)
    (tree / "work" / "work" / "x").write_text("")
    (tree / "work" / "work").chmod(0)
    (tree / "work").chmod(0o500)
    try:
        rmtree(tree)
    finally:
        if tree.exists():  # pragma: no cover - only when the test fails
            for d in (tree / "work", tree / "work" / "work"):
                d.chmod(0o700)
    assert not tree.exists()
