"""``export kubernetes [-f FILE|DIR]... [-R] [-n NS | --all]``: the stored objects (or a
compose file's, or manifests') as multi-document YAML that ``kubectl apply`` takes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument

from .apply import validate_against_schemas
from .resources import REVISION, client, path, read_objects

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["EXPORT_PLURALS", "SERVER_ANNOTATIONS", "add_arguments", "exportable", "run"]


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

    from dockyard.orchestrator.export import to_yaml
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


# what a cluster sets and ``kubectl apply`` must not be given back
SERVER_ANNOTATIONS = (REVISION, "kubectl.kubernetes.io/last-applied-configuration")

EXPORT_PLURALS = (
    "namespaces",
    "configmaps",
    "secrets",
    "services",
    "deployments",
    "horizontalpodautoscalers",
    "networkpolicies",
)


def exportable(item: dict[str, Any]) -> dict[str, Any]:
    """A stored object as ``kubectl apply`` takes it: no status, no uid, resourceVersion,
    generation, creationTimestamp, ownerReferences or managedFields, no annotations the
    server writes, no allocated ClusterIP (a cluster allocates its own)."""
    keep = ("name", "namespace", "labels", "annotations")
    meta = {k: v for k, v in (item.get("metadata") or {}).items() if k in keep}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    doc = {k: v for k, v in item.items() if k != "status"}
    if item.get("kind") == "Service" and isinstance(doc.get("spec"), dict):
        spec = dict(doc["spec"])
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        doc["spec"] = spec
    return {**doc, "metadata": meta}
