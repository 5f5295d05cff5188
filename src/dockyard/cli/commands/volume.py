"""``dockyard volume create|ls|inspect|rm|prune``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    sub = p.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    c = sub.add_parser("create", help="create a volume")
    c.add_argument("name", nargs="?")
    c.add_argument("-l", "--label", action="append", default=[])
    c.add_argument("-o", "--opt", action="append", default=[])
    ls = sub.add_parser("ls", help="list volumes")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--format")
    i = sub.add_parser("inspect", help="display detailed information on volumes")
    i.add_argument("names", nargs="+")
    i.add_argument("-f", "--format")
    r = sub.add_parser("rm", help="remove volumes")
    r.add_argument("-f", "--force", action="store_true")
    r.add_argument("names", nargs="+")
    pr = sub.add_parser("prune", help="remove unused volumes")
    pr.add_argument("-a", "--all", action="store_true", help="all unused volumes, named too")
    pr.add_argument("-f", "--force", action="store_true")


def _kv(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


# docker's column titles (cli/command/formatter/volume.go)
VOLUME_HEADERS = {
    "Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE",
}  # fmt: skip


def _volume_view(v: dict[str, Any]) -> dict[str, Any]:
    """What docker's volume formatter offers a template: strings, labels as ``k=v,...``."""
    labels = v.get("Labels") or {}
    usage = v.get("UsageData") or {}
    return {
        "Name": v["Name"], "Driver": v["Driver"], "Scope": v.get("Scope", "local"),
        "Mountpoint": v.get("Mountpoint", ""),
        "Labels": ",".join(f"{k}={x}" for k, x in sorted(labels.items())),
        "Links": str(usage["RefCount"]) if "RefCount" in usage else "N/A",
        "Size": "N/A", "Label": lambda key: str(labels.get(key, "")),
    }  # fmt: skip


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client

    c = client(ctx)
    if args.sub == "create":
        body = {"Name": args.name or "", "Labels": _kv(args.label), "DriverOpts": _kv(args.opt)}
        print(c.request("POST", "/volumes/create", body).json()["Name"])
    elif args.sub == "ls":
        vols = c.get("/volumes")["Volumes"]
        if args.quiet:
            for v in vols:
                print(v["Name"])
        elif args.format:
            import sys

            from dockyard.cli.gotemplate import format_rows

            views = [_volume_view(v) for v in vols]
            sys.stdout.write(
                format_rows(args.format, views, VOLUME_HEADERS, "{{.Driver}}\t{{.Name}}")
            )
        else:
            from dockyard.cli.render import table

            print(table(["DRIVER", "VOLUME NAME"], [[v["Driver"], v["Name"]] for v in vols]))
    elif args.sub == "inspect":
        views = [c.get(f"/volumes/{quote(n, safe='')}") for n in args.names]
        from dockyard.cli.render import print_views

        print_views(views, args.format)
    elif args.sub == "rm":
        for n in args.names:
            c.request("DELETE", f"/volumes/{quote(n, safe='')}?force={int(args.force)}").read()
            print(n)
    else:
        out = c.request("POST", f"/volumes/prune?all={int(args.all)}", {}).json()
        for n in out["VolumesDeleted"] or []:
            print(n)
        from dockyard.cli.render import human_size

        print(f"Total reclaimed space: {human_size(out['SpaceReclaimed'])}")
    return 0
