"""``dockyard version``."""

from __future__ import annotations

import argparse
import platform
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("--format", help="format output using a Go template")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard import __version__

    info = {
        "Version": __version__,
        "Os": "linux",
        "Arch": platform.machine(),
        "KernelVersion": platform.release(),
        "PythonVersion": platform.python_version(),
        "Root": str(ctx.root),
    }
    if args.format:
        from dockyard.cli.gotemplate import render

        print(render(args.format, info))
    else:
        for k, v in info.items():
            print(f"{k + ':':<16}{v}")
    return 0
