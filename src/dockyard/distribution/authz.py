"""Who may do what on the registry server: htpasswd basic auth and bearer tokens.

Vocabulary
----------
An *access* is a resource and actions (``repository:team/app:pull,push``,
``registry:catalog:*``).  Each request needs some accesses (computed by the
server from the route); an *authorizer* looks at the ``Authorization`` header
and returns a :class:`Decision`: the account, what it is granted, and — when
something is missing — the ``WWW-Authenticate`` challenge to send with 401.

* :class:`BasicAuthorizer` — an htpasswd file.  Bcrypt (``$2y$``, ``$2a$``,
  ``$2b$``, through the ``bcrypt`` package) entries are accepted; unsalted
  ``{SHA}`` and plain-text entries only when explicitly allowed (plain text
  only in a file readable by its owner alone).  Any valid account may do
  everything, unless an access file says what each may do.
* :class:`TokenAuthorizer` — Docker's token flow: the client is sent to
  ``realm`` for a token with ``service`` and ``scope``, then presents it as
  ``Bearer``.  Tokens are verified with :mod:`dockyard.distribution.tokens`.
* :class:`TokenIssuer` — the ``/token`` endpoint, so one server can issue its
  own tokens: it checks basic credentials against an htpasswd file and grants
  what its :class:`Policy` allows (by default an account gets everything under
  ``<account>/`` and pull elsewhere; anonymous gets nothing).

Errors: a malformed htpasswd or ACL file raises InvalidArgument at load.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import hashlib
import hmac
import json
import os
import stat
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from dockyard.distribution.access import AccessPolicy
from dockyard.distribution.tokens import (
    Access,
    TokenClaims,
    decode_token,
    encode_token,
    parse_scope,
)
from dockyard.errors import InvalidArgument, PermissionDenied, Unavailable

__all__ = [
    "ALL_ACTIONS",
    "BasicAuthorizer",
    "Decision",
    "Htpasswd",
    "Policy",
    "TokenAuthorizer",
    "TokenIssuer",
    "load_acl",
]

ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})
_CACHE_TTL_S = 60.0


@dataclass(frozen=True)
class Decision:
    """The outcome of authorizing one request."""

    ok: bool
    account: str | None = None
    claims: TokenClaims | None = None
    challenge: str | None = None
    message: str = ""
    #: authenticated, but the account may not do what the request needs (403 DENIED)
    denied: bool = False
    #: credentials were presented and were wrong (counts towards throttling)
    bad_credentials: bool = False
    access: AccessPolicy | None = None

    def allows(self, kind: str, name: str, action: str) -> bool:
        """Whether the caller holds ``action`` on the resource.

        Basic auth without an access file holds everything.
        """
        if not self.ok:
            return False
        if self.access is not None:
            return self.access.allows(self.account, kind, name, action)
        return self.claims is None or self.claims.allows(kind, name, action)


class Authorizer(Protocol):
    def authorize(self, authorization: str, needed: Sequence[Access], base_url: str) -> Decision:
        """Decide on a request needing ``needed``; ``base_url`` is how the client saw us."""
        ...


# --- htpasswd ---------------------------------------------------------------------------


class Htpasswd:
    """Accounts from an Apache htpasswd file (``user:hash`` per line).

    Unsalted entries (``{SHA}``, and plain text in a file only its owner can
    read) are refused unless ``allow_insecure``; :attr:`insecure` lists the
    accounts that use one, for a warning.  A name that is not in the file costs
    the same work as a wrong password (a check against a dummy hash of the
    file's own kind and bcrypt cost), so timing does not tell which accounts
    exist.
    """

    #: check unknown names against a dummy hash (switched off only to prove it matters)
    equal_work = True

    def __init__(self, path: Path, *, allow_insecure: bool = False) -> None:
        self.path = Path(path)
        self._entries = _load_htpasswd(self.path, allow_insecure)
        self.insecure = sorted(u for u, h in self._entries.items() if not h.startswith("$2"))
        self._dummy: str | None = None
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def check(self, user: str, password: str) -> bool:
        stored = self._entries.get(user)
        if stored is None:
            if self.equal_work:
                _verify(self._dummy_hash(), password)
            return False
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            hit = self._cache.get(user)
        if hit is not None and hit[1] > time.monotonic() and hmac.compare_digest(hit[0], key):
            return True
        ok = _verify(stored, password)
        if ok:
            with self._lock:
                self._cache[user] = (key, time.monotonic() + _CACHE_TTL_S)
        return ok

    def _dummy_hash(self) -> str:
        """A hash no password matches, as costly to check as the file's usual entry."""
        if self._dummy is None:
            costs = [
                int(h[4:6]) for h in self._entries.values() if h[:4] in _BCRYPT and h[4:6].isdigit()
            ]
            if costs or not self._entries:
                import bcrypt

                cost = max(costs, default=10)
                self._dummy = bcrypt.hashpw(os.urandom(16), bcrypt.gensalt(cost)).decode()
            else:
                self._dummy = "{SHA}" + base64.b64encode(os.urandom(20)).decode()
        return self._dummy


_BCRYPT = ("$2y$", "$2a$", "$2b$")


def _load_htpasswd(path: Path, allow_insecure: bool) -> dict[str, str]:
    try:
        text = path.read_text()
        private = stat.S_IMODE(path.stat().st_mode) & 0o077 == 0
    except OSError as e:
        raise InvalidArgument(f"load htpasswd {path}: {e.strerror or e}") from None
    out = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise InvalidArgument(f"load htpasswd {path}: line {n}: expected user:hash")
        _check_format(path, n, hashed, private, allow_insecure)
        out[user] = hashed
    return out


def _check_format(path: Path, n: int, hashed: str, private: bool, allow_insecure: bool) -> None:
    if hashed.startswith(_BCRYPT):
        return
    where = f"load htpasswd {path}: line {n}"
    if hashed.startswith("$"):
        raise InvalidArgument(
            f"{where}: unsupported hash {hashed.split('$')[1]!r} (use bcrypt: htpasswd -B)"
        )
    kind = "unsalted {SHA} hash" if hashed.startswith("{SHA}") else "plain-text password"
    if not allow_insecure:
        raise InvalidArgument(
            f"{where}: {kind} refused (use bcrypt: htpasswd -B, or --allow-insecure-htpasswd)"
        )
    if not hashed.startswith("{SHA}") and not private:
        raise InvalidArgument(f"{where}: plain-text password in a file others can read")


def _verify(stored: str, password: str) -> bool:
    if stored.startswith("$2"):
        try:
            import bcrypt
        except ImportError:
            raise Unavailable("check password: bcrypt entries need the bcrypt package") from None
        try:
            return bool(bcrypt.checkpw(password.encode(), stored.encode()))
        except ValueError:
            return False
    if stored.startswith("{SHA}"):
        want = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        return hmac.compare_digest(want, stored[5:])
    return hmac.compare_digest(stored.encode(), password.encode())


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """``(user, password)`` from a ``Basic`` Authorization header, or None."""
    kind, _, value = authorization.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return (user, password) if sep else None


# --- authorizers ------------------------------------------------------------------------


class BasicAuthorizer:
    """HTTP basic auth against an htpasswd file.

    Without ``access`` any valid account may do everything; with it, an
    account holds what the access file grants (:mod:`~dockyard.distribution.access`)
    and anything else is denied.
    """

    def __init__(
        self,
        htpasswd: Htpasswd,
        realm: str = "dockyard-registry",
        access: AccessPolicy | None = None,
    ) -> None:
        self.htpasswd = htpasswd
        self.realm = realm
        self.access = access

    def authorize(self, authorization: str, needed: Sequence[Access], base_url: str) -> Decision:
        creds = basic_credentials(authorization)
        if creds is not None and self.htpasswd.check(*creds):
            return self._grant(creds[0], needed)
        challenge = f'Basic realm="{self.realm}"'
        if creds is None:
            return Decision(False, challenge=challenge, message="authentication required")
        return Decision(
            False, challenge=challenge, message="invalid username or password", bad_credentials=True
        )

    def _grant(self, user: str, needed: Sequence[Access]) -> Decision:
        access = self.access
        if access is None:
            return Decision(True, account=user)
        for a in needed:
            for act in sorted(a.actions):
                if not access.allows(user, a.type, a.name, act):
                    return Decision(
                        False,
                        account=user,
                        denied=True,
                        message=f"{user}: {act} on {a.type} {a.name}: access denied",
                    )
        return Decision(True, account=user, access=access)


@dataclass(frozen=True)
class TokenAuthorizer:
    """Bearer tokens from a Docker-style token issuer sharing ``key``."""

    realm: str
    issuer: str
    key: bytes
    service: str = ""

    @property
    def audience(self) -> str:
        return self.service or self.issuer

    def authorize(self, authorization: str, needed: Sequence[Access], base_url: str) -> Decision:
        kind, _, token = authorization.partition(" ")
        claims = None
        error = ""
        if kind.lower() == "bearer" and token.strip():
            try:
                claims = decode_token(
                    token.strip(), self.key, issuer=self.issuer, audience=self.audience
                )
            except PermissionDenied as e:
                error = str(e)
        if claims is not None:
            missing = [
                a for a in needed for act in a.actions if not claims.allows(a.type, a.name, act)
            ]
            if not missing:
                return Decision(True, account=claims.subject, claims=claims)
            error = "insufficient_scope"
        return Decision(
            False,
            challenge=self._challenge(needed, base_url, error == "insufficient_scope"),
            message=error or "authentication required",
        )

    def _challenge(self, needed: Sequence[Access], base_url: str, insufficient: bool) -> str:
        realm = base_url.rstrip("/") + self.realm if self.realm.startswith("/") else self.realm
        parts = [f'realm="{realm}"', f'service="{self.audience}"']
        if needed:
            parts.append(f'scope="{" ".join(a.scope() for a in needed)}"')
        if insufficient:
            parts.append('error="insufficient_scope"')
        return "Bearer " + ",".join(parts)


# --- the token issuer -------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """An ACL entry: ``account`` (or ``*``) may do ``actions`` on names matching ``name``."""

    account: str
    name: str
    actions: frozenset[str]


@dataclass(frozen=True)
class Policy:
    """What each account may be granted; ``rules`` empty means the default policy.

    Default: an account gets every action under ``<account>/`` and ``pull``
    elsewhere, plus the catalog; anonymous callers get nothing.
    """

    rules: tuple[Rule, ...] = ()

    def grant(self, account: str | None, asked: Access) -> Access:
        if self.rules:
            allowed: set[str] = set()
            for r in self.rules:
                if r.account in ("*", account or "") and fnmatch.fnmatchcase(asked.name, r.name):
                    allowed |= r.actions
        else:
            allowed = _default_grant(account, asked)
        if "*" in allowed:
            allowed |= ALL_ACTIONS
        return Access(asked.type, asked.name, asked.actions & frozenset(allowed))


def _default_grant(account: str | None, asked: Access) -> set[str]:
    if account is None:
        return set()
    if asked.type == "registry":
        return {"*"} if asked.name == "catalog" else set()
    if asked.type != "repository":
        return set()
    if asked.name == account or asked.name.startswith(f"{account}/"):
        return set(ALL_ACTIONS)
    return {"pull"}


def load_acl(path: Path) -> Policy:
    """An ACL file: a JSON list of ``{"account", "name" (glob), "actions"}``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"load acl {path}: {e}") from None
    if not isinstance(data, list):
        raise InvalidArgument(f"load acl {path}: expected a list of rules")
    rules = []
    for i, r in enumerate(data):
        ok = isinstance(r, dict) and isinstance(r.get("name"), str)
        actions = r.get("actions") if isinstance(r, dict) else None
        if not ok or not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise InvalidArgument(f"load acl {path}: rule {i}: expected name and actions")
        rules.append(Rule(str(r.get("account", "*")), r["name"], frozenset(actions)))
    return Policy(tuple(rules))


@dataclass
class TokenIssuer:
    """Issues tokens at ``/token`` for accounts in an htpasswd file."""

    htpasswd: Htpasswd
    issuer: str
    key: bytes
    service: str
    policy: Policy = field(default_factory=Policy)
    ttl_s: float = 300.0

    def issue(self, authorization: str, query: Mapping[str, Sequence[str]]) -> dict[str, object]:
        """The JSON body of a token response; PermissionDenied on bad credentials."""
        account = None
        creds = basic_credentials(authorization)
        if creds is not None:
            if not self.htpasswd.check(*creds):
                raise PermissionDenied(f"issue token for {creds[0]}: invalid username or password")
            account = creds[0]
        service = (query.get("service") or [self.service])[0]
        if service != self.service:
            raise PermissionDenied(f"issue token: unknown service {service!r}")
        asked = [a for s in query.get("scope") or () for a in parse_scope(s)]
        granted = [self.policy.grant(account, a) for a in asked]
        token = encode_token(
            self.key,
            issuer=self.issuer,
            audience=self.service,
            subject=account or "",
            access=[g for g in granted if g.actions],
            ttl_s=self.ttl_s,
        )
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return {
            "token": token,
            "access_token": token,
            "expires_in": int(self.ttl_s),
            "issued_at": now,
        }


def read_key(path: Path) -> bytes:
    """The shared token key: the file's bytes (at least 32)."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as e:
        raise InvalidArgument(f"read token key {path}: {e.strerror or e}") from None
    if len(key) < 32:
        raise InvalidArgument(f"read token key {path}: key must have at least 32 bytes")
    if os.name == "posix" and stat.S_IMODE(Path(path).stat().st_mode) & 0o077:
        raise InvalidArgument(f"read token key {path}: file must be readable by its owner only")
    return key
