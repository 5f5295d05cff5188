"""``rollout status|history|undo|restart|pause|resume deploy/NAME``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound

from .printers import table
from .resources import RESOURCE, add_namespace, client, path, target_of

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("action", choices=["status", "history", "undo", "restart", "pause", "resume"])
    a("target", nargs="+", help="deploy/NAME, or deployment NAME")
    a("--to-revision", type=int, default=0)
    a("--revision", type=int, default=0, help="history: show one revision's template")
    a("--timeout", type=float, default=0.0, help="status: give up after SECONDS")
    a("-w", "--watch", default="true", help="status: keep watching (true/false)")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    c = client(ctx)
    plural, name = target_of(args.target)
    if plural != "deployments":
        raise InvalidArgument(f"rollout is supported for deployments, not {plural}")
    base = path(plural, args.namespace, name) + "/rollout/"
    res = f"{RESOURCE[plural]}/{name}"
    if args.action == "status":
        return _rollout_status(c, base, args)
    if args.action == "history":
        items = c.get(base + "history")["items"]
        if args.revision:
            match = [e for e in items if e["revision"] == args.revision]
            if not match:
                raise NotFound(f"unable to find the specified revision {args.revision}")
            import yaml

            print(f"{res} with revision #{args.revision}")
            print(yaml.safe_dump(match[0]["template"], sort_keys=False).rstrip())
            return 0
        print(res)
        rows = [["REVISION", "CHANGE-CAUSE"]]
        rows += [[str(e["revision"]), e.get("changeCause") or "<none>"] for e in items]
        print(table(rows))
        return 0
    body = {"toRevision": args.to_revision} if args.action == "undo" else {}
    try:
        c.request("POST", base + args.action, body).read()
    except FailedPrecondition as e:
        if args.action == "undo" and "skipped rollback" in str(e):
            print(f"{res} skipped rollback ({e})")
            return 0
        raise
    word = {"undo": "rolled back", "restart": "restarted", "pause": "paused", "resume": "resumed"}[
        args.action
    ]
    print(f"{res} {word}")
    return 0


def _rollout_status(c: Client, base: str, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout else None
    last = ""
    watch = str(args.watch).lower() not in ("false", "0", "no")
    while True:
        st = c.get(base + "status")
        if st["message"] != last:
            print(st["message"], flush=True)
            last = st["message"]
        if st["state"] == "complete":
            return 0
        if st["state"] == "failed":
            return 1
        if not watch:
            return 0
        if deadline is not None and time.monotonic() > deadline:
            print("error: timed out waiting for the condition", file=sys.stderr)
            return 1
        time.sleep(0.5)
