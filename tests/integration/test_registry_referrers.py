"""Artifacts attached to an image in the local store (``store/referrers.py``) travel with
``push``: to dockyard's registry, which lists them under the referrers API, and to
distribution 2.8, which has no referrers API, through the referrers tag schema."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_registry_client import distribution  # noqa: F401 (the distribution 2.8 fixture)

from dockyard.distribution.pull import pull
from dockyard.distribution.push import push
from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry, tiny_image
from dockyard.oci import mediatypes as mt
from dockyard.store.gc import prune
from dockyard.store.images import Image, ImageStore
from dockyard.store.referrers import attach, referrers

SBOM = "application/vnd.cyclonedx+json"
PAYLOAD = b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}'


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[ThreadedRegistry]:
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg")) as r:
        yield r


def _image(tmp_path: Path, reg: ThreadedRegistry) -> tuple[ImageStore, Image]:
    """A small image pulled into a fresh store from ``src/app:v1``."""
    img = tiny_image("referrers", layers=1)
    assert HttpClient.of(reg).push_image("src/app", img, "v1").status == 201
    store = ImageStore(tmp_path / "store")
    return store, asyncio.run(pull(store, f"{reg.address}/src/app:v1"))


def test_attach_lists_and_gc_keeps_while_the_image_lives(
    tmp_path: Path, reg: ThreadedRegistry
) -> None:
    store, image = _image(tmp_path, reg)
    assert referrers(store, image.manifest_digest) == []
    digest = attach(store, image, SBOM, PAYLOAD)
    assert attach(store, image, SBOM, PAYLOAD) == digest  # same bytes: same artifact
    [(d, m)] = referrers(store, image.manifest_digest)
    assert d == digest and m.artifact_type == SBOM and m.config.media_type == mt.OCI_EMPTY
    assert m.subject is not None and m.subject.digest == image.manifest_digest
    assert store.blobs.read_bytes(m.layers[0].digest) == PAYLOAD
    prune(store)
    assert store.blobs.has(digest) and store.blobs.has(m.layers[0].digest)
    store.remove(str(image.id), force=True)
    report = prune(store)
    assert digest in report.blobs and m.layers[0].digest in report.blobs
    assert not (store.root / "referrers" / "sha256" / image.manifest_digest.hex).exists()


def test_push_sends_the_artifact_and_the_registry_lists_it(
    tmp_path: Path, reg: ThreadedRegistry
) -> None:
    store, image = _image(tmp_path, reg)
    digest = attach(store, image, SBOM, PAYLOAD)
    store.tag(f"{reg.address}/src/app:v1", f"{reg.address}/team/app:1")
    lines: list[str] = []
    asyncio.run(push(store, f"{reg.address}/team/app:1", progress=lambda i, s: lines.append(s)))
    assert any(SBOM in x and str(digest) in x for x in lines), lines
    http = HttpClient.of(reg)
    r = http("GET", f"/v2/team/app/referrers/{image.manifest_digest}")
    assert r.status == 200 and r.headers["Content-Type"] == mt.OCI_INDEX
    [entry] = r.json()["manifests"]
    assert entry["digest"] == str(digest) and entry["artifactType"] == SBOM
    filtered = http("GET", f"/v2/team/app/referrers/{image.manifest_digest}?artifactType=x/y")
    assert filtered.json()["manifests"] == []
    m = http("GET", f"/v2/team/app/manifests/{digest}", headers={"Accept": mt.OCI_MANIFEST})
    body = m.json()
    assert body["subject"]["digest"] == str(image.manifest_digest)
    blob = http("GET", f"/v2/team/app/blobs/{body['layers'][0]['digest']}")
    assert blob.body == PAYLOAD
    # no tag-schema index was needed: the registry answered OCI-Subject
    tag = f"sha256-{image.manifest_digest.hex}"
    assert http("GET", f"/v2/team/app/manifests/{tag}").status == 404


@pytest.mark.anchors
def test_push_to_a_registry_without_the_api_uses_the_tag_schema(
    tmp_path: Path, reg: ThreadedRegistry, request: pytest.FixtureRequest
) -> None:
    registry: str = request.getfixturevalue("distribution")
    store, image = _image(tmp_path, reg)
    digest = attach(store, image, SBOM, PAYLOAD)
    other = attach(store, image, SBOM, PAYLOAD, annotations={"n": "2"})
    store.tag(f"{reg.address}/src/app:v1", f"{registry}/team/app:1")
    asyncio.run(push(store, f"{registry}/team/app:1"))
    asyncio.run(push(store, f"{registry}/team/app:1"))  # again: no duplicate entries
    host, port = registry.split(":")
    http = HttpClient(host, int(port))
    tag = f"sha256-{image.manifest_digest.hex}"
    r = http("GET", f"/v2/team/app/manifests/{tag}", headers={"Accept": mt.OCI_INDEX})
    assert r.status == 200, r.body
    got = sorted(e["digest"] for e in json.loads(r.body)["manifests"])
    assert got == sorted([str(digest), str(other)])
    assert all(e["artifactType"] == SBOM for e in json.loads(r.body)["manifests"])
