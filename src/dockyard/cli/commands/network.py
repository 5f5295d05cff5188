"""``dockyard network create|ls|inspect|rm|connect|disconnect|prune`` (Docker's flags)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    sub = p.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")
    c = sub.add_parser("create", help="create a network")
    c.add_argument("name")
    c.add_argument("-d", "--driver", default="bridge")
    c.add_argument("--subnet", default="")
    c.add_argument("--gateway", default="")
    c.add_argument("--internal", action="store_true")
    c.add_argument("--label", action="append", default=[])
    ls = sub.add_parser("ls", help="list networks")
    ls.add_argument("-q", "--quiet", action="store_true")
    ls.add_argument("--no-trunc", action="store_true")
    ls.add_argument("-f", "--filter", action="append", default=[])
    ls.add_argument("--format")
    i = sub.add_parser("inspect", help="display detailed information on networks")
    i.add_argument("names", nargs="+")
    i.add_argument("-f", "--format")
    r = sub.add_parser("rm", help="remove networks")
    r.add_argument("names", nargs="+")
    cn = sub.add_parser("connect", help="connect a container to a network")
    cn.add_argument("network")
    cn.add_argument("container")
    cn.add_argument("--alias", action="append", default=[])
    cn.add_argument("--ip", default="")
    dc = sub.add_parser("disconnect", help="disconnect a container from a network")
    dc.add_argument("network")
    dc.add_argument("container")
    dc.add_argument("-f", "--force", action="store_true")
    pr = sub.add_parser("prune", help="remove all unused networks")
    pr.add_argument("-f", "--force", action="store_true")


def _q(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# docker's column titles (cli/command/formatter/network.go)
NETWORK_HEADERS = {
    "ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv6": "IPV6",
    "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT",
}  # fmt: skip


def _network_view(n: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    """What docker's network formatter offers a template: strings, labels as ``k=v,...``."""
    labels = n.get("Labels") or {}
    return {
        "ID": n["Id"] if no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
        "Scope": n["Scope"], "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
        "Internal": str(bool(n.get("Internal"))).lower(),
        "Labels": ",".join(f"{k}={x}" for k, x in sorted(labels.items())),
        "CreatedAt": n.get("Created", ""), "Label": lambda key: str(labels.get(key, "")),
    }  # fmt: skip


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.cli.commands.lifecycle import client

    c = client(ctx)
    if args.sub == "create":
        body = {
            "Name": args.name, "Driver": args.driver, "Internal": args.internal,
            "Labels": {k: v for k, _, v in (x.partition("=") for x in args.label)},
            "IPAM": {"Driver": "default", "Config": [
                {"Subnet": args.subnet, "Gateway": args.gateway}] if args.subnet or args.gateway
                else []},
        }  # fmt: skip
        print(c.request("POST", "/networks/create", body).json()["Id"])
    elif args.sub == "ls":
        filters: dict[str, list[str]] = {}
        for f in args.filter:
            k, _, v = f.partition("=")
            filters.setdefault(k, []).append(v)
        path = "/networks"
        if filters:
            path += "?filters=" + _q(json.dumps(filters))
        nets = c.get(path)
        if args.quiet:
            for n in nets:
                print(n["Id"] if args.no_trunc else n["Id"][:12])
        elif args.format:
            import sys

            from dockyard.cli.gotemplate import format_rows

            views = [_network_view(n, args.no_trunc) for n in nets]
            default = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
            sys.stdout.write(format_rows(args.format, views, NETWORK_HEADERS, default))
        else:
            from dockyard.cli.render import table

            rows = [[n["Id"] if args.no_trunc else n["Id"][:12], n["Name"], n["Driver"],
                     n["Scope"]] for n in nets]  # fmt: skip
            print(table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], rows))
    elif args.sub == "inspect":
        views = [c.get(f"/networks/{_q(n)}") for n in args.names]
        from dockyard.cli.render import print_views

        print_views(views, args.format)
    elif args.sub == "rm":
        for n in args.names:
            c.request("DELETE", f"/networks/{_q(n)}").read()
            print(n)
    elif args.sub == "connect":
        ec: dict[str, object] = {"Aliases": args.alias}
        if args.ip:
            ec["IPAMConfig"] = {"IPv4Address": args.ip}
        c.request("POST", f"/networks/{_q(args.network)}/connect",
                  {"Container": args.container, "EndpointConfig": ec}).read()  # fmt: skip
    elif args.sub == "disconnect":
        c.request("POST", f"/networks/{_q(args.network)}/disconnect",
                  {"Container": args.container, "Force": args.force}).read()  # fmt: skip
    else:
        out = c.request("POST", "/networks/prune", {}).json()
        if out["NetworksDeleted"]:
            print("Deleted Networks:")
            for n in out["NetworksDeleted"]:
                print(n)
    return 0
