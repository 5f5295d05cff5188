"""extract_tar: Python's "tar" extraction filter, also where the interpreter lacks it."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from dockyard.store import tarextract
from dockyard.store.tarextract import extract_tar


def _tar(*members: tuple[str, bytes, int]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


@pytest.fixture(params=["stdlib", "here"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "here":  # as on Python 3.11.0-3.11.3 (Debian 12's 3.11.2)
        monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    elif not hasattr(tarfile, "tar_filter"):
        pytest.skip("this interpreter has no extraction filters")
    return str(request.param)


def test_paths_are_stripped_and_modes_cleared(tmp_path: Path, mode: str) -> None:
    with _tar(("/abs/f", b"x", 0o6777), ("rel/g", b"y", 0o644)) as tar:
        extract_tar(tar, str(tmp_path))
    assert (tmp_path / "abs" / "f").read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "abs" / "f").stat().st_mode) == 0o755
    assert (tmp_path / "rel" / "g").read_bytes() == b"y"


def test_a_path_outside_the_destination_is_refused(tmp_path: Path, mode: str) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    with (
        _tar(("ok", b"1", 0o644), ("../escaped", b"2", 0o644)) as tar,
        pytest.raises(tarfile.TarError),
    ):
        extract_tar(tar, str(dest))
    assert not (tmp_path / "escaped").exists()
    if mode == "here":  # checked before anything is written
        assert not (dest / "ok").exists()
    assert tarextract.__all__ == ["extract_tar"]


def _hardlink_tar(linkname: str) -> tarfile.TarFile:
    """A hard link ``x`` to ``linkname``, then a file ``x`` written through it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("x")
        link.type, link.linkname = tarfile.LNKTYPE, linkname
        tar.addfile(link)
        info = tarfile.TarInfo("x")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"owned"))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def test_a_hardlink_to_an_absolute_path_is_refused(tmp_path: Path, mode: str) -> None:
    victim = tmp_path / "host-file"
    victim.write_text("host")
    dest = tmp_path / "dest"
    dest.mkdir()
    for linkname in (str(victim), "../host-file"):
        with _hardlink_tar(linkname) as tar, pytest.raises(tarfile.TarError, match="hard link"):
            extract_tar(tar, str(dest))
    assert victim.read_text() == "host" and list(dest.iterdir()) == []


def test_without_the_check_the_hardlink_writes_the_host_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack the check stops, shown with it switched off (no filter, as on 3.11.2)."""
    monkeypatch.delattr(tarfile, "tar_filter", raising=False)
    monkeypatch.setattr(tarextract, "_check_hardlink", lambda m: None)
    victim = tmp_path / "host-file"
    victim.write_text("host")
    dest = tmp_path / "dest"
    dest.mkdir()
    with _hardlink_tar(str(victim)) as tar:
        extract_tar(tar, str(dest))
    assert victim.read_text() == "owned"
