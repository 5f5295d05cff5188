"""``dockyard pull``, ``push``, ``login``, ``logout`` and ``manifest inspect``."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Context
    from dockyard.distribution.client import ClientConfig
    from dockyard.store.images import ImageStore


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name in ("pull", "push"):
        p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output")
        if name == "pull":
            p.add_argument("--platform", help="os/arch[/variant] to pick from an index")
        _client_flags(p)
        p.add_argument("reference", metavar="NAME[:TAG|@DIGEST]")
    elif name == "login":
        p.add_argument("-u", "--username", help="username")
        p.add_argument("-p", "--password", help="password (prefer --password-stdin)")
        p.add_argument("--password-stdin", action="store_true", help="read the password on stdin")
        _client_flags(p)
        p.add_argument("server", nargs="?", default="docker.io", metavar="SERVER")
    elif name == "logout":
        p.add_argument("server", nargs="?", default="docker.io", metavar="SERVER")
    else:  # manifest
        sub = p.add_subparsers(dest="action", metavar="COMMAND", required=True)
        i = sub.add_parser("inspect", help="show the manifest or index of an image in a registry")
        _client_flags(i)
        i.add_argument("reference", metavar="NAME[:TAG|@DIGEST]")


def _client_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--insecure-registry", action="append", default=[], metavar="HOST[:PORT]",
        help="talk plain HTTP to this registry (loopback registries always are)",
    )  # fmt: skip
    p.add_argument("--tls-ca", help="CA certificate to verify the registry with")


def _config(args: argparse.Namespace) -> ClientConfig:
    import os
    from pathlib import Path

    from dockyard.distribution.client import ClientConfig

    insecure = set(args.insecure_registry)
    insecure |= {h for h in os.environ.get("DOCKYARD_INSECURE_REGISTRIES", "").split(",") if h}
    ca = args.tls_ca or os.environ.get("DOCKYARD_TLS_CA")
    return ClientConfig(insecure=frozenset(insecure), ca_file=Path(ca) if ca else None)


def _progress(quiet: bool) -> dict[str, Any]:
    """The ``progress``/``transfer`` arguments: a line per blob on stdout (bars on a
    terminal, :mod:`dockyard.cli.progressbars`), nothing with ``-q``."""
    if quiet:
        return {}
    from dockyard.cli.progressbars import Board

    board = Board(sys.stdout)
    return {"progress": board.status, "transfer": board.transfer}


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    if name == "pull":
        from dockyard.distribution.pull import pull_sync

        store = ctx.images()
        img = pull_sync(store, args.reference, config=_config(args), platform=args.platform,
                        **_progress(args.quiet))  # fmt: skip
        from dockyard.oci.reference import parse_reference

        if not args.quiet:
            print(f"Status: downloaded image {img.manifest_digest}")
        print(str(parse_reference(args.reference)))
        _end_now(store, 0)
        return 0
    if name == "push":
        from dockyard.distribution.push import push_sync

        store = ctx.images()
        push_sync(store, args.reference, config=_config(args), **_progress(args.quiet))
        _end_now(store, 0)
        return 0
    if name == "login":
        return _login(args)
    if name == "logout":
        from dockyard.distribution.auth import remove_credentials
        from dockyard.distribution.client import registry_host

        host = registry_host(args.server)
        if remove_credentials(args.server) or remove_credentials(host):
            print(f"Removing login credentials for {args.server}")
        else:
            print(f"Not logged in to {args.server}")
        return 0
    return _inspect(args)


def _end_now(store: ImageStore, code: int) -> None:
    """End the process at once after a successful pull or push run by the ``dockyard`` CLI.

    Everything that must last is done: every blob was fsynced and renamed (its
    directory fsynced), the image row committed; the store's connection is closed
    here (SQLite checkpoints the WAL).  What ``os._exit`` skips is the interpreter's
    teardown.  Only when the process is the ``dockyard`` console script (its
    ``__main__`` runs :func:`dockyard.cli.main.main`) and no other thread is left;
    a caller in-process (tests, an embedding program) just gets the return.
    """
    import os
    import threading

    from dockyard.cli import main as cli_main

    if getattr(sys.modules.get("__main__"), "main", None) is not cli_main.main:
        return
    if threading.active_count() > 1:
        return
    store.db.close()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        return  # let the normal exit report it
    os._exit(code)


def _login(args: argparse.Namespace) -> int:
    import getpass

    from dockyard.distribution.login import login_sync

    user = args.username or input("Username: ")
    if args.password_stdin:
        password = sys.stdin.read().rstrip("\n")
    else:
        password = args.password or getpass.getpass("Password: ")
    path = login_sync(args.server, user, password, config=_config(args))
    print(f"Login Succeeded (credentials in {path})")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    import json

    from dockyard.distribution.login import inspect_manifest_sync

    body = inspect_manifest_sync(args.reference, config=_config(args))
    try:
        print(json.dumps(json.loads(body), indent=3))
    except ValueError:
        sys.stdout.write(body.decode(errors="replace"))
    return 0
