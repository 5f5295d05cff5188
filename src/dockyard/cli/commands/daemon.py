"""``dockyard daemon``: run dockyardd in the foreground (the CLI starts it on demand)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(_p: argparse.ArgumentParser, _name: str) -> None:
    pass


def run(ctx: Context, _args: argparse.Namespace, _name: str) -> int:
    from dockyard.api.server import serve

    return serve(ctx.root, ctx.run_root)
