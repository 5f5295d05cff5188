"""The registry client: one registry host, authentication handled on the way.

``RegistryClient(host, config)`` sends requests to ``<scheme>://<host>/v2/...``
over a small pool of kept-alive connections
(:mod:`~dockyard.distribution._transport`, standard library sockets; ``ssl`` is
imported only for the first ``https`` connection).  It is blocking and safe to
share between threads: pulls and pushes move blobs on ``config.parallel``
threads (:func:`run_parallel`).  Close it (``with RegistryClient(...) as c:``)
to drop the idle connections.

The scheme is ``http`` for loopback hosts (``127.0.0.0/8``, ``localhost``,
``[::1]``) and for hosts listed in ``config.insecure``; ``https`` (verified,
optionally with ``config.ca_file``) otherwise.  ``docker.io`` is served by
``registry-1.docker.io``.

Auth flow: a request that gets ``401`` reads the ``WWW-Authenticate``
challenge.  ``Basic`` → the request is repeated with stored credentials;
``Bearer realm=,service=,scope=`` → a token is fetched from ``realm`` (with
basic credentials when there are some), cached per scope, and the request is
repeated once with it.  Credentials and tokens are never sent to another
origin than the registry's (scheme, host and port): ``GET``/``HEAD``
redirects (to blob storage) are followed without ``Authorization``, and basic
credentials go to a token realm only when it is the registry itself or
``https`` (:func:`may_send_credentials`); any other realm is asked for an
anonymous token.

Errors: 401/403 after authenticating raise PermissionDenied; 404 raises
NotFound; a transport failure or a 5xx raises Unavailable; other failures
raise InvalidArgument, each naming the operation and the object.
"""

from __future__ import annotations

import os
import threading

from dockyard.distribution._transport import (
    Body,
    FileRange,
    Headers,
    Pool,
    Stream,
    TransportError,
    split_url,
)
from dockyard.distribution.auth import load_credentials, parse_challenge
from dockyard.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from dockyard.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path
    from typing import Any

__all__ = [
    "Body",
    "ClientConfig",
    "FileRange",
    "RegistryClient",
    "Response",
    "Stream",
    "may_send_credentials",
    "registry_host",
    "run_parallel",
    "uses_plain_http",
]

DOCKER_HUB_HOST = "registry-1.docker.io"
_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 5
_MAX_SMALL_BODY = 16 << 20  # non-streamed responses (manifests, errors, tokens)


@record
class ClientConfig:
    """How the client reaches registries."""

    insecure: frozenset[str] = frozenset()
    ca_file: Path | None = None
    credentials: Callable[[str], tuple[str, str] | None] = load_credentials
    user_agent: str = "dockyard/0.1"
    parallel: int = 3
    chunk_size: int = 8 * 1024 * 1024
    retries: int = 3
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    connect_timeout: float = 30.0
    read_timeout: float = 300.0


@record
class Response:
    """A finished response (body read unless it was streamed)."""

    status: int
    headers: Headers
    body: bytes
    url: str


def registry_host(domain: str) -> str:
    return DOCKER_HUB_HOST if domain == "docker.io" else domain


def uses_plain_http(host: str, insecure: frozenset[str] = frozenset()) -> bool:
    """Loopback and localhost speak plain HTTP; other hosts only when configured insecure."""
    if host in insecure:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    if name.startswith("127.") or name == "::1":
        import ipaddress  # only for loopback-looking names: it costs a few ms

        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False
    if ":" in name:  # other IPv6 spellings of ::1
        import ipaddress

        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False
    return False


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _origin(url: str) -> tuple[str, str]:
    scheme, netloc, _target = split_url(url)
    _host, sep, port = netloc.rpartition(":")
    if not sep or not port.isdigit() or netloc.endswith("]"):
        netloc = f"{netloc}:{443 if scheme == 'https' else 80}"
    return scheme, netloc.lower()


def _same_origin(url: str, base: str) -> bool:
    try:
        return _origin(url) == _origin(base)
    except TransportError:
        return False


def may_send_credentials(registry_base: str, url: str) -> bool:
    """Whether basic credentials for the registry at ``registry_base`` may go to ``url``.

    Only to the registry itself (same scheme, host and port), or to a token
    realm over ``https`` (Docker Hub's realm is another host); never to another
    host, or the same one, over plain ``http`` — a hostile registry or a
    man in the middle could name any realm.
    """
    try:
        scheme = split_url(url)[0]
    except TransportError:
        return False
    return scheme == "https" or _same_origin(url, registry_base)


def _join(base: str, path: str) -> str:
    """``path`` (absolute URL, ``/absolute`` or relative) against ``base``."""
    if path.startswith(("http://", "https://")):
        return path
    if path.startswith("/"):
        scheme, netloc, _target = split_url(base)
        return f"{scheme}://{netloc}{path}"
    from urllib.parse import urljoin

    return urljoin(base, path)


