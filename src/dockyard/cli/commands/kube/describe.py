"""``describe KIND [NAME...] | KIND/NAME [-l SELECTOR]``: each object's metadata, then its
spec, data and status as YAML; a Deployment's ReplicaSets with their revisions."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .printers import event_lines
from .resources import REVISION, add_namespace, client, list_objects, path, plural_of

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("kind")
    a("names", nargs="*")
    a("-l", "--selector", help="label selector")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    import yaml

    c = client(ctx)
    if "/" in args.kind:  # describe deploy/NAME
        kind, _, first = args.kind.partition("/")
        args.kind, args.names = kind, [first, *args.names]
    plural = plural_of(args.kind)
    items = list_objects(c, plural, args.namespace, args.names, args.selector)
    for n, i in enumerate(items):
        if n:
            print()
        meta = i["metadata"]
        lines = [f"Name:         {meta['name']}"]
        if meta.get("namespace"):
            lines.append(f"Namespace:    {meta['namespace']}")
        lines.append(f"Labels:       {_kv(meta.get('labels'))}")
        lines.append(f"Annotations:  {_kv(meta.get('annotations'))}")
        lines.append(f"Created:      {meta.get('creationTimestamp', '')}")
        for owner in meta.get("ownerReferences") or []:
            lines.append(f"Controlled By:  {owner['kind']}/{owner['name']}")
        print("\n".join(lines))
        for section in ("spec", "data", "status"):
            if i.get(section):
                print(f"{section.capitalize()}:")
                text = yaml.safe_dump(i[section], sort_keys=False, default_flow_style=False)
                print("\n".join("  " + line for line in text.rstrip().splitlines()))
        if plural == "deployments":
            sel = ",".join(
                f"{k}={v}"
                for k, v in ((i["spec"].get("selector") or {}).get("matchLabels") or {}).items()
            )
            q = f"?labelSelector={quote(sel)}"
            rss = c.get(path("replicasets", meta.get("namespace")) + q)["items"]
            print("ReplicaSets:")
            for r in rss:
                owners = r["metadata"].get("ownerReferences") or []
                if not any(o.get("uid") == meta.get("uid") for o in owners):
                    continue
                st = r.get("status") or {}
                rev = r["metadata"].get("annotations", {}).get(REVISION, "?")
                print(
                    f"  {r['metadata']['name']} ({st.get('replicas', 0)}/"
                    f"{r['spec'].get('replicas', 0)} replicas created, revision {rev})"
                )
        if plural in EVENTFUL:
            print(event_lines(_events(c, i)))
    return 0


# the kinds whose describe ends with their events
EVENTFUL = ("pods", "deployments", "replicasets", "horizontalpodautoscalers")


def _events(c: Client, obj: dict[str, Any]) -> list[dict[str, Any]]:
    meta = obj["metadata"]
    sel = f"involvedObject.name={meta['name']},involvedObject.kind={obj.get('kind', '')}"
    if meta.get("uid"):
        sel += f",involvedObject.uid={meta['uid']}"
    q = f"?fieldSelector={quote(sel)}"
    return list(c.get(path("events", meta.get("namespace") or "default") + q)["items"])


def _kv(d: dict[str, str] | None) -> str:
    if not d:
        return "<none>"
    return "\n              ".join(f"{k}={v}" for k, v in d.items())
