"""Layers: apply with whiteouts, safe extraction, reproducible diffs."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import stat
from pathlib import Path

import pytest
from store_tarfixtures import Chr, Dir, Entry, F, Hard, Sym, layer_tar

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import sha256_digest
from dockyard.store.layers import apply_layer, diff_upper, scan_layers, tar_directory


def apply(entries: list[Entry], target: Path, **kw: bool) -> None:
    apply_layer(io.BytesIO(layer_tar(entries)), target, **kw)


def test_apply_returns_diff_id_plain_and_gzip(tmp_path: Path) -> None:
    raw = layer_tar([Dir("etc"), F("etc/hosts", b"127.0.0.1")])
    assert apply_layer(io.BytesIO(raw), tmp_path / "a") == sha256_digest(raw)
    gz = gzip.compress(raw)
    assert apply_layer(io.BytesIO(gz), tmp_path / "b") == sha256_digest(raw)
    assert (tmp_path / "b/etc/hosts").read_bytes() == b"127.0.0.1"


def test_modes_mtimes_symlinks_hardlinks(tmp_path: Path) -> None:
    apply(
        [
            Dir("bin"),
            F("bin/busybox", b"bb", mode=0o4755),
            Sym("bin/sh", "busybox"),
            Sym("bin/abs", "/bin/busybox"),
            Hard("bin/ls", "bin/busybox"),
        ],
        tmp_path,
    )
    bb = tmp_path / "bin/busybox"
    assert stat.S_IMODE(bb.stat().st_mode) == 0o4755
    assert bb.stat().st_mtime == 1000
    assert os.readlink(tmp_path / "bin/abs") == "/bin/busybox"
    assert os.readlink(tmp_path / "bin/sh") == "busybox"
    assert (tmp_path / "bin/ls").stat().st_ino == bb.stat().st_ino
    assert (tmp_path / "bin").stat().st_mtime == 1000


def test_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    apply([Dir("a"), F("a/old"), F("a/keep"), Dir("b"), F("b/x"), F("gone")], tmp_path)
    apply(
        [F("a/.wh.old", b""), F(".wh.gone", b""), Dir("b"), F("b/.wh..wh..opq", b""), F("b/new")],
        tmp_path,
    )
    assert sorted(os.listdir(tmp_path / "a")) == ["keep"]
    assert not (tmp_path / "gone").exists()
    assert sorted(os.listdir(tmp_path / "b")) == ["new"]


def test_opaque_marker_before_children_keeps_this_layers_entries(tmp_path: Path) -> None:
    apply([Dir("d"), F("d/old")], tmp_path)
    apply([Dir("d"), F("d/new"), F("d/.wh..wh..opq", b""), F("d/later")], tmp_path)
    assert sorted(os.listdir(tmp_path / "d")) == ["later", "new"]


def test_replacing_entries_never_writes_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("safe")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "f")  # a symlink left by a lower layer
    apply([F("f", b"new")], root)
    assert outside.read_text() == "safe"
    assert (root / "f").read_bytes() == b"new" and not (root / "f").is_symlink()


HOSTILE = [
    ([F("../evil")], "path escapes root: ../evil"),
    ([F("a/../../evil")], "path escapes root"),
    ([F("/etc/evil")], "path escapes root: /etc/evil"),
    ([Sym("link", "/"), F("link/etc/evil")], "leaves the root: link/etc/evil"),
    ([Sym("link", "/tmp"), Dir("link/x")], "leaves the root"),
    ([Sym("a", "../../.."), F("a/evil")], "symlink escapes root: a -> ../../.."),
    ([Dir("d"), Sym("d/up", "../../x")], "symlink escapes root"),
    ([Hard("h", "../../etc/passwd")], "path escapes root"),
    ([Hard("h", "/etc/passwd")], "path escapes root"),
    ([Sym("l", "/etc"), Hard("h", "l/passwd")], "leaves the root"),
    ([Chr("dev/null")], "device node refused: dev/null"),
    # a whiteout of "..": the applier would delete the directory above its target
    ([Dir("a"), Dir("a/b"), F("a/b/.wh...", b"")], "invalid whiteout: a/b/.wh..."),
    ([Dir("a"), F("a/.wh..", b"")], "invalid whiteout: a/.wh.."),
    ([Dir("a"), F("a/.wh.", b"")], "invalid whiteout: a/.wh."),
]


def test_whiteout_of_dotdot_would_delete_the_directory_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack the refusal stops: parent/".." is the directory above the whiteout's."""
    root = tmp_path / "root"
    apply([Dir("a"), F("a/keep", b"x")], root)
    with pytest.raises(InvalidArgument, match=r"invalid whiteout: a/b/\.wh\.\.\.$"):
        apply([Dir("a/b"), F("a/b/.wh...", b"")], root)
    assert (root / "a/keep").read_text() == "x"  # nothing above was deleted
    # with the check switched off, the same layer deletes a/ (keep included)
    from dockyard.store import _apply

    monkeypatch.setattr(_apply, "whiteout_victim", lambda base, prefix, *_: base[len(prefix) :])
    with contextlib.suppress(FileNotFoundError):  # rmtree("a/b/..") empties a/, then fails
        apply([Dir("a/b"), F("a/b/.wh...", b"")], root)
    assert not (root / "a/keep").exists()


