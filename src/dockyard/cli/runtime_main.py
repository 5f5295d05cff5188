"""``dockyard-runtime``: the OCI runtime with runc's command line (podman ``--runtime``).

Usage: ``dockyard-runtime [global options] <command> [options] <id> ...`` with runc's
commands (create, start, run, state, kill, delete, list, exec, ps, pause, resume,
update, spec, features) and flags. Errors go to stderr as one line and, with
``--log``, to the log file (``--log-format json``: ``{"level":"error","msg":…,"time":…}``);
the exit status is 1, or the container's own status for ``run`` and ``exec``.

The parser is hand-written (argparse costs more to import than a container
start can afford) and takes flags as ``--flag value``, ``--flag=value`` or with
a single dash, as runc's urfave/cli does.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.runtime import Runtime

__all__ = ["main"]

# command -> {flag: takes_value}; aliases map short names to long ones
_BUNDLE = {"bundle": True, "console-socket": True, "pid-file": True, "no-pivot": False,
           "no-new-keyring": False, "preserve-fds": True}  # fmt: skip
_FLAGS: dict[str, dict[str, bool]] = {
    "create": dict(_BUNDLE),
    "run": {**_BUNDLE, "detach": False, "keep": False},
    "start": {},
    "state": {},
    "kill": {"all": False},
    "delete": {"force": False},
    "list": {"format": True, "quiet": False},
    "exec": {"process": True, "detach": False, "tty": False, "pid-file": True,
             "console-socket": True, "cwd": True, "env": True, "user": True,
             "additional-gids": True, "cap": True, "no-new-privs": False,
             "preserve-fds": True, "process-label": True, "apparmor": True},
    "ps": {"format": True},
    "pause": {},
    "resume": {},
    "update": {"resources": True, "memory": True, "memory-reservation": True,
               "memory-swap": True, "kernel-memory": True, "cpu-period": True,
               "cpu-quota": True, "cpu-share": True, "cpuset-cpus": True, "cpuset-mems": True,
               "pids-limit": True, "blkio-weight": True, "cpu-rt-period": True,
               "cpu-rt-runtime": True},
    "spec": {"bundle": True, "rootless": False},
    "features": {},
}  # fmt: skip
_SHORT = {"b": "bundle", "d": "detach", "a": "all", "f": "force", "q": "quiet", "p": "process",
          "t": "tty", "e": "env", "u": "user", "g": "additional-gids", "c": "cap",
          "r": "resources"}  # fmt: skip
_GLOBAL = {"root": True, "log": True, "log-format": True, "systemd-cgroup": False,
           "debug": False, "rootless": True, "criu": True, "help": False, "h": False,
           "version": False, "v": False}  # fmt: skip
_MULTI = {"env", "cap", "additional-gids"}


class UsageError(Exception):
    pass


def _parse(
    args: list[str], spec: dict[str, bool], *, stop_at_positional: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """Flags and positional arguments; ``--`` ends flags."""
    flags: dict[str, Any] = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos += args[i + 1 :]
            break
        if a.startswith("-") and len(a) > 1 and not (stop_at_positional and pos):
            name, eq, value = a.lstrip("-").partition("=")
            if name not in spec and name in _SHORT:
                name = _SHORT[name]
                if name == "force" and "format" in spec:
                    name = "format"  # list -f / ps -f
            if name not in spec:
                raise UsageError(f"flag provided but not defined: -{name}")
            if spec[name]:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise UsageError(f"flag needs an argument: -{name}")
                    value = args[i]
                if name in _MULTI:
                    flags.setdefault(name, []).append(value)
                else:
                    flags[name] = value
            else:
                flags[name] = (value.lower() in ("1", "true", "yes")) if eq else True
        else:
            pos.append(a)
            if stop_at_positional:
                pos += args[i + 1 :]
                break
        i += 1
    return flags, pos


class _Log:
    """Where errors and debug lines go besides stderr."""

    def __init__(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path = path
        self.json = fmt == "json"
        self.debug_on = debug

    def _write(self, level: str, msg: str) -> None:
        if not self.path:
            return
        from dockyard.runtime.state import now_rfc3339

        if self.json:
            from dockyard.oci.runtime_spec import dumps_json

            line = dumps_json({"level": level, "msg": msg, "time": now_rfc3339()})
        else:
            line = f'time="{now_rfc3339()}" level={level} msg="{msg}"'
        try:
            with open(self.path, "a") as f:
                f.write(line + "\n")
        except OSError:
            pass

    def error(self, msg: str) -> None:
        self._write("error", msg)

    def debug(self, msg: str) -> None:
        if self.debug_on:
            self._write("debug", msg)


def _one_id(pos: list[str], cmd: str) -> str:
    if len(pos) != 1:
        raise UsageError(f'"{cmd}" requires exactly 1 argument')
    return pos[0]


def _signal(name: str) -> int:
    import signal

    if name.isdigit():
        return int(name)
    n = name.upper()
    n = n if n.startswith("SIG") else "SIG" + n
    sig = getattr(signal, n, None)
    if not isinstance(sig, int):
        raise UsageError(f"unknown signal {name!r}")
    return int(sig)


def _print_json(value: Any) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _bundle_kw(flags: dict[str, Any]) -> dict[str, Any]:
    return {
        "console_socket": flags.get("console-socket"),
        "pid_file": os.path.abspath(flags["pid-file"]) if flags.get("pid-file") else None,
        "preserve_fds": int(flags.get("preserve-fds", 0)),
        "no_pivot": bool(flags.get("no-pivot")),
    }


def _cmd_create(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    cid = _one_id(pos, "create")
    rt.create(cid, flags.get("bundle", "."), **_bundle_kw(flags))
    return 0


def _cmd_run(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    cid = _one_id(pos, "run")
    status = rt.run(
        cid, flags.get("bundle", "."), detach=bool(flags.get("detach")), **_bundle_kw(flags)
    )
    return status.code


def _cmd_start(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    rt.start(_one_id(pos, "start"))
    return 0


def _cmd_state(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    _print_json(rt.state(_one_id(pos, "state")).to_oci())
    return 0


def _cmd_kill(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    if not 1 <= len(pos) <= 2:
        raise UsageError('"kill" requires 1 or 2 arguments')
    sig = _signal(pos[1]) if len(pos) == 2 else 15
    rt.kill(pos[0], sig, all=bool(flags.get("all")))
    return 0


def _cmd_delete(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    from dockyard.errors import NotFound

    cid = _one_id(pos, "delete")
    try:
        rt.delete(cid, force=bool(flags.get("force")))
    except NotFound:
        if not flags.get("force"):
            raise
    return 0


def _cmd_list(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    states = rt.list()
    if flags.get("quiet"):
        for s in states:
            print(s.id)
        return 0
    if flags.get("format") == "json":
        _print_json([s.to_oci() for s in states])
        return 0
    rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    rows += [
        (s.id, str(s.to_oci()["pid"]), s.status, s.bundle, s.created, s.owner or "root")
        for s in states
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:
        print("   ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0


def _cmd_exec(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    from dockyard.oci.runtime_spec import loads_json, parse_process

    if not pos:
        raise UsageError('"exec" requires a container id')
    cid, argv = pos[0], pos[1:]
    if flags.get("process"):
        with open(flags["process"], "rb") as f:
            raw = loads_json(f.read(), flags["process"])
    else:
        if not argv:
            raise UsageError('"exec" requires a command or --process')
        raw = {"args": argv, "cwd": flags.get("cwd", "/"), "terminal": bool(flags.get("tty"))}
        spec_proc = rt.stored_spec(cid).process
        raw["env"] = list(spec_proc.env) if spec_proc else []
        raw["env"] += flags.get("env", [])
        user = flags.get("user")
        if user:
            uid, _, gid = user.partition(":")
            raw["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        if flags.get("additional-gids"):
            raw.setdefault("user", {"uid": 0, "gid": 0})
            raw["user"]["additionalGids"] = [int(g) for g in flags["additional-gids"]]
        if flags.get("cap") and spec_proc is not None and spec_proc.capabilities is not None:
            caps = spec_proc.capabilities
            extra = list(flags["cap"])
            raw["capabilities"] = {
                k: list(getattr(caps, k)) + extra for k in ("bounding", "effective", "permitted")
            }
        if flags.get("no-new-privs"):
            raw["noNewPrivileges"] = True
    process = parse_process(raw)
    status = rt.exec(
        cid, process, detach=bool(flags.get("detach")),
        console_socket=flags.get("console-socket"),
        pid_file=os.path.abspath(flags["pid-file"]) if flags.get("pid-file") else None,
        preserve_fds=int(flags.get("preserve-fds", 0)),
    )  # fmt: skip
    return status.code


def _cmd_ps(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    if not pos:
        raise UsageError('"ps" requires a container id')
    pids = rt.ps(pos[0])
    if flags.get("format") == "json":
        _print_json(pids)
        return 0
    import subprocess

    ps_args = pos[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    col = header.index("PID") if "PID" in header else 1
    print(lines[0])
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in pids:
            print(line)
    return 0


def _cmd_pause(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    rt.pause(_one_id(pos, "pause"))
    return 0


def _cmd_resume(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    rt.resume(_one_id(pos, "resume"))
    return 0


def _int(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise UsageError(f"invalid value {v!r}: expected an integer") from None


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _bytes(v: str) -> int:
    """A size as runc's ``update`` takes it (docker's RAMInBytes): ``-1``, ``1048576``,
    ``64m``, ``64MB``, ``1.5GiB`` (binary units, case-insensitive)."""
    if v.strip() == "-1":
        return -1
    s = v.strip().lower()
    s = s.removesuffix("b").removesuffix("i") if s.endswith("b") else s.removesuffix("i")
    unit = s[-1:] if s[-1:] in _UNITS and s[-1:] else ""
    num = s[: len(s) - len(unit)].strip()
    try:
        value = float(num) if "." in num else int(num)
    except ValueError:
        raise UsageError(f"invalid size {v!r}: use bytes or a number with k, m, g, t") from None
    if value < 0:
        raise UsageError(f"invalid size {v!r}: negative")
    return int(value * _UNITS[unit])


_MEMORY_FLAGS = (
    ("limit", "memory"),
    ("reservation", "memory-reservation"),
    ("swap", "memory-swap"),
    ("kernel", "kernel-memory"),
)
_CPU_FLAGS = (
    ("period", "cpu-period"),
    ("quota", "cpu-quota"),
    ("shares", "cpu-share"),
    ("realtimePeriod", "cpu-rt-period"),
    ("realtimeRuntime", "cpu-rt-runtime"),
)


def _cmd_update(rt: Runtime, flags: dict[str, Any], pos: list[str]) -> int:
    from dockyard.oci.resources import parse_resources
    from dockyard.oci.runtime_spec import loads_json

    cid = _one_id(pos, "update")
    raw: dict[str, Any] = {}
    if flags.get("resources"):
        src = flags["resources"]
        data = sys.stdin.buffer.read() if src == "-" else open(src, "rb").read()  # noqa: SIM115
        raw = loads_json(data, "resources")
    mem = {k: _bytes(flags[f]) for k, f in _MEMORY_FLAGS if f in flags}
    cpu: dict[str, Any] = {k: _int(flags[f]) for k, f in _CPU_FLAGS if f in flags}
    for k, f in (("cpus", "cpuset-cpus"), ("mems", "cpuset-mems")):
        if f in flags:
            cpu[k] = flags[f]
    if mem:
        raw.setdefault("memory", {}).update(mem)
    if cpu:
        raw.setdefault("cpu", {}).update(cpu)
    if "pids-limit" in flags:
        raw["pids"] = {"limit": _int(flags["pids-limit"])}
    if "blkio-weight" in flags:
        raw["blockIO"] = {"weight": _int(flags["blkio-weight"])}
    rt.update(cid, parse_resources(raw))
    return 0


def _cmd_spec(rt: Runtime | None, flags: dict[str, Any], pos: list[str]) -> int:
    import json

    from dockyard.errors import AlreadyExists
    from dockyard.oci.runtime_spec import default_spec_dict

    path = os.path.join(flags.get("bundle", "."), "config.json")
    if os.path.exists(path):
        raise AlreadyExists(f"spec: file {path} exists: remove it first")
    with open(path, "w") as f:
        json.dump(default_spec_dict(), f, indent="\t")
    return 0


def _cmd_features(rt: Runtime | None, flags: dict[str, Any], pos: list[str]) -> int:
    from dockyard.linux.constants import MOUNT_FLAGS, PROPAGATION_FLAGS
    from dockyard.oci.runtime_spec import (
        CAPABILITIES,
        NAMESPACE_TYPES,
        SECCOMP_ACTIONS,
        SECCOMP_FLAGS,
        SECCOMP_OPS,
    )

    _print_json({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted([*MOUNT_FLAGS, *PROPAGATION_FLAGS, "bind", "rbind"]),
        "linux": {
            "namespaces": list(NAMESPACE_TYPES),
            "capabilities": list(CAPABILITIES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": [a for a in SECCOMP_ACTIONS if a != "SCMP_ACT_NOTIFY"],
                "operators": list(SECCOMP_OPS),
                "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32",
                          "SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
                "supportedFlags": list(SECCOMP_FLAGS),
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runc.version": "dockyard-runtime 0.1.0"},
    })  # fmt: skip
    return 0


_COMMANDS = {
    "create": _cmd_create, "run": _cmd_run, "start": _cmd_start, "state": _cmd_state,
    "kill": _cmd_kill, "delete": _cmd_delete, "list": _cmd_list, "exec": _cmd_exec,
    "ps": _cmd_ps, "pause": _cmd_pause, "resume": _cmd_resume, "update": _cmd_update,
    "spec": _cmd_spec, "features": _cmd_features,
}  # fmt: skip

_USAGE = """usage: dockyard-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug]
                        COMMAND [OPTIONS] ID [ARGS...]
