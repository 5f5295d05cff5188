"""``dockyard exec`` and ``dockyard attach``; the terminal side of ``run -it``.

With a terminal (``-t``) this process puts its terminal in raw mode, hands its
stdin/stdout to the daemon (the shim copies between them and the container's
pty, and watches for the detach keys ctrl-p ctrl-q), and forwards window size
changes (SIGWINCH) as ``resize`` calls.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    a = p.add_argument
    if name == "exec":
        a("-i", "--interactive", action="store_true", help="keep STDIN open")
        a("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
        a("-d", "--detach", action="store_true", help="run the command in the background")
        a("-u", "--user", help="username or UID (format: <name|uid>[:<group|gid>])")
        a("-e", "--env", action="append", default=[], help="set environment variables")
        a("-w", "--workdir", help="working directory inside the container")
        a("--privileged", action="store_true", help="give extended privileges")
        a("--detach-keys", help="override the key sequence for detaching a container")
        a("container")
        a("command", nargs=argparse.REMAINDER)
    else:
        a("--no-stdin", action="store_true", help="do not attach STDIN")
        a("--detach-keys", help="override the key sequence for detaching")
        a("container")


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client
    from dockyard.engine.options import parse_env

    c = client(ctx)
    ref = quote(args.container, safe="")
    if name == "attach":
        info = c.get(f"/containers/{ref}/json")
        fds = {"stdout": 1, "stderr": 2}
        if not args.no_stdin and info["Config"]["OpenStdin"]:
            fds = {"stdin": 0, **fds}
        msg = {"op": "attach", "id": info["Id"], "wait": "next-exit",
               "detach_keys": args.detach_keys}  # fmt: skip
        if info["Config"]["Tty"]:
            return interactive(c, msg, fds)
        from dockyard.cli.commands.crun import attached

        return attached(c, msg, fds)
    if args.command[:1] == ["--"]:  # kubectl's form: exec POD -- CMD
        args.command = args.command[1:]
    if "/" in args.container:  # pod/NAME, deploy/NAME (cli/commands/kube.py)
        from dockyard.cli.commands.kube import pod_container

        ref = quote(pod_container(c, args.container), safe="")
    body = {"Cmd": list(args.command), "Env": parse_env(args.env, dict(os.environ)),
            "User": args.user or "", "WorkingDir": args.workdir or "", "Tty": args.tty,
            "Privileged": args.privileged, "AttachStdin": args.interactive}  # fmt: skip
    eid = c.request("POST", f"/containers/{ref}/exec", body).json()["Id"]
    if args.detach:
        c.request("POST", f"/exec/{eid}/start", {"Detach": True}).read()
        return 0
    fds = {"stdout": 1, "stderr": 2}
    if args.interactive:
        fds = {"stdin": 0, **fds}
    msg = {"op": "exec", "eid": eid, "detach_keys": args.detach_keys}
    if args.tty:
        return interactive(c, msg, fds)
    from dockyard.cli.commands.crun import attached

    return attached(c, msg, fds)


def interactive(client: Client, msg: dict[str, Any], fds: dict[str, int]) -> int:
    """Raw terminal, window size forwarding, until exit or the detach keys."""
    import signal
    import termios
    import tty

    saved = None
    if os.isatty(0):
        saved = termios.tcgetattr(0)
        tty.setraw(0)
    s = None
    try:
        s, first = client.stdio(msg, fds)
        if first.get("detached"):  # the keys came before the daemon's answer (the shim's)
            return 0
        target = first["id"]
        kind = "exec" if msg.get("op") == "exec" else "containers"

        def resize(*_a: object) -> None:
            try:
                import fcntl
                import struct

                h, w, _x, _y = struct.unpack("HHHH", fcntl.ioctl(1, termios.TIOCGWINSZ, b"\0" * 8))
                client.post(f"/{kind}/{target}/resize?h={h}&w={w}")
            except Exception:
                pass

        if os.isatty(1):
            signal.signal(signal.SIGWINCH, resize)
            resize()
        return client.exit_code(s)
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        if s is not None:
            s.close()
