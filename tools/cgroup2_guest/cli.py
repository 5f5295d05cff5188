"""``tools/cgroup2-guest build | run [OPTIONS] -- COMMAND...``: the only place that exits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .build import Cache, build
from .errors import GuestError
from .run import Machine, run

CHECKOUT = Path(__file__).resolve().parents[2]
CACHE = Cache(CHECKOUT / ".cache" / "cgroup2-guest")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cgroup2-guest",
        description="A Debian 12 guest (qemu TCG, systemd, pure cgroup v2) that runs a "
        "command as root in this checkout, shared at the same path.",
    )
    sub = p.add_subparsers(dest="action", required=True)
    sub.add_parser("build", help="debootstrap and pack the guest (cached; a no-op when current)")
    r = sub.add_parser("run", help="boot the guest, run COMMAND as root, exit with its status")
    r.add_argument("--memory", type=int, default=2048, metavar="MB", help="guest RAM (2048)")
    r.add_argument("--cpus", type=int, default=2, help="guest vCPUs (2)")
    r.add_argument("--cpu", default="max", metavar="MODEL", help="qemu -cpu model (max)")
    r.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="kill the guest after S seconds, exit 124")  # fmt: skip
    r.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="set a variable for COMMAND (repeatable)")  # fmt: skip
    r.add_argument("--console", action="store_true",
                   help="show the serial console (kernel, systemd) on stderr")  # fmt: skip
    r.add_argument("--timings", action="store_true",
                   help="print boot-to-command and total times on stderr")  # fmt: skip
    r.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    return p


def _env(pairs: Sequence[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise GuestError(f"run: --env {pair!r}: expected NAME=VALUE")
        env[name] = value
    return env


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.action == "build":
            build(CACHE)
            return 0
        command = list(args.command)
        if command[:1] == ["--"]:
            command = command[1:]
        if args.memory < 256 or args.cpus < 1:
            raise GuestError("run: --memory is at least 256 and --cpus at least 1")
        return run(CACHE, CHECKOUT, command, env=_env(args.env),
                   machine=Machine(args.memory, args.cpus, args.cpu), timeout=args.timeout,
                   console=args.console, timings=args.timings)  # fmt: skip
    except GuestError as e:
        print(f"cgroup2-guest: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
