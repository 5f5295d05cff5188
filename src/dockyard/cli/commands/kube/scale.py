"""``scale deploy/NAME --replicas N`` (the scale subresource) and ``autoscale deploy/NAME
--max N [--min N] [--cpu-percent P]`` (a HorizontalPodAutoscaler for the workload)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument

from .resources import RESOURCE, add_namespace, client, path, target_of

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    if name == "scale":
        a("target", nargs="+", help="deploy/NAME, or KIND NAME")
        a("--replicas", type=int, required=True)
    else:  # autoscale
        a("target", nargs="+", help="deploy/NAME, or KIND NAME")
        a("--min", type=int, default=1)
        a("--max", type=int, required=True)
        a("--cpu-percent", type=int, default=None)
        a("--name", default=None)


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    return _scale(ctx, args) if name == "scale" else _autoscale(ctx, args)


def _scale(ctx: Context, args: argparse.Namespace) -> int:
    plural, name = target_of(args.target)
    if plural not in ("deployments", "replicasets"):
        raise InvalidArgument(f"cannot scale {plural}")
    if args.replicas < 0:
        raise InvalidArgument("The --replicas=COUNT flag is required, and COUNT must be >= 0")
    body = {"spec": {"replicas": args.replicas}}
    client(ctx).request("PUT", path(plural, args.namespace, name) + "/scale", body).read()
    print(f"{RESOURCE[plural]}/{name} scaled")
    return 0


def _autoscale(ctx: Context, args: argparse.Namespace) -> int:
    plural, name = target_of(args.target)
    if plural not in ("deployments", "replicasets"):
        raise InvalidArgument(f"cannot autoscale {plural}")
    kind = "Deployment" if plural == "deployments" else "ReplicaSet"
    metrics = []
    if args.cpu_percent is not None:
        metrics = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": args.cpu_percent},
                },
            }
        ]
    doc: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": args.name or name, "namespace": args.namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": args.min,
            "maxReplicas": args.max,
        },
    }
    if metrics:
        doc["spec"]["metrics"] = metrics
    client(ctx).request("POST", path("horizontalpodautoscalers", args.namespace), doc).read()
    print(f"horizontalpodautoscaler.autoscaling/{args.name or name} autoscaled")
    return 0