commands: create start run state kill delete list exec ps pause resume update spec features
global options: --help, -h (this text), --version, -v (the version, as runc prints it)
"""


def _version() -> str:
    """runc's ``--version`` lines (podman reads them for ``podman info``)."""
    import platform

    from dockyard import __version__

    return (f"dockyard-runtime version {__version__}\nspec: 1.2.0\n"
            f"python: {platform.python_version()}\n")  # fmt: skip


def _command_help(cmd: str) -> str:
    """``dockyard-runtime CMD --help``: the command's flags (runc's short names too)."""
    short = {long: s for s, long in _SHORT.items()}
    lines = [f"usage: dockyard-runtime {cmd} [OPTIONS]{'' if cmd in _NO_ID else ' ID'}"]
    for flag, takes in sorted(_FLAGS[cmd].items()):
        alias = f"-{short[flag]}, " if flag in short else ""
        lines.append(f"   {alias}--{flag}{' VALUE' if takes else ''}")
    return "\n".join(lines) + "\n"


_NO_ID = ("list", "spec", "features")


def _asks_help(args: list[str], cmd: str) -> bool:
    """``--help``/``-h`` among CMD's own flags (for exec: before the container id; what
    follows it is the process's own argv)."""
    for a in args:
        if a == "--":
            return False
        if a in ("--help", "-help", "-h", "--h"):
            return True
        if cmd == "exec" and not a.startswith("-"):
            return False
    return False


