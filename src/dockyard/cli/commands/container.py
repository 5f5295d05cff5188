"""``dockyard container SUBCOMMAND``: ls, rm, inspect, run, prune."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context

_SUB = {
    "ls": ("containers", "ps"),
    "list": ("containers", "ps"),
    "ps": ("containers", "ps"),
    "rm": ("containers", "rm"),
    "inspect": ("inspect", "inspect"),
    "run": ("run", "run"),
}


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    import importlib

    sub = p.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    for name, (module, cmd) in _SUB.items():
        sp = sub.add_parser(name, add_help=False)
        sp.add_argument("--help", action="help")
        importlib.import_module(f"dockyard.cli.commands.{module}").add_arguments(sp, cmd)
    sub.add_parser("prune", help="remove all stopped containers")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    import importlib

    if args.sub in _SUB:
        module, cmd = _SUB[args.sub]
        if args.sub == "inspect":
            args.type = "container"
        result: int = importlib.import_module(f"dockyard.cli.commands.{module}").run(ctx, args, cmd)
        return result
    from dockyard.engine.containers import ContainerEngine

    engine = ContainerEngine(ctx.root, ctx.run_root)
    for rec in engine.list(all_=True):
        if rec.status in ("exited", "created"):
            engine.remove(rec.id)
            print(rec.id)
    return 0
