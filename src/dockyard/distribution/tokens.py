"""Docker-style registry bearer tokens: compact JWTs signed with HMAC-SHA256.

Claims (the Docker token specification): ``iss`` (issuer), ``sub`` (account),
``aud`` (the registry's service name), ``exp``/``nbf``/``iat`` (seconds since
the epoch), ``jti`` (a random id) and ``access``, a list of
``{"type": "repository", "name": "library/busybox", "actions": ["pull"]}``.

The registry and its token issuer share one secret (the ``KEYFILE`` of
``--auth token:...``); only ``HS256`` is accepted, so an ``alg: none`` token
or a token signed with another key never verifies.

Errors: a malformed, badly signed, expired, not yet valid, or wrongly
addressed token raises PermissionDenied.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import PermissionDenied

__all__ = ["Access", "TokenClaims", "decode_token", "encode_token", "parse_scope"]

_LEEWAY_S = 30


@dataclass(frozen=True)
class Access:
    """One resource and the actions granted (or asked) on it."""

    type: str
    name: str
    actions: frozenset[str] = field(default_factory=frozenset)

    def scope(self) -> str:
        """As in ``WWW-Authenticate`` and ``/token?scope=``: ``repository:a/b:pull,push``."""
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(scope: str) -> list[Access]:
    """Parse space-separated scopes; a malformed one is skipped, as Docker does."""
    out = []
    for item in scope.split():
        # the name may hold a port (``localhost:5000/x``), so split from both ends
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind and name and actions:
            out.append(Access(kind, name, frozenset(a for a in actions.split(",") if a)))
    return out


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    access: tuple[Access, ...]
    expires_at: float

    def allows(self, kind: str, name: str, action: str) -> bool:
        return any(
            a.type == kind and a.name == name and (action in a.actions or "*" in a.actions)
            for a in self.access
        )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (ValueError, TypeError):
        raise PermissionDenied("verify token: invalid base64") from None


def encode_token(
    key: bytes,
    *,
    issuer: str,
    audience: str,
    subject: str,
    access: Iterable[Access],
    ttl_s: float = 300.0,
    now: float | None = None,
) -> str:
    """A signed token granting ``access`` to ``subject`` for ``ttl_s`` seconds."""
    t = int(time.time() if now is None else now)
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": t,
        "nbf": t,
        "exp": t + int(ttl_s),
        "jti": secrets.token_hex(16),
        "access": [a.to_dict() for a in access],
    }
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{_b64(sig)}"


def decode_token(
    token: str, key: bytes, *, issuer: str, audience: str, now: float | None = None
) -> TokenClaims:
    """Verify a token and return its claims; PermissionDenied naming the reason otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise PermissionDenied("verify token: malformed token")
    header = _json(_unb64(parts[0]))
    if header.get("alg") != "HS256":
        raise PermissionDenied(f"verify token: unsupported algorithm {header.get('alg')!r}")
    want = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, _unb64(parts[2])):
        raise PermissionDenied("verify token: bad signature")
    claims = _json(_unb64(parts[1]))
    _check_claims(claims, issuer, audience, time.time() if now is None else now)
    return TokenClaims(
        subject=str(claims.get("sub", "")),
        access=tuple(_access(x) for x in claims.get("access") or ()),
        expires_at=float(claims["exp"]),
    )


def _json(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise PermissionDenied("verify token: invalid json") from None
    if not isinstance(value, dict):
        raise PermissionDenied("verify token: expected an object")
    return value


def _check_claims(claims: Mapping[str, Any], issuer: str, audience: str, now: float) -> None:
    if claims.get("iss") != issuer:
        raise PermissionDenied("verify token: wrong issuer")
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise PermissionDenied("verify token: wrong audience")
    exp, nbf = claims.get("exp"), claims.get("nbf", 0)
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
        raise PermissionDenied("verify token: invalid exp or nbf")
    if now > exp + _LEEWAY_S:
        raise PermissionDenied("verify token: expired")
    if now + _LEEWAY_S < nbf:
        raise PermissionDenied("verify token: not valid yet")


def _access(x: object) -> Access:
    if not isinstance(x, dict):
        raise PermissionDenied("verify token: invalid access entry")
    actions = x.get("actions") or []
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise PermissionDenied("verify token: invalid access actions")
    return Access(str(x.get("type", "")), str(x.get("name", "")), frozenset(actions))