def fast_exit_ok() -> bool:
    """Whether the process may end with ``os._exit`` once :func:`main` returned (the fast
    launchers ask; see tools/write-launchers.py): every command leaves no thread but
    daemonic ones, no temporary file and no unflushed file behind (logs are closed after
    each line), so tearing the interpreter down (~several ms) buys nothing."""
    return True


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``dockyard-runtime``; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    log = _Log(None, "text", False)
    try:
        gflags, rest = _parse(args, _GLOBAL, stop_at_positional=True)
        log = _Log(gflags.get("log"), gflags.get("log-format", "text"), bool(gflags.get("debug")))
        if gflags.get("version") or gflags.get("v") or rest[:1] == ["version"]:
            sys.stdout.write(_version())
            return 0
        if gflags.get("help") or gflags.get("h") or not rest or rest[0] == "help":
            sys.stdout.write(_USAGE)
            return 1 if not rest and not (gflags.get("help") or gflags.get("h")) else 0
        cmd = rest[0]
        if cmd not in _COMMANDS:
            raise UsageError(f"no such command: {cmd}")
        if _asks_help(rest[1:], cmd):
            sys.stdout.write(_command_help(cmd))
            return 0
        if gflags.get("systemd-cgroup") and not os.path.isdir("/run/systemd/system"):
            # the bundle's slice:prefix:name path then asks systemd for a scope
            raise UsageError("--systemd-cgroup: systemd is not running on this host")
        flags, pos = _parse(rest[1:], _FLAGS[cmd], stop_at_positional=cmd == "exec")
        log.debug(f"{cmd} {' '.join(rest[1:])}")
        if cmd in ("spec", "features"):
            return _COMMANDS[cmd](None, flags, pos)  # type: ignore[arg-type]
        warmer = None
        if cmd in ("create", "run", "exec"):  # a cgroup.procs write follows: see the module
            from dockyard.cgroups.warm import SharedWarmer, own_procs_file

            warmer = SharedWarmer(own_procs_file()).hold()
        from dockyard.runtime import Runtime

        rt = Runtime(gflags.get("root", "/run/dockyard/runtime"))
        try:
            return int(_COMMANDS[cmd](rt, flags, pos))
        finally:
            if warmer is not None:
                warmer.stop()
    except UsageError as e:
        msg = str(e)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        from dockyard.errors import DockyardError

        if not isinstance(e, DockyardError | OSError | ValueError):
            raise
        msg = str(e) if isinstance(e, DockyardError) else f"{type(e).__name__}: {e}"
    log.error(msg)
    sys.stderr.write(msg + "\n")
    return 1


if __name__ == "__main__":
    sys.exit(main())
