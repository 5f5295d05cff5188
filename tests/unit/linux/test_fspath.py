"""``FsPath`` agrees with ``pathlib.PurePosixPath`` on what the cgroup code uses."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from dockyard.linux.fspath import FsPath


@pytest.mark.parametrize(
    "base,other", [("/sys/fs/cgroup", "memory"), ("/", "a/b"), ("/a/", "/b"), ("a", ""),
                   ("/a", "./b//c/"), (".", "x")],
)  # fmt: skip
def test_join_name_parent_parts(base: str, other: str) -> None:
    ours, theirs = FsPath(base) / other, PurePosixPath(base) / other
    assert ours == str(theirs)
    assert ours.name == theirs.name and ours.parent == str(theirs.parent)
    assert ours.parts == theirs.parts


def test_relative_to_and_filesystem(tmp_path: object) -> None:
    assert FsPath("/a/b").is_relative_to("/a") and not FsPath("/ab").is_relative_to("/a")
    assert FsPath("/a").is_relative_to("/") and FsPath("/").parent == "/"
    root = FsPath(str(tmp_path))
    (root / "d").to_path().mkdir()
    assert (root / "d").is_dir() and (root / "d").exists() and not (root / "e").exists()
    assert [p.name for p in root.iterdir()] == ["d"]
