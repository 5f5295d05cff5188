"""``dockyard container SUBCOMMAND``: docker's management form of the container commands.

Every subcommand is the top-level command of the same name (``container ls`` is ``ps``,
``container rm`` is ``rm``, ``container run`` is ``run``, ...), parsed by that command's
own parser and run through the daemon exactly as the top-level one is; ``container prune``
asks the daemon's ``POST /containers/prune`` after docker's question. Nothing here opens
the store or the engine itself: a container the daemon owns is only ever touched by it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from dockyard.cli.main import Context

# subcommand -> top-level command (whose module comes from dockyard.cli.main.COMMANDS)
_ALIASES = {"ls": "ps", "list": "ps", "ps": "ps"}
_SAME = "attach cp create exec inspect kill logs pause port rename restart rm run start stats stop"
_SAME += " top unpause update wait"
SUBCOMMANDS = {**_ALIASES, **{name: name for name in _SAME.split()}}

PRUNE_WARNING = "WARNING! This will remove all stopped containers."


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    """The list of subcommands (``--help``, an unknown one); the delegated ones are parsed
    by :func:`fast_parse` with their own command's parser."""
    sub = p.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    from dockyard.cli.main import COMMANDS

    for name, target in SUBCOMMANDS.items():
        sub.add_parser(name, help=COMMANDS[target][1])
    pr = sub.add_parser("prune", help="Remove all stopped containers")
    pr.add_argument("-f", "--force", action="store_true", help="do not prompt for confirmation")
    pr.add_argument("--filter", action="append", default=[], help="filter values (until=, label=)")


def fast_parse(argv: list[str], _name: str) -> argparse.Namespace | None:
    """``container SUB ARGS``: ARGS parsed by SUB's own command (its fast parser first, as
    ``main`` does). None (argparse decides) for ``prune``, ``--help`` or an unknown SUB."""
    if not argv or argv[0] not in SUBCOMMANDS:
        return None
    from dockyard.cli import main

    target = SUBCOMMANDS[argv[0]]
    module = _module(target)
    fast = getattr(module, "fast_parse", None)
    inner = fast(argv[1:], target) if fast is not None else None
    if inner is None:
        try:
            inner = main._parse(module, target, argv[1:])
        except SystemExit as exc:
            return argparse.Namespace(sub=argv[0], target=target, inner=None,
                                      exit=0 if exc.code == 0 else 125)  # fmt: skip
    return argparse.Namespace(sub=argv[0], target=target, inner=inner, exit=None)


def _module(target: str) -> Any:
    import importlib

    from dockyard.cli.main import COMMANDS

    return importlib.import_module(f"dockyard.cli.commands.{COMMANDS[target][0]}")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    if args.sub == "prune":
        return _prune(ctx, args)
    if args.exit is not None:
        return int(args.exit)
    if args.target == "inspect":
        args.inner.type = "container"
    from dockyard.errors import DockyardError

    try:
        return int(_module(args.target).run(ctx, args.inner, args.target))
    except DockyardError as exc:
        if args.target not in ("run", "exec") or ctx.debug:
            raise
        import sys

        from dockyard.cli.main import _run_exit_code

        print(f"dockyard: {exc}", file=sys.stderr)  # run/exec keep docker's 125/126/127
        return _run_exit_code(exc, 125 if args.target == "run" else 1)


def _prune(ctx: Context, args: argparse.Namespace) -> int:
    """docker's ``container prune``: the question (unless ``-f``), then the daemon removes
    every stopped container and reports their IDs and the space given back."""
    import json
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client
    from dockyard.cli.prompt import confirm
    from dockyard.cli.render import human_size

    if not args.force and not confirm(PRUNE_WARNING):
        return 0
    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    q = "?filters=" + quote(json.dumps(filters)) if filters else ""
    out = client(ctx).request("POST", "/containers/prune" + q, {}).json()
    gone = out.get("ContainersDeleted") or []
    if gone:
        print("Deleted Containers:\n" + "\n".join(gone) + "\n")
    print(f"Total reclaimed space: {human_size(int(out.get('SpaceReclaimed') or 0))}")
    return 0
