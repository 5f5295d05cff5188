"""The OCI distribution spec, endpoint by endpoint (../shared/corpus/oci/DISTRIBUTION.md).

Each test names the endpoint id (end-1 … end-14) it checks: status codes,
headers and error codes, and that a refused write stores nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry, TinyImage, tiny_image
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest
from dockyard.oci.image import canonical_json

Client = HttpClient


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def reg(root: Path) -> Iterator[ThreadedRegistry]:
    with ThreadedRegistry(ServerConfig(root=root, delete_enabled=True)) as r:
        yield r


@pytest.fixture
def c(reg: ThreadedRegistry) -> Client:
    return Client.of(reg)


def _blob_files(root: Path) -> set[str]:
    d = root / "blobs" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


# --- end-1 ------------------------------------------------------------------------------


def test_end1_version_check(c: Client) -> None:
    r = c("GET", "/v2/")
    assert r.status == 200
    assert r.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    assert c("GET", "/v2").status == 200


# --- end-4b, end-2: monolithic push and pull --------------------------------------------


def test_end4b_monolithic_post_and_end2_get_head(c: Client) -> None:
    data = b"monolithic blob"
    d = str(sha256_digest(data))
    r = c("POST", f"/v2/mono/blobs/uploads/?digest={d}", data)
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/mono/blobs/{d}"
    assert r.headers["Docker-Content-Digest"] == d
    g = c("GET", f"/v2/mono/blobs/{d}")
    assert (g.status, g.body, g.headers["Docker-Content-Digest"]) == (200, data, d)
    hd = c("HEAD", f"/v2/mono/blobs/{d}")
    assert hd.status == 200 and hd.body == b""
    assert hd.headers["Content-Length"] == str(len(data))
    assert hd.headers["Docker-Content-Digest"] == d


def test_end2_range_request(c: Client) -> None:
    data = bytes(range(256))
    d = c.push_blob("ranged", data)
    r = c("GET", f"/v2/ranged/blobs/{d}", headers={"Range": "bytes=10-19"})
    assert r.status == 206 and r.body == data[10:20]


def test_end2_unknown_blob(c: Client) -> None:
    d = sha256_digest(b"never pushed")
    r = c("GET", f"/v2/mono/blobs/{d}")
    assert r.status == 404 and r.code() == "BLOB_UNKNOWN"
    assert c("HEAD", f"/v2/mono/blobs/{d}").status == 404


def test_end2_blob_is_visible_only_in_its_repository(c: Client) -> None:
    d = c.push_blob("owner/a", b"private to a")
    assert c("GET", f"/v2/owner/a/blobs/{d}").status == 200
    assert c("GET", f"/v2/owner/b/blobs/{d}").status == 404


def test_end4b_wrong_digest_stores_nothing(c: Client, root: Path) -> None:
    data = b"the real content"
    wrong = sha256_digest(b"something else")
    before = _blob_files(root)
    r = c("POST", f"/v2/mono/blobs/uploads/?digest={wrong}", data)
    assert r.status == 400 and r.code() == "DIGEST_INVALID"
    assert _blob_files(root) == before
    assert c("HEAD", f"/v2/mono/blobs/{wrong}").status == 404
    assert c("HEAD", f"/v2/mono/blobs/{sha256_digest(data)}").status == 404


def test_end4b_malformed_digest(c: Client) -> None:
    r = c("POST", "/v2/mono/blobs/uploads/?digest=sha256:nothex", b"x")
    assert r.status == 400 and r.code() == "DIGEST_INVALID"


# --- end-4a, end-5, end-6, end-13, end-14: sessions -------------------------------------


def _start(c: Client, repo: str) -> str:
    r = c("POST", f"/v2/{repo}/blobs/uploads/")
    assert r.status == 202, r.body
    assert r.headers["Location"].startswith(f"/v2/{repo}/blobs/uploads/")
    assert r.headers["Range"] == "0-0"
    assert r.headers["Docker-Upload-UUID"]
    return str(r.headers["Location"])


def test_end4a_then_put_whole_body(c: Client) -> None:
    data = b"two step monolithic"
    loc = _start(c, "twostep")
    d = sha256_digest(data)
    r = c("PUT", f"{loc}?digest={d}", data, {"Content-Type": "application/octet-stream"})
    assert r.status == 201 and r.headers["Location"] == f"/v2/twostep/blobs/{d}"
    assert c("GET", f"/v2/twostep/blobs/{d}").body == data


def test_end5_chunked_upload_in_order(c: Client) -> None:
    data = bytes(range(30))
    loc = _start(c, "chunky")
    hdr = {"Content-Type": "application/octet-stream"}
    r = c("PATCH", loc, data[:10], {**hdr, "Content-Range": "0-9"})
    assert r.status == 202 and r.headers["Range"] == "0-9"
    loc = r.headers["Location"]
    s = c("GET", loc)
    assert s.status == 204 and s.headers["Range"] == "0-9" and s.headers["Location"] == loc
    r = c("PATCH", loc, data[10:20], {**hdr, "Content-Range": "10-19"})
    assert r.status == 202 and r.headers["Range"] == "0-19"
    d = sha256_digest(data)
    r = c("PUT", f"{loc}?digest={d}", data[20:], {**hdr, "Content-Range": "20-29"})
    assert r.status == 201
    assert c("GET", f"/v2/chunky/blobs/{d}").body == data


def test_end5_out_of_order_chunk_gives_416(c: Client) -> None:
    loc = _start(c, "chunky")
    assert c("PATCH", loc, b"0123456789", {"Content-Range": "0-9"}).status == 202
    for rng, body in (("5-14", b"5" * 10), ("20-29", b"x" * 10), ("0-9", b"0123456789")):
        r = c("PATCH", loc, body, {"Content-Range": rng})
        assert r.status == 416, rng
        assert r.code() == "BLOB_UPLOAD_INVALID"
        assert r.headers["Range"] == "0-9" and r.headers["Location"] == loc
    # the session survives and resumes where the status says
    assert c("GET", loc).headers["Range"] == "0-9"
    assert c("PATCH", loc, b"abcdefghij", {"Content-Range": "10-19"}).status == 202
    d = sha256_digest(b"0123456789abcdefghij")
    assert c("PUT", f"{loc}?digest={d}").status == 201


def test_end5_chunk_shorter_than_its_range_is_refused(c: Client) -> None:
    loc = _start(c, "chunky")
    r = c("PATCH", loc, b"abc", {"Content-Range": "0-9"})
    assert r.status == 400
    assert c("GET", loc).headers["Range"] == "0-0"


def test_end5_streamed_patch_without_range(c: Client) -> None:
    loc = _start(c, "streamed")
    r = c("PATCH", loc, b"hello ")
    r = c("PATCH", r.headers["Location"], b"world")
    assert r.headers["Range"] == "0-10"
    d = sha256_digest(b"hello world")
    assert c("PUT", f"{r.headers['Location']}?digest={d}").status == 201


def test_end6_final_chunk_out_of_order(c: Client) -> None:
    loc = _start(c, "chunky")
    c("PATCH", loc, b"abc", {"Content-Range": "0-2"})
    d = sha256_digest(b"abcdef")
    r = c("PUT", f"{loc}?digest={d}", b"def", {"Content-Range": "4-6"})
    assert r.status == 416


def test_end6_digest_mismatch_stores_nothing(c: Client, root: Path) -> None:
    before = _blob_files(root)
    loc = _start(c, "chunky")
    c("PATCH", loc, b"payload")
    wrong = sha256_digest(b"other payload")
    r = c("PUT", f"{loc}?digest={wrong}")
    assert r.status == 400 and r.code() == "DIGEST_INVALID"
    assert _blob_files(root) == before
    assert c("GET", loc).status == 404  # the session is gone too


def test_end6_missing_digest(c: Client) -> None:
    loc = _start(c, "chunky")
    r = c("PUT", loc, b"abc")
    assert r.status == 400 and r.code() == "DIGEST_INVALID"


def test_unknown_session_gives_404(c: Client) -> None:
    loc = "/v2/chunky/blobs/uploads/00000000-0000-0000-0000-000000000000"
    d = sha256_digest(b"")
    for method, path in (
        ("PATCH", loc),
        ("PUT", f"{loc}?digest={d}"),
        ("GET", loc),
        ("DELETE", loc),
    ):
        r = c(method, path)
        assert r.status == 404 and r.code() == "BLOB_UPLOAD_UNKNOWN", method


def test_session_is_bound_to_its_repository(c: Client) -> None:
    loc = _start(c, "first")
    other = loc.replace("/v2/first/", "/v2/second/")
    assert c("PATCH", other, b"x").status == 404


def test_end14_cancel_upload(c: Client) -> None:
    loc = _start(c, "cancelled")
    assert c("DELETE", loc).status == 204
    assert c("GET", loc).status == 404


def test_end4c_digest_algorithm(c: Client) -> None:
    r = c("POST", "/v2/algo/blobs/uploads/?digest-algorithm=sha512")
    assert r.status == 202
    data = b"sha512 content"
    d = "sha512:" + hashlib.sha512(data).hexdigest()
    assert c("PUT", f"{r.headers['Location']}?digest={d}", data).status == 201
    assert c("GET", f"/v2/algo/blobs/{d}").body == data
    r = c("POST", "/v2/algo/blobs/uploads/?digest-algorithm=md5")
    assert r.status == 400


# --- end-11: mount ----------------------------------------------------------------------


def test_end11_cross_repository_mount(c: Client) -> None:
    d = c.push_blob("mount/src", b"shared layer")
    r = c("POST", f"/v2/mount/dst/blobs/uploads/?mount={d}&from=mount/src")
    assert r.status == 201
    assert r.headers["Location"] == f"/v2/mount/dst/blobs/{d}"
    assert c("GET", f"/v2/mount/dst/blobs/{d}").body == b"shared layer"


def test_end11_mount_falls_back_to_upload(c: Client) -> None:
    d = sha256_digest(b"not there")
    r = c("POST", f"/v2/mount/dst/blobs/uploads/?mount={d}&from=mount/src")
    assert r.status == 202 and "/blobs/uploads/" in r.headers["Location"]
    d2 = c.push_blob("mount/elsewhere", b"elsewhere")
    r = c("POST", f"/v2/mount/dst/blobs/uploads/?mount={d2}&from=mount/src")
    assert r.status == 202  # the source repository does not hold it


# --- end-7, end-3: manifests ------------------------------------------------------------


def test_end7a_put_by_tag_and_end3_get(c: Client) -> None:
    img = tiny_image("m")
    r = c.push_image("app", img, "v1")
    assert r.status == 201, r.body
    assert r.headers["Docker-Content-Digest"] == str(img.digest)
    assert r.headers["Location"] == f"/v2/app/manifests/{img.digest}"
    for ref in ("v1", str(img.digest)):
        g = c("GET", f"/v2/app/manifests/{ref}", headers={"Accept": mt.OCI_MANIFEST})
        assert g.status == 200 and g.body == img.manifest
        assert g.headers["Content-Type"] == mt.OCI_MANIFEST
        assert g.headers["Docker-Content-Digest"] == str(img.digest)
        hd = c("HEAD", f"/v2/app/manifests/{ref}")
        assert hd.status == 200 and hd.body == b""
        assert hd.headers["Content-Length"] == str(len(img.manifest))


def test_end7a_exact_bytes_are_kept(c: Client) -> None:
    img = tiny_image("ws")
    for data in img.blobs().values():
        c.push_blob("exact", data)
    pretty = json.dumps(json.loads(img.manifest), indent=7).encode() + b"\n\n"
    r = c("PUT", "/v2/exact/manifests/pretty", pretty, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 201
    assert r.headers["Docker-Content-Digest"] == str(sha256_digest(pretty))
    assert c("GET", "/v2/exact/manifests/pretty").body == pretty


def test_end7a_docker_schema2_and_manifest_list(c: Client) -> None:
    a, b = tiny_image("d1", docker=True), tiny_image("d2", docker=True)
    assert c.push_image("dock", a, str(a.digest)).status == 201
    assert c.push_image("dock", b, str(b.digest)).status == 201
    lst = canonical_json({
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": mt.DOCKER_MANIFEST, "digest": str(img.digest), "size": len(img.manifest),
             "platform": {"architecture": arch, "os": "linux"}}
            for img, arch in ((a, "amd64"), (b, "arm64"))
        ],
    })  # fmt: skip
    r = c("PUT", "/v2/dock/manifests/multi", lst, {"Content-Type": mt.DOCKER_MANIFEST_LIST})
    assert r.status == 201, r.body
    g = c("GET", "/v2/dock/manifests/multi")
    assert g.body == lst and g.headers["Content-Type"] == mt.DOCKER_MANIFEST_LIST


def test_end7a_index_with_unknown_child(c: Client, root: Path) -> None:
    missing = tiny_image("nochild")
    index = canonical_json({
        "schemaVersion": 2, "mediaType": mt.OCI_INDEX,
        "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": str(missing.digest),
                       "size": len(missing.manifest)}],
    })  # fmt: skip
    r = c("PUT", "/v2/idx/manifests/latest", index, {"Content-Type": mt.OCI_INDEX})
    assert r.status == 400 and r.code() == "MANIFEST_BLOB_UNKNOWN"
    assert sha256_digest(index).hex not in _blob_files(root)


def test_end7a_missing_blob_stores_nothing(c: Client, root: Path) -> None:
    img = tiny_image("missing", layers=2)
    c.push_blob("partial", img.config)
    c.push_blob("partial", img.layers[0])
    r = c("PUT", "/v2/partial/manifests/v1", img.manifest, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 400 and r.code() == "MANIFEST_BLOB_UNKNOWN"
    assert str(sha256_digest(img.layers[1])) in r.body.decode()
    assert img.digest.hex not in _blob_files(root)
    assert c("GET", "/v2/partial/manifests/v1").status == 404


def test_end7a_blob_of_another_repository_does_not_count(c: Client) -> None:
    img = tiny_image("other-repo")
    for data in img.blobs().values():
        c.push_blob("holder", data)
    r = c("PUT", "/v2/thief/manifests/v1", img.manifest, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 400 and r.code() == "MANIFEST_BLOB_UNKNOWN"


def test_end7a_wrong_digest_reference(c: Client, root: Path) -> None:
    img = tiny_image("wrongref")
    for data in img.blobs().values():
        c.push_blob("wrongref", data)
    wrong = sha256_digest(b"not the manifest")
    r = c("PUT", f"/v2/wrongref/manifests/{wrong}", img.manifest, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 400 and r.code() == "DIGEST_INVALID"
    assert img.digest.hex not in _blob_files(root)


@pytest.mark.parametrize(
    ("body", "ctype"),
    [
        (b"{not json", mt.OCI_MANIFEST),
        (b"[]", mt.OCI_MANIFEST),
        (b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",'
         b' "manifests": []}', mt.OCI_MANIFEST),
        (b'{"schemaVersion": 1}', mt.OCI_MANIFEST),
        (b'{"schemaVersion": 2, "manifests": []}', "text/plain"),
        (b'{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}',
         "application/vnd.docker.distribution.manifest.v1+prettyjws"),
    ],
)  # fmt: skip
def test_end7a_invalid_manifest(c: Client, body: bytes, ctype: str) -> None:
    r = c("PUT", "/v2/bad/manifests/v1", body, {"Content-Type": ctype})
    assert r.status == 400 and r.code() == "MANIFEST_INVALID", r.body


def _big_manifest(c: Client, size: int) -> bytes:
    img = tiny_image("big")
    for data in img.blobs().values():
        c.push_blob("big", data)
    doc = json.loads(img.manifest)
    doc["annotations"] = {"pad": ""}
    pad = size - len(canonical_json(doc))
    doc["annotations"]["pad"] = "x" * pad
    body = canonical_json(doc)
    assert len(body) == size
    return body


def test_end7a_manifest_of_4mb_is_accepted(c: Client) -> None:
    body = _big_manifest(c, 4 * 1024 * 1024)
    r = c("PUT", "/v2/big/manifests/fits", body, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 201


def test_end7a_oversized_manifest_gives_413(c: Client, root: Path) -> None:
    body = _big_manifest(c, 4 * 1024 * 1024 + 1)
    r = c("PUT", "/v2/big/manifests/toobig", body, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 413 and r.code() == "MANIFEST_INVALID"
    assert sha256_digest(body).hex not in _blob_files(root)
    assert c("GET", "/v2/big/manifests/toobig").status == 404


def test_end7a_content_type_must_match_media_type(c: Client) -> None:
    img = tiny_image("mismatch")
    r = c.push_image("mm", img, "ok")
    assert r.status == 201
    r = c("PUT", "/v2/mm/manifests/v2", img.manifest, {"Content-Type": mt.DOCKER_MANIFEST})
    assert r.status == 400 and r.code() == "MANIFEST_INVALID"


def test_end7b_push_by_digest_with_tags(c: Client) -> None:
    img = tiny_image("tagged")
    for data in img.blobs().values():
        c.push_blob("multi", data)
    r = c("PUT", f"/v2/multi/manifests/{img.digest}?tag=a&tag=b", img.manifest,
          {"Content-Type": mt.OCI_MANIFEST})  # fmt: skip
    assert r.status == 201
    assert r.headers.get_all("OCI-Tag") == ["a", "b"]
    for t in ("a", "b"):
        assert c("GET", f"/v2/multi/manifests/{t}").body == img.manifest


def test_end3_unknown_manifest_and_repository(c: Client) -> None:
    c.push_image("known", tiny_image("k"), "v1")
    r = c("GET", "/v2/known/manifests/nope")
    assert r.status == 404 and r.code() == "MANIFEST_UNKNOWN"
    r = c("GET", f"/v2/known/manifests/{sha256_digest(b'x')}")
    assert r.status == 404 and r.code() == "MANIFEST_UNKNOWN"
    r = c("GET", "/v2/never/pushed/manifests/v1")
    assert r.status == 404 and r.code() == "NAME_UNKNOWN"


# --- end-8: tags ------------------------------------------------------------------------


def test_end8_tags_list_and_pagination(c: Client) -> None:
    img = tiny_image("tags")
    tags = ["b", "a", "C", "c1", "c0", "z"]
    for t in tags:
        assert c.push_image("tagged", img, t).status == 201
    r = c("GET", "/v2/tagged/tags/list")
    assert r.json() == {"name": "tagged", "tags": sorted(tags)}
    r = c("GET", "/v2/tagged/tags/list?n=2")
    assert r.json()["tags"] == ["C", "a"]
    assert r.headers["Link"] == '</v2/tagged/tags/list?n=2&last=a>; rel="next"'
    r = c("GET", "/v2/tagged/tags/list?n=2&last=a")
    assert r.json()["tags"] == ["b", "c0"]
    r = c("GET", "/v2/tagged/tags/list?last=c1")
    assert r.json()["tags"] == ["z"] and "Link" not in r.headers
    r = c("GET", "/v2/tagged/tags/list?n=6")
    assert len(r.json()["tags"]) == 6 and "Link" not in r.headers
    r = c("GET", "/v2/tagged/tags/list?n=0")
    assert r.json()["tags"] == [] and "Link" not in r.headers
    assert c("GET", "/v2/tagged/tags/list?n=-1").status == 400


def test_end8_unknown_repository(c: Client) -> None:
    r = c("GET", "/v2/no/such/repo/tags/list")
    assert r.status == 404 and r.code() == "NAME_UNKNOWN"


def test_catalog(c: Client) -> None:
    c.push_blob("zz/cat1", b"1")
    c.push_blob("zz/cat2", b"2")
    r = c("GET", "/v2/_catalog")
    assert {"zz/cat1", "zz/cat2"} <= set(r.json()["repositories"])
    r = c("GET", "/v2/_catalog?n=1&last=zz/cat1")
    assert r.json()["repositories"] == ["zz/cat2"]


# --- end-9, end-10: deletes -------------------------------------------------------------


def test_end9_delete_by_tag_then_by_digest(c: Client) -> None:
    img = tiny_image("del")
    c.push_image("deleting", img, "one")
    c.push_image("deleting", img, "two")
    assert c("DELETE", "/v2/deleting/manifests/one").status == 202
    assert c("GET", "/v2/deleting/manifests/one").status == 404
    assert c("GET", "/v2/deleting/manifests/two").status == 200
    assert c("DELETE", f"/v2/deleting/manifests/{img.digest}").status == 202
    assert c("GET", "/v2/deleting/manifests/two").status == 404
    assert c("GET", f"/v2/deleting/manifests/{img.digest}").status == 404
    r = c("DELETE", f"/v2/deleting/manifests/{img.digest}")
    assert r.status == 404 and r.code() == "MANIFEST_UNKNOWN"
    assert c("DELETE", "/v2/nope/nope/manifests/x").status == 404


def test_end10_delete_blob(c: Client) -> None:
    d = c.push_blob("blobdel", b"to delete")
    assert c("DELETE", f"/v2/blobdel/blobs/{d}").status == 202
    assert c("GET", f"/v2/blobdel/blobs/{d}").status == 404
    r = c("DELETE", f"/v2/blobdel/blobs/{d}")
    assert r.status == 404 and r.code() == "BLOB_UNKNOWN"
    assert c("DELETE", "/v2/blobdel/blobs/sha256:zz").status == 400


def test_deletes_disabled(tmp_path: Path) -> None:
    with ThreadedRegistry(ServerConfig(root=tmp_path)) as reg:
        c = Client.of(reg)
        img = tiny_image("nodel")
        c.push_image("keep", img, "v1")
        r = c("DELETE", "/v2/keep/manifests/v1")
        assert r.status == 405 and r.code() == "UNSUPPORTED"
        d = sha256_digest(img.config)
        assert c("DELETE", f"/v2/keep/blobs/{d}").status == 405
        assert c("GET", "/v2/keep/manifests/v1").status == 200


# --- end-12: referrers ------------------------------------------------------------------


def _artifact(c: Client, repo: str, subject: TinyImage, artifact_type: str, note: str) -> str:
    empty = c.push_blob(repo, b"{}")
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": empty, "size": 2},
        "layers": [{"mediaType": mt.OCI_EMPTY, "digest": empty, "size": 2}],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": str(subject.digest),
                    "size": len(subject.manifest)},
        "annotations": {"note": note},
    }  # fmt: skip
    body = canonical_json(doc)
    d = str(sha256_digest(body))
    r = c("PUT", f"/v2/{repo}/manifests/{d}", body, {"Content-Type": mt.OCI_MANIFEST})
    assert r.status == 201, r.body
    assert r.headers["OCI-Subject"] == str(subject.digest)
    return d


def test_end12_referrers(c: Client) -> None:
    subject = tiny_image("subject")
    # a referrer may arrive before its subject
    sig = _artifact(c, "refs", subject, "application/vnd.example.sig", "signature")
    c.push_image("refs", subject, "v1")
    sbom = _artifact(c, "refs", subject, "application/vnd.example.sbom", "sbom")
    r = c("GET", f"/v2/refs/referrers/{subject.digest}")
    assert r.status == 200 and r.headers["Content-Type"] == mt.OCI_INDEX
    got = {m["digest"]: m for m in r.json()["manifests"]}
    assert set(got) == {sig, sbom}
    assert got[sig]["artifactType"] == "application/vnd.example.sig"
    assert got[sig]["annotations"] == {"note": "signature"}
    assert got[sig]["mediaType"] == mt.OCI_MANIFEST
    r = c("GET", f"/v2/refs/referrers/{subject.digest}?artifactType=application/vnd.example.sbom")
    assert [m["digest"] for m in r.json()["manifests"]] == [sbom]
    assert r.headers["OCI-Filters-Applied"] == "artifactType"


def test_end12_no_referrers_is_an_empty_index(c: Client) -> None:
    d = sha256_digest(b"nothing refers to me")
    for repo in ("refs", "never/seen"):
        r = c("GET", f"/v2/{repo}/referrers/{d}")
        assert r.status == 200 and r.json()["manifests"] == []
    assert c("GET", "/v2/refs/referrers/sha256:bad").status == 400


# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/v2/UPPER/blobs/uploads/",
        "/v2/a/../../etc/blobs/uploads/",
        "/v2/a/%2e%2e/b/blobs/uploads/",
        "/v2/..%2f..%2fetc/blobs/uploads/",
        "/v2/a//b/blobs/uploads/",
        "/v2/-a/blobs/uploads/",
        f"/v2/{'a' * 256}/blobs/uploads/",
    ],
)
def test_invalid_repository_names(c: Client, root: Path, path: str) -> None:
    before = sorted(p.name for p in root.parent.iterdir())
    r = c("POST", path)
    assert r.status in (400, 404), r.status
    if r.status == 400:
        assert r.code() == "NAME_INVALID"
    assert sorted(p.name for p in root.parent.iterdir()) == before


def test_unknown_endpoint_and_method(c: Client) -> None:
    assert c("GET", "/v2/app/unknown/thing").status == 404
    r = c("PATCH", "/v2/app/manifests/v1")
    assert r.status == 405 and r.code() == "UNSUPPORTED"
