"""Snapshots written unsynced: the boot-id marker, ``adopt``, and stale snapshots."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from store_tarfixtures import F, layer_tar

from dockyard.oci.digest import sha256_digest
from dockyard.store import snapshots as snapshots_mod
from dockyard.store.snapshots import SnapshotStore


def _upper(tmp_path: Path, name: str, text: str) -> Path:
    upper = tmp_path / name
    upper.mkdir()
    (upper / "f").write_text(text)
    return upper


def test_adopt_renames_once_with_the_boot_id(tmp_path: Path) -> None:
    snaps = SnapshotStore(tmp_path / "snapshots", overlay=False)
    chain = sha256_digest(b"layer")
    first = _upper(tmp_path, "u1", "one")
    assert snaps.adopt(chain, first)
    assert not first.exists() and snaps.has_layer(chain)
    assert (snaps.layer_path(chain) / "f").read_text() == "one"
    marker = tmp_path / "snapshots" / chain.hex / "volatile"
    assert marker.read_bytes() == snapshots_mod._boot_id()
    second = _upper(tmp_path, "u2", "two")
    assert not snaps.adopt(chain, second)  # it exists: the caller keeps (and removes) its dir
    assert second.is_dir() and (snaps.layer_path(chain) / "f").read_text() == "one"
    assert [s.kind for s in snaps.walk()] == ["committed"]


@pytest.mark.parametrize("marker", [b"another-boot", b""])
def test_a_stale_snapshot_is_unpacked_again(tmp_path: Path, marker: bytes) -> None:
    snaps = SnapshotStore(tmp_path / "snapshots", overlay=False)
    layer = layer_tar([F("f", b"from the blob")])
    diff = sha256_digest(layer)
    assert snaps.adopt(diff, _upper(tmp_path, "u", "maybe lost in a crash"))
    (tmp_path / "snapshots" / diff.hex / "volatile").write_bytes(marker)  # a reboot since
    assert not snaps.has_layer(diff)
    path = snaps.ensure_layer(diff, diff, lambda: io.BytesIO(layer))
    assert (path / "f").read_bytes() == b"from the blob"
    assert snaps.has_layer(diff)
    stale = _upper(tmp_path, "u3", "x")
    (tmp_path / "snapshots" / diff.hex / "volatile").write_bytes(b"old")
    assert snaps.adopt(diff, stale)  # a stale snapshot is replaced by a fresh one
    assert (snaps.layer_path(diff) / "f").read_text() == "x"


def test_an_unpacked_layer_is_marked_and_one_without_a_marker_is_trusted(tmp_path: Path) -> None:
    snaps = SnapshotStore(tmp_path / "snapshots", overlay=False)
    layer = layer_tar([F("f")])
    diff = sha256_digest(layer)
    snaps.ensure_layer(diff, diff, lambda: io.BytesIO(layer))
    marker = tmp_path / "snapshots" / diff.hex / "volatile"
    assert marker.read_bytes() == snapshots_mod._boot_id()
    marker.unlink()  # made before the rule: trusted as before
    assert snaps.has_layer(diff)
