"""``dockyard dashboard [--port N]``: start the daemon's live dashboard, print its URL."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("--port", type=int, default=0,
                   help="port on 127.0.0.1 (default: the first free from 8080)")  # fmt: skip


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.cli.commands.kube.resources import client

    body = {"port": args.port}
    url = client(ctx).request("POST", "/apis/dockyard.io/v1/dashboard", body).json()["url"]
    print(url)
    return 0
