"""``dockyard update``: change a container's limits and restart policy (as ``docker update``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("-m", "--memory", help="memory limit (e.g. 64m)")
    p.add_argument("--memory-swap", help="memory plus swap limit; -1 for unlimited swap")
    p.add_argument("--cpus", help="number of CPUs (e.g. 0.5)")
    p.add_argument("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpu-quota", type=int, help="CFS quota in microseconds per period")
    p.add_argument("--cpu-period", type=int, help="CFS period in microseconds")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, help="tune the pids limit (-1 for unlimited)")
    p.add_argument("--restart", help="restart policy (no, on-failure[:N], always, unless-stopped)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def body_of(args: argparse.Namespace) -> dict[str, Any]:
    """The ``/containers/{id}/update`` body (Docker's HostConfig names)."""
    from dockyard.engine.options import parse_cpus, parse_restart, parse_size
    from dockyard.errors import InvalidArgument

    body: dict[str, Any] = {}
    if args.memory:
        body["Memory"] = parse_size(args.memory, "--memory")
    if args.memory_swap:
        body["MemorySwap"] = (
            -1 if args.memory_swap == "-1" else parse_size(args.memory_swap, "--memory-swap")
        )
    if args.cpus:
        body["NanoCpus"] = parse_cpus(args.cpus)
    if args.cpu_shares is not None:
        body["CpuShares"] = args.cpu_shares
    if args.cpu_quota is not None:
        body["CpuQuota"] = args.cpu_quota
    if args.cpu_period is not None:
        body["CpuPeriod"] = args.cpu_period
    if args.cpuset_cpus:
        body["CpusetCpus"] = args.cpuset_cpus
    if args.pids_limit is not None:
        if args.pids_limit == 0:
            raise InvalidArgument("invalid --pids-limit 0: use -1 for unlimited")
        body["PidsLimit"] = args.pids_limit
    if args.restart:
        name, count = parse_restart(args.restart)
        body["RestartPolicy"] = {"Name": name, "MaximumRetryCount": count}
    if not body:
        raise InvalidArgument("update: you must provide one or more flags")
    return body


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    import sys
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client
    from dockyard.errors import DockyardError

    body = body_of(args)
    c = client(ctx)
    failed = 0
    for ref in args.containers:
        try:
            out = c.request("POST", f"/containers/{quote(ref, safe='')}/update", body).json()
        except DockyardError as e:
            print(f"dockyard: {e}", file=sys.stderr)
            failed += 1
            continue
        for w in out.get("Warnings") or []:
            print(f"WARNING: {w}", file=sys.stderr)
        print(ref)
    return 1 if failed else 0
