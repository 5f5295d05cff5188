"""Kinds, aliases and REST paths of the object API, and what every kubectl verb shares:
the client, ``-n``, ``TYPE/NAME`` targets, listing and reading ``-f`` files."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context

__all__ = [
    "ALIASES", "GV", "KIND_PLURAL", "RESOURCE", "REVISION", "add_namespace", "client",
    "list_objects", "path", "plural_of", "read_objects", "target_of",
]  # fmt: skip

# alias -> plural
ALIASES = {
    "po": "pods",
    "pod": "pods",
    "pods": "pods",
    "deploy": "deployments",
    "deployment": "deployments",
    "deployments": "deployments",
    "rs": "replicasets",
    "replicaset": "replicasets",
    "replicasets": "replicasets",
    "svc": "services",
    "service": "services",
    "services": "services",
    "hpa": "horizontalpodautoscalers",
    "horizontalpodautoscaler": "horizontalpodautoscalers",
    "horizontalpodautoscalers": "horizontalpodautoscalers",
    "cm": "configmaps",
    "configmap": "configmaps",
    "configmaps": "configmaps",
    "secret": "secrets",
    "secrets": "secrets",
    "ns": "namespaces",
    "namespace": "namespaces",
    "namespaces": "namespaces",
    "ev": "events",
    "event": "events",
    "events": "events",
    "netpol": "networkpolicies",
    "networkpolicy": "networkpolicies",
    "networkpolicies": "networkpolicies",
}

GV = {
    "pods": "v1",
    "services": "v1",
    "configmaps": "v1",
    "secrets": "v1",
    "namespaces": "v1",
    "deployments": "apps/v1",
    "replicasets": "apps/v1",
    "horizontalpodautoscalers": "autoscaling/v2",
    "networkpolicies": "networking.k8s.io/v1",
    "events": "v1",
}

KIND_PLURAL = {
    "Pod": "pods",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Namespace": "namespaces",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "NetworkPolicy": "networkpolicies",
    "Event": "events",
}

REVISION = "deployment.kubernetes.io/revision"

# what kubectl prints before the name: deployment.apps/web
RESOURCE = {
    "pods": "pod",
    "services": "service",
    "configmaps": "configmap",
    "secrets": "secret",
    "namespaces": "namespace",
    "deployments": "deployment.apps",
    "replicasets": "replicaset.apps",
    "horizontalpodautoscalers": "horizontalpodautoscaler.autoscaling",
    "networkpolicies": "networkpolicy.networking.k8s.io",
    "events": "event",
}


def add_namespace(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", default="default", help="the namespace (default: default)")


def client(ctx: Context) -> Client:
    from dockyard.cli.client import Client

    return Client(ctx.root_dir, ctx.run_root_dir)


def plural_of(kind: str) -> str:
    p = ALIASES.get(kind.lower())
    if p is None:
        raise InvalidArgument(f'the server doesn\'t have a resource type "{kind}"')
    return p


def path(plural: str, ns: str | None, name: str | None = None) -> str:
    gv = GV[plural]
    base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
    if plural == "namespaces":
        out = f"{base}/namespaces"
    elif ns is None:
        out = f"{base}/{plural}"
    else:
        out = f"{base}/namespaces/{quote(ns, safe='')}/{plural}"
    return out + (f"/{quote(name, safe='')}" if name else "")


def target_of(words: list[str], default_kind: str = "deployments") -> tuple[str, str]:
    """``deploy/web`` or ``deployment web`` → (plural, name)."""
    if len(words) == 1 and "/" in words[0]:
        kind, _, name = words[0].partition("/")
        return plural_of(kind), name
    if len(words) == 2:
        return plural_of(words[0]), words[1]
    if len(words) == 1:
        return default_kind, words[0]
    raise InvalidArgument("expected TYPE/NAME or TYPE NAME")


def list_objects(
    c: Client, plural: str, ns: str | None, names: list[str], selector: str | None
) -> Any:
    if names:
        return [c.get(path(plural, ns, n)) for n in names]
    q = f"?labelSelector={quote(selector)}" if selector else ""
    data = c.get(path(plural, ns) + q)
    return data["items"]


def read_objects(files: list[str], recursive: bool) -> list[Any]:
    from dockyard.orchestrator.loader import load_paths

    stdin = sys.stdin.read() if "-" in files else None
    return list(load_paths(files, stdin=stdin, recursive=recursive))
