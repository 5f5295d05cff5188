"""Registry hardening (issue 19 item 5): each test performs the attack against a real server.

Where the defence can be switched off, the same attack is shown to succeed without it.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.distribution.access import AccessPolicy, parse_access
from dockyard.distribution.authz import BasicAuthorizer, Htpasswd
from dockyard.distribution.options import check_auth_transport, parse_auth
from dockyard.distribution.server import DEFAULT_MAX_BLOB_SIZE, ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry, tiny_image
from dockyard.errors import InvalidArgument
from dockyard.oci.digest import sha256_digest

bcrypt = pytest.importorskip("bcrypt")

REPO = Path(__file__).resolve().parents[2]
DOCKYARD = str(REPO / ".venv" / "bin" / "dockyard")
GIB = 1 << 30


def _htpasswd(path: Path, users: dict[str, str], cost: int = 4) -> Path:
    path.write_text(
        "".join(
            f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(cost)).decode()}\n"
            for u, p in users.items()
        )
    )
    return path


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _wait(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _raw(
    port: int, head: str, body: bytes = b"", source: str = "127.0.0.1", host: str = "127.0.0.1"
) -> tuple[http.client.HTTPResponse, socket.socket]:
    """Send a request head (and the start of a body); the response as soon as it comes."""
    sock = socket.create_connection((host, port), timeout=30, source_address=(source, 0))
    sock.sendall(head.encode() + b"\r\n" + body)
    resp = http.client.HTTPResponse(sock)
    resp.begin()
    return resp, sock


# --- 5a: per-repository authorization -----------------------------------------------------

ACCESS = {
    "groups": {"ci": ["builder"]},
    "access": {
        "alice": {"alice/*": ["*"]},
        "@ci": {"apps/*": ["pull", "push"]},
        "*": {"alice/app": ["pull"]},
    },
    "catalog": ["alice"],
}


@pytest.fixture
def users(tmp_path: Path) -> Path:
    return _htpasswd(
        tmp_path / "htpasswd", {"alice": "a-pass", "bob": "b-pass", "builder": "c-pass"}
    )


def test_access_file_denies_what_it_does_not_grant(tmp_path: Path, users: Path) -> None:
    access = tmp_path / "access.yaml"
    import yaml

    access.write_text(yaml.safe_dump(ACCESS))
    authz, _ = parse_auth(f"htpasswd:{users}", access=access)
    root = tmp_path / "reg"
    config = ServerConfig(root=root, authorizer=authz, delete_enabled=True)
    with ThreadedRegistry(config) as reg:
        alice = HttpClient.of(reg).with_basic("alice", "a-pass")
        bob = HttpClient.of(reg).with_basic("bob", "b-pass")
        builder = HttpClient.of(reg).with_basic("builder", "c-pass")
        img = tiny_image("acl")
        assert alice.push_image("alice/app", img, "v1").status == 201
        before = _files(root / "blobs" / "sha256")
        # the attack: bob, a valid account, writes into alice's repository
        data = b"bob was here"
        r = bob("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256_digest(data)}", data)
        assert (r.status, r.code()) == (403, "DENIED")
        assert "WWW-Authenticate" not in r.headers
        r = bob("POST", "/v2/alice/app/blobs/uploads/")
        assert (r.status, r.code()) == (403, "DENIED")
        evil = tiny_image("evil")
        r = bob("PUT", "/v2/alice/app/manifests/v1", evil.manifest,
                {"Content-Type": json.loads(evil.manifest)["mediaType"]})  # fmt: skip
        assert (r.status, r.code()) == (403, "DENIED")
        r = bob("DELETE", f"/v2/alice/app/manifests/{img.digest}")
        assert (r.status, r.code()) == (403, "DENIED")
        assert bob("GET", "/v2/_catalog").code() == "DENIED"
        # nothing was stored, alice's tag is intact
        assert _files(root / "blobs" / "sha256") == before
        assert [f for f in _files(root / "ingest") if f.startswith("upload-")] == []
        got = bob("GET", "/v2/alice/app/manifests/v1")  # "*": pull for everyone
        assert got.status == 200 and got.body == img.manifest
        # groups, and a mount from a repository the caller may not pull falls back
        assert builder.push_image("apps/web", tiny_image("ci"), "v1").status == 201
        assert builder("DELETE", "/v2/apps/web/manifests/v1").code() == "DENIED"
        layer = alice.push_blob("alice/secret", b"private layer")
        r = bob("POST", f"/v2/bob/x/blobs/uploads/?mount={layer}&from=alice/secret")
        assert (r.status, r.code()) == (403, "DENIED")  # bob holds no push on bob/x
        assert bob("GET", f"/v2/alice/secret/blobs/{layer}").code() == "DENIED"
        r = builder("POST", f"/v2/apps/web/blobs/uploads/?mount={layer}&from=alice/secret")
        assert r.status == 202  # no pull on the source: an upload session, not the blob
        assert builder("DELETE", r.headers["Location"]).status == 204
        r = builder("POST", f"/v2/apps/web/blobs/uploads/?mount={layer}&from=alice/app")
        assert r.status == 202  # alice/app does not hold that blob
        assert builder("DELETE", r.headers["Location"]).status == 204
        assert alice("GET", "/v2/_catalog").status == 200
        assert alice("DELETE", f"/v2/alice/app/manifests/{img.digest}").status == 202
    # the defence off: without the access file the same attack succeeds
    authz, _ = parse_auth(f"htpasswd:{users}")
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg2", authorizer=authz)) as reg:
        bob = HttpClient.of(reg).with_basic("bob", "b-pass")
        r = bob("POST", f"/v2/alice/app/blobs/uploads/?digest={sha256_digest(data)}", data)
        assert r.status == 201


def test_access_file_is_checked(tmp_path: Path) -> None:
    policy = parse_access(ACCESS)
    assert isinstance(policy, AccessPolicy)
    assert policy.actions("alice", "alice/a/b") == {"pull", "push", "delete"}
    assert policy.actions("builder", "apps/x") == {"pull", "push"}
    assert policy.actions("nobody", "apps/x") == set()
    assert policy.actions("nobody", "alice/app") == {"pull"}
    assert not policy.allows(None, "repository", "apps/x", "pull")
    bad: list[object] = [
        [],
        {"access": {"alice": {"x": ["pull", "steal"]}}},
        {"access": {"@ghosts": {"x": ["pull"]}}},
        {"access": {"alice": ["x"]}},
        {"groups": {"ci": "builder"}},
        {"acess": {}},
        {"catalog": "alice"},
    ]
    for data in bad:
        with pytest.raises(InvalidArgument, match="load access file"):
            parse_access(data)
    f = tmp_path / "a.json"
    f.write_text("{not yaml: [")
    with pytest.raises(InvalidArgument, match=f"load access file {f}"):
        parse_auth("htpasswd:/dev/null", access=f)
    with pytest.raises(InvalidArgument, match="needs --auth htpasswd"):
        parse_auth(None, access=f)


# --- 5b: blob size cap, sessions per client, a full disk ------------------------------------


def _no_uploads(root: Path) -> bool:
    return [f for f in _files(root / "ingest") if f.startswith("upload-")] == []


def test_blob_over_the_default_cap_is_refused_before_its_body(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    claimed = DEFAULT_MAX_BLOB_SIZE + 2 * GIB  # 12 GiB claimed; 64 KiB ever sent
    assert ServerConfig(root=root).max_blob_size == DEFAULT_MAX_BLOB_SIZE == 10 * GIB
    with ThreadedRegistry(ServerConfig(root=root)) as reg:
        digest = "sha256:" + "0" * 64
        head = (f"POST /v2/big/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {claimed}\r\n")  # fmt: skip
        resp, sock = _raw(reg.port, head, b"\0" * 65536)
        with sock:
            assert resp.status == 413
            assert json.loads(resp.read())["errors"][0]["code"] == "SIZE_INVALID"
        # chunked: a PATCH whose Content-Range goes past the cap drops the session
        c = HttpClient.of(reg)
        loc = c("POST", "/v2/big/blobs/uploads/").headers["Location"]
        assert c("PATCH", loc, b"x" * 10, {"Content-Range": "0-9"}).status == 202
        head = (f"PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Range: 10-{claimed - 1}\r\n"
                f"Content-Length: {claimed - 10}\r\n")  # fmt: skip
        resp, sock = _raw(reg.port, head, b"\0" * 65536)
        with sock:
            assert resp.status == 413
            assert json.loads(resp.read())["errors"][0]["code"] == "SIZE_INVALID"
        assert c("GET", loc).code() == "BLOB_UPLOAD_UNKNOWN"
        assert _no_uploads(root) and _files(root / "blobs" / "sha256") == []
        assert reg.config.max_blob_size is not None
    # the defence off: the server takes the claimed body and writes it to disk
    root2 = tmp_path / "reg2"
    with ThreadedRegistry(ServerConfig(root=root2, max_blob_size=None)) as reg:
        head = (f"POST /v2/big/blobs/uploads/?digest={digest} HTTP/1.1\r\nHost: x\r\n"
                f"Content-Length: {claimed}\r\n\r\n")  # fmt: skip
        with socket.create_connection(("127.0.0.1", reg.port), timeout=30) as sock:
            sock.sendall(head.encode() + b"\0" * (8 << 20))

            def written() -> bool:
                ingest = root2 / "ingest"
                sizes = [(ingest / f).stat().st_size for f in _files(ingest)]
                return any(n > 0 for n in sizes)

            _wait(written, "the uncapped upload to reach the disk")
        _wait(lambda: _no_uploads(root2), "the aborted upload to be discarded")


def test_streamed_body_past_the_cap_stops_and_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    with ThreadedRegistry(ServerConfig(root=root, max_blob_size=1 << 20)) as reg:
        c = HttpClient.of(reg)
        loc = c("POST", "/v2/s/blobs/uploads/").headers["Location"]
        conn = http.client.HTTPConnection("127.0.0.1", reg.port, timeout=30)
        try:
            chunks = (b"y" * 65536 for _ in range(48))  # 3 MiB, no length announced
            conn.request("PATCH", loc, body=chunks, encode_chunked=True)
            r = conn.getresponse()
            assert r.status == 413 and b"SIZE_INVALID" in r.read()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the client is done sending
        finally:
            conn.close()
        assert c("GET", loc).code() == "BLOB_UPLOAD_UNKNOWN"
        assert _no_uploads(root)


def test_upload_sessions_per_client_are_capped(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    with ThreadedRegistry(ServerConfig(root=root)) as reg:
        c = HttpClient.of(reg)
        locs = [c("POST", "/v2/s/blobs/uploads/").headers["Location"] for _ in range(64)]
        r = c("POST", "/v2/s/blobs/uploads/")
        assert (r.status, r.code()) == (429, "TOOMANYREQUESTS")
        assert int(r.headers["Retry-After"]) > 0
        data = b"monolithic counts too"
        r = c("POST", f"/v2/s/blobs/uploads/?digest={sha256_digest(data)}", data)
        assert r.status == 429
        assert len(_files(root / "ingest")) == 64
        # another client address is not held back; a closed session frees a place
        resp, sock = _raw(reg.port, "POST /v2/s/blobs/uploads/ HTTP/1.1\r\nHost: x\r\n"
                          "Content-Length: 0\r\n", source="127.0.0.2")  # fmt: skip
        with sock:
            assert resp.status == 202
        assert c("DELETE", locs[0]).status == 204
        assert c("POST", "/v2/s/blobs/uploads/").status == 202
    # the defence off: one client opens as many as it likes
    with ThreadedRegistry(ServerConfig(root=tmp_path / "r2", max_uploads_per_client=None)) as reg:
        c = HttpClient.of(reg)
        assert {c("POST", "/v2/s/blobs/uploads/").status for _ in range(80)} == {202}


def test_sessions_idle_past_the_window_stop_counting(tmp_path: Path) -> None:
    now = [1000.0]
    config = ServerConfig(
        root=tmp_path / "reg", max_uploads_per_client=2, upload_idle_s=60, clock=lambda: now[0]
    )
    with ThreadedRegistry(config) as reg:
        c = HttpClient.of(reg)
        assert c("POST", "/v2/s/blobs/uploads/").status == 202
        assert c("POST", "/v2/s/blobs/uploads/").status == 202
        r = c("POST", "/v2/s/blobs/uploads/")
        assert r.status == 429 and r.headers["Retry-After"] == "60"
        now[0] += 61
        assert c("POST", "/v2/s/blobs/uploads/").status == 202


@pytest.fixture
def full_disk_registry(tmp_path: Path, require_root: None) -> Iterator[tuple[int, Path]]:
    """``registry serve`` on an 8 MiB tmpfs mounted in a private mount namespace of its own.

    The tmpfs exists only in that namespace (the host sees an empty directory) and goes
    with the server process; its files are read through ``/proc/<pid>/root``.
    """
    root = tmp_path / "reg"
    root.mkdir()
    script = (
        'mount -t tmpfs -o size=8m,mode=0700 dockyard-test-enospc "$1" && '
        'exec "$2" --root "$3" registry serve --root "$1" --addr 127.0.0.1:0 --access-log ""'
    )
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
         str(root), DOCKYARD, str(tmp_path / "state")],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "listening on" not in line:
            pytest.fail(f"registry did not start: {line}{proc.stderr.read()}")
        port = int(line.split("http://127.0.0.1:")[1].split()[0])
        yield port, Path(f"/proc/{proc.pid}/root") / str(root).lstrip("/")
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.root
def test_disk_full_fails_cleanly_and_corrupts_nothing(
    full_disk_registry: tuple[int, Path],
) -> None:
    port, root = full_disk_registry
    c = HttpClient("127.0.0.1", port)
    a = os.urandom(1 << 20)
    da = c.push_blob("full/app", a)
    # a chunked session: the chunk that does not fit is refused, the session stays resumable
    loc = c("POST", "/v2/full/app/blobs/uploads/").headers["Location"]
    first = os.urandom(1 << 20)
    assert c("PATCH", loc, first, {"Content-Range": f"0-{len(first) - 1}"}).status == 202
    big = os.urandom(12 << 20)
    r = c("PATCH", loc, big, {"Content-Range": f"{len(first)}-{len(first) + len(big) - 1}"})
    assert r.status == 507, r.body
    status = c("GET", loc)
    assert status.status == 204 and status.headers["Range"] == f"0-{len(first) - 1}"
    session = root / "ingest" / f"upload-{loc.rsplit('/', 1)[1]}"
    assert session.stat().st_size == len(first)
    # a monolithic upload that does not fit leaves no file behind
    r = c("POST", f"/v2/full/app/blobs/uploads/?digest={sha256_digest(big)}", big)
    assert r.status == 507
    assert [f for f in _files(root / "ingest") if f.startswith("upload-mono-")] == []
    # what was stored is intact, and the session completes once there is room
    got = c("GET", f"/v2/full/app/blobs/{da}")
    assert got.status == 200 and got.body == a
    rest = os.urandom(1 << 20)
    whole = first + rest
    r = c("PUT", f"{loc}?digest={sha256_digest(whole)}", rest,
          {"Content-Range": f"{len(first)}-{len(whole) - 1}"})  # fmt: skip
    assert r.status == 201, r.body
    assert c("GET", f"/v2/full/app/blobs/{sha256_digest(whole)}").body == whole
    for blob in (root / "blobs" / "sha256").iterdir():
        assert str(sha256_digest(blob.read_bytes())) == f"sha256:{blob.name}"
    assert c("GET", "/v2/").status == 200


# --- 5c: no user enumeration by timing, throttling ---------------------------------------


def _median_check(h: Htpasswd, user: str, rounds: int = 9) -> float:
    times = []
    for i in range(rounds):
        t = time.perf_counter()
        assert not h.check(user, f"wrong-{i}")
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def test_unknown_users_cost_as_much_as_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = Htpasswd(_htpasswd(tmp_path / "pw", {"alice": "a-pass"}, cost=8))
    h.check("nobody", "warm-up")  # makes the dummy hash
    known, unknown = _median_check(h, "alice"), _median_check(h, "nobody")
    assert 0.5 < unknown / known < 2.0, (known, unknown)
    # the defence off: an unknown name answers at once, a known one after bcrypt
    monkeypatch.setattr(Htpasswd, "equal_work", False)
    known, unknown = _median_check(h, "alice"), _median_check(h, "nobody")
    assert unknown * 20 < known, (known, unknown)


def test_repeated_login_failures_are_throttled(tmp_path: Path, users: Path) -> None:
    now = [5000.0]
    authz = BasicAuthorizer(Htpasswd(users))
    config = ServerConfig(
        root=tmp_path / "reg", authorizer=authz, auth_failure_limit=5, clock=lambda: now[0]
    )
    with ThreadedRegistry(config) as reg:
        anon = HttpClient.of(reg)
        for _ in range(20):  # requests without credentials never count
            assert anon("GET", "/v2/").status == 401
        wrong = anon.with_basic("alice", "guess")
        assert [wrong("GET", "/v2/").status for _ in range(5)] == [401] * 5
        right = anon.with_basic("alice", "a-pass")
        r = right("GET", "/v2/")  # even the right password waits: guessing gains nothing
        assert (r.status, r.code()) == (429, "TOOMANYREQUESTS")
        assert r.headers["Retry-After"] == "60"
        # another address is not affected
        resp, sock = _raw(reg.port, "GET /v2/ HTTP/1.1\r\nHost: x\r\nAuthorization: "
                          f"{right.headers['Authorization']}\r\n", source="127.0.0.2")  # fmt: skip
        with sock:
            assert resp.status == 200
        now[0] += 61
        assert right("GET", "/v2/").status == 200
    # the defence off (no practical limit): guessing goes on at full speed
    config = ServerConfig(root=tmp_path / "r2", authorizer=authz, auth_failure_limit=1 << 30)
    with ThreadedRegistry(config) as reg:
        wrong = HttpClient.of(reg).with_basic("alice", "guess")
        assert {wrong("GET", "/v2/").status for _ in range(30)} == {401}


def test_token_issuer_is_throttled_too(tmp_path: Path, users: Path) -> None:
    key = tmp_path / "key"
    key.write_bytes(b"k" * 40)
    key.chmod(0o600)
    authz, issuer = parse_auth(f"token:/token,t,{key}", users)
    config = ServerConfig(
        root=tmp_path / "reg", authorizer=authz, issuer=issuer, auth_failure_limit=3
    )
    with ThreadedRegistry(config) as reg:
        wrong = HttpClient.of(reg).with_basic("bob", "guess")
        assert [wrong("GET", "/token?service=t").status for _ in range(3)] == [401] * 3
        r = HttpClient.of(reg).with_basic("bob", "b-pass")("GET", "/token?service=t")
        assert (r.status, r.code()) == (429, "TOOMANYREQUESTS")


# --- 5d, 5e: insecure htpasswd entries, passwords over plain HTTP ------------------------


def _serve(tmp_path: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [DOCKYARD, "--root", str(tmp_path / "state"), "registry", "serve",
         "--root", str(tmp_path / "reg"), "--access-log", "", *argv],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _started(proc: subprocess.Popen[str]) -> str:
    """The server's stderr up to its listening line; then it is stopped."""
    assert proc.stderr is not None
    lines = []
    try:
        while line := proc.stderr.readline():
            lines.append(line)
            if "listening on" in line:
                break
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()
    return "".join(lines)


