"""Base-image bootstrap: the Debian mirror comes from the host's apt sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.bootstrap import BASE_IMAGES, bootstrap, debian_mirror, make_busybox_rootfs
from dockyard.errors import InvalidArgument, Unavailable

MIRROR = "http://mirror.example/debian"


def _apt(tmp_path: Path, files: dict[str, str]) -> Path:
    apt = tmp_path / "apt"
    (apt / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (apt / name).write_text(text)
    return apt


def test_deb822_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_DEBIAN_MIRROR", raising=False)
    apt = _apt(tmp_path, {"sources.list.d/debian.sources": (
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
        f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )})  # fmt: skip
    assert debian_mirror("bookworm", apt) == MIRROR


def test_one_line_sources_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_DEBIAN_MIRROR", raising=False)
    apt = _apt(tmp_path, {"sources.list": f"# comment\ndeb [arch=amd64] {MIRROR} bookworm main\n"})
    assert debian_mirror("bookworm", apt) == MIRROR


def test_no_source_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_DEBIAN_MIRROR", raising=False)
    apt = _apt(tmp_path, {"sources.list": f"deb {MIRROR} trixie main\n"})
    with pytest.raises(Unavailable, match="no apt source for bookworm"):
        debian_mirror("bookworm", apt)


def test_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKYARD_DEBIAN_MIRROR", MIRROR)
    assert debian_mirror("bookworm", tmp_path) == MIRROR


def test_unknown_base_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="not a base image dockyard can make"):
        bootstrap(tmp_path, ["alpine:3.19"])
    assert "docker.io/library/python:3.11-slim" in BASE_IMAGES


def test_busybox_rootfs_layout(tmp_path: Path) -> None:
    if not Path("/bin/busybox").is_file():
        pytest.skip("busybox-static is not installed")
    make_busybox_rootfs(tmp_path)
    assert (tmp_path / "bin" / "sh").is_symlink()
    assert "nobody:x:65534:65534" in (tmp_path / "etc" / "passwd").read_text()
    assert (tmp_path / "tmp").stat().st_mode & 0o1777 == 0o1777
