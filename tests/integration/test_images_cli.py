"""Image commands through the CLI: save/load, tags, inspect, prune, hostile archives,
and tools no one here wrote (skopeo, umoci) reading and writing our images."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, Dockyard

sys.path.insert(0, str(REPO / "tests" / "unit" / "store"))
from store_tarfixtures import Chr, Entry, F, Hard, Sym, docker_archive, layer_tar, oci_archive

pytestmark = pytest.mark.root


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make setup installs it)")
    return path


def test_save_load_round_trip_in_both_formats(dy: Dockyard, dy_fresh: Dockyard,
                                              tmp_path: Path) -> None:  # fmt: skip
    for fmt in ("oci", "docker"):
        archive = tmp_path / f"bb-{fmt}.tar"
        dy.run("save", "--format", fmt, "-o", str(archive), "busybox", check=True)
        out = dy_fresh.run("load", "-i", str(archive), check=True)
        assert "busybox:latest" in out.stdout
        assert dy_fresh.run("run", "--rm", "busybox", "echo", "ok", check=True).stdout == "ok\n"
        dy_fresh.run("rmi", "busybox", check=True)


def test_tag_inspect_rmi(dy: Dockyard) -> None:
    dy.run("tag", "busybox", "localhost:5000/tools/bb:v1", check=True)
    images = dy.run("images", check=True).stdout
    assert "localhost:5000/tools/bb" in images and "v1" in images
    fmt = "{{.Os}}/{{.Architecture}} {{json .Config.Cmd}} {{index .RepoTags 0}}"
    out = dy.run("inspect", "--format", fmt, "localhost:5000/tools/bb:v1", check=True)
    assert out.stdout.startswith("linux/") and '["sh"]' in out.stdout
    rmi = dy.run("rmi", "localhost:5000/tools/bb:v1", check=True)
    assert "Untagged: localhost:5000/tools/bb:v1" in rmi.stdout
    assert "localhost:5000/tools/bb" not in dy.run("images").stdout
    ids = dy.run("images", "-q", check=True).stdout.split()
    assert ids and all(len(i) == 12 for i in ids)


def test_image_prune_removes_unreferenced_content(dy_fresh: Dockyard, tmp_path: Path) -> None:
    path = oci_archive(
        tmp_path / "a.tar", [layer_tar([F("hello", b"hi")])], "docker.io/library/t:1"
    )
    dy_fresh.run("load", "-i", str(path), check=True)
    blobs = dy_fresh.root / "blobs" / "sha256"
    assert len(list(blobs.iterdir())) == 3
    dy_fresh.run("rmi", "t:1", check=True)
    out = dy_fresh.run("image", "prune", "-f", check=True)
    assert "Total reclaimed space" in out.stdout
    assert list(blobs.iterdir()) == []


HOSTILE: list[tuple[str, list[Entry]]] = [
    ("traversal", [F("../../evil", b"x")]),
    ("absolute", [F("/tmp/dockyard-evil", b"x")]),
    ("symlink", [Sym("link", "/"), F("link/tmp/dockyard-evil", b"x")]),
    ("relative-symlink", [Sym("a", "../../.."), F("a/dockyard-evil", b"x")]),
    ("hardlink", [Hard("h", "../../../etc/passwd")]),
    ("device", [Chr("dev/mem", 1, 1)]),
]


@pytest.mark.parametrize("fmt", ["oci", "docker"])
@pytest.mark.parametrize("case", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_archives_are_refused_in_one_line(
    dy_fresh: Dockyard, tmp_path: Path, fmt: str, case: tuple[str, list[Entry]]
) -> None:
    _name, entries = case
    work = tmp_path / "w"
    work.mkdir()
    layers = [layer_tar([F("etc/ok", b"ok")]), layer_tar(entries)]
    path = (oci_archive if fmt == "oci" else docker_archive)(work / "evil.tar", layers)
    before = sorted(p.name for p in work.parent.rglob("*"))
    out = dy_fresh.run("load", "-i", str(path))
    assert out.returncode != 0
    assert out.stderr.startswith("dockyard: load ") and out.stderr.strip().count("\n") == 0
    assert "Traceback" not in out.stderr
    assert dy_fresh.run("images", "-q").stdout == ""
    assert not Path("/tmp/dockyard-evil").exists() and not (tmp_path / "evil").exists()
    after = sorted(p.name for p in work.parent.rglob("*") if "root" not in p.parts
                   and "run" not in p.parts)  # fmt: skip
    assert [p for p in after if p not in before] == []


@pytest.mark.anchors
def test_skopeo_and_umoci_read_our_saved_images(dy: Dockyard, tmp_path: Path) -> None:
    skopeo, umoci = _tool("skopeo"), _tool("umoci")
    archive = tmp_path / "bb.tar"
    dy.run("save", "-o", str(archive), "busybox:latest", check=True)
    proc = subprocess.run(
        [skopeo, "inspect", f"oci-archive:{archive}"], capture_output=True, text=True, check=True
    )
    info = json.loads(proc.stdout)
    assert info["Os"] == "linux" and len(info["Layers"]) == 1
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(layout)], check=True)
    bundle = tmp_path / "bundle"
    subprocess.run([umoci, "unpack", "--image", f"{layout}:latest", str(bundle)],
                   capture_output=True, check=True)  # fmt: skip
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()
    assert (bundle / "config.json").is_file()


@pytest.mark.anchors
def test_an_image_made_by_umoci_loads_and_runs(dy: Dockyard, dy_fresh: Dockyard,
                                                tmp_path: Path) -> None:  # fmt: skip
    umoci = _tool("umoci")
    archive = tmp_path / "bb.tar"
    dy.run("save", "-o", str(archive), "busybox:latest", check=True)
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(src)], check=True)
    layout = tmp_path / "umoci-layout"
    subprocess.run([umoci, "init", "--layout", str(layout)], check=True)
    subprocess.run([umoci, "new", "--image", f"{layout}:made"], check=True)
    bundle = tmp_path / "b"
    subprocess.run([umoci, "unpack", "--image", f"{layout}:made", str(bundle)], check=True)
    shutil.rmtree(bundle / "rootfs")
    subprocess.run([umoci, "unpack", "--image", f"{src}:latest", str(tmp_path / "bb")], check=True)
    shutil.copytree(tmp_path / "bb" / "rootfs", bundle / "rootfs", symlinks=True)
    (bundle / "rootfs" / "made-by-umoci").write_text("yes\n")
    subprocess.run([umoci, "repack", "--image", f"{layout}:made", str(bundle)], check=True)
    subprocess.run([umoci, "config", "--image", f"{layout}:made", "--config.cmd", "sh"], check=True)
    tarball = tmp_path / "made.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", str(layout), "."], check=True)
    out = dy_fresh.run("load", "-i", str(tarball), check=True)
    assert "Loaded image" in out.stdout
    image = dy_fresh.run("images", "-q", check=True).stdout.split()[0]
    run = dy_fresh.run("run", "--rm", image, "cat", "/made-by-umoci", check=True)
    assert run.stdout == "yes\n"
