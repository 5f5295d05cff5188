"""``dockyard images``, ``rmi`` and ``tag``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name in ("images", "ls"):
        p.add_argument("-q", "--quiet", action="store_true", help="only show image IDs")
        p.add_argument("-a", "--all", action="store_true", help="show all images")
        p.add_argument("--no-trunc", action="store_true", help="don't truncate output")
        p.add_argument("--digests", action="store_true", help="show digests")
        p.add_argument("--format", help="format output using a Go template")
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


def _list(store: object, args: argparse.Namespace) -> int:
    from dockyard.cli.render import ago, human_size, table

    images = store.list_images()  # type: ignore[attr-defined]
    rows: list[list[str]] = []
    seen: set[str] = set()
    for img in images:
        iid = str(img.id)
        short = iid if args.no_trunc else iid.split(":", 1)[-1][:12]
        tags = list(img.repo_tags) or ["<none>:<none>"]
        for tag in tags:
            repo, _, t = tag.rpartition(":")
            if args.reference and args.reference not in (repo, tag, _familiar_repo(repo)):
                continue
            if args.quiet:
                if iid not in seen:
                    print(short)
                seen.add(iid)
                continue
            rows.append([_familiar_repo(repo), t, short, f"{ago(img.created)} ago",
                         human_size(img.size)])  # fmt: skip
    if args.quiet:
        return 0
    if args.format:
        from dockyard.cli.gotemplate import render

        for r in rows:
            view = {"Repository": r[0], "Tag": r[1], "ID": r[2], "CreatedSince": r[3], "Size": r[4]}
            print(render(args.format, view))
        return 0
    print(table(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], rows))
    return 0


def _familiar(ref: str) -> str:
    from dockyard.oci.reference import parse_reference

    return parse_reference(ref).familiar()


def _familiar_repo(repo: str) -> str:
    for prefix in ("docker.io/library/", "docker.io/"):
        if repo.startswith(prefix):
            return repo[len(prefix) :]
    return repo