def _refused(tmp_path: Path, *argv: str) -> str:
    proc = _serve(tmp_path, *argv)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(30) != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def test_unsalted_sha_htpasswd_needs_a_flag(tmp_path: Path) -> None:
    import base64
    import hashlib

    pw = tmp_path / "pw"
    pw.write_text("old:{SHA}" + base64.b64encode(hashlib.sha1(b"pw").digest()).decode() + "\n")
    err = _refused(tmp_path, "--addr", "127.0.0.1:0", "--auth", f"htpasswd:{pw}")
    assert "unsalted {SHA} hash refused" in err
    out = _started(_serve(tmp_path, "--addr", "127.0.0.1:0", "--auth", f"htpasswd:{pw}",
                          "--allow-insecure-htpasswd"))  # fmt: skip
    assert "warning: htpasswd" in out and "old" in out and "listening on" in out


def test_basic_auth_over_plain_http_off_loopback_is_refused(tmp_path: Path, users: Path) -> None:
    err = _refused(tmp_path, "--addr", "0.0.0.0:0", "--auth", f"htpasswd:{users}")
    assert "plain HTTP on a non-loopback address" in err
    out = _started(_serve(tmp_path, "--addr", "0.0.0.0:0", "--auth", f"htpasswd:{users}",
                          "--allow-insecure-auth"))  # fmt: skip
    assert "warning: --auth over plain HTTP" in out and "listening on" in out
    out = _started(_serve(tmp_path, "--addr", "127.0.0.1:0", "--auth", f"htpasswd:{users}"))
    assert "warning" not in out and "listening on" in out
    assert check_auth_transport("::1", False, "htpasswd:x", False) is False
    assert check_auth_transport("10.0.0.1", True, "htpasswd:x", False) is False
    assert check_auth_transport("10.0.0.1", False, None, False) is False
    with pytest.raises(InvalidArgument):
        check_auth_transport("localhost.example.com", False, "token:x", False)


