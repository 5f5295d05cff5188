"""Typed Dockerfile instructions, as BuildKit's ``instructions`` package.

:func:`instructions_from_ast` walks the parse tree once: ``ARG`` before the
first ``FROM`` become *meta args*, each ``FROM`` opens a :class:`Stage`, and
every other instruction is parsed into its dataclass and appended to the
current stage.  Each instruction remembers its line range (``start_line`` to
``end_line``, 1-based) and the logical line it came from (``original``).

Errors are InvalidArgument ``Dockerfile:LINE: message``, the messages worded
as BuildKit's (``COPY requires at least two arguments, but only one was
provided. Destination could not be determined.``).  Variable expansion is not
done here: see :func:`dockyard.build.parser.expand.expand_instruction`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

from ._ast import Heredoc, Node, ParseResult
from ._duration import parse_duration
from ._flags import Flags, suggest
from ._gostr import go_trim_space
from ._heredoc import chomp_heredoc_content, parse_heredoc
from ._mounts import Mount, parse_mount

__all__ = [
    "Add",
    "Arg",
    "ArgPair",
    "Cmd",
    "Copy",
    "Entrypoint",
    "Env",
    "Expose",
    "From",
    "Healthcheck",
    "Instruction",
    "KeyValue",
    "Label",
    "Maintainer",
    "Mount",
    "Onbuild",
    "Run",
    "Shell",
    "SourceContent",
    "Stage",
    "StopSignal",
    "User",
    "Volume",
    "Workdir",
    "instructions_from_ast",
    "parse_instruction",
]

_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
_MIN_DURATION = 1_000_000  # 1ms, as Docker's container.MinimumDuration


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """What every instruction has: lower-case ``name``, source text and lines."""

    name: str
    original: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class KeyValue:
    """``key=value`` of ENV/LABEL; ``no_delim`` for the legacy ``ENV key value``."""

    key: str
    value: str
    no_delim: bool = False


@dataclass(frozen=True)
class ArgPair:
    """``NAME`` or ``NAME=default`` of ARG (``value`` None when absent)."""

    key: str
    value: str | None = None


@dataclass(frozen=True)
class SourceContent:
    """A heredoc used as a COPY/ADD source (content already chomped)."""

    path: str
    data: str
    expand: bool


@dataclass(frozen=True, kw_only=True)
class ShellDependent(Instruction):
    """An instruction whose command is either exec (JSON) or shell form."""

    cmd_line: list[str]
    prepend_shell: bool
    files: list[Heredoc] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    """``FROM [--platform=<platform>] <image> [AS <name>]``"""

    base: str
    stage_name: str = ""
    platform: str = ""


@dataclass(frozen=True, kw_only=True)
class Run(ShellDependent):
    """``RUN [--mount=…] [--network=default|none|host] [--security=sandbox|insecure] <cmd>``
    or ``RUN ["exe", "arg"]``; heredocs become ``files``."""

    mounts: list[Mount] = field(default_factory=list)
    network: str = ""
    security: str = ""
    flags_used: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Cmd(ShellDependent):
    """``CMD ["exe", "arg"]`` or ``CMD command arg``"""


@dataclass(frozen=True, kw_only=True)
class Entrypoint(ShellDependent):
    """``ENTRYPOINT ["exe", "arg"]`` or ``ENTRYPOINT command arg``"""


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    """``ENV <key>=<value> ...`` or legacy ``ENV <key> <value>``"""

    pairs: list[KeyValue]


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    """``LABEL <key>=<value> ...`` or legacy ``LABEL <key> <value>``"""

    pairs: list[KeyValue]


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    """``ARG <name>[=<default>] ...``"""

    args: list[ArgPair]


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    """``EXPOSE <port>[/<proto>] ...`` (``ports`` sorted, as BuildKit)"""

    ports: list[str]


@dataclass(frozen=True, kw_only=True)
class _CopyLike(Instruction):
    sources: list[str]
    dest: str
    contents: list[SourceContent] = field(default_factory=list)
    chown: str = ""
    chmod: str = ""
    link: bool = False
    excludes: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Copy(_CopyLike):
    """``COPY [--from=<stage|image>] [--chown=<user>:<group>] [--chmod=<perms>] [--link]
    [--exclude=<pattern>] [--parents] <src>... <dest>`` (or the JSON form)"""

    from_: str = ""
    parents: bool = False


@dataclass(frozen=True, kw_only=True)
class Add(_CopyLike):
    """``ADD [--chown=…] [--chmod=…] [--link] [--keep-git-dir] [--checksum=<digest>]
    [--exclude=<pattern>] [--unpack] <src>... <dest>`` (or the JSON form)"""

    keep_git_dir: bool = False
    checksum: str = ""
    unpack: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    """``WORKDIR <path>``"""

    path: str


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    """``USER <user>[:<group>]``"""

    user: str


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    """``VOLUME ["/data"]`` or ``VOLUME /data /logs``"""

    volumes: list[str]


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    """``STOPSIGNAL <signal>``"""

    signal: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK [--interval=…] [--timeout=…] [--start-period=…] [--start-interval=…]
    [--retries=N] CMD <command>`` or ``HEALTHCHECK NONE``

    ``test`` is Docker's form: ``["NONE"]``, ``["CMD", exe, …]`` or
    ``["CMD-SHELL", "command"]``; durations are nanoseconds (0 = default).
    """

    test: list[str]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    """``SHELL ["executable", "parameters"]`` (JSON form only)"""

    shell: list[str]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """``ONBUILD <INSTRUCTION>`` (``expression`` is the trigger's text)"""

    expression: str


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    """``MAINTAINER <name>`` (deprecated)"""

    maintainer: str


