"""``dockyard run``: create a container from an image and run it in the foreground."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("--name", help="assign a name to the container")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("-e", "--env", action="append", default=[], help="set environment variables")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("--entrypoint", help="overwrite the default ENTRYPOINT of the image")
    p.add_argument("--network", "--net", default="none", help="network mode (none, host)")
    p.add_argument("-m", "--memory", help="memory limit (e.g. 64m)")
    p.add_argument("--memory-swap", help="memory plus swap limit, -1 for unlimited swap")
    p.add_argument("--cpus", help="number of CPUs (e.g. 0.5)")
    p.add_argument("--cpu-shares", "-c", type=int, help="CPU shares (relative weight)")
    p.add_argument("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
    p.add_argument("--pids-limit", type=int, help="tune container pids limit (-1 unlimited)")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    p.add_argument("-i", "--interactive", action="store_true", help="keep STDIN open")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("--privileged", action="store_true", help="give extended privileges")
    p.add_argument("--read-only", action="store_true", help="mount the root read-only")
    p.add_argument("--cap-add", action="append", default=[], help="add Linux capabilities")
    p.add_argument("--cap-drop", action="append", default=[], help="drop Linux capabilities")
    p.add_argument("--security-opt", action="append", default=[], help="security options")
    p.add_argument("--group-add", action="append", default=[], help="additional groups")
    p.add_argument("--ulimit", action="append", default=[], help="ulimit options")
    p.add_argument("--tmpfs", action="append", default=[], help="mount a tmpfs directory")
    p.add_argument("--device", action="append", default=[], help="add a host device")
    p.add_argument("--sysctl", action="append", default=[], help="sysctl options")
    p.add_argument("--init", action="store_true", help="run an init inside the container")
    p.add_argument("--oom-score-adj", type=int, help="tune host's OOM preferences")
    p.add_argument("-l", "--label", action="append", default=[], help="set metadata")
    p.add_argument("image", help="image to run")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments")


def options_from_args(args: argparse.Namespace) -> object:
    from dockyard.engine.options import (
        RunOptions,
        parse_cpus,
        parse_env,
        parse_size,
        parse_ulimit,
    )
    from dockyard.errors import InvalidArgument

    if args.network not in ("none", "host"):
        raise InvalidArgument(
            f"network {args.network} not found: only 'none' and 'host' before the daemon lands"
        )
    swap = None
    if args.memory_swap is not None:
        swap = -1 if args.memory_swap == "-1" else parse_size(args.memory_swap, "--memory-swap")
    sysctls = {}
    for item in args.sysctl:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise InvalidArgument(f'invalid --sysctl "{item}": expected KEY=VALUE')
        sysctls[k] = v
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    if args.pids_limit is not None and args.pids_limit == 0:
        raise InvalidArgument("invalid --pids-limit 0: use -1 for unlimited")
    return RunOptions(
        image=args.image,
        command=list(args.command),
        entrypoint=None
        if args.entrypoint is None
        else ([args.entrypoint] if args.entrypoint else []),
        env=parse_env(args.env, dict(os.environ)),
        workdir=args.workdir,
        user=args.user,
        hostname=args.hostname,
        name=args.name,
        remove=args.rm,
        network=args.network,
        memory=parse_size(args.memory, "--memory") if args.memory else None,
        memory_swap=swap,
        nano_cpus=parse_cpus(args.cpus) if args.cpus else None,
        cpu_shares=args.cpu_shares,
        cpuset_cpus=args.cpuset_cpus,
        pids_limit=args.pids_limit,
        tty=args.tty,
        interactive=args.interactive,
        privileged=args.privileged,
        read_only=args.read_only,
        cap_add=args.cap_add,
        cap_drop=args.cap_drop,
        security_opt=args.security_opt,
        group_add=args.group_add,
        ulimits=[parse_ulimit(u) for u in args.ulimit],
        tmpfs=args.tmpfs,
        devices=args.device,
        sysctls=sysctls,
        init=args.init,
        oom_score_adj=args.oom_score_adj,
        labels=labels,
    )


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.engine.containers import ContainerEngine
    from dockyard.errors import Unavailable

    if args.detach:
        raise Unavailable("run -d: detached containers need the daemon, which is not built yet")
    engine = ContainerEngine(ctx.root, ctx.run_root)
    created = engine.create(options_from_args(args))  # type: ignore[arg-type]
    return engine.run(created)
