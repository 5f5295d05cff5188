"""Unit tests of the distribution package's pure parts: names, tokens, policy, config, gc."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

from dockyard.distribution import _http
from dockyard.distribution.auth import (
    DOCKER_HUB_KEY,
    load_credentials,
    parse_challenge,
    remove_credentials,
    store_credentials,
)
from dockyard.distribution.authz import Policy, Rule, load_acl
from dockyard.distribution.names import check_repository, check_tag, parse_tag_or_digest
from dockyard.distribution.options import parse_addr, parse_auth
from dockyard.distribution.registry import Registry, check_digest, inspect_manifest
from dockyard.distribution.testing import tiny_image
from dockyard.distribution.tokens import Access, decode_token, encode_token, parse_scope
from dockyard.errors import InvalidArgument, PermissionDenied
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest

# --- names ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "library/busybox", "a.b_c__d---e/f0", "x/y/z"])
def test_valid_repository_names(name: str) -> None:
    assert check_repository(name) == name


@pytest.mark.parametrize(
    "name", ["", "A", "a/", "/a", "a//b", "..", "a/../b", "a/./b", "-a", "a-", "a%2f", "a b",
             "a" * 256, "a_.b"],
)  # fmt: skip
def test_invalid_repository_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid repository name"):
        check_repository(name)


def test_tags_and_references() -> None:
    assert check_tag("v1.0_rc-1") == "v1.0_rc-1"
    for bad in ("", ".a", "-a", "a" * 129, "a/b"):
        with pytest.raises(InvalidArgument):
            check_tag(bad)
    d = sha256_digest(b"x")
    assert parse_tag_or_digest(str(d)) == (None, d)
    assert parse_tag_or_digest("latest") == ("latest", None)
    with pytest.raises(InvalidArgument):
        parse_tag_or_digest("sha256:zzz")


# --- http helpers -----------------------------------------------------------------------


def test_content_range_and_upload_range() -> None:
    assert _http.parse_content_range("0-9") == (0, 9)
    assert _http.parse_content_range("bytes=10-19") == (10, 19)
    assert _http.parse_content_range("bytes 10-19/100") == (10, 19)
    for bad in ("", "9-0", "a-b", "10", "-5"):
        assert _http.parse_content_range(bad) is None
    assert _http.upload_range(0) == "0-0" and _http.upload_range(10) == "0-9"
    assert _http.page_link("/v2/a/tags/list", 2, "x y") == (
        '</v2/a/tags/list?n=2&last=x%20y>; rel="next"'
    )


# --- tokens and policy ------------------------------------------------------------------


def test_parse_scope() -> None:
    got = parse_scope(
        "repository:a/b:pull,push registry:catalog:* repository:localhost:5000/x:pull"
    )
    assert got == [
        Access("repository", "a/b", frozenset({"pull", "push"})),
        Access("registry", "catalog", frozenset({"*"})),
        Access("repository", "localhost:5000/x", frozenset({"pull"})),
    ]
    assert parse_scope("garbage") == []


def test_token_roundtrip_and_checks() -> None:
    key = b"k" * 32
    acc = [Access("repository", "a", frozenset({"pull"}))]
    tok = encode_token(key, issuer="i", audience="s", subject="alice", access=acc, now=1000)
    claims = decode_token(tok, key, issuer="i", audience="s", now=1100)
    assert claims.subject == "alice" and claims.allows("repository", "a", "pull")
    assert not claims.allows("repository", "a", "push")
    assert not claims.allows("repository", "b", "pull")
    for kwargs, msg in (
        ({"issuer": "other", "audience": "s", "now": 1100}, "issuer"),
        ({"issuer": "i", "audience": "other", "now": 1100}, "audience"),
        ({"issuer": "i", "audience": "s", "now": 5000}, "expired"),
        ({"issuer": "i", "audience": "s", "now": 500}, "not valid yet"),
    ):
        with pytest.raises(PermissionDenied, match=msg):
            decode_token(tok, key, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied, match="signature"):
        decode_token(tok, b"x" * 32, issuer="i", audience="s", now=1100)
    tampered = tok.split(".")
    tampered[1] = tampered[1][:-2] + "AA"
    with pytest.raises(PermissionDenied):
        decode_token(".".join(tampered), key, issuer="i", audience="s", now=1100)


def test_default_policy() -> None:
    p = Policy()
    want = frozenset({"pull", "push"})
    assert p.grant("alice", Access("repository", "alice/app", want)).actions == want
    assert p.grant("alice", Access("repository", "alice", want)).actions == want
    assert p.grant("alice", Access("repository", "alicex/app", want)).actions == {"pull"}
    assert p.grant(None, Access("repository", "alice/app", want)).actions == frozenset()
    assert p.grant("alice", Access("registry", "catalog", frozenset({"*"}))).actions == {"*"}


def test_acl_policy(tmp_path: Path) -> None:
    f = tmp_path / "acl.json"
    f.write_text(json.dumps([
        {"account": "ci", "name": "team/*", "actions": ["pull", "push"]},
        {"account": "*", "name": "public/*", "actions": ["pull"]},
    ]))  # fmt: skip
    p = load_acl(f)
    assert p.rules[0] == Rule("ci", "team/*", frozenset({"pull", "push"}))
    want = frozenset({"pull", "push"})
    assert p.grant("ci", Access("repository", "team/app", want)).actions == want
    assert p.grant("bob", Access("repository", "team/app", want)).actions == frozenset()
    assert p.grant(None, Access("repository", "public/x", want)).actions == {"pull"}
    f.write_text('{"not": "a list"}')
    with pytest.raises(InvalidArgument):
        load_acl(f)


# --- options ----------------------------------------------------------------------------


def test_parse_addr() -> None:
    assert parse_addr("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_addr("[::1]:0") == ("::1", 0)
    assert parse_addr(":5000") == ("127.0.0.1", 5000)
    for bad in ("5000", "host:", "host:x", "h:70000"):
        with pytest.raises(InvalidArgument):
            parse_addr(bad)


def test_parse_auth(tmp_path: Path) -> None:
    assert parse_auth(None) == (None, None)
    key = tmp_path / "key"
    key.write_bytes(b"s" * 40)
    key.chmod(0o600)
    authz, issuer = parse_auth(f"token:https://auth.example/token,iss,{key},svc")
    assert issuer is None
    assert authz is not None
    for bad in ("nope:x", "token:a,b", "htpasswd:", f"token:,iss,{key}"):
        with pytest.raises(InvalidArgument):
            parse_auth(bad)
    key.chmod(0o644)
    with pytest.raises(InvalidArgument, match="owner only"):
        parse_auth(f"token:/token,iss,{key}")
    short = tmp_path / "short"
    short.write_bytes(b"x")
    short.chmod(0o600)
    with pytest.raises(InvalidArgument, match="32 bytes"):
        parse_auth(f"token:/token,iss,{short}")


# --- docker config.json -----------------------------------------------------------------


def test_credentials_file(tmp_path: Path) -> None:
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"auths": {"other:1": {"auth": "eDp5"}}, "psFormat": "x"}))
    store_credentials("127.0.0.1:5000", "alice", "p:w", f)
    store_credentials("docker.io", "bob", "pw", f)
    data = json.loads(f.read_text())
    assert data["psFormat"] == "x" and data["auths"]["other:1"] == {"auth": "eDp5"}
    assert base64.b64decode(data["auths"]["127.0.0.1:5000"]["auth"]) == b"alice:p:w"
    assert DOCKER_HUB_KEY in data["auths"]
    assert os.stat(f).st_mode & 0o777 == 0o600
    assert load_credentials("127.0.0.1:5000", f) == ("alice", "p:w")
    assert load_credentials("registry-1.docker.io", f) == ("bob", "pw")
    assert load_credentials("other:1", f) == ("x", "y")
    assert remove_credentials("127.0.0.1:5000", f)
    assert not remove_credentials("127.0.0.1:5000", f)
    assert load_credentials("127.0.0.1:5000", f) is None
    f.write_text("{broken")
    with pytest.raises(InvalidArgument):
        load_credentials("x", f)


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push",error="insufficient_scope"'
    )
    assert scheme == "bearer"
    assert params["realm"] == "https://auth.docker.io/token"
    assert params["scope"] == "repository:library/busybox:pull,push"
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


# --- manifests --------------------------------------------------------------------------


def test_inspect_manifest_kinds() -> None:
    img = tiny_image("u")
    info = inspect_manifest(img.manifest, f"{mt.OCI_MANIFEST}; charset=utf-8")
    assert not info.is_index and len(info.blobs) == 2
    assert info.artifact_type == mt.OCI_CONFIG
    info = inspect_manifest(img.manifest, None)
    assert info.media_type == mt.OCI_MANIFEST
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert inspect_manifest(index, "application/json").is_index
    with pytest.raises(InvalidArgument, match="differs"):
        inspect_manifest(img.manifest, mt.OCI_INDEX)
    with pytest.raises(InvalidArgument):
        check_digest(b"x", sha256_digest(b"y"))
    assert check_digest(b"x", None) == sha256_digest(b"x")


# --- gc ---------------------------------------------------------------------------------


def test_gc_keeps_linked_and_young_blobs(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    img = tiny_image("gc")
    for d, data in img.blobs().items():
        reg.blobs.write_bytes(data, d)
        reg.db.link_blob("app", str(d), len(data))
    info = inspect_manifest(img.manifest, mt.OCI_MANIFEST)
    reg.put_manifest("app", img.manifest, img.digest, info, ["v1"])
    orphan = reg.blobs.write_bytes(b"orphan")
    young = reg.blobs.write_bytes(b"young orphan")
    old = time.time() - 7200
    os.utime(reg.blobs.path(orphan), (old, old))
    report = reg.gc(dry_run=True)
    assert report.blobs == [orphan] and reg.blobs.has(orphan)
    report = reg.gc()
    assert report.blobs == [orphan] and not reg.blobs.has(orphan)
    assert reg.blobs.has(young)
    for d in img.blobs():
        assert reg.blobs.has(d)
    # untagged manifests go with --delete-untagged, then their blobs once unlinked
    reg.db.delete_tag("app", "v1")
    report = reg.gc(delete_untagged=True, grace_s=0)
    assert report.manifests == [f"app@{img.digest}"]
    assert not reg.blobs.has(img.digest)
    for d in img.blobs():
        assert reg.blobs.has(d)  # still linked to the repository
        reg.db.unlink_blob("app", str(d))
    assert set(reg.gc(grace_s=0).blobs) >= set(img.blobs())


def test_gc_sweeps_abandoned_uploads(tmp_path: Path) -> None:
    reg = Registry(tmp_path)
    reg.uploads.create("u1")
    reg.db.add_upload("u1", "app", "sha256")
    reg.uploads.create("stray")
    assert reg.gc(now=time.time() + 100).uploads == []
    report = reg.gc(now=time.time() + 90000)
    assert "u1" in report.uploads and "upload-stray" in report.uploads
    assert reg.db.get_upload("u1") is None and not reg.uploads.exists("stray")