# --- 5f: the client's basic credentials stay with the registry ---------------------------


class _Recorder:
    """A tiny HTTP server that records each request's path and Authorization header."""

    def __init__(self, host: str, answer: Callable[[Any], tuple[int, dict[str, str], bytes]]):
        import http.server
        import threading

        seen = self.seen = []  # type: list[tuple[str, str | None]]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Authorization")))
                status, headers, body = answer(self)
                self.send_response(status)
                for k, v in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.address = f"{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def evil() -> Iterator[_Recorder]:
    """Another host (127.0.0.2) that would like the registry's passwords."""
    r = _Recorder("127.0.0.2", lambda h: (200, {}, b'{"token": "anonymous"}'))
    yield r
    r.close()


def _registry(evil: _Recorder) -> _Recorder:
    """A registry whose token realm and blob redirect point at ``evil`` over plain HTTP."""

    def answer(h: Any) -> tuple[int, dict[str, str], bytes]:
        auth = h.headers.get("Authorization") or ""
        if h.path == "/v2/":
            if auth.startswith("Bearer "):
                return 200, {}, b"{}"
            realm = f'Bearer realm="http://{evil.address}/token",service="reg"'
            return 401, {"WWW-Authenticate": realm}, b""
        if not auth.startswith("Basic "):
            return 401, {"WWW-Authenticate": 'Basic realm="reg"'}, b""
        return 307, {"Location": f"http://{evil.address}/blob"}, b""

    return _Recorder("127.0.0.1", answer)


