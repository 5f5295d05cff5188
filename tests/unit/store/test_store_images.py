"""The image store, snapshots and garbage collection."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest
from store_tarfixtures import Dir, F, Sym, layer_tar

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.oci.digest import sha256_digest
from dockyard.oci.image import ContainerConfig, ImageConfig
from dockyard.store.db import ContainerRecord
from dockyard.store.gc import prune
from dockyard.store.images import ImageStore
from dockyard.store.snapshots import SnapshotStore, chain_ids


def _layer_files(tmp_path: Path) -> list[Path]:
    a = tmp_path / "l1.tar.gz"
    a.write_bytes(
        layer_tar([Dir("bin"), F("bin/busybox", b"bb"), Sym("bin/sh", "busybox")], compress=True)
    )
    b = tmp_path / "l2.tar"
    b.write_bytes(layer_tar([F("etc/motd", b"hi"), F("bin/.wh.sh", b"")]))
    return [a, b]


@pytest.fixture
def store(dockyard_root: Path) -> ImageStore:
    return ImageStore(dockyard_root)


def _config() -> ImageConfig:
    return ImageConfig("amd64", "linux", config=ContainerConfig(cmd=("/bin/sh",)))


def test_create_resolve_tag_untag(store: ImageStore, tmp_path: Path) -> None:
    img = store.create_image(_layer_files(tmp_path), _config(), tags=("busybox",))
    assert img.repo_tags == ("busybox:latest",)
    assert len(img.config.rootfs.diff_ids) == 2
    for name in (
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        str(img.id),
        img.id.hex,
        img.id.hex[:12],
        f"busybox@{img.manifest_digest}",
    ):
        assert store.resolve(name).id == img.id, name
    assert store.blobs.read_bytes(img.manifest_digest) == img.manifest.content()
    store.tag("busybox", "localhost:5000/bb:v1")
    assert set(store.resolve("localhost:5000/bb:v1").repo_tags) == {
        "busybox:latest",
        "localhost:5000/bb:v1",
    }
    store.untag("localhost:5000/bb:v1")
    with pytest.raises(NotFound):
        store.resolve("localhost:5000/bb:v1")
    with pytest.raises(NotFound):
        store.untag("nothere")
    assert [i.id for i in store.list_images()] == [img.id]


def test_add_image_needs_blobs(store: ImageStore) -> None:
    cfg = _config()
    layer = layer_tar([F("x")])
    from dockyard.oci import mediatypes as mt
    from dockyard.oci.image import Descriptor, Manifest, RootFS
    from dockyard.records import replace

    cfg = replace(cfg, rootfs=RootFS((sha256_digest(layer),)))
    cbytes = cfg.to_json()
    manifest = Manifest(
        Descriptor(mt.OCI_CONFIG, sha256_digest(cbytes), len(cbytes)),
        (Descriptor(mt.OCI_LAYER, sha256_digest(layer), len(layer)),),
    )
    with pytest.raises(NotFound, match="layer blob"):
        store.add_image(manifest.to_json(), cbytes)
    with pytest.raises(InvalidArgument, match="config digest"):
        store.add_image(manifest.to_json(), cbytes + b" ")
    store.blobs.write_bytes(layer)
    img = store.add_image(manifest.to_json(), cbytes, tags=["x:1"])
    assert img.manifest_digest == manifest.digest()


def test_remove_rules(store: ImageStore, tmp_path: Path) -> None:
    img = store.create_image(_layer_files(tmp_path), _config(), tags=("a", "b"))
    assert store.remove("a").untagged == ["a:latest"]  # only untags
    store.tag("b", "c")
    with pytest.raises(Conflict, match="several tags"):
        store.remove(img.id.hex)
    store.untag("c")
    store.db.add_container(
        ContainerRecord("c" * 64, "web", "b", str(img.id), "2024-01-01T00:00:00Z")
    )
    with pytest.raises(Conflict, match="in use by container cccccccccccc"):
        store.remove("b")
    report = store.remove("b", force=True)
    assert report.deleted == [img.id] and report.untagged == ["b:latest"]
    with pytest.raises(NotFound):
        store.resolve(img.id.hex)


def test_lowerdirs_and_prune(store: ImageStore, tmp_path: Path, require_root: None) -> None:
    img = store.create_image(_layer_files(tmp_path), _config(), tags=("bb",))
    lower = store.lowerdirs(img)
    assert [p.parent.name for p in lower] == [c.hex for c in reversed(img.chain_ids)]
    assert (lower[1] / "bin/busybox").read_bytes() == b"bb"
    assert stat.S_ISCHR(os.lstat(lower[0] / "bin/sh").st_mode)  # overlay whiteout
    assert store.lowerdirs(img) == lower  # idempotent
    stray = store.blobs.write_bytes(b"stray")
    report = prune(store)
    assert report.blobs == [stray] and report.snapshots == []
    store.remove("bb")
    report = prune(store)
    assert len(report.blobs) == 4 and len(report.snapshots) == 2
    assert list(store.blobs.walk()) == [] and list(store.snapshots.walk()) == []


def test_prune_dangling(store: ImageStore, tmp_path: Path) -> None:
    img = store.create_image(_layer_files(tmp_path), _config(), tags=("bb",))
    store.untag("bb")
    assert prune(store).images == []
    assert store.resolve(img.id.hex)
    report = prune(store, dangling=True)
    assert report.images == [img.id]
    assert list(store.blobs.walk()) == []


def test_chain_ids() -> None:
    a, b = sha256_digest(b"a"), sha256_digest(b"b")
    assert chain_ids([a, b]) == [a, sha256_digest(f"{a} {b}".encode())]


def test_snapshot_prepare_remove_and_bad_diff_id(tmp_path: Path) -> None:
    snaps = SnapshotStore(tmp_path / "snapshots", overlay=False)
    upper, work = snaps.prepare("c1")
    assert upper.is_dir() and work.is_dir()
    with pytest.raises(Exception, match="already exists"):
        snaps.prepare("c1")
    assert [s.kind for s in snaps.walk()] == ["active"]
    snaps.remove("c1")
    with pytest.raises(NotFound):
        snaps.remove("c1")
    with pytest.raises(InvalidArgument):
        snaps.prepare("../x")
    layer = layer_tar([F("x")])
    wrong = sha256_digest(b"nope")
    with pytest.raises(InvalidArgument, match="diff id mismatch"):
        snaps.ensure_layer(wrong, wrong, lambda: io.BytesIO(layer))
    assert not snaps.has_layer(wrong)
    assert list((tmp_path / "snapshots" / wrong.hex).glob("fs*")) == []
    good = sha256_digest(layer)
    path = snaps.ensure_layer(good, good, lambda: io.BytesIO(layer))
    assert (path / "x").is_file()
    assert snaps.lowerdirs([good]) == [path]
