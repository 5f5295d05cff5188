"""kubectl's ``get`` (several kinds, ``all``, ``-o custom-columns``, ``--no-headers``, a
watch that streams the daemon's events).

``get deploy,svc`` and ``get all`` print one table per kind that has objects, each name
prefixed with its resource (``deployment.apps/web``), as kubectl does; ``all`` is pods,
services, deployments, replicasets and horizontalpodautoscalers (kubectl's ``all``
category, less the kinds dockyard does not run). ``-w`` prints the list, then a row for
every change the daemon's watch stream (``?watch=1``, api/objects.py) reports — a deleted
object's last row too (``--output-watch-events`` adds kubectl's EVENT column).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument, NotFound

from .printers import render, row_key
from .printers import table as _table_of
from .resources import RESOURCE, add_namespace, client, list_objects, path, plural_of

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context

__all__ = ["ALL", "add_arguments", "kinds_of", "run"]

ALL = ["pods", "services", "deployments", "replicasets", "horizontalpodautoscalers"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("kind")
    a("names", nargs="*")
    a("-l", "--selector", help="label selector (app=web,tier!=db)")
    a("-o", "--output", default="",
      help="wide, yaml, json, name, jsonpath=TEMPLATE, custom-columns=H:PATH")  # fmt: skip
    a("-w", "--watch", action="store_true", help="print changes until interrupted")
    a("-A", "--all-namespaces", action="store_true", help="every namespace")
    a("--no-headers", action="store_true", help="tables without their header line")
    a("--output-watch-events", action="store_true", help="-w: show the event type")
    a("--request-timeout", type=float, default=0.0, help="-w: stop after SECONDS")


def kinds_of(words: str) -> list[str]:
    """``deploy,svc`` → [deployments, services]; ``all`` → :data:`ALL`."""
    out: list[str] = []
    for word in words.split(","):
        for plural in ALL if word.lower() == "all" else [plural_of(word)]:
            if plural not in out:
                out.append(plural)
    return out


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    kind, names = args.kind, list(args.names)
    if "/" in kind:  # get deploy/web svc/web
        pairs = [w.partition("/") for w in [kind, *names]]
        if any(not sep for _k, sep, _n in pairs):
            raise InvalidArgument(
                "there is no need to specify a resource type as a separate argument when "
                "passing arguments in resource/name form"
            )
        kind = ",".join(dict.fromkeys(k for k, _s, _n in pairs))
        names = [n for _k, _s, n in pairs]
    plurals = kinds_of(kind)
    multi = len(plurals) > 1 or kind.lower() == "all"
    if args.watch and multi:
        raise InvalidArgument("you may only specify a single resource type with --watch")
    if multi and names and "/" not in args.kind:
        raise InvalidArgument("names need one resource type, or TYPE/NAME for each")
    c = client(ctx)
    ns = None if args.all_namespaces else args.namespace
    per_kind: list[tuple[str, list[dict[str, Any]]]] = []
    for plural in plurals:
        wanted = names
        if "/" in args.kind:
            wanted = [n for (k, _s, n) in (w.partition("/") for w in [args.kind, *args.names])
                      if kinds_of(k) == [plural]]  # fmt: skip
        try:
            per_kind.append((plural, list_objects(c, plural, ns, wanted, args.selector)))
        except NotFound:
            if not multi:
                raise
    text = render_all(per_kind, args, multi, single=bool(names) and not multi)
    if text:
        print(text)
    elif not args.watch:
        where = "" if args.all_namespaces else f" in {args.namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
    if not args.watch:
        return 0
    return _watch(c, plurals[0], ns, per_kind[0][1] if per_kind else [], args)


def render_all(
    per_kind: list[tuple[str, list[dict[str, Any]]]], args: argparse.Namespace,
    multi: bool, single: bool = False,
) -> str:  # fmt: skip
    """Every kind's objects in the ``-o`` format: tables (one per kind, names prefixed when
    several kinds were asked for), or one List for json/yaml/jsonpath/custom-columns."""
    output = args.output or ""
    every = [i for _p, items in per_kind for i in items]
    if output.startswith("custom-columns="):
        return custom_table(every, output.partition("=")[2], args.no_headers)
    if output in ("json", "yaml") or output.startswith("jsonpath=") or output == "name":
        plural = per_kind[0][0] if len(per_kind) == 1 else ""
        if plural:
            return str(render(plural, every, output, bool(args.all_namespaces), single))
        if output == "name":
            return "\n".join(f"{RESOURCE[p]}/{i['metadata']['name']}" for p, its in per_kind
                             for i in its)  # fmt: skip
        return str(render("pods", every, output, bool(args.all_namespaces), False))
    blocks = []
    for plural, items in per_kind:
        if not items:
            continue
        shown = [_prefixed(i, RESOURCE[plural]) for i in items] if multi else items
        text = str(render(plural, shown, output, bool(args.all_namespaces), single))
        if args.no_headers:
            text = text.split("\n", 1)[1] if "\n" in text else ""
        blocks.append(text)
    return "\n\n".join(b for b in blocks if b)


def _prefixed(item: dict[str, Any], resource: str) -> dict[str, Any]:
    meta = {**item.get("metadata", {})}
    meta["name"] = f"{resource}/{meta.get('name')}"
    return {**item, "metadata": meta}


def custom_table(items: list[dict[str, Any]], spec: str, no_headers: bool) -> str:
    """``-o custom-columns=HEADER:PATH,...`` as kubectl prints it."""
    from dockyard.cli.jsonpath import column_value, custom_columns

    cols = custom_columns(spec)
    rows = [] if no_headers else [[h for h, _e in cols]]
    rows += [[column_value(i, e) for _h, e in cols] for i in items]
    return _table_of(rows) if rows else ""


# ---------------------------------------------------------------------- watch


def _watch(
    c: Client, plural: str, ns: str | None, shown: list[dict[str, Any]], args: argparse.Namespace
) -> int:
    """Follow the daemon's watch stream; print a row for each object that changed (the
    initial ADDED events of objects already printed, unchanged, are skipped)."""
    from urllib.parse import quote

    printed = {row_key(i): json.dumps(i, sort_keys=True) for i in shown}
    q = "?watch=1" + (f"&labelSelector={quote(args.selector)}" if args.selector else "")
    if args.request_timeout:
        q += f"&timeoutSeconds={int(args.request_timeout)}"
    names = set(args.names)
    resp = c.request("GET", path(plural, ns) + q)
    try:
        for raw in resp.lines():
            if not raw.strip():
                continue
            event = json.loads(raw)
            obj = event["object"]
            key, text = row_key(obj), json.dumps(obj, sort_keys=True)
            if names and obj.get("metadata", {}).get("name") not in names:
                continue
            if event["type"] != "DELETED" and printed.get(key) == text:
                continue
            printed[key] = text
            if event["type"] == "DELETED":
                printed.pop(key, None)
            _print_event(plural, event["type"], obj, args)
    except KeyboardInterrupt:
        return 0
    return 0


def _print_event(plural: str, kind: str, obj: dict[str, Any], args: argparse.Namespace) -> None:
    output = args.output or ""
    table = output in ("", "wide") or output.startswith("custom-columns=")
    if output.startswith("custom-columns="):
        text = custom_table([obj], output.partition("=")[2], True)
    elif table:
        text = render_all([(plural, [obj])], args, False, single=True)
        text = text.split("\n", 1)[1] if "\n" in text else text
    elif output == "json" and args.output_watch_events:
        text = json.dumps({"type": kind, "object": obj}, indent=4)
    else:
        text = render_all([(plural, [obj])], args, False, single=True)
    if table and args.output_watch_events:
        text = f"{kind:<8}   {text}"
    print(text, flush=True)
