"""Container lifecycle through the daemon: start, stop, kill, restart, rm, pause,
unpause, rename, wait, top, port, cp."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    a = p.add_argument
    if name in ("stop", "restart"):
        a("-t", "--time", type=int, help="seconds to wait before killing the container")
    if name == "kill":
        a("-s", "--signal", default="KILL", help="signal to send to the container")
    if name == "rm":
        a("-f", "--force", action="store_true", help="force the removal of a running container")
        a("-v", "--volumes", action="store_true", help="remove anonymous volumes")
    if name == "start":
        a("-a", "--attach", action="store_true", help="attach STDOUT/STDERR")
        a("-i", "--interactive", action="store_true", help="attach container's STDIN")
        a("--detach-keys", help="override the key sequence for detaching a container")
    if name == "rename":
        a("container")
        a("new_name")
        return
    if name == "top":
        a("container")
        a("ps_args", nargs=argparse.REMAINDER)
        return
    if name == "port":
        a("container")
        a("private_port", nargs="?")
        return
    if name == "cp":
        a("src")
        a("dst")
        return
    a("containers", nargs="+", metavar="CONTAINER")


def client(ctx: Context) -> Client:
    from dockyard.cli.client import Client

    return Client(ctx.root_dir, ctx.run_root_dir)


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from urllib.parse import quote

    from dockyard.errors import DockyardError

    c = client(ctx)
    if name == "rename":
        c.post(f"/containers/{quote(args.container)}/rename?name={quote(args.new_name)}")
        return 0
    if name == "top":
        if args.container in ("pods", "pod", "po", "nodes", "node", "no"):  # kubectl's top
            from dockyard.cli.commands.kube import top_from_words

            return top_from_words(ctx, [args.container, *args.ps_args])
        return _top(c, args)
    if name == "port":
        return _port(c, args)
    if name == "cp":
        return _cp(c, args)
    if name == "start" and (args.attach or args.interactive):
        return _start_attached(c, args)
    failed = 0
    for ref in args.containers:
        q = quote(ref)
        try:
            if name == "wait":
                print(c.request("POST", f"/containers/{q}/wait", {}).json()["StatusCode"])
                continue
            if name == "rm":
                flags = f"?force={int(args.force)}&v={int(args.volumes)}"
                c.request("DELETE", f"/containers/{q}{flags}").read()
            elif name in ("stop", "restart"):
                t = f"?t={args.time}" if args.time is not None else ""
                c.post(f"/containers/{q}/{name}{t}")
            elif name == "kill":
                c.post(f"/containers/{q}/kill?signal={quote(args.signal)}")
            else:  # start, pause, unpause
                c.post(f"/containers/{q}/{name}")
            print(ref)
        except DockyardError as e:
            print(f"dockyard: {e}", file=sys.stderr)
            failed = 1
    return failed


def _start_attached(c: Client, args: argparse.Namespace) -> int:
    """``start -a [-i]``: as ``run`` without ``-d`` (a terminal container in raw mode)."""
    from urllib.parse import quote

    info = c.get(f"/containers/{quote(args.containers[0], safe='')}/json")
    fds = {"stdout": 1, "stderr": 2}
    if args.interactive:
        fds = {"stdin": 0, **fds}
    msg = {"op": "start", "id": info["Id"], "wait": "next-exit", "detach_keys": args.detach_keys}
    if info["Config"]["Tty"]:
        from dockyard.cli.commands.cexec import interactive

        return interactive(c, msg, fds)
    from dockyard.cli.commands.crun import attached

    return attached(c, msg, fds)


def _top(c: Client, args: argparse.Namespace) -> int:
    from urllib.parse import quote

    from dockyard.cli.render import table

    ps_args = quote(" ".join(args.ps_args)) if args.ps_args else ""
    out = c.get(f"/containers/{quote(args.container)}/top?ps_args={ps_args}")
    print(table(out["Titles"], [list(p) for p in out["Processes"]]))
    return 0


def _port(c: Client, args: argparse.Namespace) -> int:
    from urllib.parse import quote

    ports = c.get(f"/containers/{quote(args.container)}/json")["NetworkSettings"]["Ports"] or {}
    for key, binds in sorted(ports.items()):
        if args.private_port:
            want = args.private_port if "/" in args.private_port else args.private_port + "/tcp"
            if key != want:
                continue
        for b in binds or []:
            host = f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}"
            print(host if args.private_port else f"{key} -> {host}")
    return 0


def _cp(c: Client, args: argparse.Namespace) -> int:
    """``cp CONTAINER:SRC DEST`` or ``cp SRC CONTAINER:DEST`` (tar through the API)."""
    import io
    import os
    import tarfile
    from urllib.parse import quote

    from dockyard.errors import InvalidArgument

    def split(s: str) -> tuple[str, str] | None:
        if ":" in s and not s.startswith(("/", ".")):
            ref, _, path = s.partition(":")
            return ref, path
        return None

    src, dst = split(args.src), split(args.dst)
    if (src is None) == (dst is None):
        raise InvalidArgument("cp: exactly one of SRC and DEST must be CONTAINER:PATH")
    if src is not None:
        data = c.request("GET", f"/containers/{quote(src[0])}/archive?path={quote(src[1])}").read()
        from dockyard.store.tarextract import extract_tar

        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            members = tar.getmembers()
            target = args.dst
            if os.path.isdir(target):
                extract_tar(tar, target)
            else:
                root = members[0].name if members else ""
                for m in members:
                    m.name = os.path.basename(target) + m.name[len(root) :]
                extract_tar(tar, os.path.dirname(os.path.abspath(target)) or ".")
        return 0
    assert dst is not None
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(args.src, arcname=os.path.basename(args.src.rstrip("/")))
    c.request("PUT", f"/containers/{quote(dst[0])}/archive?path={quote(dst[1])}",
              raw=buf.getvalue(), content_type="application/x-tar").read()  # fmt: skip
    return 0
