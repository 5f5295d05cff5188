"""``apply -f FILE|DIR|-`` (all or nothing: every document is decoded and validated
here and again by the daemon before anything is written; the daemon plans with
:mod:`dockyard.orchestrator.apply_plan`). ``apply --kubeconfig FILE`` sends the same
objects to a real cluster with the official ``kubernetes`` client (optional dependency,
imported only then). ``validate_against_schemas`` is ``--validate`` (``export`` uses it too)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument

from .resources import KIND_PLURAL, RESOURCE, add_namespace, client, read_objects

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["VALIDATE_MODES", "add_arguments", "apply_to_cluster", "run", "validate_against_schemas"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("-f", "--filename", action="append", required=True, help="file, directory or -")
    a("-R", "--recursive", action="store_true", help="read directories recursively")
    a("--dry-run", nargs="?", const="client", default="", help="client or server")
    a("--kubeconfig", help="apply to the Kubernetes cluster of this kubeconfig instead")
    a("--context", help="kubeconfig context (with --kubeconfig)")
    a(
        "--validate",
        nargs="?",
        const="true",
        default="true",
        help="check against the Kubernetes schemas: true|strict|warn|false|ignore",
    )


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.orchestrator.export import to_dict

    objects = read_objects(args.filename, args.recursive)
    if not objects:
        raise InvalidArgument("no objects passed to apply")
    validate_against_schemas(objects, args.validate)
    docs = [to_dict(o) for o in objects]
    _advise(docs, ctx)
    if args.kubeconfig:
        return apply_to_cluster(objects, args)
    if args.context:
        raise InvalidArgument("--context needs --kubeconfig")
    if args.dry_run == "client":
        for o in objects:
            print(f"{RESOURCE[KIND_PLURAL[o.kind]]}/{o.metadata.name} created (dry run)")
        return 0
    body = {"items": docs, "namespace": args.namespace, "dryRun": bool(args.dry_run)}
    result = client(ctx).request("POST", "/apis/dockyard.io/v1/apply", body).json()
    suffix = " (server dry run)" if args.dry_run else ""
    for item in result["items"]:
        print(f"{RESOURCE[KIND_PLURAL[item['kind']]]}/{item['name']} {item['action']}{suffix}")
    return 0


def _advise(docs: list[dict[str, Any]], ctx: Context) -> None:
    """Least-privilege warnings (security/advice.py): privileged containers and
    containers that run as root, one line each on stderr."""
    from dockyard.security.advice import enabled, image_user, manifest_warnings

    if not enabled():
        return
    users: dict[str, str | None] = {}
    store = None
    if os.path.isdir(ctx.root_dir):  # never make a state root just to give advice
        try:
            store = ctx.images()
        except OSError:  # not ours to read (apply --kubeconfig as a plain user)
            store = None

    def user_of(image: str) -> str | None:
        if store is None:
            return None
        if image not in users:
            users[image] = image_user(store, image)
        return users[image]

    for doc in docs:
        for w in manifest_warnings(doc, user_of):
            print(f"Warning: {w}", file=sys.stderr, flush=True)


VALIDATE_MODES = ("true", "strict", "warn", "false", "ignore")


def validate_against_schemas(objects: list[Any], mode: str) -> None:
    """``--validate``: check every object against the Kubernetes OpenAPI schemas before
    anything is sent (``kubeschema``; all or nothing). ``true``/``strict`` refuse,
    ``warn`` prints the problems to stderr and goes on, ``false``/``ignore`` skip."""
    if mode not in VALIDATE_MODES:
        raise InvalidArgument(
            f'invalid --validate "{mode}": expected one of {", ".join(VALIDATE_MODES)}'
        )
    if mode in ("false", "ignore"):
        return
    from dockyard.orchestrator import kubeschema

    if mode == "warn":
        from dockyard.orchestrator.export import to_dict

        for problem in kubeschema.document_problems([to_dict(o) for o in objects]):
            print(f"Warning: {problem}", file=sys.stderr)
        return
    kubeschema.validate_objects(objects)


def apply_to_cluster(objects: list[Any], args: argparse.Namespace) -> int:
    """``apply --kubeconfig FILE [--context C]``: server-side apply to a real cluster
    through the official ``kubernetes`` client (``orchestrator/kubeclient.py``)."""
    from dockyard.orchestrator.kubeclient import apply_objects

    if args.dry_run == "client":
        for o in objects:
            print(f"{RESOURCE[KIND_PLURAL[o.kind]]}/{o.metadata.name} created (dry run)")
        return 0
    apply_objects(
        objects,
        args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        dry_run=bool(args.dry_run),
        echo=lambda line: print(line, flush=True),
    )
    return 0
