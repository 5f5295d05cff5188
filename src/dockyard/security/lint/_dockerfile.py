"""The Dockerfile as the rules see it: stages, steps and what each step knows.

:func:`load` parses the text once with dockyard's own parser
(:mod:`dockyard.build.parser`) and walks every stage, recording for each
instruction a :class:`Step`: the typed instruction, its parse node (for the
keyword's casing and the raw text), and the state *before* it runs — working
directory, environment (ENV and ARG values as written, expanded where the
values are known) and user.  A stage built ``FROM`` an earlier stage starts
from that stage's final state; any other stage starts from ``/`` with an empty
environment, because the base image's own config is not read (static analysis
of instructions, not of the built filesystem).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

from dockyard.build.parser import Node, ParseResult, parse_dockerfile
from dockyard.build.parser.instructions import (
    Arg,
    Env,
    Instruction,
    Run,
    Stage,
    User,
    Workdir,
    instructions_from_ast,
)
from dockyard.build.parser.shell import process_word
from dockyard.errors import InvalidArgument

from ._shell import Script, split_script

__all__ = ["Dockerfile", "StageInfo", "Step", "load", "run_script"]


@dataclass
class State:
    """What a step starts from (mutable only while the walk builds it)."""

    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir_set: bool = False

    def copy(self) -> State:
        return State(self.workdir, dict(self.env), self.user, self.workdir_set)


@dataclass
class Step:
    """One instruction of a stage with the state before it."""

    inst: Instruction
    node: Node
    state: State
    script: Script | None = None  # RUN only

    @property
    def line(self) -> int:
        return self.inst.start_line


@dataclass
class StageInfo:
    """A stage with its FROM node, steps, and the in-file stage it is built on."""

    index: int
    stage: Stage
    node: Node
    steps: list[Step] = field(default_factory=list)
    parent: StageInfo | None = None
    end_state: State = field(default_factory=State)

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def label(self) -> str:
        return repr(self.name) if self.name else f"#{self.index}"

    def lineage(self) -> list[StageInfo]:
        """This stage and the in-file stages it is built on, base first."""
        chain: list[StageInfo] = []
        info: StageInfo | None = self
        while info is not None and info not in chain:
            chain.append(info)
            info = info.parent
        return chain[::-1]


@dataclass
class Dockerfile:
    """A parsed Dockerfile ready for the rules."""

    filename: str
    text: str
    result: ParseResult
    stages: list[StageInfo]
    meta_args: list[Arg]
    meta_nodes: list[Node]
    target: str | None = None
    trusted_registries: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def final(self) -> StageInfo:
        """The stage that becomes the image (``target`` if given, else the last)."""
        if self.target:
            found = self.stage_ref(self.target, len(self.stages))
            if found is not None:
                return found
        return self.stages[-1]

    def stage_ref(self, ref: str, before: int) -> StageInfo | None:
        """The stage that ``ref`` (a name or an index) names among the first ``before``."""
        for info in self.stages[:before]:
            if info.name and info.name == ref.lower():
                return info
        if ref.isdecimal() and int(ref) < before:
            return self.stages[int(ref)]
        return None

    def steps(self) -> Iterator[tuple[StageInfo, Step]]:
        for info in self.stages:
            for step in info.steps:
                yield info, step

    def final_lineage(self) -> list[StageInfo]:
        return self.final.lineage()


def expand(word: str, env: dict[str, str], escape: str = "\\") -> str:
    """``word`` with the variables that are known replaced (unknown ones stay)."""
    if "$" not in word:
        return word
    try:
        return process_word(word, _Keep(env), escape)
    except InvalidArgument:
        return word


class _Keep(dict[str, str]):
    """An environment in which an unknown ``$NAME`` expands to itself."""

    def get(self, key: str, default: object = None) -> str:
        return super().get(key, "$" + key)


def run_script(inst: Run) -> tuple[str, bool]:
    """(the shell text of a RUN, whether it is shell text at all)."""
    if inst.prepend_shell:
        text = inst.cmd_line[0] if inst.cmd_line else ""
        if inst.files and text.strip().startswith("<<"):
            text = "\n".join(doc.content for doc in inst.files)
        return text, True
    argv = inst.cmd_line
    if len(argv) >= 3 and posixpath.basename(argv[0]) in ("sh", "bash", "ash") and argv[1] == "-c":
        return argv[2], True
    return " ".join(_quote(a) for a in argv), False


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)


def _advance(state: State, inst: Instruction, escape: str) -> None:
    if isinstance(inst, Workdir):
        path = expand(inst.path, state.env, escape)
        state.workdir = posixpath.normpath(posixpath.join(state.workdir, path))
        state.workdir_set = True
    elif isinstance(inst, Env):
        for kv in inst.pairs:
            state.env[kv.key] = expand(kv.value, state.env, escape)
    elif isinstance(inst, Arg):
        for pair in inst.args:
            if pair.key not in state.env or pair.value is not None:
                state.env[pair.key] = expand(pair.value or "", state.env, escape)
    elif isinstance(inst, User):
        state.user = expand(inst.user, state.env, escape)


def load(text: str, filename: str = "Dockerfile", target: str | None = None) -> Dockerfile:
    """Parse ``text``; errors are InvalidArgument ``filename:line: message``."""
    result = parse_dockerfile(text, filename)
    stages, meta = instructions_from_ast(result, filename)
    if not stages:
        raise InvalidArgument(f"{filename}:1: no build stage in the file")
    nodes = list(result.ast.children)
    meta_nodes = nodes[: len(meta)]
    pos = len(meta)
    df = Dockerfile(filename, text, result, [], meta, meta_nodes, target)
    for index, stage in enumerate(stages):
        info = StageInfo(index, stage, nodes[pos])
        pos += 1
        info.parent = df.stage_ref(stage.base, index)
        state = info.parent.end_state.copy() if info.parent else State()
        for inst in stage.instructions:
            step = Step(inst, nodes[pos], state.copy())
            pos += 1
            if isinstance(inst, Run):
                script_text, _ = run_script(inst)
                step.script = split_script(script_text, state.workdir)
            _advance(state, inst, result.escape_token)
            info.steps.append(step)
        info.end_state = state
        df.stages.append(info)
    return df
