"""dockyard's registry client (pull, push, login) against dockyard's server and distribution 2.8."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.distribution.auth import load_credentials
from dockyard.distribution.client import ClientConfig, uses_plain_http
from dockyard.distribution.login import inspect_manifest, login
from dockyard.distribution.options import parse_auth
from dockyard.distribution.pull import pull
from dockyard.distribution.push import push
from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry, tiny_image
from dockyard.errors import NotFound, PermissionDenied
from dockyard.oci import mediatypes as mt
from dockyard.oci.image import canonical_json
from dockyard.store.images import ImageStore


@pytest.fixture
def logs() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def reg(tmp_path: Path, logs: list[dict[str, Any]]) -> Iterator[ThreadedRegistry]:
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg", access_log=logs.append)) as r:
        yield r


def _progress() -> tuple[list[str], Any]:
    lines: list[str] = []
    return lines, lambda ident, status: lines.append(f"{ident}: {status}")


def test_plain_http_only_for_loopback() -> None:
    assert uses_plain_http("127.0.0.1:5000") and uses_plain_http("127.8.0.1")
    assert uses_plain_http("localhost:5000") and uses_plain_http("[::1]:5000")
    assert not uses_plain_http("registry.example.com")
    assert not uses_plain_http("10.0.0.1:5000")
    assert uses_plain_http("10.0.0.1:5000", frozenset({"10.0.0.1:5000"}))


def test_pull_push_roundtrip(tmp_path: Path, reg: ThreadedRegistry) -> None:
    img = tiny_image("client", layers=3)
    assert HttpClient.of(reg).push_image("src/app", img, "v1").status == 201
    a = ImageStore(tmp_path / "a")
    lines, progress = _progress()
    pulled = asyncio.run(pull(a, f"{reg.address}/src/app:v1", progress=progress))
    assert pulled.manifest_digest == img.digest
    assert sum("Pull complete" in x for x in lines) == 4
    assert a.resolve(f"{reg.address}/src/app:v1").id == pulled.id
    # push to a new repository, then pull into a fresh store
    a.tag(f"{reg.address}/src/app:v1", f"{reg.address}/dst/app:v2")
    lines, progress = _progress()
    config = ClientConfig(chunk_size=50)  # several PATCHes per layer
    digest = asyncio.run(push(a, f"{reg.address}/dst/app:v2", config=config, progress=progress))
    assert digest == img.digest
    # the image is tagged in src/app on the same registry: its blobs are mounted
    assert sum("Mounted from src/app" in x for x in lines) == 4, lines
    b = ImageStore(tmp_path / "b")
    again = asyncio.run(pull(b, f"{reg.address}/dst/app:v2"))
    assert again.manifest_digest == img.digest
    # pushing again finds everything there
    lines, progress = _progress()
    asyncio.run(push(b, f"{reg.address}/dst/app:v2", progress=progress))
    assert sum("already exists" in x for x in lines) == 4


def test_chunked_push_without_mount(tmp_path: Path, reg: ThreadedRegistry) -> None:
    store = ImageStore(tmp_path / "s")
    HttpClient.of(reg).push_image("seed", tiny_image("chunks", size=5000), "v1")
    asyncio.run(pull(store, f"{reg.address}/seed:v1"))
    store.tag(f"{reg.address}/seed:v1", "127.0.0.1:1/elsewhere:v1")  # another registry
    store.untag(f"{reg.address}/seed:v1")
    store.tag("127.0.0.1:1/elsewhere:v1", f"{reg.address}/fresh:v1")
    lines, progress = _progress()
    asyncio.run(push(store, f"{reg.address}/fresh:v1", config=ClientConfig(chunk_size=97),
                     progress=progress))  # fmt: skip
    assert sum(x.endswith(": Pushed") for x in lines) == 2


def test_pull_by_digest_and_platform(tmp_path: Path, reg: ThreadedRegistry) -> None:
    c = HttpClient.of(reg)
    amd, arm = tiny_image("amd"), tiny_image("arm")
    c.push_image("multi", amd, str(amd.digest))
    c.push_image("multi", arm, str(arm.digest))
    index = canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_INDEX,
        "manifests": [
            {"mediaType": mt.OCI_MANIFEST, "digest": str(i.digest), "size": len(i.manifest),
             "platform": {"os": "linux", "architecture": a}}
            for i, a in ((amd, "amd64"), (arm, "arm64"))
        ],
    })  # fmt: skip
    c("PUT", "/v2/multi/manifests/latest", index, {"Content-Type": mt.OCI_INDEX})
    store = ImageStore(tmp_path / "s")
    got = asyncio.run(pull(store, f"{reg.address}/multi:latest", platform="linux/arm64"))
    assert got.manifest_digest == arm.digest
    got = asyncio.run(pull(store, f"{reg.address}/multi:latest", platform="linux/amd64"))
    assert got.manifest_digest == amd.digest
    with pytest.raises(NotFound, match="platform"):
        asyncio.run(pull(store, f"{reg.address}/multi:latest", platform="linux/s390x"))
    by_digest = asyncio.run(pull(store, f"{reg.address}/multi@{arm.digest}"))
    assert by_digest.manifest_digest == arm.digest
    body = asyncio.run(inspect_manifest(f"{reg.address}/multi:latest"))
    assert body == index
    with pytest.raises(NotFound):
        asyncio.run(pull(store, f"{reg.address}/multi:nope"))


def test_pull_resumes_a_partial_download(
    tmp_path: Path, reg: ThreadedRegistry, logs: list[dict[str, Any]]
) -> None:
    img = tiny_image("resume", size=20000)
    HttpClient.of(reg).push_image("resume", img, "v1")
    store = ImageStore(tmp_path / "s")
    layer = img.layers[0]
    from dockyard.oci.digest import sha256_digest

    d = sha256_digest(layer)
    store.blobs.ingest_dir.mkdir(parents=True, exist_ok=True)
    (store.blobs.ingest_dir / f"pull-sha256-{d.hex}").write_bytes(layer[: len(layer) // 2])
    lines, progress = _progress()
    asyncio.run(pull(store, f"{reg.address}/resume:v1", progress=progress))
    assert any("Resuming at" in x for x in lines)
    assert any(r["status"] == 206 and d.hex in r["path"] for r in logs)
    assert store.blobs.read_bytes(d) == layer


def test_pull_refuses_corrupt_partial(tmp_path: Path, reg: ThreadedRegistry) -> None:
    img = tiny_image("corrupt", size=2000)
    HttpClient.of(reg).push_image("corrupt", img, "v1")
    store = ImageStore(tmp_path / "s")
    from dockyard.errors import InvalidArgument
    from dockyard.oci.digest import sha256_digest

    d = sha256_digest(img.layers[0])
    store.blobs.ingest_dir.mkdir(parents=True, exist_ok=True)
    (store.blobs.ingest_dir / f"pull-sha256-{d.hex}").write_bytes(b"\0" * 10)
    with pytest.raises(InvalidArgument, match="verification failed"):
        asyncio.run(pull(store, f"{reg.address}/corrupt:v1"))
    assert not store.blobs.has(d)
    assert store.list_images() == []
    # the bad partial is gone: the next pull succeeds
    asyncio.run(pull(store, f"{reg.address}/corrupt:v1"))


def test_token_flow_and_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bcrypt = pytest.importorskip("bcrypt")
    users = tmp_path / "users"
    users.write_text(f"alice:{bcrypt.hashpw(b'pw', bcrypt.gensalt(4)).decode()}\n")
    key = tmp_path / "key"
    key.write_bytes(b"z" * 48)
    key.chmod(0o600)
    authz, issuer = parse_auth(f"token:/token,test-registry,{key}", users)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    config = ServerConfig(root=tmp_path / "reg", authorizer=authz, issuer=issuer)
    with ThreadedRegistry(config) as reg:
        store = ImageStore(tmp_path / "s")
        img = tiny_image("tok")
        with pytest.raises(PermissionDenied):
            asyncio.run(login(reg.address, "alice", "wrong"))
        path = asyncio.run(login(reg.address, "alice", "pw"))
        saved = json.loads(path.read_text())
        assert reg.address in saved["auths"] and "auth" in saved["auths"][reg.address]
        assert load_credentials(reg.address) == ("alice", "pw")
        # push through the token flow: seed the store from a direct push, then push with dockyard
        token_client = HttpClient.of(reg)
        assert token_client("GET", "/v2/").status == 401
        src = tmp_path / "seed"
        with ThreadedRegistry(ServerConfig(root=src)) as plain:
            HttpClient.of(plain).push_image("alice/app", img, "v1")
            asyncio.run(pull(store, f"{plain.address}/alice/app:v1"))
            store.tag(f"{plain.address}/alice/app:v1", f"{reg.address}/alice/app:v1")
        asyncio.run(push(store, f"{reg.address}/alice/app:v1"))
        fresh = ImageStore(tmp_path / "fresh")
        got = asyncio.run(pull(fresh, f"{reg.address}/alice/app:v1"))
        assert got.manifest_digest == img.digest
        # alice may not push into bob's namespace
        store.tag(f"{reg.address}/alice/app:v1", f"{reg.address}/bob/app:v1")
        with pytest.raises(PermissionDenied):
            asyncio.run(push(store, f"{reg.address}/bob/app:v1"))


# --- distribution 2.8 (Debian's docker-registry) ----------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def distribution(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    port = _free_port()
    conf = tmp_path / "config.yml"
    conf.write_text(
        "version: 0.1\n"
        "log:\n  level: error\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'dist'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    proc = subprocess.Popen(
        [exe, "serve", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("docker-registry did not start")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.anchors
def test_against_distribution(tmp_path: Path, reg: ThreadedRegistry, distribution: str) -> None:
    img = tiny_image("dist", layers=2, size=3000)
    HttpClient.of(reg).push_image("seed", img, "v1")
    store = ImageStore(tmp_path / "s")
    asyncio.run(pull(store, f"{reg.address}/seed:v1"))
    store.tag(f"{reg.address}/seed:v1", f"{distribution}/lib/app:v1")
    store.tag(f"{reg.address}/seed:v1", f"{distribution}/lib/other:v1")
    assert asyncio.run(push(store, f"{distribution}/lib/app:v1")) == img.digest
    lines, progress = _progress()
    asyncio.run(push(store, f"{distribution}/lib/other:v1", config=ClientConfig(chunk_size=1000),
                     progress=progress))  # fmt: skip
    assert any("Mounted from lib/app" in x for x in lines), lines
    fresh = ImageStore(tmp_path / "fresh")
    got = asyncio.run(pull(fresh, f"{distribution}/lib/other:v1"))
    assert got.manifest_digest == img.digest
