"""BuildKit's build checks (docs.docker.com "Build checks"), by their names.

Where a hadolint rule means the same (``MaintainerDeprecated`` = DL4000,
``JSONArgsRecommended`` = DL3025, ``DuplicateStageName`` = DL3024,
``MultipleInstructionsDisallowed`` = DL3012/DL4003/DL4004) the check lives in
:mod:`._rules_hadolint` with the BuildKit name as its alias.  The messages are
worded as BuildKit words them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from dockyard.build.parser.instructions import Arg, Env, Expose, Label, Run, Workdir
from dockyard.build.parser.shell import ShellLex
from dockyard.errors import InvalidArgument

from ._dockerfile import Dockerfile, Step
from ._model import Severity
from ._registry import Hit, hit, rule

__all__: list[str] = []

W = Severity.WARNING

# BuildKit's predefined build args (always defined, never "undefined")
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "FTP_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "no_proxy",
        "all_proxy",
        "BUILDPLATFORM",
        "BUILDOS",
        "BUILDARCH",
        "BUILDVARIANT",
        "TARGETPLATFORM",
        "TARGETOS",
        "TARGETARCH",
        "TARGETVARIANT",
        "TARGETSTAGE",
        "BUILDKIT_SYNTAX",
        "SOURCE_DATE_EPOCH",
    }
)
# variables that every base image (or the build) defines; the base image's own
# config is not read, so its other ENV cannot be known
_BASE_ENV = frozenset({"PATH", "HOME", "HOSTNAME", "TERM", "PWD", "USER", "SHELL", "LANG"})


def _raw_stage_name(step_values: list[str]) -> str:
    return step_values[2] if len(step_values) == 3 else ""


@rule("StageNameCasing", W, "Stage names should be lowercase")
def stage_name_casing(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        name = _raw_stage_name(info.node.values())
        if name and name != name.lower():
            yield Hit(
                info.node.start_line, f"Stage name '{name}' should be lowercase", info.node.end_line
            )


@rule("FromAsCasing", W, "The 'as' keyword should match the case of the 'from' keyword")
def from_as_casing(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        values = info.node.values()
        if len(values) != 3:
            continue
        keyword, as_word = info.node.value, values[1]
        upper_from, upper_as = keyword == keyword.upper(), as_word == as_word.upper()
        lower_from, lower_as = keyword == keyword.lower(), as_word == as_word.lower()
        if (upper_from and not upper_as) or (lower_from and not lower_as):
            yield Hit(
                info.node.start_line,
                f"'{as_word}' and '{keyword}' keywords' casing do not match",
                info.node.end_line,
            )


@rule(
    "ConsistentInstructionCasing",
    W,
    "All commands within the Dockerfile should use the same casing",
)
def consistent_casing(df: Dockerfile) -> Iterator[Hit]:
    nodes = df.result.ast.children
    upper = sum(1 for n in nodes if n.value == n.value.upper())
    lower = sum(1 for n in nodes if n.value == n.value.lower())
    majority = "uppercase" if upper >= lower else "lowercase"
    for node in nodes:
        ok = node.value == (node.value.upper() if majority == "uppercase" else node.value.lower())
        if not ok:
            yield Hit(
                node.start_line,
                f"Command '{node.value}' should match the case of the command "
                f"majority ({majority})",
                node.end_line,
            )


@rule("ReservedStageName", W, "Reserved words should not be used as stage names")
def reserved_stage_name(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        if info.name in ("scratch", "context"):
            yield Hit(
                info.node.start_line,
                f'Stage name should not use the same name as reserved stage "{info.name}"',
                info.node.end_line,
            )


@rule("NoEmptyContinuation", W, "Empty continuation lines will become errors in a future release")
def no_empty_continuation(df: Dockerfile) -> Iterator[Hit]:
    for warning in df.result.warnings:
        if "continuation" in warning.short.lower():
            yield Hit(warning.line, "Empty continuation line")


@rule(
    "WorkdirRelativePath",
    W,
    "Relative workdir without an absolute workdir declared within the build can have "
    "unexpected results if the base image changes",
)
def workdir_relative(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        absolute = info.parent is not None and info.parent.end_state.workdir_set
        for step in info.steps:
            if not isinstance(step.inst, Workdir):
                continue
            path = step.inst.path
            if path.startswith(("/", "$")):
                absolute = True
            elif not absolute:
                yield hit(
                    step,
                    f'Relative workdir "{path}" can have unexpected results '
                    "if the base image changes",
                )


@rule(
    "LegacyKeyValueFormat",
    W,
    "Legacy key/value format with whitespace separator should not be used",
)
def legacy_key_value(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        if isinstance(step.inst, Env | Label) and any(p.no_delim for p in step.inst.pairs):
            kw = step.inst.name.upper()
            yield hit(
                step, f'"{kw} key=value" should be used instead of legacy "{kw} key value" format'
            )


_SECRET = re.compile(
    r"(?i)(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)"
    r"(?:_|$)"
)
_ALLOW = re.compile(r"(?i)(?:_|^)(?:public)(?:_|$)")


def is_secret_name(key: str) -> bool:
    """BuildKit's test for a secret-looking ARG/ENV name."""
    return bool(_SECRET.search(key)) and not _ALLOW.search(key)


