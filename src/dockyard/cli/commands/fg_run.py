"""``dockyard run``: create a container from an image and run it in the foreground."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from dockyard.cli.main import Context

# One table drives both parsers: the fast one below (every ``dockyard run``) and, for
# ``--help``, errors and anything unusual, argparse (built from the same rows, so the
# help text, defaults and messages are argparse's). A row: option strings, kind, help;
# kinds: "str" (one value, default None), "int" (int(), default None), "bool"
# (store_true), "list" (append, default []). ``--network`` has a default of its own.
FLAGS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("--name",), "str", "assign a name to the container"),
    (("--rm",), "bool", "remove the container when it exits"),
    (("-e", "--env"), "list", "set environment variables"),
    (("--env-file",), "list", "read in a file of environment variables"),
    (("-w", "--workdir"), "str", "working directory inside the container"),
    (("-u", "--user"), "str", "username or UID (format: <name|uid>[:<group|gid>])"),
    (("-h", "--hostname"), "str", "container host name"),
    (("--entrypoint",), "str", "overwrite the default ENTRYPOINT of the image"),
    (("--network", "--net"), "str", "network mode (none, host)"),
    (("-m", "--memory"), "str", "memory limit (e.g. 64m)"),
    (("--memory-swap",), "str", "memory plus swap limit, -1 for unlimited swap"),
    (("--cpus",), "str", "number of CPUs (e.g. 0.5)"),
    (("--cpu-shares", "-c"), "int", "CPU shares (relative weight)"),
    (("--cpuset-cpus",), "str", "CPUs in which to allow execution (0-3, 0,1)"),
    (("--pids-limit",), "int", "tune container pids limit (-1 unlimited)"),
    (("-t", "--tty"), "bool", "allocate a pseudo-TTY"),
    (("-i", "--interactive"), "bool", "keep STDIN open"),
    (("-d", "--detach"), "bool", "run in the background"),
    (("--privileged",), "bool", "give extended privileges"),
    (("--read-only",), "bool", "mount the root read-only"),
    (("--cap-add",), "list", "add Linux capabilities"),
    (("--cap-drop",), "list", "drop Linux capabilities"),
    (("--security-opt",), "list", "security options"),
    (("--group-add",), "list", "additional groups"),
    (("--ulimit",), "list", "ulimit options"),
    (("--tmpfs",), "list", "mount a tmpfs directory"),
    (("--device",), "list", "add a host device"),
    (("--sysctl",), "list", "sysctl options"),
    (("--init",), "bool", "run an init inside the container"),
    (("--oom-score-adj",), "int", "tune host's OOM preferences"),
    (("-l", "--label"), "list", "set metadata"),
)
DEFAULTS: dict[str, object] = {"network": "none"}


def _dest(names: tuple[str, ...]) -> str:
    """argparse's dest: the first long option, dashes to underscores."""
    long = next((n for n in names if n.startswith("--")), names[0])
    return long.lstrip("-").replace("-", "_")


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    add_flag_table(p, FLAGS, DEFAULTS)


def add_flag_table(p: argparse.ArgumentParser, flags: Any, defaults: dict[str, object]) -> None:
    """Argparse arguments for a flag table (``(names, kind, help)`` rows) with its
    defaults, then IMAGE and COMMAND: the same table drives the fast parser."""
    import argparse

    for names, kind, text in flags:
        kw: dict[str, Any] = {"help": text}
        if kind == "bool":
            kw["action"] = "store_true"
        elif kind == "list":
            kw["action"] = "append"
            kw["default"] = []
        elif kind == "int":
            kw["type"] = int
        if _dest(names) in defaults:
            kw["default"] = defaults[_dest(names)]
        p.add_argument(*names, **kw)
    p.add_argument("image", help="image to run")
    p.add_argument("command", nargs=argparse.REMAINDER, help="command and arguments")


class Args:
    """What :func:`fast_parse` returns: the attributes argparse's Namespace would have."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)

    if TYPE_CHECKING:  # the attributes are the table's dests, as on a Namespace

        def __getattr__(self, name: str) -> Any: ...


_BY_NAME: dict[str, tuple[str, str]] = {
    n: (_dest(names), kind) for names, kind, _ in FLAGS for n in names
}


def fast_parse(argv: list[str], _name: str = "run") -> Args | None:
    """Parse ``argv`` as argparse would, for the plain cases: exact option names
    (``--name x``, ``--name=x``, ``-e x``) before the image, everything after it the
    command. ``None`` for anything else (``--help``, abbreviations, ``-it``, ``--``, a
    value starting with ``-``, a bad int, a missing value or image): argparse then parses
    it, with its own messages."""
    if "--" in argv:
        return None
    values: dict[str, Any] = {}
    for names, kind, _ in FLAGS:
        dest = _dest(names)
        values[dest] = [] if kind == "list" else (False if kind == "bool" else None)
    values.update(DEFAULTS)
    i, n = 0, len(argv)
    while i < n:
        arg = argv[i]
        if not arg.startswith("-") or arg == "-":
            values["image"] = arg
            values["command"] = argv[i + 1 :]
            return Args(values)
        name, eq, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        spec = _BY_NAME.get(name)
        if spec is None:
            return None
        dest, kind = spec
        if kind == "bool":
            if eq:
                return None
            values[dest] = True
            i += 1
            continue
        if eq:
            value = inline
            i += 1
        else:
            if i + 1 >= n or argv[i + 1].startswith("-"):
                return None
            value = argv[i + 1]
            i += 2
        if kind == "int":
            try:
                values[dest] = int(value)
            except ValueError:
                return None
        elif kind == "list":
            values[dest].append(value)
        else:
            values[dest] = value
    return None  # no image: argparse says so


def options_from_args(args: argparse.Namespace | Args) -> object:
    """The daemon's run flags (``run.run_option_fields``) as a RunOptions for fg-run."""
    from dockyard.cli.commands.run import run_option_fields
    from dockyard.engine.options import RunOptions
    from dockyard.errors import InvalidArgument

    if args.network not in ("none", "host"):
        raise InvalidArgument(
            f"network {args.network} not found: fg-run supports only 'none' and 'host'"
        )
    return RunOptions(**run_option_fields(args), name=args.name, devices=args.device)


def run(ctx: Context, args: argparse.Namespace | Args, _name: str) -> int:
    from dockyard.engine.containers import ContainerEngine
    from dockyard.errors import Unavailable

    if args.detach:
        raise Unavailable("run -d: detached containers need the daemon, which is not built yet")
    from dockyard.cli.commands.run import advise

    advise(ctx, args, privileged=True)
    engine = ContainerEngine(ctx.root_dir, ctx.run_root_dir)
    created = engine.create(options_from_args(args))  # type: ignore[arg-type]
    return engine.run(created)
