"""``dockyard image SUBCOMMAND``: ls, rm, tag, inspect, prune, bootstrap, load, save."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context

# subcommand -> (module, command name inside that module)
_SUB = {
    "ls": ("images", "images"),
    "list": ("images", "images"),
    "rm": ("images", "rmi"),
    "tag": ("images", "tag"),
    "inspect": ("inspect", "inspect"),
    "load": ("archive", "load"),
    "save": ("archive", "save"),
}


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    import importlib

    sub = p.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    for name, (module, cmd) in _SUB.items():
        sp = sub.add_parser(name, add_help=False)
        sp.add_argument("--help", action="help")
        importlib.import_module(f"dockyard.cli.commands.{module}").add_arguments(sp, cmd)
    b = sub.add_parser("bootstrap", help="build base images offline from Debian packages")
    b.add_argument("--cache", help="directory of cached OCI archives to reuse and fill")
    b.add_argument("names", nargs="+", metavar="NAME",
                   help="busybox:latest, debian:bookworm-slim or python:3.11-slim")  # fmt: skip
    pr = sub.add_parser("prune", help="remove dangling images, unused blobs and snapshots")
    pr.add_argument("-a", "--all", action="store_true", help="remove all unused images")
    pr.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    import importlib

    if args.sub in _SUB:
        module, cmd = _SUB[args.sub]
        if args.sub == "inspect":
            args.type = "image"
        mod = importlib.import_module(f"dockyard.cli.commands.{module}")
        run_it = mod.run_local if args.sub == "inspect" else mod.run  # the store, no daemon
        result: int = run_it(ctx, args, cmd)
        return result
    if args.sub == "bootstrap":
        from dockyard.build.bootstrap import bootstrap

        done = bootstrap(
            ctx.root,
            list(args.names),
            cache=Path(args.cache) if args.cache else None,
            progress=lambda msg: print(msg, file=sys.stderr),
        )
        for name in args.names:
            print(name)
        del done
        return 0
    return prune_images(ctx, args.all, args.force)


DANGLING_WARNING = "WARNING! This will remove all dangling images."
ALL_WARNING = (
    "WARNING! This will remove all images without at least one container associated to them."
)


def prune_images(ctx: Context, all_: bool, force: bool) -> int:
    """``image prune [-a] [-f]``: docker's question (unless ``-f``), then the dangling
    (``-a``: every unused) images and the blobs and snapshots nothing references."""
    from dockyard.cli.prompt import confirm
    from dockyard.cli.render import human_size

    if not force and not confirm(ALL_WARNING if all_ else DANGLING_WARNING):
        print("Total reclaimed space: 0B")
        return 0
    lines, reclaimed = image_gc(ctx, all_)
    if lines:
        print("Deleted Images:\n" + "\n".join(lines) + "\n")
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def image_gc(ctx: Context, all_: bool) -> tuple[list[str], int]:
    """Docker's ``untagged: REF`` / ``deleted: DIGEST`` lines of an image prune, and the
    bytes it freed."""
    from dockyard.store.gc import prune

    report = prune(ctx.images(), dangling=True, unused=all_)
    lines = [f"untagged: {ref}" for ref in report.untagged]
    lines += [f"deleted: {d}" for d in report.images]
    lines += [f"deleted: {d}" for d in report.blobs if d not in report.images]
    return lines, report.reclaimed
