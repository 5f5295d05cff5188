"""Where a stage's RUN steps put things: the facts behind the stage-aware rules.

For every RUN of a stage (and of the in-file stages it is built on) each
simple command is classified into an :class:`Output`:

* ``deps`` — a package manager that installs what the program needs at run
  time (``pip``, ``poetry``, ``pipenv``, ``uv``, ``npm``/``yarn``/``pnpm``,
  ``gem``/``bundle``, ``composer``), with the directory it installs into;
* ``system`` — an OS package manager (``apt-get``, ``apk``, ``dnf``/``yum``);
* ``build`` — a build whose output place is known (``go build -o``,
  ``cargo build``, ``pip wheel -w``, ``python -m venv DIR`` ...);
* ``unknown`` — anything else, assumed to write into its working directory
  and into any absolute path among its arguments.

The install directory of ``pip install`` follows pip's own rules: ``--target``,
``--prefix``, ``--root``, ``--user`` (``$HOME/.local``), a pip that lives in a
virtualenv (``/opt/venv/bin/pip``), an active virtualenv (``VIRTUAL_ENV``, a
``PATH`` entry ``DIR/bin`` of a virtualenv, ``. DIR/bin/activate`` earlier in
the RUN), else the *system site-packages* of the base image —
``/usr/local/lib/pythonX.Y/site-packages`` for the official ``python:X.Y``
images.  This is static analysis of the instructions: nothing is built or
read from an image.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from dockyard.build.parser.instructions import Run

from ._dockerfile import StageInfo, Step
from ._hadolint_shared import image_name_tag
from ._shell import Command

__all__ = ["Output", "outputs_of", "overlaps", "resolve"]


@dataclass(frozen=True)
class Output:
    """What one command of a RUN put where."""

    kind: str  # deps, system, build, unknown
    tool: str  # "pip install", "npm ci", ...
    line: int
    paths: tuple[str, ...]
    where: str = ""  # human words for the place ("the system site-packages (...)")
    ecosystem: str = ""  # python, node, ruby, php


@dataclass
class _Ctx:
    stage: StageInfo
    step: Step
    env: dict[str, str]
    venvs: list[str] = field(default_factory=list)
    activated: str = ""
    poetry_in_project: bool = False
    poetry_no_venv: bool = False


def resolve(path: str, cwd: str) -> str:
    """``path`` made absolute against ``cwd`` and normalised."""
    return posixpath.normpath(posixpath.join(cwd or "/", path))


def overlaps(a: str, b: str) -> bool:
    """Whether one path is the other or contains it."""
    a, b = a.rstrip("/") or "/", b.rstrip("/") or "/"
    return "/" in (a, b) or a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _home(ctx: _Ctx) -> str:
    if "HOME" in ctx.env and ctx.env["HOME"] and "$" not in ctx.env["HOME"]:
        return ctx.env["HOME"]
    user = ctx.step.state.user.split(":", 1)[0]
    return "/root" if user in ("", "root", "0") else f"/home/{user}"


def _python_version(stage: StageInfo) -> str:
    for info in stage.lineage():
        name, tag = image_name_tag(info.stage.base)
        if name.rsplit("/", 1)[-1] == "python":
            match = re.match(r"(\d+\.\d+)", tag)
            if match:
                return match.group(1)
    return ""


def _site_packages(ctx: _Ctx) -> tuple[tuple[str, ...], str]:
    version = _python_version(ctx.stage)
    if version:
        path = f"/usr/local/lib/python{version}/site-packages"
        return (path, "/usr/local/bin"), f"the system site-packages ({path})"
    paths = ("/usr/local/lib", "/usr/lib/python3")
    return (
        paths,
        "the system site-packages (/usr/local/lib/python3.*/site-packages or "
        "/usr/lib/python3/dist-packages)",
    )


def _flag_value(argv: tuple[str, ...], *names: str) -> str | None:
    for i, word in enumerate(argv):
        for name in names:
            if word == name and i + 1 < len(argv):
                return argv[i + 1]
            if name.startswith("--") and word.startswith(name + "="):
                return word.split("=", 1)[1]
            if not name.startswith("--") and word.startswith(name) and len(word) > len(name):
                return word[len(name) :]
    return None


def _venv_of_path(ctx: _Ctx) -> str:
    if ctx.activated:
        return ctx.activated
    if ctx.env.get("VIRTUAL_ENV") and "$" not in ctx.env["VIRTUAL_ENV"]:
        return ctx.env["VIRTUAL_ENV"]
    for entry in ctx.env.get("PATH", "").split(":"):
        if not entry.endswith("/bin"):
            continue
        root = entry[: -len("/bin")]
        name = posixpath.basename(root)
        if root in ctx.venvs or "venv" in name or "virtualenv" in name:
            return root
    return ""


def _pip_option(ctx: _Ctx, argv: tuple[str, ...], *flags: str) -> str | None:
    """A pip option from the command line, else from its ``PIP_<NAME>`` variable."""
    value = _flag_value(argv, *flags)
    if value is None:
        env = ctx.env.get("PIP_" + flags[0].lstrip("-").upper().replace("-", "_"), "")
        value = env if env and "$" not in env else None
    return value


def _pip_location(ctx: _Ctx, cmd: Command, argv: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    cwd = cmd.cwd
    for flags in (("--target", "-t"), ("--prefix",), ("--root",)):
        value = _pip_option(ctx, argv, *flags)
        if value:
            path = resolve(value, cwd)
            return (path,), f"{path} ({flags[0]})"
    user_env = ctx.env.get("PIP_USER", "").lower() in ("1", "true", "yes", "on")
    if "--user" in argv or user_env:
        base = ctx.env.get("PYTHONUSERBASE", "")
        path = base if base and "$" not in base else _home(ctx) + "/.local"
        return (path,), f"the user site ({path}, --user)"
    exe = cmd.argv[0]
    if exe.startswith("/") and posixpath.dirname(exe).endswith("/bin"):
        root = posixpath.dirname(posixpath.dirname(exe))
        if root not in ("/usr", "/usr/local", "/", ""):
            return (root,), f"the virtualenv {root}"
    venv = _venv_of_path(ctx)
    if venv:
        return (venv,), f"the virtualenv {venv}"
    return _site_packages(ctx)


def _pip(ctx: _Ctx, cmd: Command) -> Output | None:
    if re.fullmatch(r"pip[0-9.]*", cmd.name):
        argv = cmd.argv
    elif re.fullmatch(r"python[0-9.]*", cmd.name) and cmd.argv[1:3] == ("-m", "pip"):
        argv = (cmd.argv[0], *cmd.argv[3:])
    else:
        return None
    sub = argv[1] if len(argv) > 1 else ""
    line = ctx.step.line
    if sub == "install":
        paths, where = _pip_location(ctx, cmd, argv)
        return Output("deps", "pip install", line, paths, where, "python")
    if sub in ("wheel", "download"):
        value = _flag_value(argv, "-w", "--wheel-dir", "-d", "--dest") or "."
        path = resolve(value, cmd.cwd)
        return Output("build", f"pip {sub}", line, (path,), path)
    return None


def _venv(ctx: _Ctx, cmd: Command) -> Output | None:
    target = ""
    if re.fullmatch(r"python[0-9.]*", cmd.name) and cmd.argv[1:3] in (
        ("-m", "venv"),
        ("-m", "virtualenv"),
    ):
        words = [w for w in cmd.argv[3:] if not w.startswith("-")]
        target = words[0] if words else ""
    elif cmd.name in ("virtualenv", "pyvenv"):
        words = [w for w in cmd.argv[1:] if not w.startswith("-")]
        target = words[0] if words else ""
    elif cmd.name == "uv" and cmd.subcommand() == "venv":
        words = [w for w in cmd.argv[2:] if not w.startswith("-")]
        target = words[0] if words else ".venv"
    if not target:
        return None
    path = resolve(target, cmd.cwd)
    ctx.venvs.append(path)
    return Output("build", "virtualenv", ctx.step.line, (path,), f"the virtualenv {path}")


def _python_managers(ctx: _Ctx, cmd: Command) -> Output | None:
    line, cwd = ctx.step.line, cmd.cwd
    sub = cmd.subcommand()
    if cmd.name == "poetry" and sub == "config":
        text = " ".join(cmd.argv)
        if "virtualenvs.create" in text and "false" in text:
            ctx.poetry_no_venv = True
        if "virtualenvs.in-project" in text and "true" in text:
            ctx.poetry_in_project = True
        return None
    if cmd.name == "poetry" and sub in ("install", "sync"):
        if ctx.poetry_no_venv or ctx.env.get("POETRY_VIRTUALENVS_CREATE", "").lower() in (
            "false",
            "0",
        ):
            paths, where = _site_packages(ctx)
            return Output("deps", "poetry install", line, paths, where, "python")
        if ctx.poetry_in_project or ctx.env.get("POETRY_VIRTUALENVS_IN_PROJECT", "").lower() in (
            "true",
            "1",
        ):
            path = resolve(".venv", cwd)
            return Output(
                "deps", "poetry install", line, (path,), f"the virtualenv {path}", "python"
            )
        path = ctx.env.get("POETRY_VIRTUALENVS_PATH") or _home(ctx) + "/.cache/pypoetry/virtualenvs"
        return Output(
            "deps", "poetry install", line, (path,), f"poetry's virtualenvs ({path})", "python"
        )
    if cmd.name == "pipenv" and sub in ("install", "sync"):
        if "--system" in cmd.argv:
            paths, where = _site_packages(ctx)
            return Output("deps", f"pipenv {sub}", line, paths, where, "python")
        if ctx.env.get("PIPENV_VENV_IN_PROJECT", "").lower() in ("1", "true"):
            path = resolve(".venv", cwd)
        else:
            path = _home(ctx) + "/.local/share/virtualenvs"
        return Output("deps", f"pipenv {sub}", line, (path,), f"the virtualenv {path}", "python")
    if cmd.name == "uv" and sub in ("sync", "pip"):
        if sub == "pip" and "--system" in cmd.argv:
            paths, where = _site_packages(ctx)
            return Output("deps", "uv pip install", line, paths, where, "python")
        env_dir = ctx.env.get("UV_PROJECT_ENVIRONMENT") or _venv_of_path(ctx) or ".venv"
        path = resolve(env_dir, cwd)
        return Output("deps", f"uv {sub}", line, (path,), f"the virtualenv {path}", "python")
    return None


def _node_ruby_php(ctx: _Ctx, cmd: Command) -> Output | None:
    line, cwd, sub = ctx.step.line, cmd.cwd, cmd.subcommand()
    tool = f"{cmd.name} {sub}".strip()
    if cmd.name in ("npm", "pnpm", "yarn") and (
        sub in ("install", "i", "ci", "add") or (cmd.name == "yarn" and not sub)
    ):
        if "-g" in cmd.argv or "--global" in cmd.argv or (cmd.name == "yarn" and sub == "global"):
            path = "/usr/local/lib/node_modules"
        else:
            path = resolve("node_modules", cwd)
        return Output("deps", tool, line, (path,), path, "node")
    if cmd.name == "bundle" and sub == "install":
        value = _flag_value(cmd.argv, "--path")
        if value or "--deployment" in cmd.argv:
            path = resolve(value or "vendor/bundle", cwd)
        else:
            path = ctx.env.get("BUNDLE_PATH") or ctx.env.get("GEM_HOME") or "/usr/local/bundle"
        return Output("deps", tool, line, (path, "/usr/local/lib/ruby"), path, "ruby")
    if cmd.name == "gem" and sub == "install":
        path = ctx.env.get("GEM_HOME") or "/usr/local/bundle"
        return Output("deps", tool, line, (path, "/usr/local/lib/ruby"), path, "ruby")
    if cmd.name == "composer" and sub in ("install", "require", "update"):
        path = resolve("vendor", cwd)
        return Output("deps", tool, line, (path,), path, "php")
    return None


_SYSTEM = {
    "apt-get": "install",
    "apt": "install",
    "apk": "add",
    "dnf": "install",
    "yum": "install",
    "microdnf": "install",
    "zypper": "install",
}
_SYSTEM_PATHS = ("/usr", "/etc", "/var/lib", "/lib", "/bin", "/sbin", "/opt")


def _builds(ctx: _Ctx, cmd: Command) -> Output | None:
    line, cwd, sub = ctx.step.line, cmd.cwd, cmd.subcommand()
    if _SYSTEM.get(cmd.name) == sub:
        return Output("system", f"{cmd.name} {sub}", line, _SYSTEM_PATHS, "the system")
    if cmd.name == "go" and sub == "build":
        value = _flag_value(cmd.argv, "-o")
        path = resolve(value or ".", cwd)
        return Output("build", "go build", line, (path,), path)
    if cmd.name == "go" and sub == "install":
        path = ctx.env.get("GOBIN") or (ctx.env.get("GOPATH") or "/go") + "/bin"
        return Output("build", "go install", line, (path,), path)
    if cmd.name == "cargo" and sub == "install":
        root = _flag_value(cmd.argv, "--root") or ctx.env.get("CARGO_HOME") or "/usr/local/cargo"
        path = resolve(root, cwd) + "/bin"
        return Output("build", "cargo install", line, (path,), path)
    return None


_CLASSIFIERS = (_pip, _venv, _python_managers, _node_ruby_php, _builds)
# commands that leave nothing a later stage would want to copy
_HARMLESS = frozenset(
    {
        "echo",
        "printf",
        "rm",
        "ls",
        "cat",
        "true",
        "false",
        "test",
        "[",
        "set",
        "export",
        "cd",
        "chmod",
        "chown",
        "chgrp",
        "sleep",
        "which",
        "id",
        "whoami",
        "pwd",
        "mkdir",
        "rmdir",
        "useradd",
        "groupadd",
        "adduser",
        "addgroup",
        "usermod",
        "ln",
        "touch",
        "grep",
        "sed",
        "update-ca-certificates",
        "ldconfig",
        "locale-gen",
        "find",
    }
)


def _unknown(ctx: _Ctx, cmd: Command) -> Output:
    paths = [cmd.cwd]
    for arg in cmd.argv[1:]:
        word = arg.lstrip(">")
        value = word.split("=", 1)[1] if word.startswith("-") and "=" in word else word
        if value.startswith("/"):
            paths.append(posixpath.normpath(value))
    return Output("unknown", cmd.name, ctx.step.line, tuple(paths), cmd.cwd)


def outputs_of(stage: StageInfo) -> list[Output]:
    """Everything the RUN steps of ``stage`` and its in-file bases produced, in order."""
    out: list[Output] = []
    venvs: list[str] = []
    for info in stage.lineage():
        for step in info.steps:
            if not isinstance(step.inst, Run) or step.script is None:
                continue
            ctx = _Ctx(info, step, dict(step.state.env), venvs)
            for cmd in step.script.commands:
                if (
                    cmd.name in (".", "source")
                    and len(cmd.argv) > 1
                    and cmd.argv[1].endswith("/bin/activate")
                ):
                    ctx.activated = resolve(cmd.argv[1], cmd.cwd)[: -len("/bin/activate")]
                    continue
                for assignment in cmd.assignments:
                    key, _, value = assignment.partition("=")
                    ctx.env[key] = value
                found = None
                for classify in _CLASSIFIERS:
                    found = classify(ctx, cmd)
                    if found is not None:
                        break
                if found is None and (
                    cmd.name in _HARMLESS or cmd.argv[:2] == ("poetry", "config")
                ):
                    continue  # nothing made that a later stage would copy
                out.append(found or _unknown(ctx, cmd))
    return out