@rule("SecretsUsedInArgOrEnv", W, "Sensitive data should not be used in the ARG or ENV commands")
def secrets_in_arg_env(df: Dockerfile) -> Iterator[Hit]:
    meta = [(a, n) for a, n in zip(df.meta_args, df.meta_nodes, strict=True)]
    for inst, node in meta:
        for pair in inst.args:
            if is_secret_name(pair.key):
                yield Hit(node.start_line, _secret_message("ARG", pair.key), node.end_line)
    for _info, step in df.steps():
        keys: list[str] = []
        if isinstance(step.inst, Arg):
            keys = [p.key for p in step.inst.args]
        elif isinstance(step.inst, Env):
            keys = [p.key for p in step.inst.pairs]
        for key in keys:
            if is_secret_name(key):
                yield hit(step, _secret_message(step.inst.name.upper(), key))


def _secret_message(kind: str, key: str) -> str:
    return f'Do not use ARG or ENV instructions for sensitive data ({kind} "{key}")'


@rule("ExposeProtoCasing", W, "Protocol in EXPOSE instruction should be lowercase")
def expose_proto_casing(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        if isinstance(step.inst, Expose):
            for port in step.inst.ports:
                _p, slash, proto = port.partition("/")
                if slash and proto != proto.lower():
                    yield hit(
                        step, f"Defined protocol '{port}' in EXPOSE instruction should be lowercase"
                    )


@rule(
    "ExposeInvalidFormat",
    W,
    "IP address and host-port mapping should not be used in EXPOSE instruction",
)
def expose_invalid_format(df: Dockerfile) -> Iterator[Hit]:
    for _info, step in df.steps():
        if isinstance(step.inst, Expose):
            for port in step.inst.ports:
                if ":" in port.split("/", 1)[0]:
                    yield hit(
                        step,
                        "EXPOSE instruction should not define an IP address or "
                        f"host-port mapping, found '{port}'",
                    )


@rule(
    "RedundantTargetPlatform",
    W,
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the "
    "default behavior",
)
def redundant_target_platform(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        if info.stage.platform in ("$TARGETPLATFORM", "${TARGETPLATFORM}"):
            yield Hit(
                info.node.start_line,
                "Setting platform to predefined $TARGETPLATFORM in FROM is redundant "
                "as this is the default behavior",
                info.node.end_line,
            )


@rule("FromPlatformFlagConstDisallowed", W, "FROM --platform flag should not use a constant value")
def from_platform_const(df: Dockerfile) -> Iterator[Hit]:
    for info in df.stages:
        platform = info.stage.platform
        if not platform or "$" in platform:
            continue
        parts = [p for p in platform.split("/") if p]
        if info.name and any(p in info.name for p in parts[1:]):
            continue  # BuildKit's exception: the stage is named for its platform
        yield Hit(
            info.node.start_line,
            f'FROM --platform flag should not use constant value "{platform}"',
            info.node.end_line,
        )


class _Recorder(Mapping[str, str]):
    """An environment that remembers which names were looked up and missing."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.missing: list[str] = []

    def __getitem__(self, key: str) -> str:
        if key in self.known:
            return ""
        if key not in self.missing:
            self.missing.append(key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


_DEFAULTED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-+?])")


def _undefined(words: list[str], known: set[str], escape: str) -> list[str]:
    rec = _Recorder(known)
    lex = ShellLex(escape_token=escape)
    defaulted: set[str] = set()
    for word in words:
        defaulted.update(m.group(1) for m in _DEFAULTED.finditer(word))
        try:
            lex.process_word(word, rec)
        except InvalidArgument:
            continue
    return [name for name in rec.missing if name not in defaulted and not name.isdecimal()]


@rule("UndefinedArgInFrom", W, "FROM command must use declared ARGs")
def undefined_arg_in_from(df: Dockerfile) -> Iterator[Hit]:
    known = {p.key for a in df.meta_args for p in a.args} | set(PREDEFINED_ARGS)
    for info in df.stages:
        words = [info.stage.base, info.stage.platform]
        for name in _undefined(words, known, df.result.escape_token):
            yield Hit(
                info.node.start_line, f"FROM argument '{name}' is not declared", info.node.end_line
            )


def _expanded_words(step: Step) -> list[str]:
    """The words of a step that BuildKit expands (RUN, CMD, ENTRYPOINT are the shell's)."""
    inst = step.inst
    if isinstance(inst, Run):
        return []
    words: list[str] = []
    for attr in ("path", "user", "signal", "sources", "dest", "chown", "chmod", "volumes", "ports"):
        value = getattr(inst, attr, None)
        if isinstance(value, str):
            words.append(value)
        elif isinstance(value, list):
            words.extend(v for v in value if isinstance(v, str))
    if isinstance(inst, Env | Label):
        words.extend(p.value for p in inst.pairs)
    if isinstance(inst, Arg):
        words.extend(p.value for p in inst.args if p.value)
    return words


@rule("UndefinedVar", W, "Variables should be defined before their use")
def undefined_var(df: Dockerfile) -> Iterator[Hit]:
    escape = df.result.escape_token
    for _info, step in df.steps():
        known = set(step.state.env) | PREDEFINED_ARGS | _BASE_ENV
        for name in _undefined(_expanded_words(step), known, escape):
            yield hit(step, f"Usage of undefined variable '${name}'")
