"""A pod's container for ``logs`` and ``exec`` (``clogs``/``cexec`` call these):
``pod/NAME``, ``deploy/NAME`` or ``rs/NAME`` → the container id of one of its containers."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound

from .resources import RESOURCE, path, target_of

if TYPE_CHECKING:
    from dockyard.cli.client import Client

__all__ = ["pod_container", "pod_target"]


def pod_container(
    c: Client, target: str, namespace: str = "default", container: str | None = None
) -> str:
    """``pod/NAME``, ``deploy/NAME`` (its first ready, else first, pod) or ``rs/NAME`` →
    the container id of ``container`` (default: the pod's first container)."""
    plural, name = target_of([target], default_kind="pods")
    if plural == "pods":
        pod = c.get(path("pods", namespace, name))
    elif plural in ("deployments", "replicasets"):
        obj = c.get(path(plural, namespace, name))
        sel = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
        q = quote(",".join(f"{k}={v}" for k, v in sel.items()))
        pods = c.get(path("pods", namespace) + f"?labelSelector={q}")["items"]
        pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if not pods:
            raise NotFound(f"no pods found for {RESOURCE[plural]}/{name}")
        ready = [
            p
            for p in pods
            if all(x.get("ready") for x in p["status"].get("containerStatuses") or [{}])
        ]
        pod = (ready or pods)[0]
    else:
        raise InvalidArgument(f"cannot get logs or exec into {plural}")
    statuses = pod.get("status", {}).get("containerStatuses") or []
    if container:
        statuses = [s for s in statuses if s.get("name") == container]
        if not statuses:
            raise NotFound(f"container {container} is not valid for pod {pod['metadata']['name']}")
    for s in statuses:
        if s.get("containerID"):
            return str(s["containerID"]).removeprefix("dockyard://")
    raise FailedPrecondition(f"pod {pod['metadata']['name']} has no container yet")


def pod_target(
    c: Client, target: str, namespace: str | None, container: str | None, missing: Exception
) -> str:
    """kubectl's habit on ``logs``/``exec``: ``pod/NAME``, ``deploy/NAME`` or — with ``-n``
    or ``-c``, or when no docker container has that name — a bare pod name; the container
    id of the pod's container ``container`` (default its first). ``missing`` (the docker
    side's NotFound) is raised when there is no such pod either."""
    if "/" not in target:
        target = f"pod/{target}"
        if not namespace and not container:
            try:
                return pod_container(c, target)
            except NotFound:
                raise missing from None
    return pod_container(c, target, namespace or "default", container)
