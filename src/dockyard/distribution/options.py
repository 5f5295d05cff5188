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

from dockyard.distribution.access import load_access
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

__all__ = [
    "check_auth_transport",
    "is_loopback",
    "parse_addr",
    "parse_auth",
    "parse_size",
    "tls_context",
]


def parse_addr(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:5000`` for IPv6) → ``(host, port)``."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise InvalidArgument(f"registry serve --addr {addr}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_auth(
    spec: str | None,
    token_users: Path | None = None,
    token_acl: Path | None = None,
    *,
    access: Path | None = None,
    allow_insecure_htpasswd: bool = False,
) -> tuple[Authorizer | None, TokenIssuer | None]:
    """The authorizer (and token issuer) an ``--auth`` spec names.

    ``access`` is an access file (:mod:`~dockyard.distribution.access`) for
    ``htpasswd:`` accounts; ``allow_insecure_htpasswd`` accepts unsalted entries.
    """
    if not spec:
        if token_users is not None:
            raise InvalidArgument("registry serve --token-users: needs --auth token:...")
        if access is not None:
            raise InvalidArgument("registry serve --access: needs --auth htpasswd:FILE")
        return None, None
    kind, _, rest = spec.partition(":")
    if kind == "htpasswd" and rest:
        access_policy = load_access(access) if access is not None else None
        users = Htpasswd(Path(rest), allow_insecure=allow_insecure_htpasswd)
        return BasicAuthorizer(users, access=access_policy), None
    if access is not None:
        raise InvalidArgument(
            "registry serve --access: for --auth htpasswd:FILE (tokens use --token-acl)"
        )
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
    users = Htpasswd(token_users, allow_insecure=allow_insecure_htpasswd)
    issuer_ = TokenIssuer(users, issuer, key, service, policy)
    return authz, issuer_


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address from ``--addr``) is only reachable from this machine."""
    import ipaddress

    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_transport(host: str, tls: bool, auth: str | None, allow_insecure: bool) -> bool:
    """Refuse credentials in clear text on a reachable address; True when that needs a warning.

    With ``--auth`` (passwords go to ``/v2/`` or ``/token``, and bearer tokens
    follow them) and no TLS, only a loopback ``--addr`` is accepted unless
    ``allow_insecure`` (``--allow-insecure-auth``).
    """
    if not auth or tls or is_loopback(host):
        return False
    if not allow_insecure:
        raise InvalidArgument(
            f"registry serve --addr {host}: --auth over plain HTTP on a non-loopback address "
            "would send passwords in clear text (add --tls-cert/--tls-key, or "
            "--allow-insecure-auth)"
        )
    return True


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(raw: str) -> int | None:
    """``--max-blob-size``: bytes, or with a binary unit (``512M``, ``10GiB``); ``0`` = no cap."""
    value = raw.strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] else ""
    number = value[: len(value) - len(unit)] if unit else value
    if not number.isdigit():
        raise InvalidArgument(f"registry serve --max-blob-size {raw}: expected bytes, e.g. 10G")
    size = int(number) * _UNITS[unit]
    return size or None


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
