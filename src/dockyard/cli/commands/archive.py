"""``dockyard load`` and ``dockyard save``.

As docker: ``save`` without ``-o`` writes the archive to stdout, and refuses when stdout
is a terminal; ``load`` without ``-i`` reads it from stdin, and refuses a terminal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context

SAVE_TERMINAL = "cowardly refusing to save to a terminal. Use the -o flag or redirect"
LOAD_TERMINAL = "requested load from stdin, but stdin is empty"


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "load":
        p.add_argument("-i", "--input", help="read from tar archive file, instead of STDIN")
        p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    else:
        p.add_argument("-o", "--output", help="write to a file, instead of STDOUT")
        p.add_argument(
            "--format", choices=("oci", "docker"), default="oci",
            help="archive format: OCI image layout (default) or docker-archive",
        )  # fmt: skip
        p.add_argument("images", nargs="+", metavar="IMAGE")


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from dockyard.errors import InvalidArgument

    if name == "load":
        if not args.input and sys.stdin.isatty():
            raise InvalidArgument(LOAD_TERMINAL)
        return _load(ctx, Path(args.input or "/dev/stdin"), args.quiet)
    if args.output:
        from dockyard.store.archive import save_archive

        save_archive(ctx.images(), list(args.images), Path(args.output), fmt=args.format)
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument(SAVE_TERMINAL)
    from dockyard.store.archive import save_archive_to

    sys.stdout.flush()
    with open(sys.stdout.fileno(), "wb", closefd=False) as out:
        save_archive_to(ctx.images(), list(args.images), out, fmt=args.format)
    return 0


def _load(ctx: Context, path: Path, quiet: bool) -> int:
    from dockyard.store.archive import load_archive

    for img in load_archive(ctx.images(), path):
        if quiet:
            continue
        for t in img.repo_tags:
            print(f"Loaded image: {t}")
        if not img.repo_tags:
            print(f"Loaded image ID: {img.id}")
    return 0