def test_client_sends_no_credentials_to_another_host(
    evil: _Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dockyard.distribution import client as client_mod
    from dockyard.distribution.client import ClientConfig, RegistryClient

    reg = _registry(evil)
    config = ClientConfig(credentials=lambda host: ("alice", "s3cret"))
    try:
        with RegistryClient(reg.address, config) as c:
            assert c.request("GET", "/v2/", scope="", what="ping").status == 200
            c.request("GET", "/v2/a/blobs/sha256:00", scope="x", what="blob")
        assert [p for p, _a in evil.seen] == ["/token?service=reg", "/blob"]
        assert [a for _p, a in evil.seen] == [None, None]
        assert any(a and a.startswith("Basic ") for _p, a in reg.seen)  # the registry got them
        # the defence off: the realm on another host over plain HTTP gets the password
        evil.seen.clear()
        monkeypatch.setattr(client_mod, "may_send_credentials", lambda base, url: True)
        with RegistryClient(reg.address, config) as c:
            c.request("GET", "/v2/", scope="", what="ping")
        assert evil.seen[0][1] is not None and evil.seen[0][1].startswith("Basic ")
    finally:
        reg.close()


def test_where_credentials_may_go() -> None:
    from dockyard.distribution.client import may_send_credentials as may

    base = "https://reg.example:5000"
    assert may(base, "https://reg.example:5000/token")
    assert may(base, "https://auth.example/token")  # a realm over https: Docker Hub's way
    assert not may(base, "http://reg.example:5000/token")  # downgraded to http
    assert not may(base, "http://auth.example/token")
    assert not may("http://127.0.0.1:5000", "http://127.0.0.1:5001/token")
    assert may("http://127.0.0.1:5000", "http://127.0.0.1:5000/token?x=1")
    assert may("https://reg.example", "https://REG.example:443/token")
    assert not may("http://127.0.0.1:5000", "http://127.0.0.1:5000@evil.example/token")
    assert not may(base, "file:///etc/passwd")
