"""Image archives: load and save, and hostile archives refused without a trace."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from store_tarfixtures import Chr, Dir, Entry, F, Hard, Sym, docker_archive, layer_tar, oci_archive

from dockyard.errors import InvalidArgument
from dockyard.store.archive import load_archive, save_archive
from dockyard.store.images import ImageStore

BASE = [Dir("bin"), F("bin/busybox", b"bb", mode=0o755), Sym("bin/sh", "/bin/busybox")]


@pytest.fixture
def store(dockyard_root: Path) -> ImageStore:
    return ImageStore(dockyard_root)


def _state(store: ImageStore) -> tuple[list[str], list[str], dict[str, str]]:
    return (
        sorted(str(i.id) for i in store.list_images()),
        sorted(str(d) for d in store.blobs.walk()),
        store.db.all_tags(),
    )


def test_load_oci_archive(store: ImageStore, tmp_path: Path) -> None:
    layers = [layer_tar(BASE, compress=True), layer_tar([F("etc/motd", b"hi")])]
    images = load_archive(store, oci_archive(tmp_path / "img.tar", layers, "quay.io/x/y:v1"))
    assert len(images) == 1
    assert images[0].repo_tags == ("quay.io/x/y:v1",)
    assert store.resolve("quay.io/x/y:v1").id == images[0].id
    assert list((store.root / "ingest").iterdir()) == []


def test_load_docker_archive_gzipped(store: ImageStore, tmp_path: Path) -> None:
    path = docker_archive(tmp_path / "img.tar", [layer_tar(BASE)], tags=["busybox:1"])
    gz = tmp_path / "img.tar.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    (img,) = load_archive(store, gz)
    assert img.repo_tags == ("busybox:1",)
    assert store.resolve("busybox:1").config.config.cmd == ("/bin/sh",)


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_save_then_load_roundtrip(store: ImageStore, tmp_path: Path, fmt: str) -> None:
    (img,) = load_archive(store, oci_archive(tmp_path / "in.tar", [layer_tar(BASE, compress=True)]))
    out = tmp_path / f"out-{fmt}.tar"
    save_archive(store, ["test:v1"], out, fmt=fmt)  # type: ignore[arg-type]
    again = tmp_path / f"again-{fmt}.tar"
    save_archive(store, ["test:v1"], again, fmt=fmt)  # type: ignore[arg-type]
    assert out.read_bytes() == again.read_bytes()
    with tarfile.open(out) as tf:
        names = tf.getnames()
        raw_index = tf.extractfile("index.json").read() if fmt == "oci" else b""  # type: ignore[union-attr]
    if fmt == "oci":
        index = json.loads(raw_index)
        ann = index["manifests"][0]["annotations"]
        assert ann == {
            "org.opencontainers.image.ref.name": "v1",
            "io.containerd.image.name": "docker.io/library/test:v1",
        }
        assert "oci-layout" in names
    else:
        assert {"manifest.json", "repositories"} <= set(names)
    other = ImageStore(tmp_path / "other")
    (loaded,) = load_archive(other, out)
    assert loaded.id == img.id and loaded.repo_tags == ("test:v1",)
    if fmt == "oci":
        assert loaded.manifest_digest == img.manifest_digest


def test_docker_archive_with_symlinked_duplicate_layer(store: ImageStore, tmp_path: Path) -> None:
    from store_tarfixtures import config_bytes

    layer = layer_tar(BASE)
    cfg = config_bytes([layer, layer])
    path = tmp_path / "dup.tar"
    with tarfile.open(path, "w") as tf:
        for name, data in (
            (
                "manifest.json",
                json.dumps(
                    [
                        {
                            "Config": "c.json",
                            "RepoTags": ["d:1"],
                            "Layers": ["a/layer.tar", "b/layer.tar"],
                        }
                    ]
                ).encode(),
            ),
            ("c.json", cfg),
            ("a/layer.tar", layer),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("b/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../a/layer.tar"
        tf.addfile(link)
    (img,) = load_archive(store, path)
    assert len(img.manifest.layers) == 2


HOSTILE: list[tuple[str, list[Entry], str]] = [
    ("traversal", [F("../../evil", b"x")], "path escapes root: ../../evil"),
    ("absolute", [F("/tmp/evil", b"x")], "path escapes root: /tmp/evil"),
    ("symlink", [Sym("link", "/"), F("link/etc/x", b"x")], "leaves the root: link/etc/x"),
    ("relative-symlink", [Sym("a", "../../.."), F("a/evil", b"x")], "symlink escapes root: a"),
    ("hardlink", [Hard("h", "../../../etc/passwd")], "path escapes root: ../../../etc/passwd"),
    ("device", [Chr("dev/mem", 1, 1)], "device node refused: dev/mem"),
]


@pytest.mark.parametrize("fmt", ["oci", "docker"])
@pytest.mark.parametrize("case", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_archive_refused_and_store_unchanged(
    store: ImageStore, tmp_path: Path, fmt: str, case: tuple[str, list[Entry], str]
) -> None:
    _name, entries, message = case
    load_archive(store, oci_archive(tmp_path / "good.tar", [layer_tar(BASE)], "good:1"))
    before = _state(store)
    layers = [layer_tar(BASE, compress=True), layer_tar(entries)]
    make = oci_archive if fmt == "oci" else docker_archive
    path = make(tmp_path / "image.tar", layers)
    outside = sorted(tmp_path.rglob("*"))
    with pytest.raises(InvalidArgument) as info:
        load_archive(store, path)
    msg = str(info.value)
    assert "\n" not in msg
    assert re.fullmatch(rf"load {re.escape(str(path))}: layer 2: .*{re.escape(message)}.*", msg)
    assert _state(store) == before
    assert list((store.root / "ingest").iterdir()) == []
    assert sorted(tmp_path.rglob("*")) == outside
    assert not Path("/tmp/evil").exists()


def test_diff_id_mismatch_refused(store: ImageStore, tmp_path: Path) -> None:
    path = oci_archive(tmp_path / "x.tar", [layer_tar(BASE)], diff_ids=["sha256:" + "0" * 64])
    with pytest.raises(InvalidArgument, match="layer 1: diff id"):
        load_archive(store, path)
    assert _state(store) == ([], [], {})


@pytest.mark.parametrize(
    ("kw", "message"),
    [({"skip_blob": 0}, "missing from archive"), ({"corrupt_blob": 0}, "digest mismatch")],
)
def test_corrupt_or_missing_blob(
    store: ImageStore, tmp_path: Path, kw: dict[str, int], message: str
) -> None:
    path = oci_archive(tmp_path / "x.tar", [layer_tar(BASE)], **kw)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match=message):
        load_archive(store, path)
    assert _state(store) == ([], [], {})
    assert list((store.root / "ingest").iterdir()) == []


def test_not_an_archive(store: ImageStore, tmp_path: Path) -> None:
    p = tmp_path / "x.tar"
    with tarfile.open(p, "w") as tf:
        tf.addfile(tarfile.TarInfo("hello"))
    with pytest.raises(InvalidArgument, match="not an image archive"):
        load_archive(store, p)
    p.write_bytes(b"garbage" * 100)
    with pytest.raises(InvalidArgument, match="invalid archive"):
        load_archive(store, p)