class RegistryClient:
    """Requests to one registry, with its auth state (thread-safe)."""

    def __init__(self, host: str, config: ClientConfig, pool: Pool | None = None) -> None:
        self.host = host
        self.config = config
        scheme = "http" if uses_plain_http(host, config.insecure) else "https"
        self.base = f"{scheme}://{host}"
        self._own_pool = pool is None
        self.pool = pool or Pool(
            connect_timeout=config.connect_timeout,
            read_timeout=config.read_timeout,
            ca_file=os.fspath(config.ca_file) if config.ca_file is not None else None,
            max_idle=max(2, config.parallel + 1),
        )
        self._tokens: dict[str, str] = {}
        self._basic: str | None = None
        self._auth_lock = threading.Lock()

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return _join(self.base + "/", path)

    # --- auth ---------------------------------------------------------------------------

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if self._basic is not None:
            return {"Authorization": self._basic}
        return {}

    def _authenticate(self, challenge: str, scope: str, what: str, sent: str | None) -> None:
        with self._auth_lock:  # one token request per scope, however many threads ask
            if self._auth_header(scope).get("Authorization") not in (None, sent):
                return  # another thread authenticated meanwhile
            scheme, params = parse_challenge(challenge)
            creds = self.config.credentials(self.host)
            if scheme == "basic":
                if creds is None:
                    raise PermissionDenied(f"{what}: authentication required (run dockyard login)")
                self._basic = _basic(*creds)
                return
            if scheme != "bearer" or "realm" not in params:
                raise PermissionDenied(f"{what}: unsupported authentication challenge {scheme}")
            self._tokens[scope] = self._fetch_token(params, scope, creds, what)

    def _fetch_token(
        self, params: dict[str, str], scope: str, creds: tuple[str, str] | None, what: str
    ) -> str:
        import json
        from urllib.parse import urlencode

        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query += [("scope", s) for s in scope.split(" ") if s]
        realm = params["realm"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        try:
            split_url(url)
        except TransportError as e:
            raise InvalidArgument(f"{what}: token realm {realm[:200]!r}: {e}") from None
        headers = {"User-Agent": self.config.user_agent}
        if creds is not None and may_send_credentials(self.base, url):
            query.append(("account", creds[0]))
            url = realm + ("&" if "?" in realm else "?") + urlencode(query)
            headers["Authorization"] = _basic(*creds)
        try:
            status, _h, body, _url = self._send("GET", url, headers, None, None, auth_base=url)
        except TransportError as e:
            raise Unavailable(f"{what}: fetch token from {realm}: {e}") from None
        if status in (401, 403):
            raise PermissionDenied(f"{what}: token request refused ({status})")
        if status != 200:
            raise Unavailable(f"{what}: token request failed ({status})")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise InvalidArgument(f"{what}: token response has no token")
        return token

    # --- requests -----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: Body,
        sink: Callable[[Stream], Any] | None,
        *,
        auth_base: str,
        ok: Iterable[int] = (),
    ) -> tuple[int, Headers, bytes, str]:
        """One exchange, following GET/HEAD redirects.

        ``Authorization`` goes only to ``auth_base``'s scheme and host:port (a
        redirect or a ``Location`` elsewhere, or down to ``http``, gets none).
        A status in ``ok`` with a ``sink`` streams the body into it; any other
        body is read.
        """
        for _ in range(_MAX_REDIRECTS + 1):
            if "Authorization" in headers and not _same_origin(url, auth_base):
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
            stream = self.pool.request(method, url, headers, data)
            with stream:
                location = stream.headers.get("Location")
                if stream.status in _REDIRECTS and location and method in ("GET", "HEAD"):
                    stream.close()
                    url = _join(url, location)
                    continue
                if sink is not None and stream.status in ok:
                    sink(stream)
                    return stream.status, stream.headers, b"", url
                return stream.status, stream.headers, stream.read_all(_MAX_SMALL_BODY), url
        raise Unavailable(f"{method} {url}: too many redirects")

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        data: Body = None,
        ok: tuple[int, ...] = (200,),
        sink: Callable[[Stream], Any] | None = None,
    ) -> Response:
        """Send a request (authenticating on 401); the status must be in ``ok``.

        ``data`` is ``bytes`` or a :class:`FileRange` (sent with ``sendfile``).
        ``sink`` consumes a successful body as a :class:`Stream`; otherwise the body
        is read into memory.
        """
        url = self.url(path)
        for attempt in range(2):
            sent_auth = self._auth_header(scope)
            hdrs = {
                "User-Agent": self.config.user_agent,
                **self.config.extra_headers,
                **sent_auth,
                **(headers or {}),
            }
            try:
                status, rh, body, final = self._send(
                    method, url, hdrs, data, sink, auth_base=self.base, ok=ok
                )
            except TransportError as e:
                raise Unavailable(f"{what}: {self.host}: {e}") from None
            if status == 401 and attempt == 0:
                self._authenticate(
                    rh.get("WWW-Authenticate") or "", scope, what, sent_auth.get("Authorization")
                )
                continue
            if status not in ok:
                _raise_for(what, status, body)
            return Response(status, rh, body, final)
        raise PermissionDenied(f"{what}: authentication failed")


def run_parallel(fn: Callable[[Any], None], items: Iterable[Any], parallel: int) -> None:
    """``fn(item)`` for every item, ``parallel`` at a time on threads; the first error raised.

    After an error no new item starts; those running finish first.
    """
    todo = list(items)
    if not todo:
        return
    if parallel <= 1 or len(todo) == 1:
        for item in todo:
            fn(item)
        return
    lock = threading.Lock()
    errors: list[BaseException] = []
    it = iter(todo)

    def worker() -> None:
        while True:
            with lock:
                if errors:
                    return
                item = next(it, _END)
            if item is _END:
                return
            try:
                fn(item)
            except BaseException as e:  # handed to the caller's thread
                with lock:
                    errors.append(e)
                return

    threads = [
        threading.Thread(target=worker, name=f"dockyard-transfer-{i}", daemon=True)
        for i in range(min(parallel, len(todo)))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


_END = object()


def _raise_for(what: str, status: int, body: bytes) -> None:
    message = _error_message(body) or f"http {status}"
    if status in (401, 403):
        raise PermissionDenied(f"{what}: {message}")
    if status == 404:
        raise NotFound(f"{what}: {message}")
    if status >= 500 or status == 429:
        raise Unavailable(f"{what}: {message}")
    raise InvalidArgument(f"{what}: {message}")


def _error_message(body: bytes) -> str:
    import json

    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return str(first.get("message") or first.get("code")).lower()
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
