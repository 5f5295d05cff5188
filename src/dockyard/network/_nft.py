"""Run nftables transactions: the ``nft`` command with JSON on stdin (``nft -j -f -``).

Why the command and not libnftables through ctypes or pyroute2's nftables module: ``nft -j``
is the documented, stable interface; one command is one atomic transaction; a failure gives a
readable message; and its cost (a few ms per container start) is small next to the rest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

from dockyard.errors import Internal, PermissionDenied, Unavailable
from dockyard.network._netns import in_netns
from dockyard.network._nftrules import (
    BASE_OWNER,
    TABLES,
    base_commands,
    delete_commands,
    owners_in,
    rules_in,
    table_delete_commands,
)

__all__ = ["Nft"]
Json = dict[str, Any]


class Nft:
    """nftables in one network namespace (``netns`` path; None: ours)."""

    def __init__(self, netns: str | None = None, binary: str = "nft") -> None:
        self.netns = netns
        self.binary = binary

    def _exe(self) -> str:
        path = shutil.which(self.binary)
        if path is None:
            raise Unavailable(f"nftables: {self.binary} is not installed (apt install nftables)")
        return path

    def _call(self, args: Sequence[str], stdin: str, what: str) -> str:
        exe = self._exe()

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [exe, *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
            )

        proc = in_netns(self.netns, run)
        if proc.returncode != 0:
            reason = (proc.stderr.strip().splitlines() or ["failed"])[0].lower()
            if "operation not permitted" in reason:
                raise PermissionDenied(f"{what}: {reason}")
            raise Internal(f"{what}: nft: {reason}")
        return proc.stdout

    def apply(self, commands: Sequence[Json], what: str = "apply nftables rules") -> None:
        """Run ``commands`` as one atomic transaction."""
        if commands:
            self._call(["-j", "-f", "-"], json.dumps({"nftables": list(commands)}), what)

    def rules(self) -> list[Json]:
        """Every rule of dockyard's tables (none when they do not exist)."""
        out: list[Json] = []
        for family, name in TABLES:
            try:
                text = self._call(["-j", "list", "table", family, name], "", "list nft table")
            except Internal as e:
                if "no such file" in str(e):
                    continue
                raise
            out.extend(rules_in(json.loads(text)))
        return out

    def ensure_base(self) -> None:
        self.apply(base_commands(), "create dockyard nftables tables")

    def append(self, rules: Sequence[Json], what: str = "") -> None:
        """Add ``rules`` (tables and base chains made if missing): one transaction, no
        listing — for rules whose owner is new (stale ones of a crashed daemon are pruned)."""
        self.apply([*base_commands(), *rules], what or "add nftables rules")

    def add(
        self, rules: Sequence[Json], replace_owners: Iterable[str] = (), what: str = ""
    ) -> None:
        """Add ``rules``, deleting the rules of ``replace_owners`` first (one transaction)."""
        owners = list(replace_owners)
        dels = delete_commands(self.rules(), owners) if owners else []
        self.apply([*base_commands(), *dels, *rules], what or "add nftables rules")

    def remove(self, owners: Iterable[str], what: str = "") -> None:
        """Delete the rules of ``owners``; drop the tables when only the base rules are left."""
        rules = self.rules()
        if not rules:
            return
        owners = set(owners)
        dels = delete_commands(rules, owners)
        left = owners_in(rules) - owners - {BASE_OWNER}
        if not left:
            self.apply(table_delete_commands(), what or "delete dockyard nftables tables")
        else:
            self.apply(dels, what or "delete nftables rules")
