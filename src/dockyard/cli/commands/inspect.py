"""``dockyard inspect``: low-level JSON of containers and images, or a template.

:func:`run` asks the daemon for containers (``inspect``, ``container inspect``: the shape
is the API's, ``api/shapes.py``); images, and :func:`run_local` (``image inspect``), are read
from the store directly."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context
    from dockyard.store.images import ImageStore


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template")
    p.add_argument("--type", choices=("container", "image"), help="only this type of object")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("objects", nargs="+", metavar="NAME|ID")


def image_view(img: Any, store: ImageStore | None = None) -> dict[str, Any]:
    """An image as docker's ``inspect`` shows it; with its ``store``, plus ``Security``
    when a lint or scan summary was recorded (security/summary.py) and ``Referrers``
    when artifacts are attached to it (``build --sbom``, store/referrers.py)."""
    cfg = json.loads(img.config.content())
    view: dict[str, Any] = {
        "Id": str(img.id),
        "RepoTags": [_familiar(t) for t in img.repo_tags],
        "RepoDigests": [],
        "Created": cfg.get("created", ""),
        "Author": cfg.get("author", ""),
        "Architecture": cfg.get("architecture", ""),
        "Variant": cfg.get("variant", ""),
        "Os": cfg.get("os", ""),
        "Config": cfg.get("config", {}),
        "Size": img.size,
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"ManifestDigest": str(img.manifest_digest)},
    }
    if store is not None:
        from dockyard.security.summary import read_summary
        from dockyard.store.referrers import referrers

        summary = read_summary(store.root, str(img.id))
        if summary:
            view["Security"] = summary
        attached = referrers(store, img.manifest_digest)
        if attached:
            view["Referrers"] = [
                {"Digest": str(d), "ArtifactType": m.artifact_type or ""} for d, m in attached
            ]
    return view


def _familiar(ref: str) -> str:
    from dockyard.oci.reference import parse_reference

    return parse_reference(ref).familiar()


def run_local(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    """``image inspect``: images only, read from the store (no daemon needed)."""
    from dockyard.errors import DockyardError

    store = ctx.images()
    views: list[dict[str, Any]] = []
    rc = 0
    for ref in args.objects:
        try:
            views.append(image_view(store.resolve(ref), store))
        except DockyardError:
            print(f"dockyard: no such object: {ref}", file=sys.stderr)
            rc = 1
    from dockyard.cli.render import print_views

    print_views(views, args.format)
    return rc


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client
    from dockyard.errors import NotFound

    c = client(ctx)
    views: list[dict[str, Any]] = []
    rc = 0
    for ref in args.objects:
        view = None
        if args.type in (None, "container"):
            try:
                view = c.get(f"/containers/{quote(ref, safe='')}/json")
            except NotFound:
                view = None
        if view is None and args.type in (None, "image"):
            from dockyard.errors import DockyardError

            try:
                store = ctx.images()
                view = image_view(store.resolve(ref), store)
            except DockyardError:
                view = None
        if view is None:
            print(f"dockyard: no such object: {ref}", file=sys.stderr)
            rc = 1
            continue
        views.append(view)
    from dockyard.cli.render import print_views

    print_views(views, args.format)
    return rc
