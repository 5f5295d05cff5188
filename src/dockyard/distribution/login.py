"""``login`` (check credentials against a registry, then store them) and ``manifest inspect``.

Errors: refused credentials raise PermissionDenied; an unreachable registry
raises Unavailable.
"""

from __future__ import annotations

from dockyard.distribution.auth import store_credentials
from dockyard.distribution.client import ClientConfig, RegistryClient, registry_host
from dockyard.distribution.pull import fetch_manifest
from dockyard.oci.reference import parse_reference
from dockyard.records import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["inspect_manifest", "inspect_manifest_sync", "login", "login_sync"]


async def login(
    server: str, user: str, password: str, *, config: ClientConfig | None = None
) -> Path:
    """:func:`login_sync` on a worker thread, for callers inside an event loop."""
    import asyncio

    return await asyncio.to_thread(login_sync, server, user, password, config=config)


def login_sync(
    server: str, user: str, password: str, *, config: ClientConfig | None = None
) -> Path:
    """Check ``user``/``password`` with ``GET /v2/`` (through the token flow) and store them."""
    config = config or ClientConfig()
    host = registry_host(server)
    checking = replace(config, credentials=lambda _h: (user, password))
    with RegistryClient(host, checking) as client:
        client.request("GET", "/v2/", scope="", what=f"login {server}")
    return store_credentials(server, user, password)


async def inspect_manifest(reference: str, *, config: ClientConfig | None = None) -> bytes:
    """:func:`inspect_manifest_sync` on a worker thread."""
    import asyncio

    return await asyncio.to_thread(inspect_manifest_sync, reference, config=config)


def inspect_manifest_sync(reference: str, *, config: ClientConfig | None = None) -> bytes:
    """The manifest (or index) bytes that ``reference`` names, digest-verified."""
    ref = parse_reference(reference)
    config = config or ClientConfig()
    with RegistryClient(registry_host(ref.domain), config) as client:
        body, _media_type, _digest = fetch_manifest(client, ref, f"inspect {ref}")
    return body
