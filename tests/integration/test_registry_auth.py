"""Registry auth: htpasswd basic auth and Docker-style bearer tokens, refusals store nothing."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.distribution.authz import BasicAuthorizer, Htpasswd, TokenIssuer
from dockyard.distribution.options import parse_auth
from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry, tiny_image
from dockyard.distribution.tokens import Access, encode_token
from dockyard.oci.digest import sha256_digest

bcrypt = pytest.importorskip("bcrypt")

KEY = b"k" * 40


def _htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(4)).decode().replace('$2b$', '$2y$')}"
        for u, p in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _blobs(root: Path) -> set[str]:
    d = root / "blobs" / "sha256"
    return {p.name for p in d.iterdir()} if d.is_dir() else set()


# --- basic ------------------------------------------------------------------------------


@pytest.fixture
def basic(tmp_path: Path) -> Iterator[ThreadedRegistry]:
    pw = _htpasswd(tmp_path / "htpasswd", {"alice": "wonderland"})
    authz = BasicAuthorizer(Htpasswd(pw))
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg", authorizer=authz)) as reg:
        yield reg


def test_basic_auth_required(basic: ThreadedRegistry) -> None:
    c = HttpClient.of(basic)
    r = c("GET", "/v2/")
    assert r.status == 401 and r.code() == "UNAUTHORIZED"
    assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert c.with_basic("alice", "wonderland")("GET", "/v2/").status == 200
    assert c.with_basic("alice", "wrong")("GET", "/v2/").status == 401
    assert c.with_basic("mallory", "wonderland")("GET", "/v2/").status == 401


def test_unauthenticated_push_stores_nothing(basic: ThreadedRegistry) -> None:
    c = HttpClient.of(basic)
    data = b"intruder"
    r = c("POST", f"/v2/app/blobs/uploads/?digest={sha256_digest(data)}", data)
    assert r.status == 401
    assert _blobs(basic.config.root) == set()
    r = c("PUT", "/v2/app/manifests/v1", b"{}", {"Content-Type": "application/json"})
    assert r.status == 401
    ok = c.with_basic("alice", "wonderland")
    assert ok.push_image("app", tiny_image("b"), "v1").status == 201


def test_htpasswd_formats(tmp_path: Path) -> None:
    import base64
    import hashlib

    from dockyard.errors import InvalidArgument

    sha = base64.b64encode(hashlib.sha1(b"secret").digest()).decode()
    f = tmp_path / "sha"
    f.write_text(f"bob:{{SHA}}{sha}\n# comment\n")
    # unsalted {SHA}: refused unless explicitly allowed (issue 19 item 5d)
    with pytest.raises(InvalidArgument, match=r"unsalted \{SHA\} hash refused"):
        Htpasswd(f)
    h = Htpasswd(f, allow_insecure=True)
    assert h.check("bob", "secret") and not h.check("bob", "nope")
    assert h.insecure == ["bob"]
    plain = tmp_path / "plain"
    plain.write_text("carol:plainpw\n")
    plain.chmod(0o600)
    with pytest.raises(InvalidArgument, match="plain-text password refused"):
        Htpasswd(plain)
    plain.chmod(0o644)
    with pytest.raises(InvalidArgument, match="plain-text"):
        Htpasswd(plain, allow_insecure=True)
    plain.chmod(0o600)
    assert Htpasswd(plain, allow_insecure=True).check("carol", "plainpw")
    md5 = tmp_path / "md5"
    md5.write_text("dave:$apr1$abc$def\n")
    with pytest.raises(InvalidArgument, match="unsupported hash"):
        Htpasswd(md5)
    bc = _htpasswd(tmp_path / "bcrypt", {"erin": "pw"})
    assert Htpasswd(bc).insecure == []


# --- tokens -----------------------------------------------------------------------------


@pytest.fixture
def token_reg(tmp_path: Path) -> Iterator[ThreadedRegistry]:
    users = _htpasswd(tmp_path / "users", {"alice": "a-pass", "bob": "b-pass"})
    keyfile = tmp_path / "key"
    keyfile.write_bytes(KEY)
    keyfile.chmod(0o600)
    authz, issuer = parse_auth(f"token:/token,dockyard-test,{keyfile}", users)
    assert isinstance(issuer, TokenIssuer)
    config = ServerConfig(root=tmp_path / "reg", authorizer=authz, issuer=issuer)
    with ThreadedRegistry(config) as reg:
        yield reg


def _token(reg: ThreadedRegistry, scope: str, user: str | None = None, pw: str = "") -> str:
    c = HttpClient.of(reg)
    if user is not None:
        c = c.with_basic(user, pw)
    q = urllib.parse.urlencode({"service": "dockyard-test", "scope": scope})
    r = c("GET", f"/token?{q}")
    assert r.status == 200, r.body
    return str(r.json()["token"])


def test_token_challenge(token_reg: ThreadedRegistry) -> None:
    c = HttpClient.of(token_reg)
    r = c("GET", "/v2/alice/app/tags/list")
    assert r.status == 401 and r.code() == "UNAUTHORIZED"
    challenge = r.headers["WWW-Authenticate"]
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    assert challenge.startswith("Bearer ")
    assert fields["realm"] == f"http://{token_reg.address}/token"
    assert fields["service"] == "dockyard-test"
    assert fields["scope"] == "repository:alice/app:pull"


def test_token_push_in_own_namespace(token_reg: ThreadedRegistry) -> None:
    tok = _token(token_reg, "repository:alice/app:pull,push", "alice", "a-pass")
    c = HttpClient.of(token_reg).with_bearer(tok)
    assert c("GET", "/v2/").status == 200
    assert c.push_image("alice/app", tiny_image("t"), "v1").status == 201
    assert c("GET", "/v2/alice/app/manifests/v1").status == 200


def test_token_scoped_to_another_repository(token_reg: ThreadedRegistry) -> None:
    tok = _token(token_reg, "repository:alice/app:pull,push", "alice", "a-pass")
    c = HttpClient.of(token_reg).with_bearer(tok)
    data = b"not for bob"
    r = c("POST", f"/v2/bob/app/blobs/uploads/?digest={sha256_digest(data)}", data)
    assert r.status == 401
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]
    assert _blobs(token_reg.config.root) == set()


def test_token_issuer_grants_only_what_policy_allows(token_reg: ThreadedRegistry) -> None:
    tok = _token(token_reg, "repository:bob/app:pull,push", "alice", "a-pass")
    c = HttpClient.of(token_reg).with_bearer(tok)
    data = b"alice into bob"
    r = c("POST", f"/v2/bob/app/blobs/uploads/?digest={sha256_digest(data)}", data)
    assert r.status == 401
    assert _blobs(token_reg.config.root) == set()
    # anonymous callers get a token with no access at all
    anon = HttpClient.of(token_reg).with_bearer(_token(token_reg, "repository:alice/app:pull"))
    assert anon("GET", "/v2/alice/app/tags/list").status == 401
    bad = HttpClient.of(token_reg).with_basic("alice", "wrong")
    assert bad("GET", "/token?service=dockyard-test").status == 401


def test_forged_expired_and_unsigned_tokens(token_reg: ThreadedRegistry) -> None:
    want = [Access("repository", "alice/app", frozenset({"pull", "push"}))]
    forged = encode_token(
        b"x" * 40, issuer="dockyard-test", audience="dockyard-test", subject="alice", access=want
    )
    expired = encode_token(
        KEY, issuer="dockyard-test", audience="dockyard-test", subject="alice", access=want,
        ttl_s=10, now=1_000_000,
    )  # fmt: skip
    wrong_aud = encode_token(
        KEY, issuer="dockyard-test", audience="elsewhere", subject="alice", access=want
    )
    _head, body, _sig = forged.split(".")
    import base64

    none_head = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    unsigned = f"{none_head.decode()}.{body}."
    for tok in (forged, expired, wrong_aud, unsigned, "garbage"):
        c = HttpClient.of(token_reg).with_bearer(tok)
        assert c("GET", "/v2/alice/app/tags/list").status == 401, tok


def test_mount_needs_pull_on_the_source(token_reg: ThreadedRegistry) -> None:
    bob = HttpClient.of(token_reg).with_bearer(
        _token(token_reg, "repository:bob/src:pull,push", "bob", "b-pass")
    )
    d = bob.push_blob("bob/src", b"bob's layer")
    # alice may pull bob/src under the default policy: the mount works
    scope = "repository:alice/dst:pull,push repository:bob/src:pull"
    alice = HttpClient.of(token_reg).with_bearer(_token(token_reg, scope, "alice", "a-pass"))
    r = alice("POST", f"/v2/alice/dst/blobs/uploads/?mount={d}&from=bob/src")
    assert r.status == 201
    # without pull on the source the mount falls back to an upload
    alice2 = HttpClient.of(token_reg).with_bearer(
        _token(token_reg, "repository:alice/other:pull,push", "alice", "a-pass")
    )
    r = alice2("POST", f"/v2/alice/other/blobs/uploads/?mount={d}&from=bob/src")
    assert r.status == 202
