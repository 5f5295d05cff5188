"""Regression (issue 21, 3a): ``tag busybox mine:1; load -i busybox.tar`` removed
``mine:1`` (as did a ``pull`` or a build of an image already present): the image row
was written with ``INSERT OR REPLACE``, which deletes the old row and, through the tags'
``ON DELETE CASCADE``, every tag that pointed at it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from regress_kit import Daemonized, dyd

from dockyard.oci.image import ContainerConfig, ImageConfig
from dockyard.store.images import ImageStore

__all__ = ["dyd"]


def _layer(path: Path) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    return path


def test_adding_an_image_again_keeps_its_other_tags(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "root")
    config = ImageConfig("amd64", "linux", config=ContainerConfig(cmd=("/bin/sh",)))
    img = store.create_image([_layer(tmp_path / "l.tar")], config, tags=("busybox",))
    store.tag("busybox", "mine:1")
    config_bytes = store.blobs.read_bytes(img.manifest.config.digest)
    again = store.add_image(img.manifest.content(), config_bytes, tags=("busybox:latest",))
    assert again.id == img.id
    assert set(again.repo_tags) == {"busybox:latest", "mine:1"}
    assert store.resolve("mine:1").id == img.id


@pytest.mark.root
def test_load_keeps_a_tag_of_the_same_image(dyd: Daemonized, tmp_path: Path) -> None:
    from daemon_kit import busybox_archive

    dyd.out("tag", "busybox", "mine:1")
    dyd.out("load", "-i", str(busybox_archive()))
    rows = dyd.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(rows) == ["busybox:latest", "mine:1"]
