"""``dockyard daemon``: run dockyardd in the foreground (the CLI starts it on demand)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument(
        "--hpa-sync-period",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="how often each HorizontalPodAutoscaler is evaluated (default 15)",
    )
    p.add_argument(
        "--cgroup-manager",
        default="",
        choices=["", "cgroupfs", "systemd"],
        metavar="DRIVER",
        help="systemd (a transient scope per container; the default where systemd runs on "
        "cgroup v2) or cgroupfs (beneath the daemon's delegated cgroup)",
    )
    p.add_argument(
        "--userns-remap",
        default=None,
        metavar="default",
        help="every container in a user namespace of its own (--userns auto) unless it asks "
        "for --userns host; ids from /etc/subuid and /etc/subgid of the user dockyard",
    )


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.api.server import serve

    if args.hpa_sync_period <= 0:
        from dockyard.errors import InvalidArgument

        raise InvalidArgument("invalid --hpa-sync-period: must be positive")
    if args.userns_remap is not None:
        import os

        from dockyard.engine.userns import parse_remap

        os.environ["DOCKYARD_USERNS_REMAP"] = parse_remap(args.userns_remap)
    return serve(ctx.root, ctx.run_root, args.hpa_sync_period, args.cgroup_manager)
