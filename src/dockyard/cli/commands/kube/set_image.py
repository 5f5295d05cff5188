"""``set image deployment/NAME CONTAINER=IMAGE ... | *=IMAGE``: a workload's pod template
with new images (a rollout follows, as with kubectl)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument, NotFound

from .resources import RESOURCE, add_namespace, client, path, target_of

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("what", help="image")
    a("args", nargs="+", metavar="TYPE/NAME CONTAINER=IMAGE")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    """``set image deployment/NAME CONTAINER=IMAGE ... | *=IMAGE``: the pod template's
    images replaced (a rollout follows, as with kubectl); an unknown container is refused
    before anything is written."""
    if args.what != "image":
        raise InvalidArgument(f'unknown command "{args.what}" for "dockyard set"')
    words = [w for w in args.args if "=" not in w]
    pairs = [w.partition("=") for w in args.args if "=" in w]
    if not words or not pairs or any(not name or not img for name, _s, img in pairs):
        raise InvalidArgument("set image: expected TYPE/NAME CONTAINER=IMAGE [...]")
    plural, name = target_of(words)
    if plural not in ("deployments", "replicasets"):
        raise InvalidArgument(f"set image: {plural} has no pod template to update")
    c = client(ctx)
    url = path(plural, args.namespace, name)
    obj = c.get(url)
    spec = obj["spec"]["template"]["spec"]
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for cname, _s, image in pairs:
        hits = [x for x in containers if cname in ("*", x.get("name"))]
        if not hits:
            raise NotFound(f'unable to find container named "{cname}"')
        for x in hits:
            x["image"] = image
    c.request("PUT", url, obj)
    print(f"{RESOURCE[plural]}/{name} image updated")
    return 0
