"""Archives checked against the reference tools: skopeo and umoci."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from dockyard.store.archive import load_archive, save_archive
from dockyard.store.images import ImageStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit" / "store"))
from store_tarfixtures import Dir, F, Sym, layer_tar, oci_archive

pytestmark = pytest.mark.anchors


def _run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc.stdout


@pytest.fixture
def saved(tmp_path: Path, dockyard_root: Path) -> tuple[ImageStore, Path]:
    store = ImageStore(dockyard_root)
    base = [
        Dir("bin"),
        F("bin/busybox", b"bb", 0o755),
        Sym("bin/sh", "busybox"),
        F("etc/motd", b"hi"),
    ]
    load_archive(
        store,
        oci_archive(tmp_path / "in.tar", [layer_tar(base, compress=True)], "example.com/app:v1"),
    )
    out = tmp_path / "out.tar"
    save_archive(store, ["example.com/app:v1"], out)
    return store, out


def test_skopeo_inspects_our_oci_archive(saved: tuple[ImageStore, Path]) -> None:
    from conftest import need_tool

    need_tool("skopeo")
    store, out = saved
    info = json.loads(_run("skopeo", "inspect", f"oci-archive:{out}"))
    img = store.resolve("example.com/app:v1")
    assert info["Digest"] == str(img.manifest_digest)
    assert info["Layers"] == [str(x.digest) for x in img.manifest.layers]


def test_umoci_unpacks_our_layout(saved: tuple[ImageStore, Path], tmp_path: Path) -> None:
    from conftest import need_tool

    need_tool("umoci")
    _store, out = saved
    layout = tmp_path / "layout"
    from dockyard.store.tarextract import extract_tar

    with tarfile.open(out) as tf:
        extract_tar(tf, str(layout))
    bundle = tmp_path / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{layout}:v1", str(bundle))
    assert (bundle / "rootfs/etc/motd").read_text() == "hi"
    assert (bundle / "rootfs/bin/sh").is_symlink()


def test_load_image_made_by_umoci(tmp_path: Path, dockyard_root: Path) -> None:
    from conftest import need_tool

    need_tool("umoci")
    layout = tmp_path / "layout"
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", f"{layout}:latest")
    content = tmp_path / "content"
    (content / "etc").mkdir(parents=True)
    (content / "etc/hello").write_text("from umoci")
    _run("umoci", "insert", "--image", f"{layout}:latest", str(content / "etc"), "/etc")
    _run("umoci", "config", "--image", f"{layout}:latest", "--config.cmd", "/bin/sh")
    # umoci names images by bare tag; give it a full name as containerd would
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].setdefault("annotations", {})["io.containerd.image.name"] = (
        "umoci.local/img:latest"
    )
    (layout / "index.json").write_text(json.dumps(index))
    archive = tmp_path / "umoci.tar"
    with tarfile.open(archive, "w") as tf:
        for p in sorted(layout.iterdir()):
            tf.add(p, p.name)
    store = ImageStore(dockyard_root)
    (img,) = load_archive(store, archive)
    assert img.repo_tags == ("umoci.local/img:latest",)
    assert img.config.config.cmd == ("/bin/sh",)


def test_load_image_copied_by_skopeo(tmp_path: Path, dockyard_root: Path) -> None:
    from conftest import need_tool

    need_tool("skopeo")
    store = ImageStore(dockyard_root)
    src = oci_archive(tmp_path / "src.tar", [layer_tar([F("x", b"1")], compress=True)], "a.io/b:c")
    out = tmp_path / "copied.tar"
    _run("skopeo", "copy", f"oci-archive:{src}", f"docker-archive:{out}:a.io/b:c")
    (img,) = load_archive(store, out)
    assert img.repo_tags == ("a.io/b:c",)
