"""``dockyard logs``, ``events`` and ``stats`` through the daemon."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    a = p.add_argument
    if name == "logs":
        a("-f", "--follow", action="store_true", help="follow log output")
        a("--since", help="show logs since timestamp or relative (e.g. 42m)")
        a("--until", help="show logs before a timestamp or relative (e.g. 42m)")
        a("-n", "--tail", default="all", help="number of lines to show from the end")
        a("-t", "--timestamps", action="store_true", help="show timestamps")
        a("--details", action="store_true", help="show extra details provided to logs")
        a("--raw", action="store_true", help="keep terminal control strings (title, clipboard)")
        a("-c", "--container", dest="pod_container", help="a pod's container (kubectl's)")
        a("--namespace", help="the pod's namespace (kubectl's -n when not a number)")
        a("container")
    elif name == "events":
        a("--since", help="show all events created since timestamp")
        a("--until", help="stream events until this timestamp")
        a("-f", "--filter", action="append", default=[], help="filter output")
        a("--format", help="format output using a Go template")
    else:
        a("-a", "--all", action="store_true", help="show all containers")
        a("--no-stream", action="store_true", help="disable streaming stats")
        a("--format", help="format output using a Go template")
        a("containers", nargs="*", metavar="CONTAINER")


def _when(value: str | None) -> str:
    """Docker's --since/--until: a timestamp, or a duration ago (10m, 1h30m)."""
    import time

    if not value:
        return ""
    if value[-1:] in "smh" and value[:1].isdigit():
        from dockyard.engine.options import parse_duration

        return f"{time.time() - parse_duration(value, '--since'):.9f}"
    return value


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from dockyard.cli.commands.lifecycle import client

    c = client(ctx)
    if name == "logs":
        return _logs(c, args)
    if name == "events":
        return _events(c, args)
    return _stats(c, args)


def _logs(c: Any, args: argparse.Namespace) -> int:
    from urllib.parse import quote

    info = _container_info(c, args)  # first: a kubectl -n NAMESPACE is no --tail
    q = (f"?stdout=1&stderr=1&follow={int(args.follow)}&timestamps={int(args.timestamps)}"
         f"&tail={quote(str(args.tail))}&details={int(args.details)}")  # fmt: skip
    if args.since:
        q += f"&since={quote(_when(args.since))}"
    if args.until:
        q += f"&until={quote(_when(args.until))}"
    ref = quote(info["Id"], safe="")
    resp = c.request("GET", f"/containers/{ref}/logs{q}")
    out, err = _Shown(sys.stdout.buffer, args.raw), _Shown(sys.stderr.buffer, args.raw)
    if info["Config"]["Tty"]:
        for piece in resp.chunks():
            out.write(piece)
        out.close()
        return 0
    for kind, data in resp.frames():
        (out if kind == 1 else err).write(data)
    out.close()
    err.close()
    return 0


class _Shown:
    """One output stream of ``logs``: terminal control strings dropped on a terminal
    (``cli/termsafe.py``) unless ``--raw``."""

    def __init__(self, f: Any, raw: bool) -> None:
        self.f = f
        self.filter = None
        if not raw and f.isatty():
            from dockyard.cli.termsafe import StringFilter

            self.filter = StringFilter()

    def write(self, data: bytes) -> None:
        self.f.write(data if self.filter is None else self.filter.feed(data))
        self.f.flush()

    def close(self) -> None:
        if self.filter is not None:
            self.write(self.filter.flush())


def _container_info(c: Any, args: argparse.Namespace) -> Any:
    """The container to read: docker's name or id, or — kubectl's habits — ``pod/NAME``,
    ``deploy/NAME``, a pod name with ``-c CONTAINER`` / ``-n NAMESPACE`` (``-n`` is
    docker's ``--tail`` unless it is not a number and the target is a pod)."""
    from urllib.parse import quote

    from dockyard.errors import NotFound

    target, ns = args.container, args.namespace
    kube = "/" in target or args.pod_container or ns
    if not ns and str(args.tail) != "all" and not str(args.tail).lstrip("-").isdigit():
        ns, args.tail, kube = str(args.tail), "all", True  # `logs -n prod pod/web`
    if not kube:
        try:
            return c.get(f"/containers/{quote(target, safe='')}/json")
        except NotFound as missing:
            from dockyard.cli.commands.kube.pods import pod_target

            cid = pod_target(c, target, None, None, missing)
            return c.get(f"/containers/{quote(cid, safe='')}/json")
    from dockyard.cli.commands.kube.pods import pod_target

    cid = pod_target(c, target, ns, args.pod_container, NotFound(f"no such pod: {target}"))
    return c.get(f"/containers/{quote(cid, safe='')}/json")


