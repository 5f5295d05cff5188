"""``dockyard run`` and ``dockyard create`` through the daemon.

The flags become Docker's create body (the daemon validates it again); an
attached run hands this process's stdin/stdout/stderr to the daemon over the
stdio socket (SCM_RIGHTS), so the container writes into our terminal or pipe
through the shim with no HTTP streaming, and the exit code comes back on that
socket once the container has ended (and, with ``--rm``, is gone).
"""

from __future__ import annotations

import os
import sys

# ``argparse``, ``typing``, ``contextlib`` and ``signal`` are each a measurable share of a
# ``dockyard run`` (the CLI's start-up is a benchmark figure): none is imported on the
# fast path (``python -X importtime`` shows what is).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

    from dockyard.cli.client import Client
    from dockyard.cli.main import Context

__all__ = ["add_arguments", "create_body", "run"]


# The daemon's flags beyond the base table of ``run`` (same row format, same fast parser).
EXTRA_FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("-v", "--volume"), "list", "bind mount a volume"),
    (("--mount",), "list", "attach a filesystem mount"),
    (("-p", "--publish"), "list", "publish a container's port(s) to the host"),
    (("-P", "--publish-all"), "bool", "publish all exposed ports to random ports"),
    (("--restart",), "str", "restart policy (no, on-failure[:N], always, unless-stopped)"),
    (("--health-cmd",), "str", "command to run to check health"),
    (("--health-interval",), "str", "time between running the check (e.g. 30s)"),
    (("--health-timeout",), "str", "maximum time to allow one check to run"),
    (("--health-retries",), "int", "consecutive failures needed to report unhealthy"),
    (("--health-start-period",), "str", "start period for the container to initialize"),
    (("--no-healthcheck",), "bool", "disable any container-specified HEALTHCHECK"),
    (("--stop-signal",), "str", "signal to stop the container"),
    (("--stop-timeout",), "int", "timeout (in seconds) to stop a container"),
    (("--dns",), "list", "set custom DNS servers"),
    (("--add-host",), "list", "add a custom host-to-IP mapping (host:ip)"),
    (("--network-alias",), "list", "add a network-scoped alias for the container"),
    (("--ip",), "str", "IPv4 address (e.g., 172.30.100.104)"),
    (("--log-opt",), "list", "log driver options (max-size, max-file, labels, env, ...)"),
    (("--detach-keys",), "str", "override the key sequence for detaching a container"),
    (("--gpus",), "str", "GPU devices to add (all, a count, device=ID[,ID]) through CDI"),
    (("--pull",), "str", "pull image before running (always, missing, never; default missing)"),
    (("-a", "--attach"), "list", "attach to STDIN, STDOUT or STDERR"),
    (("--userns",), "str", "user namespace: host, auto[:size=N] or keep-id"),
)
DEFAULTS: dict[str, object] = {"network": "default", "restart": "no"}


def _table() -> tuple[tuple[tuple[str, ...], str, str], ...]:
    from dockyard.cli.commands import fg_run as base

    return base.FLAGS + EXTRA_FLAGS


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    from dockyard.cli.commands import fg_run as base

    base.add_flag_table(p, _table(), DEFAULTS)


# json-file's options: rotation, and the attributes ``logs --details`` shows (engine.logattrs)
_LOG_OPTS = ("max-size", "max-file", "labels", "labels-regex", "env", "env-regex")


def fast_parse(argv: list[str], name: str = "run") -> Any:
    """``run``'s fast parser over the whole table (None: let argparse decide)."""
    from dockyard.cli.commands import fg_run as base

    saved = base.FLAGS, base.DEFAULTS, base._BY_NAME
    try:
        base.FLAGS = _table()
        base.DEFAULTS = DEFAULTS
        base._BY_NAME = {n: (base._dest(ns), k) for ns, k, _ in base.FLAGS for n in ns}
        return base.fast_parse(argv, name)
    finally:
        base.FLAGS, base.DEFAULTS, base._BY_NAME = saved


