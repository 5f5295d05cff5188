"""``dockyard system info|df|prune`` and ``dockyard info``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "info":
        p.add_argument("-f", "--format")
        return
    sub = p.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    i = sub.add_parser("info", help="display system-wide information")
    i.add_argument("-f", "--format")
    df = sub.add_parser("df", help="show disk usage")
    df.add_argument("--format", help="format output using a Go template, 'table ...' or json")
    pr = sub.add_parser("prune", help="remove unused containers, networks, images, build cache")
    pr.add_argument("-a", "--all", action="store_true", help="remove all unused images")
    pr.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    pr.add_argument("--volumes", action="store_true", help="prune anonymous volumes")
    ins = sub.add_parser("install", help="install dockyardd as the systemd unit dockyard.service")
    ins.add_argument("--no-start", action="store_true", help="enable the unit without starting it")
    sub.add_parser("uninstall", help="stop and remove dockyard.service (containers keep running)")
    sub.add_parser("unit", help="print the dockyard.service unit that install writes")


def _service(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.engine import service

    if args.sub == "unit":
        print(service.unit_text(ctx.root_dir, ctx.run_root_dir), end="")
    elif args.sub == "install":
        path = service.install(ctx.root_dir, ctx.run_root_dir, start=not args.no_start)
        print(f"installed {path}")
    else:
        service.uninstall()
        print(f"removed {service.UNIT_PATH}")
    return 0


# docker's column titles and default table (cli/command/formatter/disk_usage.go)
DF_HEADERS = {"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE",
              "Reclaimable": "RECLAIMABLE"}  # fmt: skip
DF_TABLE = "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"


def df_rows(df: dict[str, Any]) -> list[dict[str, str]]:
    """``system df``'s summary rows as docker's formatter offers them to a template.

    Active: images some container uses, running containers, volumes some container
    mounts. Reclaimable: the size of the rest, with its share in percent.
    """
    from dockyard.cli.render import human_size

    vols = df["Volumes"]
    kinds = [
        ("Images", [(i["Size"], i.get("Containers", 0) > 0) for i in df["Images"]]),
        ("Containers", [(x["SizeRw"], x["State"] == "running") for x in df["Containers"]]),
        ("Local Volumes", [(v["UsageData"]["Size"], v["UsageData"]["RefCount"] > 0)
                           for v in vols]),
        ("Build Cache", [(b.get("Size", 0), bool(b.get("InUse"))) for b in df["BuildCache"] or []]),
    ]  # fmt: skip
    rows = []
    for kind, items in kinds:
        total = df["LayersSize"] if kind == "Images" else sum(size for size, _ in items)
        free = sum(size for size, active in items if not active)
        share = f" ({free * 100 // total}%)" if total else ""
        rows.append({
            "Type": kind, "TotalCount": str(len(items)),
            "Active": str(sum(1 for _, active in items if active)),
            "Size": human_size(total), "Reclaimable": human_size(min(free, total)) + share,
        })  # fmt: skip
    return rows


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from dockyard.cli.commands.lifecycle import client

    sub = "info" if name == "info" else args.sub
    if sub in ("install", "uninstall", "unit"):
        return _service(ctx, args)
    c = client(ctx)
    if sub == "info":
        info = c.get("/info")
        if args.format:
            from dockyard.cli.gotemplate import render

            print(render(args.format, info))
        else:
            for k, v in info.items():
                print(f" {k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
        return 0
    if sub == "df":
        import sys

        from dockyard.cli.gotemplate import format_rows

        rows = df_rows(c.get("/system/df"))
        sys.stdout.write(format_rows(args.format or "table", rows, DF_HEADERS, DF_TABLE))
        return 0
    return _prune(ctx, c, args)


def _prune_warning(args: argparse.Namespace) -> str:
    """Docker's list of what ``system prune`` will remove."""
    items = ["all stopped containers", "all networks not used by at least one container"]
    if args.volumes:
        items.append("all anonymous volumes not used by at least one container")
    if args.all:
        items += ["all images without at least one container associated to them",
                  "all build cache"]  # fmt: skip
    else:
        items += ["all dangling images", "unused build cache"]
    return "WARNING! This will remove:\n" + "".join(f"  - {x}\n" for x in items)


def _prune(ctx: Context, c: Client, args: argparse.Namespace) -> int:
    """``system prune``: stopped containers, unused networks, (``--volumes``: unused
    anonymous volumes,) dangling (``-a``: unused) images, the build cache; docker's
    sections, then the total."""
    from dockyard.cli.commands.image import image_gc
    from dockyard.cli.prompt import confirm
    from dockyard.cli.render import human_size

    if not args.force and not confirm(_prune_warning(args)):
        print("Total reclaimed space: 0B")
        return 0
    out = c.request("POST", "/containers/prune", {}).json()
    _section("Deleted Containers", out["ContainersDeleted"])
    space = int(out.get("SpaceReclaimed") or 0)
    if args.volumes:
        vols = c.request("POST", "/volumes/prune", {}).json()
        _section("Deleted Volumes", vols["VolumesDeleted"])
        space += int(vols.get("SpaceReclaimed") or 0)
    nets = c.request("POST", "/networks/prune", {}).json()
    _section("Deleted Networks", nets["NetworksDeleted"])
    lines, freed = image_gc(ctx, args.all)
    _section("Deleted Images", lines)
    from dockyard.build import prune_cache

    cache = prune_cache(ctx.images())
    if cache.records:
        print(f"Deleted build cache objects: {cache.records}\n")
    print(f"Total reclaimed space: {human_size(space + freed + cache.reclaimed)}")
    return 0


def _section(title: str, names: list[str] | None) -> None:
    if names:
        print(f"{title}:\n" + "\n".join(names) + "\n")