@pytest.mark.parametrize(("entries", "message"), HOSTILE)
def test_hostile_entries_refused(tmp_path: Path, entries: list[Entry], message: str) -> None:
    root = tmp_path / "root"
    before = set(tmp_path.parent.iterdir())
    with pytest.raises(InvalidArgument, match="^apply layer: .*" + _re(message)) as info:
        apply(entries, root)
    assert "\n" not in str(info.value)
    assert set(tmp_path.parent.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]
    # the scanner refuses the same layers without writing anything
    with pytest.raises(InvalidArgument, match=_re(message)):
        scan_layers([("scan", io.BytesIO(layer_tar(entries)))])


def _re(s: str) -> str:
    import re

    return re.escape(s)


def test_relative_symlinks_inside_root_are_followed(tmp_path: Path) -> None:
    apply([Dir("usr/lib"), Sym("lib", "usr/lib"), F("lib/libc.so", b"c")], tmp_path)
    assert (tmp_path / "usr/lib/libc.so").read_bytes() == b"c"
    assert (tmp_path / "lib").is_symlink()


def test_scan_follows_symlinks_across_layers() -> None:
    l1 = layer_tar([Sym("link", "/")])
    l2 = layer_tar([F("link/etc/x")])
    with pytest.raises(InvalidArgument, match="layer 2: path crosses a symlink"):
        scan_layers([("layer 1", io.BytesIO(l1)), ("layer 2", io.BytesIO(l2))])
    l3 = layer_tar([F(".wh.link", b""), F("link/etc/x")])
    scan_layers([("layer 1", io.BytesIO(l1)), ("layer 3", io.BytesIO(l3))])


def test_devices_allowed_when_asked(tmp_path: Path, require_root: None) -> None:
    apply([Chr("null")], tmp_path, allow_devices=True)
    st = os.lstat(tmp_path / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1


def test_invalid_tar_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="apply layer"):
        apply_layer(io.BytesIO(b"not a tar" * 100), tmp_path)


def _tree(root: Path) -> None:
    (root / "d/e").mkdir(parents=True)
    (root / "d/e/f").write_bytes(b"data")
    (root / "z").write_bytes(b"z")
    os.link(root / "z", root / "a-hardlink")
    os.symlink("/bin/busybox", root / "d/sh")


def test_tar_directory_reproducible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    src = tmp_path / "src"
    _tree(src)
    one, two = io.BytesIO(), io.BytesIO()
    info = tar_directory(src, one)
    os.utime(src / "z", (1800000000, 1800000000))  # newer than the epoch: clamped
    tar_directory(src, two)
    assert one.getvalue() == two.getvalue()
    assert one.getvalue()[4:8] == b"\0\0\0\0"  # gzip header mtime
    assert info.digest == sha256_digest(one.getvalue()) and info.size == len(one.getvalue())
    assert info.diff_id == sha256_digest(gzip.decompress(one.getvalue()))
    out = tmp_path / "out"
    assert apply_layer(io.BytesIO(one.getvalue()), out) == info.diff_id
    assert (out / "d/e/f").read_bytes() == b"data"
    assert (out / "a-hardlink").stat().st_ino == (out / "z").stat().st_ino


def test_tar_directory_sorted_uncompressed(tmp_path: Path) -> None:
    import tarfile

    src = tmp_path / "src"
    _tree(src)
    buf = io.BytesIO()
    info = tar_directory(src, buf, compress=False)
    assert info.diff_id == info.digest
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = tf.getnames()
    assert names == ["a-hardlink", "d", "d/e", "d/e/f", "d/sh", "z"]


def test_diff_upper_converts_overlay_whiteouts(tmp_path: Path, require_root: None) -> None:
    import tarfile

    upper = tmp_path / "upper"
    (upper / "opq").mkdir(parents=True)
    (upper / "opq/new").write_bytes(b"n")
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    os.mknod(upper / "deleted", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    buf = io.BytesIO()
    diff_upper(upper, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = tf.getnames()
    assert names == [".wh.deleted", "opq", "opq/.wh..wh..opq", "opq/new"]
    # and back: applied in overlay form they become a device and an xattr again
    lower = tmp_path / "lower"
    apply_layer(io.BytesIO(buf.getvalue()), lower, overlay=True)
    assert stat.S_ISCHR(os.lstat(lower / "deleted").st_mode)
    assert os.getxattr(lower / "opq", "trusted.overlay.opaque") == b"y"
