"""``export kubernetes [-f FILE|DIR]... [-R] [-n NS | --all]``: the stored objects (or a
compose file's, or manifests') as multi-document YAML that ``kubectl apply`` takes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument

from .apply import validate_against_schemas
from .resources import client, path, read_objects

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["EXPORT_PLURALS", "add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    a = p.add_argument
    a("format", choices=["kubernetes"])
    a("-f", "--filename", action="append", default=[], help="compose file or manifests")
    a("-R", "--recursive", action="store_true", help="read directories recursively")
    a("-n", "--namespace", default=None, help="only this namespace (default: all)")
    a("--all", action="store_true", help="everything in the daemon's store, all namespaces")
    a("--validate", default="true", help="check the output against the Kubernetes schemas")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    """``export kubernetes [-f FILE|DIR]... [-R] [-n NS | --all]``: multi-document YAML."""
    from pathlib import Path

    from dockyard.orchestrator.export import exportable, to_yaml
    from dockyard.orchestrator.loader import from_dict

    if args.all and (args.filename or args.namespace):
        raise InvalidArgument("--all exports the whole store: not with -f or -n")
    objects: list[Any] = []
    if args.filename:
        for f in args.filename:
            p = Path(f)
            if p.is_file() and ("compose" in p.name):
                from dockyard.orchestrator.compose import load_compose_file

                objects.extend(load_compose_file(p).objects)
            else:
                objects.extend(read_objects([f], args.recursive))
    else:
        c = client(ctx)
        for plural in EXPORT_PLURALS:
            ns = args.namespace if plural != "namespaces" else None
            for item in c.get(path(plural, ns))["items"]:
                name = (item.get("metadata") or {}).get("name")
                if plural == "namespaces" and name == "default":
                    continue
                if plural == "namespaces" and args.namespace and name != args.namespace:
                    continue
                objects.append(from_dict(exportable(item)))
    validate_against_schemas(objects, args.validate)
    if objects:
        print(to_yaml(objects).rstrip())
    return 0


EXPORT_PLURALS = (
    "namespaces",
    "configmaps",
    "secrets",
    "services",
    "deployments",
    "horizontalpodautoscalers",
    "networkpolicies",
)
