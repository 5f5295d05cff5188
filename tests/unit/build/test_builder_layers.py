"""How a step's layer is written: volatile overlays, plain or gzip blobs, background commits."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from dockyard.build import rootfs
from dockyard.build.commits import Commits
from dockyard.build.pgzip import worth_gzip
from dockyard.build.state import LayerRef
from dockyard.errors import NotFound
from dockyard.linux import RecordingSyscalls
from dockyard.linux.syscalls import errno_error
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest
from dockyard.store.images import ImageStore


class NoVolatile(RecordingSyscalls):
    """A kernel before 5.10: overlayfs refuses ``volatile`` with EINVAL."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None) -> None:  # fmt: skip
        if data and data.endswith(",volatile"):
            self.calls.append(("mount", (source, target, fstype, flags, data)))
            raise errno_error(errno.EINVAL, f"mount {target}")
        super().mount(source, target, fstype, flags, data)


def test_step_overlays_are_volatile_and_fall_back_on_old_kernels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(rootfs, "_VOLATILE_OK", [])
    sc = RecordingSyscalls()
    rootfs._mount_volatile(sc, tmp_path, "lowerdir=/l,upperdir=/u,workdir=/w")
    assert [a[4] for a in sc.of("mount")] == ["lowerdir=/l,upperdir=/u,workdir=/w,volatile"]
    monkeypatch.setattr(rootfs, "_VOLATILE_OK", [])
    old = NoVolatile()
    for _ in range(2):
        rootfs._mount_volatile(old, tmp_path, "lowerdir=/l,upperdir=/u,workdir=/w")
    assert [a[4] for a in old.of("mount")] == [  # tried once, then never again
        "lowerdir=/l,upperdir=/u,workdir=/w,volatile",
        "lowerdir=/l,upperdir=/u,workdir=/w",
        "lowerdir=/l,upperdir=/u,workdir=/w",
    ]


def _tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


TEXT = b"the same words again and again\n" * (1 << 15)  # 1 MiB that shrinks


@pytest.mark.parametrize(
    ("files", "gzip"),
    [
        ({"big.bin": os.urandom(5 << 20), "a.txt": TEXT[:4096]}, False),  # nearly all random
        ({"big.bin": os.urandom(5 << 20), "text": TEXT}, True),  # 17 % shrinks: worth it
        ({"small.bin": os.urandom(1 << 20)}, True),  # too small to bother
        ({"a": TEXT * 5}, True),
        ({}, True),
    ],
)
def test_worth_gzip(tmp_path: Path, files: dict[str, bytes], gzip: bool) -> None:
    assert worth_gzip(_tree(tmp_path / "t", files)) is gzip


def test_an_incompressible_layer_is_a_plain_tar(tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "root")
    noise = _tree(tmp_path / "noise", {"big.bin": os.urandom(5 << 20)})
    info = rootfs.write_layer(store, noise)
    assert info.media_type == mt.OCI_LAYER and info.digest == info.diff_id
    assert store.blobs.path(info.digest).stat().st_size == info.size
    again = rootfs.write_layer(store, noise)  # the blob is there already: nothing new
    assert again == info and list(store.blobs.ingest_dir.iterdir()) == []
    text = _tree(tmp_path / "text", {"a.txt": TEXT * 5})
    info = rootfs.write_layer(store, text)
    assert info.media_type == mt.OCI_LAYER_GZIP and info.size < len(TEXT)


class FakeStep:
    """What :class:`Commits` uses of a sealed step."""

    def __init__(self, name: str, gate: threading.Event, fail: bool = False) -> None:
        self.upper = Path("/upper") / name
        self.name, self.gate, self.fail = name, gate, fail
        self.discarded = False

    def publish(self) -> LayerRef:
        assert self.gate.wait(10)
        if self.fail:
            raise NotFound("blob store gone")
        d = sha256_digest(self.name.encode())
        return LayerRef(d, d, 1, mt.OCI_LAYER)

    def discard(self) -> None:
        self.discarded = True


def test_commits_run_behind_and_settle_in_order() -> None:
    gate = threading.Event()
    done: list[str] = []
    commits = Commits("Dockerfile")
    steps = [FakeStep(n, gate) for n in ("a", "b")]
    layers = [commits.submit(s, i + 3, lambda ref, n=s.name: done.append(n))  # type: ignore[arg-type,misc]
              for i, s in enumerate(steps)]  # fmt: skip
    assert [x.location for x in layers] == [Path("/upper/a"), Path("/upper/b")]  # mountable
    gate.set()
    assert layers[1].diff_id == sha256_digest(b"b")  # reading a digest waits for the blob
    assert done == []  # records are written by settle, on the caller's thread
    commits.settle()
    assert done == ["a", "b"]
    assert all(s.discarded for s in steps) and [x.location for x in layers] == [None, None]


def test_a_failed_commit_is_raised_by_settle_with_its_line() -> None:
    gate = threading.Event()
    gate.set()
    done: list[Any] = []
    commits = Commits("Dockerfile")
    bad = commits.submit(FakeStep("a", gate, fail=True), 7, done.append)  # type: ignore[arg-type]
    commits.submit(FakeStep("b", gate), 9, done.append)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match=r"^Dockerfile:7: blob store gone$"):
        commits.settle()
    assert len(done) == 1  # the other commit still finished, and its record was written
    with pytest.raises(NotFound):
        bad.digest  # noqa: B018
