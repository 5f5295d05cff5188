"""Entitlements: what a build may do only when its caller grants it (``--allow``).

BuildKit's names: ``network.host`` lets RUN steps use the builder's own network namespace
(``--network host``, ``RUN --network=host``); ``security.insecure`` is known but the
insecure mode itself is not supported (Unavailable at the step).  Without the grant, a
build asking for host networking is refused before anything runs (a RUN that an
ONBUILD trigger brings in is refused at its step).

Errors: an unknown entitlement or network mode, or host networking not granted →
InvalidArgument.
"""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.errors import InvalidArgument

__all__ = ["ENTITLEMENTS", "NETWORK_HOST", "check_allow", "check_network"]

NETWORK_HOST = "network.host"
ENTITLEMENTS = (NETWORK_HOST, "security.insecure")
NETWORK_MODES = ("default", "none", "host")


def check_allow(allow: Iterable[str]) -> frozenset[str]:
    """The granted entitlements, each one known."""
    out = frozenset(allow)
    for name in sorted(out):
        if name not in ENTITLEMENTS:
            raise InvalidArgument(
                f"--allow {name}: unknown entitlement (known: {', '.join(ENTITLEMENTS)})"
            )
    return out


def check_network(mode: str, allow: Iterable[str], what: str) -> None:
    """``mode`` is a network mode, and ``host`` only when ``network.host`` is granted."""
    if mode not in NETWORK_MODES:
        raise InvalidArgument(
            f"{what}={mode}: unknown network mode (known: {', '.join(NETWORK_MODES)})"
        )
    if mode == "host" and NETWORK_HOST not in allow:
        raise InvalidArgument(
            f"{what}=host: {NETWORK_HOST} is not allowed (grant it with --allow {NETWORK_HOST})"
        )
