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
    from collections.abc import Callable

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
        a("-c", "--container", dest="pod_container", help="a pod's container (kubectl's)")
        a("-n", "--namespace", help="the pod's namespace (kubectl's)")
        a("container")
        a("command", nargs=argparse.REMAINDER)
    else:
        a("--no-stdin", action="store_true", help="do not attach STDIN")
        a("--detach-keys", help="override the key sequence for detaching")
        a("--raw", action="store_true", help="keep terminal control strings (title, clipboard)")
        a("container")


def _kubectl_flags(args: argparse.Namespace) -> None:
    """kubectl's ``exec POD [-c C] [-n NS] [-it] -- CMD``: flags after the pod name land in
    the command; take them back when every word before ``--`` is one of them."""
    cmd = list(args.command)
    if "--" not in cmd:
        return
    head, tail = cmd[: cmd.index("--")], cmd[cmd.index("--") + 1 :]
    found: dict[str, Any] = {}
    i = 0
    while i < len(head):
        word = head[i]
        flag, eq, value = word.partition("=")
        if flag in ("-c", "--container", "-n", "--namespace"):
            if not eq:
                if i + 1 >= len(head):
                    return
                value, i = head[i + 1], i + 1
            found["pod_container" if flag in ("-c", "--container") else "namespace"] = value
        elif word in ("-i", "-t", "-it", "-ti", "--stdin", "--tty"):
            found.update({"interactive": True} if word in ("-i", "--stdin") else
                         {"tty": True} if word in ("-t", "--tty") else
                         {"interactive": True, "tty": True})  # fmt: skip
        else:
            return  # a docker command that contains `--`: leave it alone
        i += 1
    for key, value in found.items():
        setattr(args, key, value)
    args.command = tail


def _create_exec(c: Client, ref: str, body: dict[str, Any], target: str, kube: bool) -> str:
    """The exec instance; a bare name that no container has may be a pod's (kubectl)."""
    from urllib.parse import quote

    from dockyard.errors import NotFound

    try:
        return str(c.request("POST", f"/containers/{ref}/exec", body).json()["Id"])
    except NotFound as missing:
        if kube or "no such container" not in str(missing).lower():
            raise
        from dockyard.cli.commands.kube.pods import pod_target

        ref = quote(pod_target(c, target, None, None, missing), safe="")
        return str(c.request("POST", f"/containers/{ref}/exec", body).json()["Id"])


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
        from dockyard.cli.termsafe import Relay

        relay = Relay(fds, args.raw)  # the container's output reaches a terminal filtered
        try:
            if info["Config"]["Tty"]:
                return interactive(c, msg, relay.fds, relay.handed_over)
            from dockyard.cli.commands.run import attached

            return attached(c, msg, relay.fds, relay.handed_over)
        finally:
            relay.finish()
    _kubectl_flags(args)
    kube = "/" in args.container or args.pod_container or args.namespace
    if kube:  # pod/NAME, deploy/NAME, POD -c CONTAINER -n NS (cli/commands/kube/pods.py)
        from dockyard.cli.commands.kube.pods import pod_target
        from dockyard.errors import NotFound

        missing = NotFound(f"no such pod: {args.container}")
        ref = quote(pod_target(c, args.container, args.namespace, args.pod_container, missing),
                    safe="")  # fmt: skip
    body = {"Cmd": list(args.command), "Env": parse_env(args.env, dict(os.environ)),
            "User": args.user or "", "WorkingDir": args.workdir or "", "Tty": args.tty,
            "Privileged": args.privileged, "AttachStdin": args.interactive}  # fmt: skip
    eid = _create_exec(c, ref, body, args.container, bool(kube))
    if args.detach:
        c.request("POST", f"/exec/{eid}/start", {"Detach": True}).read()
        return 0
    fds = {"stdout": 1, "stderr": 2}
    if args.interactive:
        fds = {"stdin": 0, **fds}
    msg = {"op": "exec", "eid": eid, "detach_keys": args.detach_keys}
    if args.tty:
        return interactive(c, msg, fds)
    from dockyard.cli.commands.run import attached

    return attached(c, msg, fds)


def interactive(
    client: Client,
    msg: dict[str, Any],
    fds: dict[str, int],
    handed_over: Callable[[], None] | None = None,
) -> int:
    """Raw terminal, window size forwarding, until exit or the detach keys.

    ``handed_over`` is called once the daemon holds ``fds``.
    """
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
        if handed_over is not None:
            handed_over()
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
