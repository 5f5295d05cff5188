"""Turning ``registry serve`` options into a :class:`ServerConfig` (no I/O beyond reading files).

``--auth`` takes one of:

* ``htpasswd:FILE`` — HTTP basic auth against an htpasswd file;
* ``token:REALM,ISSUER,KEYFILE[,SERVICE]`` — bearer tokens signed (HS256) with
  the key in KEYFILE, issued by ISSUER for SERVICE (default: ISSUER), clients
  sent to REALM for them.  A REALM starting with ``/`` is made absolute from
  the request (``/token`` → ``http://127.0.0.1:5000/token``).  With
  ``token_users`` (an htpasswd file) the server issues those tokens itself at
  ``/token``, granting what the ACL file (or the default policy) allows.

Errors: a malformed option or unreadable file raises InvalidArgument.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from dockyard.distribution.authz import (
    Authorizer,
    BasicAuthorizer,
    Htpasswd,
    Policy,
    TokenAuthorizer,
    TokenIssuer,
    load_acl,
    read_key,
)
from dockyard.errors import InvalidArgument

__all__ = ["parse_addr", "parse_auth", "tls_context"]


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5000`` for IPv6) → ``(host, port)``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(f"registry serve --addr {addr}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_auth(
    spec: str | None, token_users: Path | None = None, token_acl: Path | None = None
) -> tuple[Authorizer | None, TokenIssuer | None]:
    """The authorizer (and token issuer) an ``--auth`` spec names."""
    if not spec:
        if token_users is not None:
            raise InvalidArgument("registry serve --token-users: needs --auth token:...")
        return None, None
    kind, _, rest = spec.partition(":")
    if kind == "htpasswd" and rest:
        return BasicAuthorizer(Htpasswd(Path(rest))), None
    if kind != "token":
        raise InvalidArgument(f"registry serve --auth {spec}: expected htpasswd:FILE or token:...")
    parts = rest.split(",")
    if len(parts) not in (3, 4) or not all(parts):
        raise InvalidArgument(
            f"registry serve --auth {spec}: expected token:REALM,ISSUER,KEYFILE[,SERVICE]"
        )
    realm, issuer, keyfile = parts[:3]
    service = parts[3] if len(parts) == 4 else issuer
    key = read_key(Path(keyfile))
    authz = TokenAuthorizer(realm=realm, issuer=issuer, key=key, service=service)
    if token_users is None:
        return authz, None
    policy = load_acl(token_acl) if token_acl is not None else Policy()
    issuer_ = TokenIssuer(Htpasswd(token_users), issuer, key, service, policy)
    return authz, issuer_


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """A server TLS context from PEM files, or None when neither is given."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise InvalidArgument("registry serve: --tls-cert and --tls-key go together")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise InvalidArgument(f"registry serve: load tls certificate {cert}: {e}") from None
    return ctx