@dataclass
class Stage:
    """A build stage: its FROM and the instructions up to the next FROM."""

    from_: From
    instructions: list[Instruction] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.from_.stage_name

    @property
    def base(self) -> str:
        return self.from_.base

    @property
    def platform(self) -> str:
        return self.from_.platform


class _Request:
    """BuildKit's ``parseRequest``: one node, flattened."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.keyword = node.value.lower()
        self.args = node.values()
        self.flags = Flags(node.flags)
        self.json = node.json

    def base(self) -> dict[str, object]:
        n = self.node
        return {
            "name": self.keyword,
            "original": n.original,
            "start_line": n.start_line,
            "end_line": n.end_line,
        }


def _at_least_one(cmd: str) -> InvalidArgument:
    return InvalidArgument(f"{cmd} requires at least one argument")


def _exactly_one(cmd: str) -> InvalidArgument:
    return InvalidArgument(f"{cmd} requires exactly one argument")


def _no_destination(cmd: str) -> InvalidArgument:
    return InvalidArgument(
        f"{cmd} requires at least two arguments, but only one was provided. "
        "Destination could not be determined."
    )


def _json_args(req: _Request) -> list[str]:
    """BuildKit's ``handleJSONArgs``: exec form as is, shell form joined."""
    if not req.args:
        return []
    return list(req.args) if req.json else [" ".join(req.args)]


def _kvps(args: list[str], cmd: str) -> list[KeyValue]:
    if not args:
        raise _at_least_one(cmd)
    if len(args) % 3:
        raise InvalidArgument(f"Bad input to {cmd}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise InvalidArgument(f"{cmd} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1], no_delim=args[i + 2] == ""))
    return pairs


