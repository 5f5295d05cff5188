"""``images -a/--digests/-f``: the filters of docker images, on a real store, and the CLI
that renders them (issue 16: ``-f`` was refused, ``--digests`` showed nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_tarfixtures import F, layer_tar

from dockyard.cli.main import main
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.image import ContainerConfig, ImageConfig
from dockyard.store.imagequery import parse_filters, repo_digests, select
from dockyard.store.images import Image, ImageStore


def _image(
    store: ImageStore, tmp: Path, n: int, labels: dict[str, str], tags: tuple[str, ...]
) -> Image:
    layer = tmp / f"l{n}.tar"
    layer.write_bytes(layer_tar([F(f"f{n}", str(n).encode())]))
    cfg = ImageConfig("amd64", "linux", created=f"2026-01-0{n}T00:00:00Z",
                      config=ContainerConfig(labels=labels))  # fmt: skip
    return store.create_image([layer], cfg, tags=tags)


@pytest.fixture
def store(dockyard_root: Path, tmp_path: Path) -> ImageStore:
    s = ImageStore(dockyard_root)
    _image(s, tmp_path, 1, {"tier": "web", "team": "a"}, ("web:1", "web:old"))
    _image(s, tmp_path, 2, {"tier": "db"}, ("db:1",))
    _image(s, tmp_path, 3, {}, ())
    return s


def _rows(store: ImageStore, *items: str) -> list[str]:
    def created(ref: str) -> str:
        return store.resolve(ref).created or ""

    rows = select(store.list_images(), parse_filters(list(items)), created)
    return sorted(t or "<none>" for _, t in rows)


def test_filters_as_docker_images(store: ImageStore) -> None:
    assert _rows(store) == ["<none>", "db:1", "web:1", "web:old"]
    assert _rows(store, "dangling=true") == ["<none>"]
    assert _rows(store, "dangling=false") == ["db:1", "web:1", "web:old"]
    assert _rows(store, "label=tier") == ["db:1", "web:1", "web:old"]
    assert _rows(store, "label=tier=db") == ["db:1"]
    assert _rows(store, "label=tier", "label=team=a") == ["web:1", "web:old"]  # all hold
    assert _rows(store, "reference=web:o*") == ["web:old"]
    assert _rows(store, "reference=w*") == ["web:1", "web:old"]
    assert _rows(store, "reference=db", "reference=web:1") == ["db:1", "web:1"]
    assert _rows(store, "before=db:1") == ["web:1", "web:old"]
    assert _rows(store, "since=db:1") == ["<none>"]
    with pytest.raises(NotFound):
        _rows(store, "since=nothing:here")
    for bad in ("colour=red", "dangling", "dangling=maybe"):
        with pytest.raises(InvalidArgument):
            parse_filters([bad])


def test_repo_digests(store: ImageStore) -> None:
    img = store.resolve("web:1")
    assert repo_digests(img) == [f"web@{img.manifest_digest}"]


def test_images_cli(
    store: ImageStore, dockyard_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(*args: str) -> tuple[int, str, str]:
        rc = main(["--root", str(dockyard_root), "images", *args])
        out, err = capsys.readouterr()
        return rc, out, err

    rc, out, _ = cli("-f", "dangling=false", "--format", "{{.Repository}}:{{.Tag}}")
    assert rc == 0 and sorted(out.split()) == ["db:1", "web:1", "web:old"]
    rc, out, _ = cli("--digests", "-f", "reference=db")
    head, row = out.splitlines()
    assert head.split()[:4] == ["REPOSITORY", "TAG", "DIGEST", "IMAGE"]
    assert row.split()[2] == str(store.resolve("db:1").manifest_digest)
    rc, out, _ = cli("-a", "-q")
    assert rc == 0 and len(out.split()) == 3
    rc, out, _ = cli("-q", "-f", "label=tier=web")
    assert out.split() == [str(store.resolve("web:1").id).split(":")[1][:12]]
    rc, out, err = cli("-f", "colour=red")
    assert rc != 0 and err.strip() == "dockyard: invalid filter 'colour'" and out == ""
