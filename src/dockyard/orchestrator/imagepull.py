"""Pulling a pod's images as the kubelet does: ``imagePullPolicy`` and ``imagePullSecrets``.

* ``IfNotPresent`` (the default for a tag other than ``latest``): pull only when the store
  does not have the image;
* ``Never``: never pull; an absent image is ``ErrImageNeverPull``;
* ``Always`` (the default for ``:latest`` and untagged images): ask the registry every time
  the pod starts. One deviation, written down in docs/orchestrator.md: when the registry
  cannot be reached or does not have the image and the store has it (images built or loaded
  here, machines without a way out), the local image is used and the pod's events say so —
  the kubelet would fail the pod with ``ErrImagePull`` instead.

A failed pull of an absent image is ``ErrImagePull`` with the registry's one-line reason.

Credentials: each Secret named in ``imagePullSecrets`` (the pod's namespace) of type
``kubernetes.io/dockerconfigjson`` (key ``.dockerconfigjson``: ``{"auths": {HOST: {...}}}``) or
``kubernetes.io/dockercfg`` (key ``.dockercfg``: ``{HOST: {...}}``), an entry's ``auth``
(base64 ``user:password``) or ``username``/``password``; the first Secret with an entry for the
registry wins, then the daemon's own login file (``dockyard login``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dockyard.errors import DockyardError, NotFound, Unavailable

__all__ = ["ImagePullError", "credentials_from_secrets", "ensure_image", "registry_keys"]

Credentials = Callable[[str], "tuple[str, str] | None"]


class ImagePullError(Unavailable):
    """A pod's image could not be pulled (``reason``: ErrImagePull or ErrImageNeverPull)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def registry_keys(host: str) -> list[str]:
    """The keys a docker config may use for ``host``."""
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("registry-1.docker.io", "docker.io", "index.docker.io"):
        keys += ["https://index.docker.io/v1/", "docker.io", "index.docker.io"]
    return keys


def _entry_credentials(entry: Any) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    raw = entry.get("auth")
    if isinstance(raw, str) and raw:
        try:
            user, sep, password = base64.b64decode(raw).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        return (user, password) if sep else None
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str):
        return name, secret
    return None


def credentials_from_secrets(secrets: Iterable[Mapping[str, bytes]]) -> Credentials:
    """A lookup ``host -> (user, password)`` over the Secrets' docker configs, in order."""
    tables: list[dict[str, Any]] = []
    for data in secrets:
        for key, nested in ((".dockerconfigjson", True), (".dockercfg", False)):
            raw = data.get(key)
            if raw is None:
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            auths = doc.get("auths") if nested and isinstance(doc, dict) else doc
            if isinstance(auths, dict):
                tables.append(auths)

    def lookup(host: str) -> tuple[str, str] | None:
        for auths in tables:
            for k in registry_keys(host):
                found = _entry_credentials(auths.get(k))
                if found is not None:
                    return found
        from dockyard.distribution.auth import load_credentials

        return load_credentials(host)

    return lookup


def ensure_image(
    store: Any,
    image: str,
    policy: str,
    credentials: Credentials,
    note: Callable[[str, str], None] = lambda _reason, _message: None,
) -> None:
    """Make ``image`` present in ``store`` as ``policy`` says (blocking: a worker thread's
    work); ``note(reason, message)`` reports what happened (Pulling, Pulled, ...)."""
    present = _present(store, image)
    if policy == "Never":
        if not present:
            raise ImagePullError(
                f'Container image "{image}" is not present with pull policy of Never',
                "ErrImageNeverPull",
            )
        return
    if policy != "Always" and present:
        return
    from dockyard.distribution.client import ClientConfig
    from dockyard.distribution.pull import pull_sync

    note("Pulling", f'Pulling image "{image}"')
    try:
        pull_sync(store, image, config=ClientConfig(credentials=credentials))
    except DockyardError as e:
        if present:
            note("PullFailed", f'Failed to pull image "{image}": {e}; using the local image')
            return
        raise ImagePullError(f'Failed to pull image "{image}": {e}', "ErrImagePull") from None
    note("Pulled", f'Successfully pulled image "{image}"')


def _present(store: Any, image: str) -> bool:
    try:
        store.resolve(image)
    except NotFound:
        return False
    except DockyardError:
        return False
    return True
