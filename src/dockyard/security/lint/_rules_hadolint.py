"""Rules that mean what hadolint's rules of the same id mean.

Each rule was written from hadolint's rule page (the wiki page its ``url``
names) and checked against hadolint 2.15's behaviour on the pages' examples
(``tests/unit/security/test_lint_hadolint.py``).  The shell inside RUN is read
with :mod:`._shell`, a splitter rather than ShellCheck: SC rules are not
reproduced.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator

from dockyard.build.parser.instructions import (
    Add,
    Cmd,
    Copy,
    Entrypoint,
    Expose,
    Healthcheck,
    Maintainer,
    Run,
    Shell,
    User,
    Workdir,
)

from ._dockerfile import Dockerfile, Step
from ._hadolint_shared import image_parts
from ._model import Severity
from ._registry import Hit, hit, rule
from ._shell import Command

__all__ = ["pip_installs"]

E, W, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def _is_stage_or_var(df: Dockerfile, index: int, image: str) -> bool:
    return "$" in image or image == "scratch" or df.stage_ref(image, index) is not None


@rule("DL3006", W, "Always tag the version of an image explicitly")
def dl3006(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        image = info.stage.base
        if _is_stage_or_var(df, info.index, image):
            continue
        _name, tag, digest = image_parts(image)
        if not tag and not digest:
            yield Hit(info.node.start_line, end_line=info.node.end_line)


@rule(
    "DL3007",
    W,
    "Using latest is prone to errors if the image will ever update. "
    "Pin the version explicitly to a release tag",
)
def dl3007(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        _name, tag, digest = image_parts(info.stage.base)
        if tag == "latest" and not digest:
            yield Hit(info.node.start_line, end_line=info.node.end_line)


@rule("DL3026", E, "Use only an allowed registry in the FROM image")
def dl3026(df: Dockerfile) -> Iterator[Hit]:
    allowed = df.trusted_registries
    if not allowed:
        return
    for info in df.stages:
        image = info.stage.base
        if _is_stage_or_var(df, info.index, image):
            continue
        first, slash, _ = image.partition("/")
        registry = "docker.io"
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry = first
        if registry not in allowed and not (
            registry == "docker.io" and "hub.docker.com" in allowed
        ):
            yield Hit(info.node.start_line, end_line=info.node.end_line)


def _run_steps(df: Dockerfile) -> Iterator[tuple[Step, Command]]:
    for _info, step in df.steps():
        if step.script is not None:
            for command in step.script.commands:
                yield step, command


@rule("DL3000", E, "Use absolute WORKDIR")
def dl3000(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        if isinstance(step.inst, Workdir):
            path = step.inst.path.strip("\"'")
            if not path.startswith(("/", "$")) and not re.match(r"^[A-Za-z]:[\\/]", path):
                yield hit(step)


_NONSENSE = (
    "ssh",
    "vim",
    "shutdown",
    "service",
    "ps",
    "free",
    "top",
    "kill",
    "mount",
    "ifconfig",
    "nano",
)


@rule(
    "DL3001",
    INFO,
    "For some bash commands it makes no sense running them in a Docker container like "
    "`ssh`, `vim`, `shutdown`, `service`, `ps`, `free`, `top`, `kill`, `mount`, `ifconfig`",
)
def dl3001(df: Dockerfile) -> Iterator[Hit]:
    seen: set[int] = set()
    for step, cmd in _run_steps(df):
        if cmd.name in _NONSENSE and step.line not in seen:
            seen.add(step.line)
            yield hit(step)


def _is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip("\"'")
    return name in ("root", "0")


@rule("DL3002", W, "Last USER should not be root")
def dl3002(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        users = [s for s in info.steps if isinstance(s.inst, User)]
        last = users[-1] if users else None
        final = info is df.stages[-1]
        if last and final and isinstance(last.inst, User) and _is_root(last.inst.user):
            yield hit(last)


@rule("DL3003", W, "Use WORKDIR to switch to a directory")
def dl3003(df: Dockerfile) -> Iterator[Hit]:
    seen: set[int] = set()
    for step, cmd in _run_steps(df):
        if cmd.name == "cd" and step.line not in seen:
            seen.add(step.line)
            yield hit(step)


@rule(
    "DL3004",
    E,
    "Do not use sudo as it leads to unpredictable behavior. Use a tool like gosu to enforce root",
)
def dl3004(df: Dockerfile) -> Iterator[Hit]:
    seen: set[int] = set()
    for step, cmd in _run_steps(df):
        if ("sudo" in cmd.wrappers or cmd.name == "sudo") and step.line not in seen:
            seen.add(step.line)
            yield hit(step)


# apt-get ------------------------------------------------------------------

_APT_VALUE_FLAGS = frozenset(
    {
        "-o",
        "-t",
        "--target-release",
        "-c",
        "--config-file",
        "--default-release",
        "-a",
        "--host-architecture",
    }
)


def _apt_installs(df: Dockerfile) -> Iterator[tuple[Step, Command]]:
    """``apt-get install`` commands (not through sudo: hadolint reads those as sudo's)."""
    for step, cmd in _run_steps(df):
        if cmd.name == "apt-get" and cmd.subcommand() == "install" and "sudo" not in cmd.wrappers:
            yield step, cmd


def _after_sub(cmd: Command, sub: str, value_flags: frozenset[str]) -> list[str]:
    """The non-flag words after subcommand ``sub``, skipping flag values."""
    words = list(cmd.argv[1:])
    out: list[str] = []
    seen_sub = False
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in value_flags:
            skip = True
            continue
        if word.startswith("-"):
            continue
        if not seen_sub and word == sub:
            seen_sub = True
            continue
        if seen_sub:
            out.append(word)
    return out


def _first_per_step(pairs: Iterator[tuple[Step, Command]]) -> Iterator[Hit]:
    seen: set[int] = set()
    for step, _cmd in pairs:
        if step.line not in seen:
            seen.add(step.line)
            yield hit(step)


@rule(
    "DL3008",
    W,
    "Pin versions in apt get install. Instead of `apt-get install <package>` "
    "use `apt-get install <package>=<version>`",
)
def dl3008(df: Dockerfile) -> Iterator[Hit]:
    def unpinned() -> Iterator[tuple[Step, Command]]:
        for step, cmd in _apt_installs(df):
            pkgs = _after_sub(cmd, "install", _APT_VALUE_FLAGS)
            if any("=" not in p and not p.endswith(".deb") for p in pkgs):
                yield step, cmd

    return _first_per_step(unpinned())


@rule("DL3009", INFO, "Delete the apt-get lists after installing something")
def dl3009(df: Dockerfile) -> Iterator[Hit]:
    final = set(map(id, df.final_lineage()))
    for info in df.stages:
        if id(info) not in final:
            continue
        for step in info.steps:
            if step.script is None or not isinstance(step.inst, Run):
                continue
            if any(
                m.target.rstrip("/") in ("/var/lib/apt/lists", "/var/lib/apt")
                for m in step.inst.mounts
            ):
                continue
            apt = step.script.named("apt-get")
            if not any(c.subcommand() == "update" for c in apt):
                continue
            if not _cleans_apt_lists(step):
                yield hit(step)


def _cleans_apt_lists(step: Step) -> bool:
    assert step.script is not None
    for cmd in step.script.named("rm"):
        for word in cmd.argv[1:]:
            if word.rstrip("/*").rstrip("/") in ("/var/lib/apt/lists", "/var/lib/apt"):
                return True
    return False


@rule("DL3014", W, "Use the `-y` switch to avoid manual input `apt-get -y install <package>`")
def dl3014(df: Dockerfile) -> Iterator[Hit]:
    def missing() -> Iterator[tuple[Step, Command]]:
        for step, cmd in _apt_installs(df):
            words = cmd.argv[1:]
            yes = any(
                w in ("-y", "--yes", "--assume-yes", "-qq", "-q=2", "--quiet=2")
                or (re.fullmatch(r"-[a-zA-Z]*y[a-zA-Z]*", w) is not None)
                for w in words
            )
            if not yes and words.count("-q") < 2:
                yield step, cmd

    return _first_per_step(missing())


@rule("DL3015", INFO, "Avoid additional packages by specifying `--no-install-recommends`")
def dl3015(df: Dockerfile) -> Iterator[Hit]:
    def missing() -> Iterator[tuple[Step, Command]]:
        for step, cmd in _apt_installs(df):
            text = " ".join(cmd.argv)
            if "--no-install-recommends" in text or "APT::Install-Recommends=false" in text:
                continue
            yield step, cmd

    return _first_per_step(missing())


@rule(
    "DL3027",
    W,
    "Do not use apt as it is meant to be a end-user tool, use apt-get or apt-cache instead",
)
def dl3027(df: Dockerfile) -> Iterator[Hit]:
    return _first_per_step((s, c) for s, c in _run_steps(df) if c.name == "apt")


# apk ------------------------------------------------------------------------

_APK_VALUE_FLAGS = frozenset(
    {
        "-t",
        "--virtual",
        "-X",
        "--repository",
        "-p",
        "--root",
        "--arch",
        "--keys-dir",
        "--repositories-file",
    }
)


def _apk_adds(df: Dockerfile) -> Iterator[tuple[Step, Command]]:
    for step, cmd in _run_steps(df):
        if cmd.name == "apk" and cmd.subcommand() == "add":
            yield step, cmd


@rule(
    "DL3018",
    W,
    "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`",
)
def dl3018(df: Dockerfile) -> Iterator[Hit]:
    def unpinned() -> Iterator[tuple[Step, Command]]:
        for step, cmd in _apk_adds(df):
            pkgs = _after_sub(cmd, "add", _APK_VALUE_FLAGS)
            if any("=" not in p and not p.endswith(".apk") for p in pkgs):
                yield step, cmd

    return _first_per_step(unpinned())


@rule(
    "DL3019",
    INFO,
    "Use the `--no-cache` switch to avoid the need to use `--update` and remove "
    "`/var/cache/apk/*` when done installing packages",
)
def dl3019(df: Dockerfile) -> Iterator[Hit]:
    def missing() -> Iterator[tuple[Step, Command]]:
        for step, cmd in _apk_adds(df):
            if "--no-cache" in cmd.argv:
                continue
            if isinstance(step.inst, Run) and any(
                m.target.rstrip("/") in ("/var/cache/apk", "/etc/apk/cache")
                for m in step.inst.mounts
            ):
                continue
            yield step, cmd

    return _first_per_step(missing())


# pip ------------------------------------------------------------------------

_PIP_VALUE_FLAGS = frozenset(
    {
        "-r",
        "--requirement",
        "-c",
        "--constraint",
        "-e",
        "--editable",
        "-i",
        "--index-url",
        "--extra-index-url",
        "-f",
        "--find-links",
        "-t",
        "--target",
        "--prefix",
        "--root",
        "--src",
        "--upgrade-strategy",
        "--progress-bar",
        "--platform",
        "--python-version",
        "--implementation",
        "--abi",
        "--trusted-host",
        "--cache-dir",
        "--log",
        "--proxy",
        "--retries",
        "--timeout",
        "--exists-action",
        "--global-option",
        "--install-option",
        "--config-settings",
        "-C",
        "--report",
        "--python",
    }
)


def pip_installs(df: Dockerfile) -> Iterator[tuple[Step, Command]]:
    """``pip install`` and ``python -m pip install`` commands of every RUN."""
    for step, cmd in _run_steps(df):
        if _is_pip_install(cmd):
            yield step, cmd


def _is_pip_install(cmd: Command) -> bool:
    argv = _pip_argv(cmd)
    return argv is not None and "install" in argv[1:2]


def _pip_argv(cmd: Command) -> tuple[str, ...] | None:
    """The argv from ``pip`` on (``python -m pip x`` -> ``pip x``), or None."""
    if re.fullmatch(r"pip[0-9.]*", cmd.name):
        return cmd.argv
    if re.fullmatch(r"python[0-9.]*", cmd.name) and cmd.argv[1:3] == ("-m", "pip"):
        return ("pip", *cmd.argv[3:])
    return None


def _pip_packages(cmd: Command) -> list[str]:
    argv = _pip_argv(cmd) or ()
    out: list[str] = []
    skip = False
    for word in argv[2:]:
        if skip:
            skip = False
            continue
        if word in _PIP_VALUE_FLAGS:
            skip = True
            continue
        if word.startswith("-"):
            continue
        out.append(word)
    return out


_PIP_PINNED = re.compile(r"(==|>=|<=|~=|!=|===|<|>| @ |@)")


def _pip_pinned(pkg: str) -> bool:
    if _PIP_PINNED.search(pkg):
        return True
    # a path, a URL or an archive: what it holds is fixed
    return "/" in pkg or pkg.startswith(".") or pkg.endswith((".whl", ".tar.gz", ".zip"))


@rule(
    "DL3013",
    W,
    "Pin versions in pip. Instead of `pip install <package>` use `pip install "
    "<package>==<version>` or `pip install --requirement <requirements file>`",
)
def dl3013(df: Dockerfile) -> Iterator[Hit]:
    def unpinned() -> Iterator[tuple[Step, Command]]:
        for step, cmd in pip_installs(df):
            if any(not _pip_pinned(p) for p in _pip_packages(cmd)):
                yield step, cmd

    return _first_per_step(unpinned())


@rule(
    "DL3042", W, "Avoid use of cache directory with pip. Use `pip install --no-cache-dir <package>`"
)
def dl3042(df: Dockerfile) -> Iterator[Hit]:
    def cached() -> Iterator[tuple[Step, Command]]:
        for step, cmd in pip_installs(df):
            if "--no-cache-dir" in cmd.argv or any(
                a.startswith("PIP_NO_CACHE_DIR=") for a in cmd.assignments
            ):
                continue
            if step.state.env.get("PIP_NO_CACHE_DIR", "").lower() in ("1", "true", "on", "yes"):
                continue
            if isinstance(step.inst, Run) and any(m.type == "cache" for m in step.inst.mounts):
                continue
            yield step, cmd

    return _first_per_step(cached())


# wget -----------------------------------------------------------------------


@rule(
    "DL3047",
    INFO,
    "Avoid use of wget without progress bar. Use `wget --progress=dot:giga <url>`. "
    "Or consider using `-q` or `-nv` (shorthands for `--quiet` or `--no-verbose`).",
)
def dl3047(df: Dockerfile) -> Iterator[Hit]:
    quiet = ("-q", "--quiet", "-nv", "--no-verbose", "-o", "--output-file", "-a", "--append-output")

    def noisy() -> Iterator[tuple[Step, Command]]:
        for step, cmd in _run_steps(df):
            if cmd.name != "wget":
                continue
            if any(w.startswith("--progress") or w in quiet for w in cmd.argv[1:]):
                continue
            yield step, cmd

    return _first_per_step(noisy())


# instructions ----------------------------------------------------------------

_ARCHIVE = re.compile(r"\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|gz|bz2|xz|zst|zip)$")


@rule("DL3020", E, "Use COPY instead of ADD for files and folders")
def dl3020(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        inst = step.inst
        if not isinstance(inst, Add) or not inst.sources:
            continue
        if any(
            re.match(r"^[a-z][a-z0-9+.-]*://", src)
            or src.startswith("git@")
            or "$" in src
            or _ARCHIVE.search(src.lower())
            for src in inst.sources
        ):
            continue
        yield hit(step)


@rule("DL3021", E, "COPY with more than 2 arguments requires the last argument to end with /")
def dl3021(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        inst = step.inst
        many = isinstance(inst, Copy) and len(inst.sources) + len(inst.contents) > 1
        if many and isinstance(inst, Copy) and not inst.dest.endswith("/"):
            yield hit(step)


@rule("DL3022", W, "`COPY --from` should reference a previously defined `FROM` alias")
def dl3022(df: Dockerfile) -> Iterator[Hit]:
    for info, step in df.steps():
        inst = step.inst
        if not isinstance(inst, Copy) or not inst.from_:
            continue
        ref = inst.from_
        if df.stage_ref(ref, info.index) is not None or info.name == ref.lower():
            continue
        if ":" in ref or ref.isdecimal():
            continue  # a tagged image reference or a stage index (hadolint's test)
        yield hit(step)


@rule("DL3023", E, "`COPY --from` cannot reference its own `FROM` alias")
def dl3023(df: Dockerfile) -> Iterator[Hit]:
    for info, step in df.steps():
        inst = step.inst
        if isinstance(inst, Copy) and info.name and inst.from_.lower() == info.name:
            yield hit(step)


@rule(
    "DL3024",
    E,
    "`FROM` aliases (stage names) must be unique",
    alias="DuplicateStageName",
)
def dl3024(df: Dockerfile) -> Iterator[Hit]:
    seen: set[str] = set()
    for info in df.stages:
        if info.name and info.name in seen:
            yield Hit(info.node.start_line, end_line=info.node.end_line)
        seen.add(info.name)


@rule(
    "DL3025",
    W,
    "Use arguments JSON notation for CMD and ENTRYPOINT arguments",
    alias="JSONArgsRecommended",
)
def dl3025(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        inst = step.inst
        if isinstance(inst, Cmd | Entrypoint) and inst.prepend_shell:
            yield hit(step)
        elif isinstance(inst, Healthcheck) and inst.test[:1] == ["CMD-SHELL"]:
            yield hit(step)  # hadolint reads HEALTHCHECK CMD as a CMD too


@rule("DL3045", W, "`COPY` to a relative destination without `WORKDIR` set.")
def dl3045(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        inst = step.inst
        if not isinstance(inst, Copy) or step.state.workdir_set:
            continue
        dest = inst.dest.strip("\"'")
        if dest.startswith(("/", "$")) or re.match(r"^[A-Za-z]:[\\/]", dest):
            continue
        yield hit(step)


def _single(step: Step) -> bool:
    """A RUN of one simple command (hadolint leaves RUNs of several alone)."""
    return step.script is not None and len(step.script.commands) == 1


@rule("DL3059", INFO, "Multiple consecutive `RUN` instructions. Consider consolidation.")
def dl3059(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        prev: Step | None = None
        for step in info.steps:
            inst = step.inst
            if (
                isinstance(inst, Run)
                and prev is not None
                and isinstance(prev.inst, Run)
                and step.node.flags == prev.node.flags
                and _single(step)
                and _single(prev)
            ):
                yield hit(step)
            prev = step


@rule("DL3011", E, "Valid UNIX ports range from 0 to 65535")
def dl3011(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        if not isinstance(step.inst, Expose):
            continue
        for port in step.inst.ports:
            for part in port.split("/", 1)[0].split("-"):
                if part.isdecimal() and int(part) > 65535:
                    yield hit(step)
                    break


def _multiple(df: Dockerfile, kind: type) -> Iterator[Hit]:
    for info in df.stages:
        found = [s for s in info.steps if isinstance(s.inst, kind)]
        for step in found[1:]:
            yield hit(step)


@rule("DL3012", E, "Multiple `HEALTHCHECK` instructions", alias="MultipleInstructionsDisallowed")
def dl3012(df: Dockerfile) -> Iterator[Hit]:
    return _multiple(df, Healthcheck)


@rule(
    "DL4003",
    W,
    "Multiple `CMD` instructions found. If you list more than one `CMD` then only the last "
    "`CMD` will take effect",
    alias="MultipleInstructionsDisallowed",
)
def dl4003(df: Dockerfile) -> Iterator[Hit]:
    return _multiple(df, Cmd)


@rule(
    "DL4004",
    E,
    "Multiple `ENTRYPOINT` instructions found. If you list more than one `ENTRYPOINT` then "
    "only the last `ENTRYPOINT` will take effect",
    alias="MultipleInstructionsDisallowed",
)
def dl4004(df: Dockerfile) -> Iterator[Hit]:
    return _multiple(df, Entrypoint)


@rule("DL4000", E, "MAINTAINER is deprecated", alias="MaintainerDeprecated")
def dl4000(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        if isinstance(step.inst, Maintainer):
            yield hit(step)


def _piped(step: Step) -> bool:
    return step.script is not None and step.script.has_pipe


@rule(
    "DL4006",
    W,
    "Set the SHELL option -o pipefail before RUN with a pipe in it. If you are using /bin/sh "
    "in an alpine image or if your shell is symlinked to busybox then consider explicitly "
    "setting your SHELL to /bin/ash, or disable this check",
)
def dl4006(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        pipefail = False
        for step in info.steps:
            inst = step.inst
            if isinstance(inst, Shell):
                pipefail = "pipefail" in " ".join(inst.shell) or posixpath.basename(
                    inst.shell[0]
                ) in ("pwsh", "powershell", "cmd")
            elif isinstance(inst, Run) and inst.prepend_shell and not pipefail and _piped(step):
                yield hit(step)
