"""``dockyard images``, ``rmi`` and ``tag``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context
    from dockyard.store.images import ImageStore


# docker's column titles (cli/command/formatter/image.go)
IMAGES_HEADERS = {
    "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
    "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
}  # fmt: skip


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name in ("images", "ls"):
        p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
        p.add_argument("-a", "--all", action="store_true",
                       help="show all images (there are no intermediate ones to hide)")  # fmt: skip
        p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        p.add_argument("--digests", action="store_true", help="show digests")
        p.add_argument("--format", help="format output using a Go template")
        p.add_argument("-f", "--filter", action="append", default=[],
                       help="dangling=, label=, reference=, before=, since=")  # fmt: skip
        p.add_argument("reference", nargs="?", help="repository[:tag] to list")
    elif name in ("rmi", "rm"):
        p.add_argument("-f", "--force", action="store_true", help="force removal of the image")
        p.add_argument("images", nargs="+", metavar="IMAGE")
    else:
        p.add_argument("source", metavar="SOURCE_IMAGE")
        p.add_argument("target", metavar="TARGET_IMAGE")


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    store = ctx.images()
    if name in ("rmi", "rm"):
        from dockyard.errors import DockyardError

        rc = 0
        for ref in args.images:
            try:
                report = store.remove(ref, force=args.force)
                for tag in report.untagged:
                    print(f"Untagged: {_familiar(tag)}")
                for digest in report.deleted:
                    print(f"Deleted: {digest}")
            except DockyardError as exc:
                print(f"dockyard: {exc}", file=sys.stderr)
                rc = 1
        return rc
    if name == "tag":
        store.tag(args.source, args.target)
        return 0
    return _list(store, args)


def _list(store: ImageStore, args: argparse.Namespace) -> int:
    """``docker images``: one row per tag (``<none>`` for an untagged image), newest
    first; ``-f`` as :mod:`dockyard.store.imagequery`; ``--digests`` adds the DIGEST
    column. ``-a`` lists the same rows: dockyard's builds keep no intermediate images."""
    from dockyard.cli.render import ago, human_size, table
    from dockyard.store.imagequery import parse_filters, repo_digests, select

    filters = parse_filters(args.filter)
    if args.reference:
        filters.setdefault("reference", []).append(args.reference)
    rows = select(store.list_images(), filters, lambda ref: store.resolve(ref).created or "")
    if args.quiet:
        seen: set[str] = set()
        for img, _tag in rows:
            iid = str(img.id)
            if iid not in seen:
                print(iid if args.no_trunc else iid.split(":", 1)[-1][:12])
            seen.add(iid)
        return 0
    views = []
    for img, tag in rows:
        repo, t = tag.rsplit(":", 1) if tag else ("<none>", "<none>")
        digest = next((d.split("@", 1)[1] for d in repo_digests(img)
                       if d.startswith(repo + "@")), "<none>")  # fmt: skip
        iid = str(img.id)
        views.append({
            "Repository": repo, "Tag": t, "Digest": digest,
            "ID": iid if args.no_trunc else iid.split(":", 1)[-1][:12],
            "CreatedSince": f"{ago(img.created or '')} ago", "CreatedAt": img.created or "",
            "Size": human_size(img.size),
        })  # fmt: skip
    if args.format:
        from dockyard.cli.gotemplate import format_rows

        default = "{{.Repository}}\t{{.Tag}}\t" + ("{{.Digest}}\t" if args.digests else "")
        default += "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        sys.stdout.write(format_rows(args.format, views, IMAGES_HEADERS, default))
        return 0
    keys = ["Repository", "Tag", *(["Digest"] if args.digests else []), "ID", "CreatedSince",
            "Size"]  # fmt: skip
    headers = ["REPOSITORY", "TAG", *(["DIGEST"] if args.digests else []), "IMAGE ID",
               "CREATED", "SIZE"]  # fmt: skip
    print(table(headers, [[v[k] for k in keys] for v in views]))
    return 0


def _familiar(ref: str) -> str:
    from dockyard.oci.reference import parse_reference

    return parse_reference(ref).familiar()
