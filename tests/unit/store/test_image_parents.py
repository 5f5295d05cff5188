"""The parent of a committed image (dockerd's local ``Parent``): recorded, read, and
dropped with the last image row of its id."""

from __future__ import annotations

import time
from pathlib import Path

from dockyard.store.db import ImageRecord, StateDB


def _image(db: StateDB, digest: str, image_id: str) -> None:
    db.put_image(ImageRecord(digest, image_id, "application/vnd.oci.image.manifest.v1+json",
                             None, 1, time.time()))  # fmt: skip


def test_a_parent_is_kept_until_its_image_is_gone(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    _image(db, "sha256:m1", "sha256:child")
    _image(db, "sha256:m2", "sha256:child")  # the same image under a second manifest
    assert db.parent_of("sha256:child") == ""
    db.set_parent("sha256:child", "sha256:base")
    assert db.parent_of("sha256:child") == "sha256:base"
    db.delete_image("sha256:m1")
    assert db.parent_of("sha256:child") == "sha256:base"  # one row of the id is left
    db.delete_image("sha256:m2")
    assert db.parent_of("sha256:child") == ""
