"""``dockyard ps`` and ``dockyard rm``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name in ("ps", "ls"):
        p.add_argument("-a", "--all", action="store_true", help="show all containers")
        p.add_argument("-q", "--quiet", action="store_true", help="only display container IDs")
        p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        p.add_argument("--format", help="format output using a Go template")
        p.add_argument("-f", "--filter", action="append", default=[], help="filter output")
    else:
        p.add_argument("-f", "--force", action="store_true", help="force removal of running")
        p.add_argument("-v", "--volumes", action="store_true", help="remove anonymous volumes")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")


def _status(rec: Any) -> str:
    from dockyard.cli.render import ago

    if rec.status == "running":
        return f"Up {ago(rec.started_at)}"
    if rec.status == "created":
        return "Created"
    if rec.status == "exited":
        return f"Exited ({rec.exit_code}) {ago(rec.finished_at)} ago"
    return str(rec.status).capitalize()


def _command(rec: Any, no_trunc: bool) -> str:
    spec = rec.config.get("spec", {})
    cmd = " ".join(spec.get("process", {}).get("args", []))
    if not no_trunc and len(cmd) > 20:
        cmd = cmd[:19] + "…"
    return json.dumps(cmd, ensure_ascii=False)


def _matches(rec: Any, filters: list[str]) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        if key == "status" and rec.status != value:
            return False
        if key == "name" and value not in rec.name:
            return False
        if key == "id" and not rec.id.startswith(value):
            return False
        if key == "label":
            labels = rec.labels
            k, sep, v = value.partition("=")
            if k not in labels or (sep and labels[k] != v):
                return False
    return True


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from dockyard.engine.containers import ContainerEngine

    engine = ContainerEngine(ctx.root, ctx.run_root)
    if name not in ("ps", "ls"):
        return _rm(engine, args)
    from dockyard.cli.render import ago, table

    recs = [r for r in engine.list(all_=args.all or bool(args.filter)) if _matches(r, args.filter)]
    if args.quiet:
        for r in recs:
            print(r.id if args.no_trunc else r.id[:12])
        return 0
    if args.format:
        from dockyard.cli.gotemplate import render

        for r in recs:
            view = {
                "ID": r.id[:12],
                "Names": r.name,
                "Image": r.image_ref,
                "Status": _status(r),
                "Command": _command(r, True),
                "CreatedAt": r.created,
                "State": r.status,
            }
            print(render(args.format, view))
        return 0
    rows = [
        [
            r.id if args.no_trunc else r.id[:12],
            r.image_ref,
            _command(r, args.no_trunc),
            f"{ago(r.created)} ago",
            _status(r),
            "",
            r.name,
        ]
        for r in recs
    ]
    print(table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows))
    return 0


def _rm(engine: Any, args: argparse.Namespace) -> int:
    import sys

    from dockyard.errors import DockyardError

    rc = 0
    for ref in args.containers:
        try:
            engine.remove(ref, force=args.force)
            print(ref)
        except DockyardError as exc:
            print(f"dockyard: {exc}", file=sys.stderr)
            rc = 1
    return rc
