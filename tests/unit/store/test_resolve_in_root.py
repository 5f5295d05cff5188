"""``dockyard.linux.resolve``: paths resolved inside a root, by openat2 and by the
user-space walk (both must give the same answers)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.linux import resolve

WALKS = [False, True] if resolve.BACKEND == "openat2" else [True]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text("inside\n")
    (r / "abs").symlink_to("/etc")  # absolute: means the root's /etc
    (r / "up").symlink_to("../../../..")  # climbs: stops at the root
    (r / "loop").symlink_to("loop")
    (r / "file").write_text("f")
    (tmp_path / "outside").write_text("host\n")
    fd = os.open(r, os.O_PATH | os.O_DIRECTORY)
    yield r, fd
    os.close(fd)


def _target(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.parametrize("walk", WALKS)
def test_symlinks_and_dotdot_stay_in_the_root(root: tuple[Path, int], walk: bool) -> None:
    r, rfd = root
    for path, want in (("/abs/passwd", r / "etc/passwd"), ("up/etc/passwd", r / "etc/passwd"),
                       ("../../outside", r / "outside"), ("/", r), ("", r),
                       ("etc/../../../etc", r / "etc")):  # fmt: skip
        try:
            fd = resolve.open_in_root(rfd, path, os.O_PATH, walk=walk)
        except FileNotFoundError:
            assert want == r / "outside", path  # ../../outside is /outside in the root
            continue
        try:
            assert _target(fd) == str(want), path
        finally:
            os.close(fd)


@pytest.mark.parametrize("walk", WALKS)
def test_a_final_symlink_with_nofollow_is_the_link(root: tuple[Path, int], walk: bool) -> None:
    r, rfd = root
    fd = resolve.open_in_root(rfd, "abs", os.O_PATH | os.O_NOFOLLOW, walk=walk)
    try:
        assert _target(fd) == str(r / "abs")
    finally:
        os.close(fd)


@pytest.mark.parametrize("walk", WALKS)
def test_symlink_loops_are_eloop(root: tuple[Path, int], walk: bool) -> None:
    _, rfd = root
    with pytest.raises(OSError) as e:
        resolve.open_in_root(rfd, "loop/x", os.O_PATH, walk=walk)
    assert e.value.errno == errno.ELOOP


def test_magic_links_are_refused(tmp_path: Path) -> None:
    """A symlink into /proc/self/fd would lead anywhere: openat2 refuses the magic link."""
    if resolve.BACKEND != "openat2":
        pytest.skip("openat2 is not available")
    proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as e:
            resolve.open_in_root(proc_fd, "self/fd/0", os.O_PATH)
        assert e.value.errno in (errno.ELOOP, errno.EXDEV)
    finally:
        os.close(proc_fd)


@pytest.mark.parametrize("walk", WALKS)
def test_mkdir_in_root_makes_missing_dirs_inside(root: tuple[Path, int], walk: bool) -> None:
    r, rfd = root
    fd = resolve.mkdir_in_root(rfd, "/abs/new/deeper", walk=walk)
    try:
        assert _target(fd) == str(r / "etc/new/deeper")
    finally:
        os.close(fd)
    fd = resolve.mkdir_in_root(rfd, "/up/made", walk=walk)
    try:
        assert _target(fd) == str(r / "made")
    finally:
        os.close(fd)
    with pytest.raises(NotADirectoryError):
        resolve.mkdir_in_root(rfd, "file/x", walk=walk)


def test_resolution_by_strings_would_have_left_the_root(root: tuple[Path, int]) -> None:
    """The attack that the resolver defeats: the host's realpath follows /abs to the host."""
    r, _ = root
    assert os.path.realpath(r / "abs/passwd") == "/etc/passwd"
