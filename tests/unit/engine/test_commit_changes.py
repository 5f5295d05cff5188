"""``docker diff`` classification of an upper dir and ``commit --change`` lines (no daemon)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.build.state import ImageState
from dockyard.engine.commit import (
    KIND_ADDED,
    KIND_DELETED,
    KIND_MODIFIED,
    apply_changes,
    upper_changes,
    without_stubs,
)
from dockyard.errors import InvalidArgument


def _layers(tmp_path: Path) -> tuple[Path, Path]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root\n")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "passwd").write_text("root\nnew\n")
    (upper / "etc" / "added").write_text("x")
    (upper / "test").write_text("")
    return lower, upper


def test_added_modified_and_the_parent_directory(tmp_path: Path) -> None:
    lower, upper = _layers(tmp_path)
    assert upper_changes(upper, [lower]) == [
        {"Path": "/etc", "Kind": KIND_MODIFIED},
        {"Path": "/etc/added", "Kind": KIND_ADDED},
        {"Path": "/etc/passwd", "Kind": KIND_MODIFIED},
        {"Path": "/test", "Kind": KIND_ADDED},
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="a whiteout is a 0/0 character device: mknod")
def test_a_whiteout_is_a_deletion(tmp_path: Path) -> None:
    lower, upper = _layers(tmp_path)
    (lower / "gone").write_text("")
    os.mknod(upper / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    assert {"Path": "/gone", "Kind": KIND_DELETED} in upper_changes(upper, [lower])


def test_a_symlink_in_the_image_is_not_followed_out_of_the_layer(tmp_path: Path) -> None:
    """The attack: the image's ``/lib`` links to a host directory; a file the container
    adds below it must not be classified by what exists on the host."""
    lower, upper = _layers(tmp_path)
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("")
    (lower / "lib").symlink_to(host)
    (upper / "lib").mkdir()
    (upper / "lib" / "secret").write_text("")
    found = {c["Path"]: c["Kind"] for c in upper_changes(upper, [lower])}
    assert found["/lib/secret"] == KIND_ADDED
    # what a naive check (os.path.exists through the link) would have said:
    assert os.path.exists(lower / "lib" / "secret")


def test_changes_apply_as_dockerfile_metadata() -> None:
    state = ImageState("amd64", "linux", {"Cmd": ["sh"]})
    apply_changes(state, ["EXPOSE 8000", 'CMD ["bash"]', "ENV A=1", "LABEL k=v", ""])
    cfg = state.config
    assert cfg["ExposedPorts"] == {"8000/tcp": {}}
    assert cfg["Cmd"] == ["bash"]
    assert "A=1" in cfg["Env"] and cfg["Labels"] == {"k": "v"}


@pytest.mark.parametrize("line", ["RUN rm -rf /", "COPY a b", "FROM busybox"])
def test_changes_refuse_instructions_that_are_not_metadata(line: str) -> None:
    state = ImageState("amd64", "linux", {})
    with pytest.raises(InvalidArgument, match="not a valid change command"):
        apply_changes(state, [line])


def test_an_unknown_change_is_one_error() -> None:
    with pytest.raises(InvalidArgument, match="unknown instruction"):
        apply_changes(ImageState("amd64", "linux", {}), ["EXPOZE 80"])


def test_the_engines_mount_points_are_not_changes() -> None:
    found = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/hosts", "Kind": 1},
             {"Path": "/etc/resolv.conf", "Kind": 1}, {"Path": "/test", "Kind": 1},
             {"Path": "/var", "Kind": 0}, {"Path": "/var/log", "Kind": 1}]  # fmt: skip
    stubs = {"/etc/hosts", "/etc/resolv.conf", "/proc"}
    assert without_stubs(found, stubs) == [{"Path": "/test", "Kind": 1},
                                           {"Path": "/var", "Kind": 0},
                                           {"Path": "/var/log", "Kind": 1}]  # fmt: skip
    mine = [*found, {"Path": "/etc/mine", "Kind": 1}]
    assert {"Path": "/etc", "Kind": 0} in without_stubs(mine, stubs)
