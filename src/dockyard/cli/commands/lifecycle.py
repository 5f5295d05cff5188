"""Container lifecycle through the daemon: start, stop, kill, restart, rm, pause,
unpause, rename, wait, top, port, cp."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

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
            from dockyard.cli.commands.kube.top import top_from_words

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
    from dockyard.cli.commands.run import attached

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
    """``cp CONTAINER:SRC DEST|-`` or ``cp SRC|- CONTAINER:DEST`` (tar through the API),
    with ``docker cp``'s path rules: a destination that does not exist (its parent does)
    is the copy's new name; one that ends in ``/`` must be a directory; ``SRC/.`` copies
    a directory's contents; ``-`` is a tar stream on stdin or stdout."""
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
        return _cp_out(c, src[0], src[1], args.dst)
    assert dst is not None
    return _cp_in(c, args.src, dst[0], dst[1])


def _archive_url(ref: str, path: str) -> str:
    from urllib.parse import quote

    return f"/containers/{quote(ref, safe='')}/archive?path={quote(path)}"


def _cp_out(c: Client, ref: str, path: str, target: str) -> int:
    import io
    import os
    import tarfile

    from dockyard.errors import InvalidArgument, NotFound
    from dockyard.store.tarextract import extract_tar

    resp = c.request("GET", _archive_url(ref, path))
    if target == "-":  # the tar stream itself, as docker writes it
        out = sys.stdout.buffer
        for piece in resp.chunks():
            out.write(piece)
        out.flush()
        return 0
    data = resp.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        src_is_dir = bool(members) and members[0].isdir()
        if os.path.isdir(target):  # into it (SRC/.: the contents, entries "./…")
            extract_tar(tar, target)
            return 0
        if os.path.lexists(target) and src_is_dir:
            raise InvalidArgument(f"cp: cannot copy a directory to a file: {target}")
        if target.endswith("/"):
            raise NotFound(f"cp: destination directory {target} does not exist")
        parent = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(parent):
            raise NotFound(f"cp: destination directory {parent} does not exist")
        root = members[0].name if members else ""
        for m in members:
            m.name = os.path.basename(target) + m.name[len(root) :]
        extract_tar(tar, parent)
    return 0


def _stat_in(c: Client, ref: str, path: str) -> dict[str, Any] | None:
    """Docker's stat of ``path`` in the container (``HEAD .../archive``), None if absent."""
    import base64
    import json
    from urllib.parse import quote

    c.get(f"/containers/{quote(ref, safe='')}/json")  # NotFound for the container itself
    resp = c.request("HEAD", _archive_url(ref, path), check=False)
    resp.sock.close()
    if resp.status == 404:
        return None
    if resp.status >= 400:
        from dockyard.errors import Conflict

        raise Conflict(f"cp: stat {ref}:{path}: HTTP {resp.status}")
    value = json.loads(base64.b64decode(resp.headers["x-docker-container-path-stat"]))
    return value if isinstance(value, dict) else None


def _cp_in(c: Client, src: str, ref: str, path: str) -> int:
    import io
    import os
    import posixpath
    import tarfile

    from dockyard.errors import InvalidArgument, NotFound

    if src == "-":  # a tar stream on stdin, extracted into the directory PATH
        st = _stat_in(c, ref, path)
        if st is None:
            raise NotFound(f"cp: destination directory {ref}:{path} does not exist")
        if not int(st["mode"]) & _GO_MODE_DIR:
            raise InvalidArgument(f"cp: destination {ref}:{path} must be a directory")
        data = sys.stdin.buffer.read()
        c.request("PUT", _archive_url(ref, path), raw=data,
                  content_type="application/x-tar").read()  # fmt: skip
        return 0
    if not os.path.lexists(src):
        raise NotFound(f"cp: {src}: no such file or directory")
    src_is_dir = os.path.isdir(src)
    contents = src_is_dir and (src.rstrip("/").endswith("/.") or src == ".")
    st = _stat_in(c, ref, path)
    if st is not None and int(st["mode"]) & _GO_MODE_DIR:
        into, arcname = path, "." if contents else os.path.basename(src.rstrip("/"))
    elif st is not None:  # an existing file: replaced by a file of that name
        if src_is_dir:
            raise InvalidArgument(f"cp: cannot copy a directory to a file: {ref}:{path}")
        into, arcname = posixpath.dirname(path) or "/", posixpath.basename(path)
    elif path.endswith("/") and not src_is_dir:
        raise NotFound(f"cp: destination directory {ref}:{path} does not exist")
    else:  # absent: the copy's new name, in its parent (which must exist)
        stripped = path.rstrip("/")
        into, arcname = posixpath.dirname(stripped) or "/", posixpath.basename(stripped)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname=arcname)
    c.request("PUT", _archive_url(ref, into), raw=buf.getvalue(),
              content_type="application/x-tar").read()  # fmt: skip
    return 0


_GO_MODE_DIR = 1 << 31  # os.ModeDir in docker's path stat
