"""The one-pass body-to-file path shared by the registry server and the pull client."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from dockyard.distribution._blobio import TooLarge, hash_file, start_writeback, stream_to_file
from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry
from dockyard.oci.digest import Hasher, sha256_digest


class _Body:
    """A body that hands out ``chunks`` and then, optionally, fails."""

    def __init__(self, chunks: list[bytes], fail: BaseException | None = None) -> None:
        self.chunks = list(chunks)
        self.fail = fail

    async def readany(self) -> bytes:
        await asyncio.sleep(0)
        if self.chunks:
            return self.chunks.pop(0)
        if self.fail is not None:
            raise self.fail
        return b""


def _run(path: Path, body: _Body, hasher: Hasher | None, **kw: int | None) -> int:
    async def go() -> int:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            return await stream_to_file(body, fd, hasher, **kw)  # type: ignore[arg-type]
        finally:
            os.close(fd)

    return asyncio.run(go())


@pytest.mark.parametrize("batch", [1, 1000, 1 << 20])
def test_stream_appends_in_order_and_hashes_once(tmp_path: Path, batch: int) -> None:
    chunks = [os.urandom(n) for n in (1, 700, 70_000, 3, 200_000, 5)]
    data = b"".join(chunks)
    path = tmp_path / "f"
    path.write_bytes(b"prefix")
    hasher = Hasher("sha256")
    hasher.update(b"prefix")
    n = _run(path, _Body(chunks), hasher, batch=batch)
    assert n == len(data)
    assert path.read_bytes() == b"prefix" + data
    assert hasher.digest() == sha256_digest(b"prefix" + data)
    assert hasher.size == len(data) + 6


def test_stream_many_small_chunks_in_one_batch(tmp_path: Path) -> None:
    chunks = [bytes([i % 251]) * (1 + i % 7) for i in range(3000)]  # more than one writev
    path = tmp_path / "f"
    hasher = Hasher("sha256")
    assert _run(path, _Body(chunks), hasher) == sum(map(len, chunks))
    assert path.read_bytes() == b"".join(chunks)
    assert hasher.digest() == sha256_digest(b"".join(chunks))


def test_stream_without_hasher_and_empty_body(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert _run(path, _Body([]), None) == 0
    assert path.read_bytes() == b""
    assert _run(path, _Body([b"abc"]), None) == 3
    assert path.read_bytes() == b"abc"


def test_stream_refuses_more_than_max_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f"
    with pytest.raises(TooLarge) as e:
        _run(path, _Body([b"a" * 600, b"b" * 600]), Hasher("sha256"), max_bytes=1000, batch=500)
    assert e.value.received == 1200
    assert path.stat().st_size <= 1000  # what was written before the limit, in order


def test_stream_error_waits_for_the_write_in_flight(tmp_path: Path) -> None:
    path = tmp_path / "f"
    body = _Body([b"x" * 5000, b"y" * 5000], fail=ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError):
        _run(path, body, None, batch=4096)
    # both batches were handed to the writer before the failure and are on file
    assert path.read_bytes() == b"x" * 5000 + b"y" * 5000


def test_hash_file_from_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "f"
    data = os.urandom(3 << 20)
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        h = Hasher("sha512")
        hash_file(fd, h, 1000)
        start_writeback(fd, 0, 0)  # a hint only: never fails
    finally:
        os.close(fd)
    assert h.size == len(data) - 1000
    assert h.digest().hex == hashlib.sha512(data[1000:]).hexdigest()


# --- the server keeps one running hash per session ---------------------------------------


def _blob_names(root: Path) -> set[str]:
    d = root / "blobs" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


def test_session_hash_survives_a_refused_chunk_and_a_restart(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    d = sha256_digest(data)
    with ThreadedRegistry(ServerConfig(root=tmp_path)) as reg:
        c = HttpClient.of(reg)
        loc = c("POST", "/v2/app/blobs/uploads/").headers["Location"]
        assert c("PATCH", loc, data[:100_000], {"Content-Range": "0-99999"}).status == 202
        # a chunk shorter than its range is refused and cut off; the hash must forget it
        bad = c("PATCH", loc, data[100_000:100_010], {"Content-Range": "100000-199999"})
        assert bad.status == 400
        assert (
            c("PATCH", loc, data[100_000:200_000], {"Content-Range": "100000-199999"}).status == 202
        )
    # a new server process has no running hash: it rebuilds it from the session file
    with ThreadedRegistry(ServerConfig(root=tmp_path)) as reg:
        c = HttpClient.of(reg)
        r = c("PUT", f"{loc}?digest={d}", data[200_000:], {"Content-Range": "200000-299999"})
        assert r.status == 201, r.body
        assert c("GET", f"/v2/app/blobs/{d}").body == data
    assert d.hex in _blob_names(tmp_path)


def test_session_digest_mismatch_after_streamed_chunks(tmp_path: Path) -> None:
    with ThreadedRegistry(ServerConfig(root=tmp_path)) as reg:
        c = HttpClient.of(reg)
        loc = c("POST", "/v2/app/blobs/uploads/").headers["Location"]
        r = c("PATCH", loc, b"a" * 70_000)
        r = c("PATCH", r.headers["Location"], b"b" * 70_000)
        wrong = sha256_digest(b"a" * 140_000)
        r = c("PUT", f"{r.headers['Location']}?digest={wrong}")
        assert r.status == 400 and r.code() == "DIGEST_INVALID"
    assert _blob_names(tmp_path) == set()
