"""``dockyard load`` and ``dockyard save``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "load":
        p.add_argument("-i", "--input", required=True, help="read from tar archive file")
        p.add_argument("-q", "--quiet", action="store_true", help="suppress the load output")
    else:
        p.add_argument("-o", "--output", required=True, help="write to a file")
        p.add_argument(
            "--format", choices=("oci", "docker"), default="oci",
            help="archive format: OCI image layout (default) or docker-archive",
        )  # fmt: skip
        p.add_argument("images", nargs="+", metavar="IMAGE")


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    store = ctx.images()
    if name == "load":
        from dockyard.store.archive import load_archive

        for img in load_archive(store, Path(args.input)):
            if not args.quiet:
                tags = list(img.repo_tags)
                if tags:
                    for t in tags:
                        print(f"Loaded image: {t}")
                else:
                    print(f"Loaded image ID: {img.id}")
        return 0
    from dockyard.store.archive import save_archive

    save_archive(store, list(args.images), Path(args.output), fmt=args.format)
    return 0
