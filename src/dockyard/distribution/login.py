"""``login`` (check credentials against a registry, then store them) and ``manifest inspect``.

Errors: refused credentials raise PermissionDenied; an unreachable registry
raises Unavailable.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp

from dockyard.distribution.auth import store_credentials
from dockyard.distribution.client import ClientConfig, RegistryClient, registry_host
from dockyard.distribution.pull import fetch_manifest
from dockyard.oci.reference import parse_reference

__all__ = ["inspect_manifest", "login"]


async def login(
    server: str, user: str, password: str, *, config: ClientConfig | None = None
) -> Path:
    """Check ``user``/``password`` with ``GET /v2/`` (through the token flow) and store them."""
    config = config or ClientConfig()
    host = registry_host(server)
    checking = dataclasses.replace(config, credentials=lambda _h: (user, password))
    async with aiohttp.ClientSession() as session:
        client = RegistryClient(host, checking, session)
        await client.request("GET", "/v2/", scope="", what=f"login {server}")
    return store_credentials(server, user, password)


async def inspect_manifest(reference: str, *, config: ClientConfig | None = None) -> bytes:
    """The manifest (or index) bytes that ``reference`` names, digest-verified."""
    ref = parse_reference(reference)
    config = config or ClientConfig()
    async with aiohttp.ClientSession() as session:
        client = RegistryClient(registry_host(ref.domain), config, session)
        body, _media_type, _digest = await fetch_manifest(client, ref, f"inspect {ref}")
    return body
