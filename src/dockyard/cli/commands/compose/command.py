"""``compose [-f FILE]... [-p NAME] [--profile P]... ACTION [SERVICE...]``: a compose
project run as Deployments, Services and ConfigMaps (``orchestrator/compose.py`` turns the
file into objects).

This module holds the argument table, the project's loading (``compose.yaml`` and its
override, profiles, warnings) and ``config``, ``build``, ``down``, ``ps``, ``logs``; ``up``
and ``down``'s ordering are in :mod:`.up`, ``exec`` and ``run`` in :mod:`.oneoff`,
``stop``, ``start`` and ``pull`` in :mod:`.lifecycle`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dockyard.errors import InvalidArgument, NotFound, Unavailable

from ..kube.printers import render
from ..kube.resources import RESOURCE, client, path

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context
    from dockyard.orchestrator.compose import ComposeProject

__all__ = ["add_arguments", "fast_parse", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    a = p.add_argument
    a("-f", "--file", action="append", default=[], help="compose file (compose.yaml)")
    a("-p", "--project-name", default=None)
    a("--profile", action="append", default=[], help="enable a profile (repeatable)")
    a("action", choices=["up", "down", "ps", "logs", "build", "config", "exec", "run",
                         "stop", "start", "pull"])  # fmt: skip
    a("services", nargs="*")
    a("--ignore-pull-failures", action="store_true", help="pull: go on after a failure")
    a("-d", "--detach", action="store_true", help="up: do not wait in the foreground")
    a("-v", "--volumes", action="store_true", help="down: remove named volumes")
    a("--timeout", type=float, default=120.0, help="up: seconds to wait for readiness")
    a("--scale", action="append", default=[], help="up: SERVICE=N replicas (repeatable)")


def fast_parse(argv: list[str], name: str) -> argparse.Namespace | None:
    """``compose [OPTIONS] exec|run ...``: the words after the action are the one-off's
    own (flags, SERVICE, then a command whose flags are its own: ``sh -c ...``); argparse
    parses the compose options before it. None for everything else."""
    if name != "compose":
        return None
    takes = {"-f", "--file", "-p", "--project-name", "--profile"}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in takes else 1
    if i >= len(argv) or argv[i] not in ("exec", "run"):
        return None
    import argparse as _argparse

    from dockyard.cli.commands.compose.oneoff import parse_one_off

    parser = _argparse.ArgumentParser(prog="dockyard compose", add_help=False)
    add_arguments(parser, "compose")
    try:
        args = parser.parse_args(argv[: i + 1])
    except SystemExit:
        return None  # main's own parse then says what is wrong
    try:
        args.one_off = parse_one_off(argv[i], argv[i + 1 :])
    except InvalidArgument as e:
        args.one_off, args.one_off_error = None, e  # raised by run, where errors are caught
    return args


def _compose_project(args: argparse.Namespace) -> Any:
    import os
    from pathlib import Path

    from dockyard.orchestrator.compose import load_compose_file

    files = list(args.file)
    if not files:
        found = [f for f in ("compose.yaml", "compose.yml", "docker-compose.yaml",
                             "docker-compose.yml") if Path(f).is_file()][:1]  # fmt: skip
        if not found:
            raise NotFound("no configuration file provided: not found")
        stem = found[0].rsplit(".", 1)
        files = found + [o for o in (f"{stem[0]}.override.{stem[1]}",) if Path(o).is_file()]
    one = getattr(args, "one_off", None)
    named = [one["service"]] if one else list(args.services)
    project = load_compose_file(
        Path(files[0]), project_name=args.project_name, environ=dict(os.environ),
        overrides=files[1:], profiles=list(args.profile), named=named,
    )  # fmt: skip
    for warning in project.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return project


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.orchestrator.compose import PROJECT_LABEL, object_name
    from dockyard.orchestrator.export import to_yaml

    if getattr(args, "one_off_error", None) is not None:
        raise args.one_off_error
    project = _compose_project(args)
    label = f"{PROJECT_LABEL}={object_name(project.name)}"
    c = client(ctx)
    if args.action == "config":
        print(to_yaml(list(project.objects)).rstrip())
        return 0
    if args.action == "build":
        return _compose_build(ctx, project, args.services)
    if args.action in ("exec", "run", "stop", "start", "pull"):
        return _one_off_or_lifecycle(ctx, c, project, args)
    if args.action == "up":
        from dockyard.cli.commands.compose.up import compose_up

        _compose_build(ctx, project, args.services, only_missing=True)
        compose_up(c, project, args)
        if not args.detach:
            for service in project.start_order():
                _wait_ready(c, project.name, service, args.timeout)
            print(f"project {project.name}: {len(project.services)} services ready")
        return 0
    if args.action == "down":
        for plural in (
            "horizontalpodautoscalers",
            "services",
            "deployments",
            "configmaps",
            "secrets",
        ):
            for i in c.get(path(plural, "default") + f"?labelSelector={quote(label)}")["items"]:
                c.request("DELETE", path(plural, "default", i["metadata"]["name"])).read()
                print(f'{RESOURCE[plural]} "{i["metadata"]["name"]}" deleted')
        from dockyard.cli.commands.compose.up import compose_down

        compose_down(c, project, args.timeout)
        if args.volumes:
            for v in project.volumes:
                with _suppress():
                    c.request("DELETE", f"/volumes/{quote(v, safe='')}?force=1").read()
                    print(f"volume {v} removed")
        return 0
    if args.action == "ps":
        items = c.get(path("pods", "default") + f"?labelSelector={quote(label)}")["items"]
        print(render("pods", items, "", False) or "no pods")
        return 0
    # logs: every pod of the project, prefixed
    items = c.get(path("pods", "default") + f"?labelSelector={quote(label)}")["items"]
    for pod in items:
        svc = pod["metadata"]["labels"].get("dockyard.io/compose-service", "")
        if args.services and svc not in args.services:
            continue
        for s in pod.get("status", {}).get("containerStatuses") or []:
            cid = str(s.get("containerID", "")).removeprefix("dockyard://")
            if not cid:
                continue
            resp = c.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
            for _stream, chunk in resp.frames():
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"{pod['metadata']['name']}  | {line}")
    return 0


def _one_off_or_lifecycle(
    ctx: Context, c: Client, project: ComposeProject, args: argparse.Namespace
) -> int:
    from dockyard.cli.commands.compose.lifecycle import pull, stop_start
    from dockyard.cli.commands.compose.oneoff import exec_in_service, run_one_off

    action = args.action
    if action in ("exec", "run"):
        one = args.one_off
        if one["service"] not in project.services:
            raise NotFound(f"no such service: {one['service']}")
        if action == "exec":
            return exec_in_service(ctx, c, project, one)
        return run_one_off(c, project, one)
    services = list(args.services)
    for name in services:
        if name not in project.services:
            raise NotFound(f"no such service: {name}")
    if action in ("stop", "start"):
        return stop_start(c, project, services, stop=action == "stop")
    return pull(c, project, services, bool(getattr(args, "ignore_pull_failures", False)))


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        from dockyard.errors import DockyardError

        return kind is not None and issubclass(kind, DockyardError)


def _wait_ready(c: Client, project: str, service: str, timeout: float) -> None:
    from dockyard.orchestrator.compose import object_name

    name = object_name(service)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = c.get(path("deployments", "default", name))
        except NotFound:
            return
        st = d.get("status") or {}
        if st.get("readyReplicas", 0) >= d["spec"].get("replicas", 1):
            return
        time.sleep(0.5)
    raise Unavailable(f"compose up: service {service} of {project} not ready after {timeout:.0f}s")


def _compose_build(
    ctx: Context, project: Any, services: list[str], only_missing: bool = False
) -> int:
    import subprocess

    code = 0
    for name, svc in project.services.items():
        if svc.build is None or (services and name not in services):
            continue
        image = f"{project.name}-{name}"
        if only_missing:
            try:
                client(ctx).get(f"/images/{quote(image, safe='')}/json")
                continue
            except Exception:
                pass
        argv = [
            sys.executable,
            "-m",
            "dockyard.cli.main",
            "--root",
            ctx.root_dir,
            "--run-root",
            ctx.run_root_dir,
            "build",
            "-t",
            image,
        ]
        if svc.build.dockerfile:
            argv += ["-f", str(svc.build.dockerfile)]
        if svc.build.target:
            argv += ["--target", svc.build.target]
        for k, v in (svc.build.args or {}).items():
            argv += ["--build-arg", f"{k}={v}"]
        argv.append(str(svc.build.context))
        code = code or subprocess.run(argv, check=False).returncode
    return code