def _from(req: _Request) -> From:
    args = req.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.fullmatch(name):
            raise InvalidArgument(
                f"invalid name for build stage: {args[2]!r}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise InvalidArgument("FROM requires either one or three arguments")
    platform = req.flags.string("platform")
    req.flags.parse()
    return From(**req.base(), base=args[0], stage_name=name, platform=platform.value)  # type: ignore[arg-type]


def _run(req: _Request) -> Run:
    mounts_flag = req.flags.strings("mount")
    network = req.flags.string("network")
    security = req.flags.string("security")
    req.flags.parse()
    if network.value not in ("", "default", "none", "host"):
        raise InvalidArgument(f"unsupported network mode {network.value!r}")
    if security.value not in ("", "sandbox", "insecure"):
        raise InvalidArgument(f"unsupported security mode {security.value!r}")
    return Run(
        **req.base(),  # type: ignore[arg-type]
        cmd_line=_json_args(req),
        prepend_shell=not req.json,
        files=list(req.node.heredocs),
        mounts=[parse_mount(v) for v in mounts_flag.values],
        network=network.value,
        security=security.value,
        flags_used=req.flags.used(),
    )


def _shell_dependent(cls: type[Cmd] | type[Entrypoint]) -> Callable[[_Request], Instruction]:
    def parse(req: _Request) -> Instruction:
        req.flags.parse()
        return cls(
            **req.base(),  # type: ignore[arg-type]
            cmd_line=_json_args(req),
            prepend_shell=not req.json,
            files=list(req.node.heredocs),
        )

    return parse


def _env(req: _Request) -> Env:
    req.flags.parse()
    return Env(**req.base(), pairs=_kvps(req.args, "ENV"))  # type: ignore[arg-type]


def _label(req: _Request) -> Label:
    req.flags.parse()
    return Label(**req.base(), pairs=_kvps(req.args, "LABEL"))  # type: ignore[arg-type]


def _arg(req: _Request) -> Arg:
    if not req.args:
        raise _at_least_one("ARG")
    req.flags.parse()
    pairs = []
    for word in req.args:
        key, eq, value = word.partition("=")
        pairs.append(ArgPair(key, value if eq else None))
    return Arg(**req.base(), args=pairs)  # type: ignore[arg-type]


def _expose(req: _Request) -> Expose:
    if not req.args:
        raise _at_least_one("EXPOSE")
    req.flags.parse()
    return Expose(**req.base(), ports=sorted(req.args))  # type: ignore[arg-type]


def _sources_and_dest(req: _Request, cmd: str) -> tuple[list[str], str, list[SourceContent]]:
    *srcs, dest = req.args
    if _heredoc_word(dest):
        raise InvalidArgument(f"{cmd} cannot accept a heredoc as a destination")
    bodies = {doc.name: doc for doc in req.node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in srcs:
        doc = _heredoc_word(src)
        if doc is None:
            paths.append(src)
            continue
        data = bodies[doc.name].content if doc.name in bodies else ""
        if doc.chomp:
            data = chomp_heredoc_content(data)
        contents.append(SourceContent(doc.name, data, doc.expand))
    return paths, dest, contents


def _heredoc_word(word: str) -> Heredoc | None:
    try:
        return parse_heredoc(word)
    except InvalidArgument:
        return None


def _copy(req: _Request) -> Copy:
    if len(req.args) < 2:
        raise _no_destination("COPY")
    f = req.flags
    chown, from_, chmod = f.string("chown"), f.string("from"), f.string("chmod")
    link, excludes, parents = f.boolean("link"), f.strings("exclude"), f.boolean("parents")
    f.parse()
    srcs, dest, contents = _sources_and_dest(req, "COPY")
    return Copy(
        **req.base(),  # type: ignore[arg-type]
        sources=srcs,
        dest=dest,
        contents=contents,
        chown=chown.value,
        chmod=chmod.value,
        link=link.is_true,
        excludes=excludes.values,
        from_=from_.value,
        parents=parents.is_true,
    )


def _add(req: _Request) -> Add:
    if len(req.args) < 2:
        raise _no_destination("ADD")
    f = req.flags
    chown, chmod, link = f.string("chown"), f.string("chmod"), f.boolean("link")
    keep_git, checksum = f.boolean("keep-git-dir"), f.string("checksum")
    excludes, unpack = f.strings("exclude"), f.boolean("unpack")
    f.parse()
    if checksum.value and not _DIGEST.fullmatch(checksum.value):
        raise InvalidArgument(f"invalid checksum digest format: {checksum.value}")
    srcs, dest, contents = _sources_and_dest(req, "ADD")
    return Add(
        **req.base(),  # type: ignore[arg-type]
        sources=srcs,
        dest=dest,
        contents=contents,
        chown=chown.value,
        chmod=chmod.value,
        link=link.is_true,
        excludes=excludes.values,
        keep_git_dir=keep_git.is_true,
        checksum=checksum.value,
        unpack=unpack.is_true if unpack.used else None,
    )


def _one(cls: type[Instruction], keyword: str, attr: str) -> Callable[[_Request], Instruction]:
    def parse(req: _Request) -> Instruction:
        if len(req.args) != 1:
            raise _exactly_one(keyword)
        req.flags.parse()
        return cls(**req.base(), **{attr: req.args[0]})  # type: ignore[arg-type]

    return parse


def _volume(req: _Request) -> Volume:
    req.flags.parse()
    if not req.args:
        raise _at_least_one("VOLUME")
    volumes = []
    for arg in req.args:
        volume = go_trim_space(arg)
        if not volume:
            raise InvalidArgument("VOLUME specified can not be an empty string")
        volumes.append(volume)
    return Volume(**req.base(), volumes=volumes)  # type: ignore[arg-type]


def _duration_flag(name: str, text: str) -> int:
    if not text:
        return 0
    value = parse_duration(text)
    if value == 0:
        return 0
    if value < _MIN_DURATION:
        raise InvalidArgument(f'Interval "{name}" cannot be less than 1ms')
    return value


def _healthcheck(req: _Request) -> Healthcheck:
    if not req.args:
        raise _at_least_one("HEALTHCHECK")
    kind = req.args[0].upper()
    rest = req.args[1:]
    if kind == "NONE":
        if rest:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**req.base(), test=["NONE"])  # type: ignore[arg-type]
    f = req.flags
    names = ("interval", "timeout", "start-period", "start-interval")
    durations = {name: f.string(name) for name in names}
    retries_flag = f.string("retries")
    f.parse()
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    cmd = [" ".join(rest)] if rest and not req.json else list(rest)
    if not cmd:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    values = {n.replace("-", "_"): _duration_flag(n, d.value) for n, d in durations.items()}
    retries = 0
    if retries_flag.value:
        try:
            retries = int(retries_flag.value, 10)
        except ValueError:
            raise InvalidArgument(
                f'strconv.ParseInt: parsing "{retries_flag.value}": invalid syntax'
            ) from None
        if retries < 0:
            raise InvalidArgument(f"--retries cannot be negative ({retries})")
    test = ["CMD" if req.json else "CMD-SHELL", *cmd]
    return Healthcheck(**req.base(), test=test, retries=retries, **values)  # type: ignore[arg-type]


def _shell(req: _Request) -> Shell:
    req.flags.parse()
    args = _json_args(req)
    if not args:
        raise _at_least_one("SHELL")
    if not req.json:
        raise InvalidArgument("SHELL requires the arguments to be in JSON form")
    return Shell(**req.base(), shell=args)  # type: ignore[arg-type]


_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)


