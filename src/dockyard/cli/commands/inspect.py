"""``dockyard inspect``: low-level JSON of containers and images, or a template.

:func:`run` asks the daemon (``inspect``, ``container inspect``); :func:`run_local` reads
the state root directly (``image inspect``)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context
    from dockyard.store.db import ContainerRecord
    from dockyard.store.images import ImageStore


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("-f", "--format", help="format output using a Go template")
    p.add_argument("--type", choices=("container", "image"), help="only this type of object")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("objects", nargs="+", metavar="NAME|ID")


def container_view(rec: ContainerRecord) -> dict[str, Any]:
    """A container as docker's ``inspect`` shows it (the fields dockyard has)."""
    from dockyard.engine.record import config_of

    cfg = config_of(rec)
    opts, proc = cfg.options, cfg.process()
    args = cfg.args() or [""]
    running = rec.status == "running"
    return {
        "Id": rec.id,
        "Created": rec.created,
        "Path": args[0],
        "Args": args[1:],
        "State": {
            "Status": rec.status,
            "Running": running,
            "Paused": rec.status == "paused",
            "Restarting": False,
            "OOMKilled": bool(rec.oom_killed),
            "Dead": False,
            "Pid": rec.pid if running else 0,
            "ExitCode": rec.exit_code or 0,
            "Error": "",
            "StartedAt": rec.started_at or "0001-01-01T00:00:00Z",
            "FinishedAt": rec.finished_at or "0001-01-01T00:00:00Z",
        },
        "Image": rec.image_id,
        "Name": "/" + rec.name,
        "HostConfig": {
            "Privileged": opts.privileged,
            "ReadonlyRootfs": opts.read_only,
            "Memory": opts.memory or 0,
            "MemorySwap": opts.memory_swap or 0,
            "NanoCpus": opts.nano_cpus or 0,
            "CpuShares": opts.cpu_shares or 0,
            "CpusetCpus": opts.cpuset_cpus or "",
            "PidsLimit": opts.pids_limit,
            "CapAdd": opts.cap_add or None,
            "CapDrop": opts.cap_drop or None,
            "SecurityOpt": opts.security_opt or None,
            "NetworkMode": opts.network,
            "AutoRemove": opts.remove,
            "OomScoreAdj": opts.oom_score_adj or 0,
            "Init": opts.init,
        },
        "Config": {
            "Hostname": cfg.hostname(),
            "User": opts.user or "",
            "Env": cfg.env(),
            "Cmd": opts.command or None,
            "Image": rec.image_ref,
            "WorkingDir": str(proc.get("cwd") or ""),
            "Entrypoint": opts.entrypoint,
            "Labels": dict(rec.labels),
            "Tty": bool(proc.get("terminal")),
        },
    }


def image_view(img: Any, store: ImageStore | None = None) -> dict[str, Any]:
    """An image as docker's ``inspect`` shows it; with its ``store``, plus ``Security``
    when a lint or scan summary was recorded (security/summary.py) and ``Referrers``
    when artifacts are attached to it (``build --sbom``, store/referrers.py)."""
    cfg = json.loads(img.config.content())
    view: dict[str, Any] = {
        "Id": str(img.id),
        "RepoTags": [_familiar(t) for t in img.repo_tags],
        "RepoDigests": [],
        "Created": cfg.get("created", ""),
        "Author": cfg.get("author", ""),
        "Architecture": cfg.get("architecture", ""),
        "Variant": cfg.get("variant", ""),
        "Os": cfg.get("os", ""),
        "Config": cfg.get("config", {}),
        "Size": img.size,
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {"ManifestDigest": str(img.manifest_digest)},
    }
    if store is not None:
        from dockyard.security.summary import read_summary
        from dockyard.store.referrers import referrers

        summary = read_summary(store.root, str(img.id))
        if summary:
            view["Security"] = summary
        attached = referrers(store, img.manifest_digest)
        if attached:
            view["Referrers"] = [
                {"Digest": str(d), "ArtifactType": m.artifact_type or ""} for d, m in attached
            ]
    return view


def _familiar(ref: str) -> str:
    from dockyard.oci.reference import parse_reference

    return parse_reference(ref).familiar()


def run_local(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.engine.containers import ContainerEngine
    from dockyard.errors import DockyardError, NotFound

    engine = ContainerEngine(ctx.root, ctx.run_root)
    views: list[dict[str, Any]] = []
    rc = 0
    for ref in args.objects:
        view: dict[str, Any] | None = None
        if args.type in (None, "container"):
            try:
                view = container_view(engine.get(ref))
            except NotFound:
                view = None
        if view is None and args.type in (None, "image"):
            try:
                view = image_view(engine.images.resolve(ref), engine.images)
            except (NotFound, DockyardError):
                view = None
        if view is None:
            print(f"dockyard: no such object: {ref}", file=sys.stderr)
            rc = 1
            continue
        views.append(view)
    from dockyard.cli.render import print_views

    print_views(views, args.format)
    return rc


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from urllib.parse import quote

    from dockyard.cli.commands.lifecycle import client
    from dockyard.errors import NotFound

    c = client(ctx)
    views: list[dict[str, Any]] = []
    rc = 0
    for ref in args.objects:
        view = None
        if args.type in (None, "container"):
            try:
                view = c.get(f"/containers/{quote(ref, safe='')}/json")
            except NotFound:
                view = None
        if view is None and args.type in (None, "image"):
            from dockyard.errors import DockyardError

            try:
                store = ctx.images()
                view = image_view(store.resolve(ref), store)
            except DockyardError:
                view = None
        if view is None:
            print(f"dockyard: no such object: {ref}", file=sys.stderr)
            rc = 1
            continue
        views.append(view)
    from dockyard.cli.render import print_views

    print_views(views, args.format)
    return rc
