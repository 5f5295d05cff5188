"""``compose up`` and ``compose down`` as the compose spec orders them.

``up``: the project's networks first (``<project>_<name>``, labelled with the project;
``external: true`` must exist and is used as is), then ConfigMaps/Secrets, then one
service at a time in :func:`~dockyard.orchestrator.compose.start_order`: before a
service's Deployment is applied, each ``depends_on`` condition is polled with
:func:`~dockyard.orchestrator.compose.condition_state` until it is met, or fails with its
one-line reason, or ``--timeout`` passes. ``restart: true``: a dependent whose dependency
had its pod template changed by this ``up`` is restarted (its template gets a new restart
stamp; otherwise the live stamp is kept, so an unchanged ``up`` changes nothing).

``down``: the objects, then (once the project's pods are gone) its own networks.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dockyard.errors import DockyardError, InvalidArgument, NotFound, Unavailable

if TYPE_CHECKING:
    import argparse

    from dockyard.cli.client import Client
    from dockyard.orchestrator.compose import ComposeProject, Dependency

__all__ = ["compose_down", "compose_up", "parse_scale"]

RESTARTED = "dockyard.io/compose-restarted-at"


def parse_scale(values: list[str], project: ComposeProject) -> dict[str, int]:
    """``--scale SERVICE=N`` (repeatable)."""
    out: dict[str, int] = {}
    for v in values:
        name, sep, n = v.partition("=")
        if not sep or not n.isdigit():
            raise InvalidArgument(f"invalid --scale {v!r}: want SERVICE=NUMBER")
        if name not in project.services:
            raise NotFound(f"--scale {v}: no such service: {name}")
        out[name] = int(n)
    return out


def _with_dependencies(project: ComposeProject, wanted: list[str]) -> set[str]:
    for name in wanted:
        if name not in project.services:
            raise NotFound(f"no such service: {name}")
    out: set[str] = set()
    todo = list(wanted or project.services)
    while todo:
        name = todo.pop()
        if name in out or name not in project.services:
            continue
        out.add(name)
        todo.extend(d.service for d in project.services[name].depends_on)
    return out


def ensure_networks(c: Client, project: ComposeProject, services: set[str]) -> None:
    used = {n for s in services for n in project.services[s].networks}
    for key, net in project.network_defs.items():
        if key not in used:
            continue
        try:
            c.get(f"/networks/{quote(net.name, safe='')}")
            continue
        except NotFound:
            if net.external:
                raise NotFound(
                    f"compose up: network {net.name} declared as external, but could not be found"
                ) from None
        cfg = [{"Subnet": net.subnet, "Gateway": net.gateway}] if net.subnet else []
        body = {
            "Name": net.name,
            "Driver": "bridge",
            "Internal": net.internal,
            "Labels": dict(net.labels),
            "IPAM": {"Driver": "default", "Config": cfg},
        }
        c.request("POST", "/networks/create", body).read()
        print(f"network {net.name} created")


def _pods(c: Client, project: str, service: str) -> list[dict[str, Any]]:
    from dockyard.cli.commands.kube.resources import path
    from dockyard.orchestrator.compose import PROJECT_LABEL, SERVICE_LABEL, object_name

    sel = f"{PROJECT_LABEL}={object_name(project)},{SERVICE_LABEL}={object_name(service)}"
    items: list[dict[str, Any]] = c.get(path("pods", "default") + f"?labelSelector={quote(sel)}")[
        "items"
    ]
    return items


def wait_condition(
    c: Client,
    project: ComposeProject,
    dependent: str,
    dep: Dependency,
    replicas: int,
    timeout: float,
) -> None:
    from dockyard.orchestrator.compose import condition_state

    target = project.services.get(dep.service)
    deadline = time.monotonic() + timeout
    while True:
        met, why = condition_state(dep, target, replicas, _pods(c, project.name, dep.service))
        if met:
            return
        if why:
            raise Unavailable(f"compose up: {dependent}: {why}")
        if time.monotonic() >= deadline:
            what = {
                "service_started": "started",
                "service_healthy": "healthy",
                "service_completed_successfully": "completed",
            }[dep.condition]
            raise Unavailable(
                f"compose up: {dependent}: dependency {dep.service} not {what} after {timeout:.0f}s"
            )
        time.sleep(0.2)


def compose_up(c: Client, project: ComposeProject, args: argparse.Namespace) -> None:
    from dockyard.cli.commands.kube.resources import KIND_PLURAL, RESOURCE
    from dockyard.orchestrator.compose import SERVICE_LABEL, object_name
    from dockyard.orchestrator.export import to_dict

    scale = parse_scale(list(getattr(args, "scale", None) or []), project)
    services = _with_dependencies(project, list(args.services))
    ensure_networks(c, project, services)

    def apply(items: list[dict[str, Any]]) -> None:
        if not items:
            return
        body = {"items": items, "namespace": "default"}
        result = c.request("POST", "/apis/dockyard.io/v1/apply", body).json()
        for item in result["items"]:
            print(f"{RESOURCE[KIND_PLURAL[item['kind']]]}/{item['name']} {item['action']}")

    apply([to_dict(o) for o in project.objects if o.kind in ("ConfigMap", "Secret")])
    replicas: dict[str, int] = {}
    changed: set[str] = set()
    for name in project.start_order():
        if name not in services:
            continue
        svc = project.services[name]
        items = [
            to_dict(o)
            for o in project.objects
            if o.kind not in ("ConfigMap", "Secret")
            and o.metadata.labels.get(SERVICE_LABEL) == object_name(name)
        ]
        restart = False
        for dep in svc.depends_on:
            if dep.service in services:
                n = replicas.get(dep.service, 1)
                wait_condition(c, project, name, dep, n, args.timeout)
                restart = restart or (dep.restart and dep.service in changed)
        for d in items:
            if d["kind"] != "Deployment":
                continue
            if name in scale:
                d["spec"]["replicas"] = scale[name]
            replicas[name] = int(d["spec"].get("replicas", 1))
            stamp = str(time.time()) if restart else _restarted_at(c, d["metadata"]["name"])
            if stamp:
                meta = d["spec"]["template"].setdefault("metadata", {})
                meta.setdefault("annotations", {})[RESTARTED] = stamp
        before = _live_template(c, object_name(name))
        apply(items)
        if before is not None and before != _live_template(c, object_name(name)):
            changed.add(name)  # its pods are being replaced: what restart: true follows


def _live_template(c: Client, name: str) -> dict[str, Any] | None:
    """The stored Deployment's pod template (None when there is none); the server's own
    form on both sides of an apply, so a difference is a real change."""
    from dockyard.cli.commands.kube.resources import path

    try:
        live = c.get(path("deployments", "default", name))
    except NotFound:
        return None
    template: dict[str, Any] = (live.get("spec") or {}).get("template") or {}
    return template


def _restarted_at(c: Client, name: str) -> str:
    """The restart stamp the live Deployment carries (kept, so re-applying changes nothing)."""
    meta = (_live_template(c, name) or {}).get("metadata") or {}
    return str((meta.get("annotations") or {}).get(RESTARTED) or "")


def compose_down(c: Client, project: ComposeProject, timeout: float) -> None:
    """Remove the project's bare pods, then its networks once its pods are gone (the
    other objects are deleted by the caller)."""
    from dockyard.cli.commands.kube.resources import path
    from dockyard.orchestrator.compose import PROJECT_LABEL, object_name

    label = object_name(project.name)
    sel = quote(f"{PROJECT_LABEL}={label}")
    for pod in c.get(path("pods", "default") + f"?labelSelector={sel}")["items"]:
        meta = pod["metadata"]
        if not meta.get("ownerReferences"):  # a one-shot service's bare pod
            with contextlib.suppress(NotFound):
                c.request("DELETE", path("pods", "default", meta["name"])).read()
                print(f'pod "{meta["name"]}" deleted')
    nets = [
        n
        for n in c.get("/networks")
        if (n.get("Labels") or {}).get(PROJECT_LABEL) == label
        and n["Name"] in {d.name for d in project.network_defs.values() if not d.external}
    ]
    if not nets:
        return
    deadline = time.monotonic() + timeout
    for n in nets:
        while True:
            try:
                c.request("DELETE", f"/networks/{quote(n['Name'], safe='')}").read()
                print(f"network {n['Name']} removed")
                break
            except NotFound:
                break
            except DockyardError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