def _onbuild(req: _Request) -> Onbuild:
    if not req.args:
        raise _at_least_one("ONBUILD")
    req.flags.parse()
    trigger = req.args[0].strip().upper()
    if trigger == "ONBUILD":
        raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", req.node.original, count=1)
    for doc in req.node.heredocs:
        expression += "\n" + doc.content + doc.name
    return Onbuild(**req.base(), expression=expression)  # type: ignore[arg-type]


def _maintainer(req: _Request) -> Maintainer:
    req.flags.parse()
    if len(req.args) != 1:
        raise _exactly_one("MAINTAINER")
    return Maintainer(**req.base(), maintainer=req.args[0])  # type: ignore[arg-type]


_PARSERS: dict[str, Callable[[_Request], Instruction]] = {
    "add": _add,
    "arg": _arg,
    "cmd": _shell_dependent(Cmd),
    "copy": _copy,
    "entrypoint": _shell_dependent(Entrypoint),
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _maintainer,
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": _one(StopSignal, "STOPSIGNAL", "signal"),
    "user": _one(User, "USER", "user"),
    "volume": _volume,
    "workdir": _one(Workdir, "WORKDIR", "path"),
}


KNOWN_INSTRUCTIONS = frozenset(_PARSERS)


def parse_instruction(node: Node, filename: str = "Dockerfile") -> Instruction:
    """One instruction node -> its dataclass; errors name ``filename:line``."""
    parser = _PARSERS.get(node.value.lower())
    if parser is None:
        err = InvalidArgument(f"{filename}:{node.start_line}: unknown instruction: {node.value}")
        hint = suggest(node.value.upper(), [k.upper() for k in _PARSERS])
        if hint:
            err.add_note(f"did you mean {hint}?")
        raise err
    try:
        return parser(_Request(node))
    except InvalidArgument as exc:
        located = InvalidArgument(f"{filename}:{node.start_line}: {exc}")
        for note in getattr(exc, "__notes__", []):
            located.add_note(note)
        raise located from None


def instructions_from_ast(
    result: ParseResult | Node, filename: str | None = None
) -> tuple[list[Stage], list[Arg]]:
    """Split the parse tree into stages; return (stages, meta ARGs before FROM)."""
    if isinstance(result, ParseResult):
        root, name = result.ast, filename or result.filename
    else:
        root, name = result, filename or "Dockerfile"
    stages: list[Stage] = []
    meta: list[Arg] = []
    for node in root.children:
        inst = parse_instruction(node, name)
        if isinstance(inst, From):
            stages.append(Stage(inst))
        elif not stages and isinstance(inst, Arg):
            meta.append(inst)
        elif not stages:
            raise InvalidArgument(f"{name}:{node.start_line}: no build stage in current context")
        else:
            stages[-1].instructions.append(inst)
    return stages, meta
