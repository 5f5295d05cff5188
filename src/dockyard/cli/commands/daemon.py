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
    """Checks the flags, then becomes ``python -m dockyard.api.server`` (exec: the same
    process, as the CLI's on-demand start runs it): the CLI never imports the API server."""
    import os
    import sys

    from dockyard.errors import InvalidArgument

    if args.hpa_sync_period <= 0:
        raise InvalidArgument("invalid --hpa-sync-period: must be positive")
    argv = [sys.executable, "-m", "dockyard.api.server", "--root", str(ctx.root),
            "--run-root", str(ctx.run_root),
            "--hpa-sync-period", repr(args.hpa_sync_period)]  # fmt: skip
    if args.cgroup_manager:
        argv += ["--cgroup-manager", args.cgroup_manager]
    if args.userns_remap is not None:
        from dockyard.engine.userns import parse_remap

        parse_remap(args.userns_remap)  # a bad value: the CLI's one-line error, nothing started
        argv += ["--userns-remap", args.userns_remap]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 127  # (execv returns only by raising)
