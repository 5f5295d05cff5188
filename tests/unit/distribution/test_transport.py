"""The registry client's own HTTP/1.1 transport and its redirect/auth handling, over loopback."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockyard.distribution._blobio import TooLarge, copy_to_file
from dockyard.distribution._transport import FileRange, Pool, TransportError, split_url
from dockyard.distribution.client import ClientConfig, RegistryClient, run_parallel
from dockyard.errors import NotFound, PermissionDenied
from dockyard.oci.digest import Hasher

Handler = Callable[[BaseHTTPRequestHandler, bytes], None]


class _Server:
    """A loopback HTTP/1.1 server answering with ``handler(request, body)``; it records
    every request as ``(method, path, headers, body)`` and every connection it accepted."""

    def __init__(self, handler: Handler) -> None:
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.connections = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                handler(self, body)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.address = f"127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _reply(
    h: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    h.send_response(status)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


@pytest.fixture
def pool() -> Iterator[Pool]:
    with Pool(connect_timeout=5, read_timeout=10) as p:
        yield p


def test_split_url() -> None:
    assert split_url("http://h:1/v2/x?y=1#f") == ("http", "h:1", "/v2/x?y=1")
    assert split_url("https://h") == ("https", "h", "/")
    assert split_url("http://h?q") == ("http", "h", "/?q")
    with pytest.raises(TransportError):
        split_url("ftp://h/x")


def test_keep_alive_reuses_one_connection(pool: Pool) -> None:
    with _Server(lambda h, _b: _reply(h, 200, b"hello", {"X-A": "1"})) as s:
        for _ in range(3):
            with pool.request("GET", f"http://{s.address}/x", {}) as r:
                assert r.status == 200 and r.headers["x-a"] == "1"
                assert r.read_all() == b"hello"
        assert s.connections == 1


def test_chunked_and_until_close_bodies(pool: Pool) -> None:
    def handler(h: BaseHTTPRequestHandler, _b: bytes) -> None:
        if h.path == "/chunked":
            h.send_response(200)
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for part in (b"abc", b"", b"defgh"):
                if part:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            h.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        else:  # no length: the body ends with the connection
            h.send_response(200)
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(b"until close")
            h.close_connection = True

    with _Server(handler) as s:
        with pool.request("GET", f"http://{s.address}/chunked", {}) as r:
            assert r.read_all() == b"abcdefgh"
        with pool.request("GET", f"http://{s.address}/chunked", {}) as r:
            assert b"".join(iter(lambda: r.read(2), b"")) == b"abcdefgh"
        with pool.request("GET", f"http://{s.address}/close", {}) as r:
            assert r.read_all() == b"until close"
        assert s.connections == 1  # kept alive after the chunked bodies, closed after that
        with pool.request("GET", f"http://{s.address}/chunked", {}) as r:
            assert r.read_all() == b"abcdefgh"
        assert s.connections == 2


def test_a_connection_the_server_closed_while_idle_is_replaced(pool: Pool) -> None:
    def handler(h: BaseHTTPRequestHandler, _b: bytes) -> None:
        _reply(h, 200, b"ok")
        h.close_connection = True  # closes without saying so

    with _Server(handler) as s:
        for _ in range(3):
            with pool.request("GET", f"http://{s.address}/x", {}) as r:
                assert r.read_all() == b"ok"
        assert len(s.requests) == 3


def test_file_range_body_and_refused_connection(pool: Pool, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    f = tmp_path / "blob"
    f.write_bytes(data)
    with _Server(lambda h, b: _reply(h, 202, hashlib.sha256(b).hexdigest().encode())) as s:
        with pool.request("PATCH", f"http://{s.address}/u", {}, FileRange(f, 1000, 250_000)) as r:
            assert r.read_all() == hashlib.sha256(data[1000:250_000]).hexdigest().encode()
        assert s.requests[0][2]["Content-Length"] == str(249_000)
        with pool.request("PUT", f"http://{s.address}/u", {}) as r:  # no body: length 0
            r.read_all()
        assert s.requests[1][2]["Content-Length"] == "0"
        with pytest.raises(TransportError, match="ended"):
            pool.request("PATCH", f"http://{s.address}/u", {}, FileRange(f, 0, len(data) + 5))
    with pytest.raises(TransportError, match="connect"):
        pool.request("GET", f"http://{s.address}/gone", {})


def test_truncated_body_is_an_error(pool: Pool) -> None:
    def handler(h: BaseHTTPRequestHandler, _b: bytes) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"short")
        h.close_connection = True

    with _Server(handler) as s:
        r = pool.request("GET", f"http://{s.address}/x", {})
        with r, pytest.raises(TransportError, match="missing"):
            r.read_all()


def test_auth_is_not_sent_to_a_redirect_target_on_another_host() -> None:
    with _Server(lambda h, _b: _reply(h, 200, b"blob bytes")) as storage:

        def registry(h: BaseHTTPRequestHandler, _b: bytes) -> None:
            if "Authorization" not in h.headers:
                _reply(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="r"'})
            elif h.path.endswith("/missing"):
                body = b'{"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}'
                _reply(h, 404, body)
            else:
                _reply(h, 307, b"", {"Location": f"http://{storage.address}/data?sig=1"})

        with _Server(registry) as reg:
            config = ClientConfig(credentials=lambda _h: ("u", "p"))
            with RegistryClient(reg.address, config) as c:
                got: list[bytes] = []
                r = c.request("GET", "/v2/a/blobs/x", scope="s", what="get",
                              sink=lambda st: got.append(st.read_all()))  # fmt: skip
                assert got == [b"blob bytes"] and r.url.endswith("/data?sig=1")
                with pytest.raises(NotFound, match="blob unknown"):
                    c.request("GET", "/v2/a/blobs/missing", scope="s", what="get")
            assert [x[2].get("Authorization") for x in reg.requests][:2] == [
                None,
                "Basic dTpw",
            ]
            assert all("Authorization" not in x[2] for x in storage.requests)
            anonymous = ClientConfig(credentials=lambda _h: None)
            with RegistryClient(reg.address, anonymous) as c, pytest.raises(PermissionDenied):
                c.request("GET", "/v2/", scope="", what="get")


def test_copy_to_file_hashes_in_order_and_limits(tmp_path: Path) -> None:
    data = os.urandom(5 * 65536 + 7)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]

    def reader(parts: list[bytes]) -> Callable[[int], bytes]:
        it = iter(parts)
        return lambda _n: next(it, b"")

    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        h = Hasher()
        assert copy_to_file(reader(chunks), fd, h, batch=1) == len(data)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == data
    assert h.digest().hex == hashlib.sha256(data).hexdigest()
    fd = os.open(tmp_path / "out2", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with pytest.raises(TooLarge):
            copy_to_file(reader(chunks), fd, Hasher(), max_bytes=100_000)
    finally:
        os.close(fd)
    rd = os.open(tmp_path / "out", os.O_RDONLY)  # writing to it fails on the helper thread
    try:
        with pytest.raises(OSError):
            copy_to_file(reader(chunks), rd, Hasher())
    finally:
        os.close(rd)


def test_run_parallel_raises_the_first_error() -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def fn(i: int) -> None:
        with lock:
            seen.append(i)
        if i == 2:
            raise ValueError("two")

    with pytest.raises(ValueError, match="two"):
        run_parallel(fn, range(6), 3)
    assert 2 in seen
    done: list[int] = []
    run_parallel(done.append, range(10), 4)
    assert sorted(done) == list(range(10))


def test_client_imports_no_aiohttp_asyncio_or_ssl() -> None:
    code = (
        "import sys\n"
        "import dockyard.cli.commands.transfer, dockyard.distribution.pull,"
        " dockyard.distribution.push, dockyard.distribution.login\n"
        "bad = [m for m in ('aiohttp', 'asyncio', 'ssl', 'http.client', 'multidict', 'yarl',"
        " 'concurrent.futures') if m in sys.modules]\n"
        "print(bad)\n"
    )
    src = str(Path(__file__).resolve().parents[3] / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": src})  # fmt: skip
    assert out.stdout.strip() == "[]"
