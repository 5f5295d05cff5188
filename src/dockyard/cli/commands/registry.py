"""``dockyard registry serve`` and ``dockyard registry gc``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    sub = p.add_subparsers(dest="action", metavar="COMMAND", required=True)
    s = sub.add_parser("serve", help="run an OCI distribution registry")
    s.add_argument("--addr", default="127.0.0.1:5000", help="listen address (default %(default)s)")
    s.add_argument("--root", type=Path, help="registry root (default <state root>/registry)")
    s.add_argument("--tls-cert", type=Path, help="PEM certificate (chain) for TLS")
    s.add_argument("--tls-key", type=Path, help="PEM private key for TLS")
    s.add_argument(
        "--auth",
        help="htpasswd:FILE or token:REALM,ISSUER,KEYFILE[,SERVICE] (default: no auth)",
    )
    s.add_argument("--token-users", type=Path, help="htpasswd file: issue tokens at /token")
    s.add_argument("--token-acl", type=Path, help="JSON ACL for the token issuer")
    s.add_argument(
        "--access", type=Path, help="YAML/JSON access file: who may pull/push/delete where"
    )
    s.add_argument(
        "--allow-insecure-htpasswd",
        action="store_true",
        help="accept unsalted {SHA} and plain-text htpasswd entries",
    )
    s.add_argument(
        "--allow-insecure-auth",
        action="store_true",
        help="allow --auth over plain HTTP on a non-loopback address",
    )
    s.add_argument("--delete-enabled", action="store_true", help="allow DELETE of content")
    s.add_argument(
        "--max-blob-size",
        default="10G",
        help="refuse blobs larger than this (bytes, or 512M, 10G; 0: no cap; default 10G)",
    )
    s.add_argument(
        "--max-uploads-per-client",
        type=int,
        default=64,
        help="open upload sessions per client address (0: no cap; default 64)",
    )
    s.add_argument("--access-log", default="-", help="JSON access log file ('-' stderr, '' none)")
    g = sub.add_parser("gc", help="delete blobs no repository uses, and stale uploads")
    g.add_argument("--root", type=Path, help="registry root (default <state root>/registry)")
    g.add_argument("--dry-run", action="store_true", help="only report what would go")
    g.add_argument("--delete-untagged", action="store_true", help="delete untagged manifests")
    g.add_argument("--grace", type=float, default=3600.0, help="keep blobs younger (seconds)")


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    root = args.root or (ctx.root / "registry")
    if args.action == "gc":
        return _gc(root, args)
    return _serve(root, args)


def _gc(root: Path, args: argparse.Namespace) -> int:
    from dockyard.distribution.registry import Registry

    report = Registry(root).gc(
        dry_run=args.dry_run, delete_untagged=args.delete_untagged, grace_s=args.grace
    )
    verb = "would delete" if args.dry_run else "deleted"
    for m in report.manifests:
        print(f"{verb} manifest {m}")
    for d in report.blobs:
        print(f"{verb} blob {d}")
    for u in report.uploads:
        print(f"{verb} upload {u}")
    print(f"reclaimed {report.reclaimed} bytes")
    return 0


def _serve(root: Path, args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from dockyard.distribution import options as o
    from dockyard.distribution.server import ServerConfig, serve

    host, port = o.parse_addr(args.addr)
    max_blob = o.parse_size(args.max_blob_size)
    authz, issuer = o.parse_auth(
        args.auth,
        args.token_users,
        args.token_acl,
        access=args.access,
        allow_insecure_htpasswd=args.allow_insecure_htpasswd,
    )
    ssl_ctx = o.tls_context(args.tls_cert, args.tls_key)
    if o.check_auth_transport(host, ssl_ctx is not None, args.auth, args.allow_insecure_auth):
        _warn(f"--auth over plain HTTP on {host}: passwords and tokens travel in clear text")
    _warn_insecure_htpasswd(authz, issuer)
    log_file = _open_log(args.access_log)
    config = ServerConfig(
        root=root,
        delete_enabled=args.delete_enabled,
        authorizer=authz,
        issuer=issuer,
        max_blob_size=max_blob,
        max_uploads_per_client=args.max_uploads_per_client or None,
        access_log=None if log_file is None else _writer(log_file),
    )
    scheme = "https" if ssl_ctx else "http"

    def ready(bound: int) -> None:
        print(f"registry listening on {scheme}://{host}:{bound} (root {root})", file=sys.stderr)
        sys.stderr.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(config, host, port, ssl_context=ssl_ctx, on_ready=ready, stop=stop)

    asyncio.run(main())
    return 0


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _warn_insecure_htpasswd(*objs: object) -> None:
    for obj in objs:
        users = getattr(obj, "htpasswd", None)
        weak = getattr(users, "insecure", None)
        if users is not None and weak:
            _warn(
                f"htpasswd {users.path}: unsalted entries for {', '.join(weak[:5])} accepted "
                "by --allow-insecure-htpasswd; rehash them with htpasswd -B"
            )


def _open_log(target: str) -> Any:
    if target == "":
        return None
    if target == "-":
        return sys.stderr
    return open(target, "a", buffering=1)


def _writer(f: Any) -> Any:
    def write(record: dict[str, Any]) -> None:
        f.write(json.dumps(record, separators=(",", ":")) + "\n")
        f.flush()

    return write
