"""The ``dockyard`` command line: global flags, lazy dispatch, errors to exit codes.

Each command lives in ``dockyard.cli.commands.<module>`` with two functions,
``add_arguments(parser)`` and ``run(ctx, args) -> int``. Only the module of the
command being run is imported, so ``dockyard run`` does not pay for the builder,
the registry or YAML. This module is the only place that turns a
:class:`~dockyard.errors.DockyardError` into a message and an exit code.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.store.images import ImageStore

__all__ = ["COMMANDS", "main"]

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Create and run a new container from an image"),
    "create": ("run", "Create a new container"),
    "start": ("lifecycle", "Start one or more stopped containers"),
    "stop": ("lifecycle", "Stop one or more running containers"),
    "restart": ("lifecycle", "Restart one or more containers"),
    "kill": ("lifecycle", "Kill one or more running containers"),
    "pause": ("lifecycle", "Pause all processes within one or more containers"),
    "unpause": ("lifecycle", "Unpause all processes within one or more containers"),
    "rename": ("lifecycle", "Rename a container"),
    "update": ("update", "Update configuration of one or more containers"),
    "wait": ("lifecycle", "Block until containers stop, then print their exit codes"),
    "top": ("lifecycle", "Display the running processes of a container"),
    "port": ("lifecycle", "List port mappings for the container"),
    "cp": ("lifecycle", "Copy files between a container and the local filesystem"),
    "exec": ("cexec", "Execute a command in a running container"),
    "attach": ("cexec", "Attach to a running container's input and output"),
    "logs": ("clogs", "Fetch the logs of a container"),
    "events": ("clogs", "Get real time events from the daemon"),
    "stats": ("clogs", "Display a live stream of container resource usage statistics"),
    "ps": ("ps", "List containers"),
    "rm": ("lifecycle", "Remove one or more containers"),
    "volume": ("volume", "Manage volumes (create, ls, inspect, rm, prune)"),
    "network": ("network", "Manage networks (create, ls, inspect, rm, connect, disconnect, prune)"),
    "system": ("system", "Manage dockyard (info, df, prune, install, uninstall, unit)"),
    "info": ("system", "Display system-wide information"),
    "daemon": ("daemon", "Run dockyardd, the engine daemon, in the foreground"),
    "fg-run": ("fg_run", "Run a container in the foreground without the daemon"),
    "images": ("images", "List images"),
    "rmi": ("images", "Remove one or more images"),
    "tag": ("images", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "inspect": ("inspect", "Return low-level information on containers or images"),
    "load": ("archive", "Load an image from a tar archive"),
    "save": ("archive", "Save one or more images to a tar archive (OCI layout by default)"),
    "image": ("image", "Manage images (ls, rm, tag, inspect, prune, bootstrap, load, save)"),
    "container": ("container", "Manage containers (ls, rm, inspect, prune)"),
    "build": ("build", "Build an image from a Dockerfile"),
    "lint": ("lint", "Check a Dockerfile for mistakes and bad practice"),
    "builder": ("build", "Manage builds (prune the build cache)"),
    "pull": ("transfer", "Download an image from a registry"),
    "push": ("transfer", "Upload an image to a registry"),
    "login": ("transfer", "Log in to a registry"),
    "logout": ("transfer", "Log out from a registry"),
    "manifest": ("transfer", "Inspect an image manifest in a registry"),
    "registry": ("registry", "Run an OCI registry (serve) or garbage-collect it (gc)"),
    "version": ("version", "Show the dockyard version information"),
    "apply": ("kube.apply", "Create or update objects from Kubernetes YAML (-f FILE|DIR|-)"),
    "get": ("kube.get", "List objects: pods, deployments, services, hpa, ..."),
    "describe": ("kube.describe", "Show the details of objects"),
    "delete": ("kube.delete", "Delete objects by file or by kind and name"),
    "scale": ("kube.scale", "Set the replicas of a Deployment or ReplicaSet"),
    "rollout": ("kube.rollout", "Manage rollouts (status, history, undo, restart, pause, resume)"),
    "autoscale": ("kube.scale", "Create a HorizontalPodAutoscaler for a Deployment"),
    "set": (
        "kube.set_image",
        "Set features of objects (set image deployment/NAME CONTAINER=IMAGE)",
    ),
    "compose": (
        "compose.command",
        "Run compose projects as deployments (up, down, ps, logs, build, config)",
    ),
    "export": ("kube.export", "Print the stored objects as Kubernetes YAML (export kubernetes)"),
    "sbom": ("security", "Write an image's software bill of materials (CycloneDX or SPDX)"),
    "scan": ("security", "Scan an image for known vulnerabilities (scan db import PATH)"),
    "dashboard": ("dashboard", "Start the daemon's live dashboard on 127.0.0.1, print its URL"),
}


class Context:
    """What every command needs: the state roots, and lazily opened stores.

    ``root_dir``/``run_root_dir`` are the plain strings; ``root``/``run_root`` the same as
    ``pathlib.Path`` (imported on first use: ``pathlib`` costs ~20 ms, and ``run`` needs none).
    """

    def __init__(
        self, root: str | os.PathLike[str], run_root: str | os.PathLike[str], debug: bool = False
    ) -> None:
        self.root_dir = os.fspath(root)
        self.run_root_dir = os.fspath(run_root)
        self.debug = debug

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.root_dir)

    @property
    def run_root(self) -> Path:
        from pathlib import Path

        return Path(self.run_root_dir)

    def images(self) -> ImageStore:
        from dockyard.store.images import ImageStore  # lazy: keeps start-up fast

        return ImageStore(self.root_dir)


def _usage() -> str:
    lines = [
        "Usage:  dockyard [OPTIONS] COMMAND",
        "",
        "A container platform: build, store, ship, run and deploy OCI images.",
        "",
        "Options:",
        "      --root DIR       state root (default /var/lib/dockyard, env DOCKYARD_ROOT)",
        "      --run-root DIR   runtime state (default /run/dockyard, env DOCKYARD_RUN_ROOT)",
        "  -D, --debug          show tracebacks",
        "  -v, --version        print the version and exit",
        "",
        "Commands:",
    ]
    lines += [f"  {name:<10} {text}" for name, (_m, text) in COMMANDS.items()]
    lines += ["", "Run 'dockyard COMMAND --help' for more information on a command."]
    return "\n".join(lines)


def _split_globals(argv: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--root", "--run-root"):
            if i + 1 >= len(argv):
                raise SystemExit(f"dockyard: flag needs an argument: {arg}")
            opts[arg[2:]] = argv[i + 1]
            i += 2
        elif arg.startswith(("--root=", "--run-root=")):
            key, _, value = arg[2:].partition("=")
            opts[key] = value
            i += 1
        elif arg in ("-D", "--debug"):
            opts["debug"] = True
            i += 1
        elif arg in ("-h", "--help", "-v", "--version"):
            opts[arg.lstrip("-")[0]] = True
            i += 1
        elif arg.startswith("-"):
            raise SystemExit(f"dockyard: unknown flag: {arg}\nSee 'dockyard --help'.")
        else:
            break
    return opts, argv[i:]


# Commands after which the process may end with ``os._exit`` (the fast launchers ask
# :func:`fast_exit_ok`; see tools/write-launchers.py): they leave no threads, temporary
# files or open writers behind, so the interpreter's teardown (several ms) buys nothing.
FAST_EXIT = frozenset({"run", "ps", "rm", "images", "rmi", "tag", "inspect", "version"})
_last: list[str] = []  # the command main() ran last


def fast_exit_ok() -> bool:
    """Whether the command :func:`main` just ran is one of :data:`FAST_EXIT`."""
    return bool(_last) and _last[-1] in FAST_EXIT


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dockyard`` console script."""
    from dockyard.errors import DockyardError

    args_in = sys.argv[1:] if argv is None else argv
    try:
        opts, rest = _split_globals(args_in)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 125
    if opts.get("v"):
        from dockyard import __version__

        print(f"dockyard version {__version__}")
        return 0
    if not rest or opts.get("h"):
        print(_usage())
        return 0 if opts.get("h") else 1
    name, cmd_args = rest[0], rest[1:]
    if name not in COMMANDS:
        print(
            f"dockyard: '{name}' is not a dockyard command.\nSee 'dockyard --help'", file=sys.stderr
        )
        return 125
    modname = f"dockyard.cli.commands.{COMMANDS[name][0]}"
    __import__(modname)
    module = sys.modules[modname]
    fast = getattr(module, "fast_parse", None)  # a flag table's own parser (run)
    args = fast(cmd_args, name) if fast is not None else None
    if args is None:
        try:
            args = _parse(module, name, cmd_args)
        except SystemExit as exc:
            return 0 if exc.code == 0 else 125
    if os.geteuid() != 0 or "_DOCKYARD_ROOTLESS" in os.environ:  # rootless: docs/rootless.md
        from dockyard.engine.rootless import enter

        try:
            enter(name)
        except DockyardError as exc:
            print(f"dockyard: {exc}", file=sys.stderr)
            return 125
    root = str(opts.get("root") or os.environ.get("DOCKYARD_ROOT") or "/var/lib/dockyard")
    run_root = str(opts.get("run-root") or os.environ.get("DOCKYARD_RUN_ROOT") or "/run/dockyard")
    ctx = Context(root, run_root, bool(opts.get("debug")))
    _last[:] = [name]
    try:
        return int(module.run(ctx, args, name))
    except DockyardError as exc:
        if ctx.debug:
            raise
        print(f"dockyard: {exc}", file=sys.stderr)
        if name in ("run", "exec"):
            return _run_exit_code(exc, 125 if name == "run" else 1)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 141
    except Exception as exc:  # a bug: one line, never a traceback, unless --debug
        if ctx.debug:
            raise
        print(f"dockyard: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
              file=sys.stderr)  # fmt: skip
        return 125


def _parse(module: object, name: str, cmd_args: list[str]) -> object:
    """The command's arguments through argparse (``module.add_arguments``)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog=f"dockyard {name}", description=COMMANDS[name][1], add_help=False
    )
    parser.add_argument("--help", action="help", help="show this help message and exit")
    module.add_arguments(parser, name)  # type: ignore[attr-defined]
    return parser.parse_args(cmd_args)


def _run_exit_code(exc: Exception, default: int) -> int:
    """``docker run``/``exec``'s status for a failure to start the command (docker's
    ``toStatusError``, which reads the message): 127 when the command is not found, 126
    when it cannot be run (permission denied, a directory), else ``default`` (run: 125)."""
    from dockyard.errors import InvalidArgument

    if isinstance(exc, InvalidArgument):  # a flag, an --env-file: docker's 125
        return default
    text = str(exc)
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    return default


if __name__ == "__main__":
    sys.exit(main())
