"""``top pods|nodes [NAME...] [-A] [--containers]`` from the daemon's metrics API; also
reached through the container ``top`` command (:func:`top_from_words`)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING
from urllib.parse import quote

from .printers import table
from .resources import add_namespace, client

if TYPE_CHECKING:
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "run", "top_from_words"]


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    add_namespace(p)
    a = p.add_argument
    a("what", choices=["pods", "pod", "po", "nodes", "node", "no"])
    a("names", nargs="*")
    a("-A", "--all-namespaces", action="store_true")
    a("--containers", action="store_true")


def run(ctx: Context, args: argparse.Namespace, _name: str = "top") -> int:
    c = client(ctx)
    if args.what in ("nodes", "node", "no"):
        items = c.get("/apis/metrics.k8s.io/v1beta1/nodes")["items"]
        rows = [["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]]
        for n in items:
            cpu = int(n["usage"]["cpu"].rstrip("m"))
            cap_cpu = int(n["capacity"]["cpu"]) * 1000
            mem = int(n["usage"]["memory"].rstrip("Ki"))
            cap_mem = int(n["capacity"]["memory"].rstrip("Ki")) or 1
            rows.append(
                [
                    n["metadata"]["name"],
                    f"{cpu}m",
                    f"{cpu * 100 // cap_cpu}%",
                    f"{mem // 1024}Mi",
                    f"{mem * 100 // cap_mem}%",
                ]
            )
        print(table(rows))
        return 0
    where = "" if args.all_namespaces else f"/namespaces/{quote(args.namespace, safe='')}"
    items = c.get(f"/apis/metrics.k8s.io/v1beta1{where}/pods")["items"]
    if args.names:
        items = [i for i in items if i["metadata"]["name"] in args.names]
    if not items:
        print("error: metrics not available yet", file=sys.stderr)
        return 1
    head = ["NAMESPACE"] if args.all_namespaces else []
    rows = [
        [*head, "NAME", *(["CONTAINER"] if args.containers else []), "CPU(cores)", "MEMORY(bytes)"]
    ]
    for i in items:
        pre = [i["metadata"]["namespace"]] if args.all_namespaces else []
        if args.containers:
            for ct in i["containers"]:
                rows.append(
                    [
                        *pre,
                        i["metadata"]["name"],
                        ct["name"],
                        ct["usage"]["cpu"],
                        _mib(ct["usage"]["memory"]),
                    ]
                )
        else:
            rows.append(
                [*pre, i["metadata"]["name"], i["usage"]["cpu"], _mib(i["usage"]["memory"])]
            )
    print(table(rows))
    return 0


def top_from_words(ctx: Context, words: list[str]) -> int:
    """``top pods|nodes ...`` reached through the container ``top`` command."""
    parser = argparse.ArgumentParser(prog="dockyard top", add_help=False)
    add_arguments(parser, "top")
    return run(ctx, parser.parse_args(words))


def _mib(ki: str) -> str:
    return f"{int(ki.rstrip('Ki')) // 1024}Mi"
