"""``compose stop|start [SERVICE...]`` and ``compose pull [SERVICE...]``.

- ``stop``: a Deployment is scaled to 0, its replicas kept in the annotation
  ``dockyard.io/compose-stopped-replicas`` (a running Deployment would replace a stopped
  container); a bare pod's containers are stopped. ``start`` gives the replicas back.
- ``pull``: every image the services run, through the daemon's pull (as ``dockyard
  pull``); a service with a ``build`` and no ``image``, or ``pull_policy: build|never``, is
  skipped. ``--ignore-pull-failures`` goes on after a failure.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING
from urllib.parse import quote

from dockyard.errors import NotFound

from .oneoff import service_pods

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.orchestrator.compose import ComposeProject

__all__ = ["STOPPED", "pull", "stop_start"]

STOPPED = "dockyard.io/compose-stopped-replicas"


def stop_start(c: Client, project: ComposeProject, services: list[str], stop: bool) -> int:
    from dockyard.cli.commands.kube.resources import path
    from dockyard.orchestrator.compose import object_name

    for name in project.start_order()[:: -1 if stop else 1]:
        if services and name not in services:
            continue
        url = path("deployments", "default", object_name(name))
        try:
            d = c.get(url)
        except NotFound:
            d = None
        if d is not None:
            meta = d["metadata"].setdefault("annotations", {})
            if stop and d["spec"].get("replicas", 1):
                meta[STOPPED] = str(d["spec"].get("replicas", 1))
                d["spec"]["replicas"] = 0
            elif not stop and STOPPED in meta:
                d["spec"]["replicas"] = int(meta.pop(STOPPED))
            else:
                continue
            c.request("PUT", url, d).read()
        elif stop:
            for pod in service_pods(c, project, name):
                for s in (pod.get("status") or {}).get("containerStatuses") or []:
                    cid = str(s.get("containerID", "")).removeprefix("dockyard://")
                    if cid:
                        c.request("POST", f"/containers/{quote(cid, safe='')}/stop").read()
        print(f"service {name} {'stopped' if stop else 'started'}", file=sys.stderr)
    return 0


def pull(c: Client, project: ComposeProject, services: list[str], keep_going: bool) -> int:
    from dockyard.cli.commands.run import pull_image
    from dockyard.errors import DockyardError

    code = 0
    for name, svc in project.services.items():
        if services and name not in services:
            continue
        built = svc.build is not None and not svc.explicit_image
        if built or svc.pull_policy in ("build", "never"):
            print(f"service {name}: skipped (built here)", file=sys.stderr)
            continue
        try:
            pull_image(c, svc.image)
            print(f"service {name}: pulled {svc.image}", file=sys.stderr)
        except DockyardError as e:
            if not keep_going:
                raise
            print(f"dockyard: service {name}: {e}", file=sys.stderr)
            code = 1
    return code
