"""Client-side credentials: Docker's ``config.json`` and ``WWW-Authenticate`` challenges.

Credentials live where docker keeps them, ``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``, as ``{"auths": {"<host>": {"auth": base64("user:pass")}}}``;
Docker Hub's key is ``https://index.docker.io/v1/``.  Other keys in the file
are kept untouched; the file is rewritten atomically with mode 0600.
Credential helpers (``credsStore``) are not consulted.

Errors: an unreadable or malformed config file raises InvalidArgument.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

__all__ = [
    "DOCKER_HUB_KEY",
    "config_path",
    "load_credentials",
    "parse_challenge",
    "remove_credentials",
    "store_credentials",
]

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def config_path() -> Path:
    from pathlib import Path

    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _key(host: str) -> str:
    return DOCKER_HUB_KEY if host in _HUB_NAMES else host


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"read docker config {path}: {e}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"read docker config {path}: expected an object")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load_credentials(host: str, path: Path | None = None) -> tuple[str, str] | None:
    """``(user, password)`` stored for ``host``, or None."""
    auths = _read(path or config_path()).get("auths") or {}
    if not isinstance(auths, dict):
        return None
    for key in (_key(host), f"https://{host}", f"http://{host}"):
        entry = auths.get(key)
        if isinstance(entry, dict):
            creds = _decode(entry)
            if creds is not None:
                return creds
    return None


def _decode(entry: dict[str, Any]) -> tuple[str, str] | None:
    raw = entry.get("auth")
    if isinstance(raw, str) and raw:
        try:
            user, sep, pw = base64.b64decode(raw).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return (user, pw) if sep else None
    name, secret = entry.get("username"), entry.get("password")
    return (name, secret) if isinstance(name, str) and isinstance(secret, str) else None


def store_credentials(host: str, user: str, password: str, path: Path | None = None) -> Path:
    path = path or config_path()
    data = _read(path)
    auths = data.setdefault("auths", {})
    auths[_key(host)] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(path, data)
    return path


def remove_credentials(host: str, path: Path | None = None) -> bool:
    """Forget ``host``; False when nothing was stored."""
    path = path or config_path()
    data = _read(path)
    auths = data.get("auths") or {}
    if not isinstance(auths, dict) or _key(host) not in auths:
        return False
    del auths[_key(host)]
    _write(path, data)
    return True


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="…",service="…"`` → ``("bearer", {"realm": …, "service": …})``."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        quoted, bare = m.group(2), m.group(3)
        params[m.group(1).lower()] = quoted if quoted is not None else str(bare)
    return scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()}
