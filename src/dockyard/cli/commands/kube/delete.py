"""``delete KIND NAME... | KIND/NAME | -f FILE [-l SELECTOR] [--grace-period N]``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, NotFound

from .resources import (
    KIND_PLURAL,
    RESOURCE,
    add_namespace,
    client,
    list_objects,
    path,
    plural_of,
    read_objects,
    target_of,
)

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("kind", nargs="?")
    a("names", nargs="*")
    a("-f", "--filename", action="append", default=[], help="file, directory or -")
    a("-R", "--recursive", action="store_true")
    a("-l", "--selector", help="label selector")
    a("--grace-period", type=int, default=None, help="seconds before SIGKILL (pods)")
    a("--ignore-not-found", action="store_true")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    c = client(ctx)
    targets: list[tuple[str, str | None, str]] = []
    if args.filename:
        for o in read_objects(args.filename, args.recursive):
            targets.append(
                (KIND_PLURAL[o.kind], o.metadata.namespace or args.namespace, o.metadata.name)
            )
    elif args.kind:
        if "/" in args.kind:
            plural, name = target_of([args.kind])
            names = [name, *args.names]
        else:
            plural, names = plural_of(args.kind), list(args.names)
        if args.selector and not names:
            names = [
                i["metadata"]["name"]
                for i in list_objects(c, plural, args.namespace, [], args.selector)
            ]
        if not names and not args.selector:
            raise InvalidArgument("resource(s) were provided, but no name was specified")
        targets = [(plural, args.namespace, n) for n in names]
    else:
        raise InvalidArgument("You must provide one or more resources by argument or filename.")
    code = 0
    for plural, ns, name in targets:
        q = f"?gracePeriodSeconds={args.grace_period}" if args.grace_period is not None else ""
        try:
            c.request(
                "DELETE", path(plural, ns if plural != "namespaces" else None, name) + q
            ).read()
        except NotFound:
            if args.ignore_not_found:
                continue
            print(
                f'Error from server (NotFound): {RESOURCE[plural]} "{name}" not found',
                file=sys.stderr,
            )
            code = 1
            continue
        print(f'{RESOURCE[plural]} "{name}" deleted')
    return code