def _events(c: Any, args: argparse.Namespace) -> int:
    from urllib.parse import quote

    q = []
    if args.since:
        q.append(f"since={quote(_when(args.since))}")
    if args.until:
        q.append(f"until={quote(_when(args.until))}")
    if args.filter:
        filters: dict[str, list[str]] = {}
        for f in args.filter:
            k, _, v = f.partition("=")
            filters.setdefault(k, []).append(v)
        q.append("filters=" + quote(json.dumps(filters)))
    resp = c.request("GET", "/events" + ("?" + "&".join(q) if q else ""))
    for line in resp.lines():
        if not line.strip():
            continue
        ev = json.loads(line)
        if args.format:
            from dockyard.cli.gotemplate import render

            print(render(args.format, ev), flush=True)
            continue
        import time

        ns = ev["timeNano"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ns // 10**9))
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(ev["Actor"]["Attributes"].items()))
        print(f"{stamp}.{ns % 10**9:09d} {ev['Type']} {ev['Action']} {ev['Actor']['ID']} "
              f"({attrs})", flush=True)  # fmt: skip
    return 0


def stats_row(s: dict[str, Any]) -> dict[str, str]:
    from dockyard.cli.render import human_size
    from dockyard.engine.stats import cpu_percent

    cpu = cpu_percent({"cpu_stats": s.get("precpu_stats") or {}}, s)
    mem = s.get("memory_stats") or {}
    usage, limit = int(mem.get("usage") or 0), int(mem.get("limit") or 0)
    nets = s.get("networks") or {}
    rx = sum(n.get("rx_bytes", 0) for n in nets.values())
    tx = sum(n.get("tx_bytes", 0) for n in nets.values())
    blk = (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    rd = sum(b["value"] for b in blk if b.get("op") == "read")
    wr = sum(b["value"] for b in blk if b.get("op") == "write")
    return {
        "ID": str(s.get("id", ""))[:12], "Name": str(s.get("name", "")).lstrip("/"),
        "CPUPerc": f"{cpu:.2f}%", "MemUsage": f"{human_size(usage)} / {human_size(limit)}",
        "MemPerc": f"{(usage / limit * 100) if limit else 0:.2f}%",
        "NetIO": f"{human_size(rx)} / {human_size(tx)}",
        "BlockIO": f"{human_size(rd)} / {human_size(wr)}",
        "PIDs": str((s.get("pids_stats") or {}).get("current") or 0),
    }  # fmt: skip


# docker's column titles (cli/command/container/formatter_stats.go) and default table
STATS_HEADERS = {
    "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS",
}  # fmt: skip
STATS_TABLE = (
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
    "\t{{.PIDs}}"
)


def _stats(c: Any, args: argparse.Namespace) -> int:
    from urllib.parse import quote

    refs = args.containers or [it["Id"] for it in c.get(f"/containers/json?all={int(args.all)}")]
    rows = []
    for ref in refs:
        resp = c.request("GET", f"/containers/{quote(ref, safe='')}/stats?stream=0")
        for line in resp.lines():
            if line.strip():
                rows.append(stats_row(json.loads(line)))
                break
    if args.format:
        from dockyard.cli.gotemplate import format_rows

        sys.stdout.write(format_rows(args.format, rows, STATS_HEADERS, STATS_TABLE))
        return 0
    from dockyard.cli.render import table

    keys = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"]
    headers = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
               "BLOCK I/O", "PIDS"]  # fmt: skip
    print(table(headers, [[r[k] for k in keys] for r in rows]))
    if not args.no_stream:
        import time

        while True:  # docker redraws; we print one table per second
            time.sleep(1.0)
            args.no_stream = True
            _stats(c, args)
    return 0
