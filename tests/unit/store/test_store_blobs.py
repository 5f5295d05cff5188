"""The content store: verified, atomic ingest."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import sha256_digest
from dockyard.store.blobs import ContentStore


def test_ingest_and_read(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    d, n = store.ingest(io.BytesIO(b"hello"), expected=sha256_digest(b"hello"), size=5)
    assert (d, n) == (sha256_digest(b"hello"), 5)
    assert store.has(d)
    assert store.path(d) == tmp_path / "blobs" / "sha256" / d.hex
    assert store.read_bytes(d) == b"hello"
    with store.open(d) as f:
        assert f.read() == b"hello"
    assert list(store.walk()) == [d]
    assert list((tmp_path / "ingest").iterdir()) == []


def test_wrong_digest_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    wrong = sha256_digest(b"other")
    with pytest.raises(InvalidArgument, match="digest mismatch"):
        store.ingest(io.BytesIO(b"hello"), expected=wrong)
    assert not store.has(wrong) and not store.has(sha256_digest(b"hello"))
    assert list((tmp_path / "ingest").iterdir()) == []
    assert list(store.walk()) == []


def test_wrong_size(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with pytest.raises(InvalidArgument, match="size"):
        store.ingest(io.BytesIO(b"hello"), size=4)
    with pytest.raises(InvalidArgument, match="size"):
        store.ingest(io.BytesIO(b"hello"), size=6)
    assert list(store.walk()) == []


def test_stage_then_commit_or_discard(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    staged = store.stage(io.BytesIO(b"a"))
    assert not store.has(staged.digest)
    store.commit(staged)
    assert store.has(staged.digest)
    other = store.stage(io.BytesIO(b"b"))
    store.discard(other)
    assert not store.has(other.digest) and not other.path.exists()


def test_write_bytes_idempotent_and_delete(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    d = store.write_bytes(b"x")
    assert store.write_bytes(b"x", expected=d) == d
    store.delete(d)
    assert not store.has(d)
    with pytest.raises(NotFound):
        store.delete(d)
    with pytest.raises(NotFound):
        store.read_bytes(d)
    with pytest.raises(NotFound):
        store.path(d)
