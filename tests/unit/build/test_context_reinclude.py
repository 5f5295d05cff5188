"""A ``!`` pattern takes a file back from an ignored directory: its parents come with it
(docker-py's test_build_with_dockerignore; the build failed with FileNotFoundError)."""

from __future__ import annotations

from pathlib import Path

from dockyard.build.context import Source, load_context


def test_the_parents_of_a_reincluded_file_are_in_the_context(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("ignored\n!ignored/subdir/kept\n")
    sub = tmp_path / "ignored" / "subdir"
    sub.mkdir(parents=True)
    (sub / "kept").write_text("x")
    (sub / "dropped").write_text("x")
    (tmp_path / "other").mkdir()
    (tmp_path / "top").write_text("x")
    tree = load_context(tmp_path)
    entries = tree.entries(Source(tmp_path, "", "dir"))
    got = [(e.dest, e.kind) for e in entries if e.dest and not e.dest.startswith(".docker")]
    assert got == [("ignored", "dir"), ("ignored/subdir", "dir"),
                   ("ignored/subdir/kept", "file"), ("other", "dir"), ("top", "file")]  # fmt: skip


def test_an_ignored_directory_with_nothing_taken_back_stays_out(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("ignored\n!ignored/none\n")
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "f").write_text("x")
    tree = load_context(tmp_path)
    assert [e.dest for e in tree.entries(Source(tmp_path, "", "dir")) if e.dest] == [
        ".dockerignore"
    ]