def _health(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.no_healthcheck:
        return {"Test": ["NONE"]}
    fields = (args.health_interval, args.health_timeout, args.health_retries,
              args.health_start_period)  # fmt: skip
    if args.health_cmd is None and all(f is None for f in fields):
        return None
    from dockyard.engine.options import parse_duration

    hc: dict[str, Any] = {}
    if args.health_cmd is not None:
        hc["Test"] = ["CMD-SHELL", args.health_cmd]
    for key, value, flag in (
        ("Interval", args.health_interval, "--health-interval"),
        ("Timeout", args.health_timeout, "--health-timeout"),
        ("StartPeriod", args.health_start_period, "--health-start-period"),
    ):
        if value is not None:
            hc[key] = int(parse_duration(value, flag) * 1e9)
    if args.health_retries is not None:
        hc["Retries"] = args.health_retries
    return hc


def run_option_fields(args: Any) -> dict[str, Any]:
    """The base run flags, parsed and checked (sizes, CPUs, ulimits) as the library does.

    :mod:`dockyard.engine.options` (its ``@record`` classes cost ~5 ms to define) is
    imported only when a flag needs one of its parsers."""
    from dockyard.errors import InvalidArgument

    if args.env or args.env_file or args.memory or args.memory_swap or args.cpus or args.ulimit:
        from dockyard.engine.options import parse_cpus, parse_size, parse_ulimit
    swap = None
    if args.memory_swap is not None:
        swap = -1 if args.memory_swap == "-1" else parse_size(args.memory_swap, "--memory-swap")
    sysctls = {}
    for item in args.sysctl:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise InvalidArgument(f'invalid --sysctl "{item}": expected KEY=VALUE')
        sysctls[k] = v
    labels = {}
    for item in args.label:
        k, _, v = item.partition("=")
        labels[k] = v
    if args.pids_limit is not None and args.pids_limit == 0:
        raise InvalidArgument("invalid --pids-limit 0: use -1 for unlimited")
    entrypoint = None
    if args.entrypoint is not None:
        entrypoint = [args.entrypoint] if args.entrypoint else []
    return {
        "image": args.image, "command": list(args.command), "entrypoint": entrypoint,
        "env": _env(args),
        "workdir": args.workdir,
        "user": args.user, "hostname": args.hostname, "remove": args.rm,
        "network": args.network,
        "memory": parse_size(args.memory, "--memory") if args.memory else None,
        "memory_swap": swap, "nano_cpus": parse_cpus(args.cpus) if args.cpus else None,
        "cpu_shares": args.cpu_shares, "cpuset_cpus": args.cpuset_cpus,
        "pids_limit": args.pids_limit, "tty": args.tty, "interactive": args.interactive,
        "privileged": args.privileged, "read_only": args.read_only, "cap_add": args.cap_add,
        "cap_drop": args.cap_drop, "security_opt": args.security_opt,
        "group_add": args.group_add,
        "ulimits": [parse_ulimit(u) for u in args.ulimit] if args.ulimit else [],
        "tmpfs": args.tmpfs, "sysctls": sysctls, "init": args.init,
        "oom_score_adj": args.oom_score_adj, "labels": labels,
    }  # fmt: skip


def _env(args: Any) -> list[str]:
    """``--env-file`` files in order, then ``-e`` (docker's order: later wins)."""
    if not args.env and not args.env_file:
        return []
    from dockyard.engine.options import parse_env, read_env_file

    host = dict(os.environ)
    out = [kv for path in args.env_file for kv in read_env_file(path, host)]
    return out + parse_env(args.env, host)


def create_body(args: argparse.Namespace) -> dict[str, Any]:
    """Docker's ``POST /containers/create`` body for the run/create flags."""
    o = run_option_fields(args)
    restart, retries = "no", 0
    if args.restart != "no":
        from dockyard.engine.options import parse_restart

        restart, retries = parse_restart(args.restart)
    log_cfg = {}
    for item in args.log_opt:
        from dockyard.engine.options import parse_size

        k, sep, v = item.partition("=")
        if not sep or k not in _LOG_OPTS:
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(
                f'invalid --log-opt "{item}": expected KEY=VALUE, KEY one of {", ".join(_LOG_OPTS)}'
            )
        if k == "max-size":
            parse_size(v, "--log-opt max-size")
        log_cfg[k] = v
    ports: dict[str, list[dict[str, str]]] = {}
    if args.publish:
        from dockyard.network import parse_publish

        for spec in args.publish:
            for ps in parse_publish(spec):
                hp = str(ps.host_port) if ps.host_port else ""
                if ps.host_port_end and ps.host_port_end != ps.host_port:
                    hp = f"{ps.host_port}-{ps.host_port_end}"
                ports.setdefault(f"{ps.container_port}/{ps.proto}", []).append(
                    {"HostIp": ps.host_ip, "HostPort": hp}
                )
    host: dict[str, Any] = {
        "AutoRemove": o["remove"], "NetworkMode": o["network"], "Memory": o["memory"] or 0,
        "MemorySwap": o["memory_swap"] or 0, "NanoCpus": o["nano_cpus"] or 0,
        "CpuShares": o["cpu_shares"] or 0, "CpusetCpus": o["cpuset_cpus"] or "",
        "PidsLimit": o["pids_limit"], "Privileged": o["privileged"],
        "ReadonlyRootfs": o["read_only"], "CapAdd": o["cap_add"], "CapDrop": o["cap_drop"],
        "SecurityOpt": o["security_opt"], "GroupAdd": o["group_add"],
        "Ulimits": [{"Name": n.removeprefix("RLIMIT_").lower(), "Soft": s, "Hard": h}
                    for n, s, h in o["ulimits"]],
        "Tmpfs": {t.partition(":")[0]: t.partition(":")[2] for t in o["tmpfs"]},
        "Sysctls": o["sysctls"], "Init": o["init"], "OomScoreAdj": o["oom_score_adj"],
        "RestartPolicy": {"Name": restart, "MaximumRetryCount": retries},
        "Binds": args.volume, "Mounts": args.mount, "PortBindings": ports,
        "PublishAllPorts": args.publish_all, "Dns": args.dns, "ExtraHosts": args.add_host,
        "LogConfig": {"Type": "json-file", "Config": log_cfg},
    }  # fmt: skip
    body: dict[str, Any] = {
        "Image": o["image"], "Cmd": o["command"], "Entrypoint": o["entrypoint"],
        "Env": o["env"], "WorkingDir": o["workdir"] or "", "User": o["user"] or "",
        "Hostname": o["hostname"] or "", "Tty": o["tty"], "OpenStdin": o["interactive"],
        "Labels": o["labels"], "StopSignal": args.stop_signal, "StopTimeout": args.stop_timeout,
        "HostConfig": host,
    }  # fmt: skip
    devices, cdi = _device_flags(args.device) if args.device else ([], [])  # (lean run path)
    if devices:
        host["Devices"] = devices
    if cdi:
        host.setdefault("DeviceRequests", []).append({"Driver": "cdi", "DeviceIDs": cdi})
    if args.gpus:
        host.setdefault("DeviceRequests", []).append(_gpu_request(args.gpus))
    if args.userns:
        host["UsernsMode"] = args.userns  # checked by the daemon (engine/userns.py)
    hc = _health(args)
    if hc is not None:
        body["Healthcheck"] = hc
    if args.network_alias or args.ip:
        net = o["network"] if o["network"] not in ("default", "bridge") else "bridge"
        cfg: dict[str, Any] = {"Aliases": args.network_alias}
        if args.ip:
            cfg["IPAMConfig"] = {"IPv4Address": args.ip}
        body["NetworkingConfig"] = {"EndpointsConfig": {net: cfg}}
    return body


def _device_flags(values: list[str]) -> tuple[list[dict[str, str]], list[str]]:
    """``--device`` values: docker's ``HostConfig.Devices`` entries and CDI names."""
    from dockyard.engine.devices import is_cdi_name, parse_device

    devices: list[dict[str, str]] = []
    cdi: list[str] = []
    for v in values:
        if is_cdi_name(v):
            cdi.append(v)
            continue
        host, container, perms = parse_device(v)
        devices.append({"PathOnHost": host, "PathInContainer": container,
                        "CgroupPermissions": perms})  # fmt: skip
    return devices, cdi


def _gpu_request(value: str) -> dict[str, Any]:
    """``--gpus``: docker's DeviceRequests entry (the daemon maps it to CDI)."""
    from dockyard.engine.devices import gpu_devices

    ids = [n.split("=", 1)[1] for n in gpu_devices(value)]
    if ids == ["all"]:
        return {"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}
    if value.strip().strip('"').startswith("device="):
        return {"Driver": "", "DeviceIDs": ids, "Capabilities": [["gpu"]]}
    return {"Driver": "", "Count": len(ids), "Capabilities": [["gpu"]]}


def _client(ctx: Context) -> Client:
    from dockyard.cli.client import Client

    return Client(ctx.root_dir, ctx.run_root_dir)


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    from dockyard.errors import InvalidArgument, NotFound

    policy = args.pull or "missing"
    if policy not in ("always", "missing", "never"):
        raise InvalidArgument(
            f'invalid pull option: {policy!r}: must be "always", "missing" or "never"'
        )
    client = _client(ctx)
    body = create_body(args)
    if policy == "always":
        pull_image(client, args.image)
    known = advise(ctx, args, privileged=True, client=client)
    try:
        return _run(client, args, name, body)
    except NotFound as e:  # docker's pull on demand: only when the image is what is missing
        if policy != "missing" or "no such image" not in str(e):
            raise
    print(f"Unable to find image '{args.image}' locally", file=sys.stderr, flush=True)
    pull_image(client, args.image)
    if not known:
        advise(ctx, args, privileged=False, client=client)
    return _run(client, args, name, body)


def advise(ctx: Context, args: Any, *, privileged: bool, client: Client | None = None) -> bool:
    """Print the least-privilege warnings (security/advice.py) for this run, one line
    each; False when the image is not there yet (no USER to judge).  With ``client`` the
    daemon is asked for the image's USER (one round trip; opening the store here would
    cost ``dockyard run`` about 5 ms of imports), else the local store."""
    from dockyard.security.advice import enabled, run_warnings

    if not enabled():
        return True
    if client is not None:
        user = _image_user(client, args.image)
    else:
        from dockyard.security.advice import image_user

        user = image_user(ctx.images(), args.image)
    warnings = run_warnings(
        args.image, privileged=privileged and bool(args.privileged), image_user=user,
        user=args.user or "",
    )  # fmt: skip
    for w in warnings:
        sys.stderr.flush()
        os.write(2, f"WARNING: {w}\n".encode())
    return user is not None


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:@")


def _image_user(client: Client, image: str) -> str | None:
    """The image's USER as the daemon's ``GET /images/{name}/json`` says; None when it has
    no such image (or the name could not be one)."""
    if not image or not _NAME_CHARS.issuperset(image):
        return None
    r = client.request("GET", f"/images/{image}/json", check=False)
    if r.status != 200:
        r.read()
        return None
    config = r.json().get("Config") or {}
    return str(config.get("User") or "")


def pull_image(client: Client, image: str) -> None:
    """Pull ``image`` through the daemon (``POST /images/create``), its progress on stderr
    as docker prints it (bars on a terminal); an error message in the stream is raised."""
    import json
    from urllib.parse import quote

    from dockyard.cli.progressbars import Board
    from dockyard.errors import Unavailable

    board = Board(sys.stderr)
    resp = client.request("POST", f"/images/create?fromImage={quote(image, safe='')}")
    for raw in resp.lines():
        if not raw.strip():
            continue
        msg = json.loads(raw)
        if "error" in msg:
            raise Unavailable(str(msg["error"]))
        detail = msg.get("progressDetail") or {}
        if "total" in detail:
            board.transfer(str(msg.get("id") or ""), str(msg.get("status") or ""),
                           int(detail.get("current") or 0), int(detail["total"]))  # fmt: skip
        else:
            board.status(str(msg.get("id") or ""), str(msg.get("status") or ""))


def _run(client: Client, args: argparse.Namespace, name: str, body: dict[str, Any]) -> int:
    if name == "create":
        from urllib.parse import quote

        q = f"?name={quote(args.name)}" if args.name else ""
        out = client.request("POST", "/containers/create" + q, body).json()
        print(out["Id"])
        return 0
    if args.detach:
        s, first = client.stdio({"op": "run", "create": body, "name": args.name}, {})
        s.close()
        _warn(first)
        print(first["id"])
        return 0
    fds = {"stdout": 1, "stderr": 2}
    if args.interactive:
        fds = {"stdin": 0, **fds}
    wait = "removed" if args.rm else "next-exit"
    if args.tty:
        from dockyard.cli.commands.cexec import interactive

        return interactive(client, {"op": "run", "create": body, "name": args.name, "wait": wait,
                                    "detach_keys": args.detach_keys}, fds)  # fmt: skip
    return attached(client, {"op": "run", "create": body, "name": args.name, "wait": wait}, fds)


def _warn(first: dict[str, Any]) -> None:
    """The daemon's warnings for a run (ip_forward off on a bridged run), on stderr."""
    for w in first.get("warnings") or ():
        # one write(2) per line: the container writes to the same stderr concurrently,
        # and print() may split text and newline into two writes that it can interleave
        sys.stderr.flush()
        os.write(2, f"WARNING: {w}\n".encode())


def attached(
    client: Client,
    msg: dict[str, Any],
    fds: dict[str, int],
    handed_over: Callable[[], None] | None = None,
) -> int:
    """Run with our stdio attached; forward SIGINT/SIGTERM as kill; the exit code.

    ``handed_over`` is called once the daemon holds ``fds``.
    """
    if TYPE_CHECKING:
        import signal as _signal
    else:
        import _signal  # the same calls; ``signal`` would import ``enum``

    s, first = client.stdio(msg, fds)
    if handed_over is not None:
        handed_over()
    _warn(first)
    cid = first["id"]
    path = "/exec/" if msg.get("op") == "exec" else "/containers/"

    def forward(sig: int, _frame: object) -> None:
        if path == "/containers/":
            try:
                client.post(f"/containers/{cid}/kill?signal={sig}")
            except Exception:
                pass

    old = {sig: _signal.signal(sig, forward) for sig in (_signal.SIGINT, _signal.SIGTERM)}
    try:
        return client.exit_code(s)
    finally:
        for sig, h in old.items():
            _signal.signal(sig, h)
        s.close()
        try:
            sys.stdout.flush()
        except OSError:
            pass
