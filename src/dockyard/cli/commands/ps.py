"""``dockyard ps``: the daemon's container list as docker prints it (table, ``-q``,
``--format`` Go templates, ``-f`` filters)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="show all containers")
    p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
    p.add_argument("--format", help="format output using a Go template")
    p.add_argument("-f", "--filter", action="append", default=[], help="filter output")


# docker's column titles (cli/command/formatter/container.go) and default table
PS_HEADERS = {
    "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
    "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS",
}  # fmt: skip
PS_TABLE = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def _row(c: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """What docker's container formatter offers a template (``.Label "k"`` a method)."""
    cmd = c["Command"] if no_trunc or len(c["Command"]) <= 20 else c["Command"][:19] + "…"
    ports = ", ".join(
        f"{p['IP'] or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{p['Type']}"
        for p in c["Ports"] if p.get("PublicPort")
    )  # fmt: skip
    import time

    from dockyard.cli.render import ago

    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(c["Created"]))
    labels, mounts = c.get("Labels") or {}, c.get("Mounts") or []
    return {
        "ID": c["Id"] if no_trunc else c["Id"][:12], "Image": c["Image"],
        "Command": json.dumps(cmd, ensure_ascii=False), "CreatedAt": created,
        "RunningFor": ago(created) + " ago", "Status": c["Status"], "State": c["State"],
        "Ports": ports, "Names": c["Names"][0].lstrip("/"),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()),
        "Label": lambda key: str(labels.get(key, "")),
        "Mounts": ",".join(str(m.get("Name") or m.get("Source") or "") for m in mounts),
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Type") == "volume")),
        "Networks": ",".join(sorted((c.get("NetworkSettings") or {}).get("Networks") or {})),
    }  # fmt: skip


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client

    c = client(ctx)
    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    q = f"?all={int(args.all)}"
    if filters:
        q += "&filters=" + quote(json.dumps(filters))
    items = c.get("/containers/json" + q)
    if args.quiet:
        for it in items:
            print(it["Id"] if args.no_trunc else it["Id"][:12])
        return 0
    rows = [_row(it, args.no_trunc) for it in items]
    if args.format:
        from dockyard.cli.gotemplate import format_rows

        sys.stdout.write(format_rows(args.format, rows, PS_HEADERS, PS_TABLE))
        return 0
    from dockyard.cli.render import table

    headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    keys = ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"]
    print(table(headers, [[r[k] for k in keys] for r in rows]))
    return 0
