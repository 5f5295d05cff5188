"""The registry client: one registry host, authentication handled on the way.

``RegistryClient(host, config, session)`` sends requests to
``<scheme>://<host>/v2/...``.  The scheme is ``http`` for loopback hosts
(``127.0.0.0/8``, ``localhost``, ``[::1]``) and for hosts listed in
``config.insecure``; ``https`` (verified, optionally with ``config.ca_file``)
otherwise.  ``docker.io`` is served by ``registry-1.docker.io``.

Auth flow: a request that gets ``401`` reads the ``WWW-Authenticate``
challenge.  ``Basic`` → the request is repeated with stored credentials;
``Bearer realm=,service=,scope=`` → a token is fetched from ``realm`` (with
basic credentials when there are some), cached per scope, and the request is
repeated once with it.  Tokens are never sent to another host than the
registry (redirects to blob storage go without ``Authorization``).

Errors: 401/403 after authenticating raise PermissionDenied; 404 raises
NotFound; a transport failure or a 5xx raises Unavailable; other failures
raise InvalidArgument, each naming the operation and the object.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp

from dockyard.distribution.auth import load_credentials, parse_challenge
from dockyard.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable

__all__ = ["ClientConfig", "RegistryClient", "Response", "registry_host", "uses_plain_http"]

DOCKER_HUB_HOST = "registry-1.docker.io"

Body = bytes | Callable[[], AsyncIterator[bytes]] | None


@dataclass(frozen=True)
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


@dataclass
class Response:
    """A finished response (body read unless it was streamed)."""

    status: int
    headers: Mapping[str, str]
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
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryClient:
    """Requests to one registry, with its auth state."""

    def __init__(self, host: str, config: ClientConfig, session: aiohttp.ClientSession) -> None:
        self.host = host
        self.config = config
        self.session = session
        scheme = "http" if uses_plain_http(host, config.insecure) else "https"
        self.base = f"{scheme}://{host}"
        self._tokens: dict[str, str] = {}
        self._basic: str | None = None
        self._challenge: tuple[str, dict[str, str]] | None = None

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path)

    # --- auth ---------------------------------------------------------------------------

    def _auth_header(self, scope: str) -> dict[str, str]:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic is not None:
            return {"Authorization": self._basic}
        return {}

    async def _authenticate(self, challenge: str, scope: str, what: str) -> None:
        scheme, params = parse_challenge(challenge)
        creds = self.config.credentials(self.host)
        if scheme == "basic":
            if creds is None:
                raise PermissionDenied(f"{what}: authentication required (run dockyard login)")
            raw = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            self._basic = f"Basic {raw}"
            return
        if scheme != "bearer" or "realm" not in params:
            raise PermissionDenied(f"{what}: unsupported authentication challenge {scheme}")
        self._tokens[scope] = await self._fetch_token(params, scope, creds, what)

    async def _fetch_token(
        self, params: dict[str, str], scope: str, creds: tuple[str, str] | None, what: str
    ) -> str:
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query += [("scope", s) for s in scope.split(" ") if s]
        headers = {"User-Agent": self.config.user_agent}
        if creds is not None:
            query.append(("account", creds[0]))
            raw = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {raw}"
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urlencode(query)
        try:
            async with self.session.get(url, headers=headers, ssl=self._realm_ssl(url)) as r:
                body = await r.read()
                if r.status in (401, 403):
                    raise PermissionDenied(f"{what}: token request refused ({r.status})")
                if r.status != 200:
                    raise Unavailable(f"{what}: token request failed ({r.status})")
        except aiohttp.ClientError as e:
            raise Unavailable(f"{what}: fetch token from {params['realm']}: {e}") from None
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise InvalidArgument(f"{what}: token response has no token")
        return token

    def _realm_ssl(self, url: str) -> ssl.SSLContext | bool:
        if url.startswith("http:"):
            return False
        if self.config.ca_file is not None:
            return ssl.create_default_context(cafile=str(self.config.ca_file))
        return True

    # --- requests -----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        data: Body = None,
        ok: tuple[int, ...] = (200,),
        sink: Callable[[aiohttp.ClientResponse], Any] | None = None,
    ) -> Response:
        """Send a request (authenticating on 401); the status must be in ``ok``.

        ``sink`` consumes a successful body as a stream (an async callable);
        otherwise the body is read into memory.
        """
        for attempt in range(2):
            hdrs = {
                "User-Agent": self.config.user_agent,
                **self.config.extra_headers,
                **self._auth_header(scope),
                **(headers or {}),
            }
            payload = data() if callable(data) else data
            try:
                async with self.session.request(
                    method,
                    self.url(path),
                    headers=hdrs,
                    data=payload,
                    ssl=self._realm_ssl(self.base),
                ) as r:
                    if r.status == 401 and attempt == 0:
                        await r.read()
                        await self._authenticate(r.headers.get("WWW-Authenticate", ""), scope, what)
                        continue
                    if r.status in ok and sink is not None:
                        await sink(r)
                        return Response(r.status, r.headers, b"", str(r.url))
                    body = await r.read()
                    if r.status not in ok:
                        _raise_for(what, r.status, body)
                    return Response(r.status, r.headers, body, str(r.url))
            except aiohttp.ClientError as e:
                raise Unavailable(f"{what}: {self.host}: {e}") from None
            except TimeoutError:
                raise Unavailable(f"{what}: {self.host}: timed out") from None
        raise PermissionDenied(f"{what}: authentication failed")


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
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return str(first.get("message") or first.get("code")).lower()
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
