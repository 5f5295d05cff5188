"""The build plan: which stages the target needs, in which order.

A pure function of the parsed Dockerfile and the options (no disk, no kernel):

1. the meta args (ARGs before the first FROM) get their values — build args
   over defaults, each default expanded with the meta args before it;
2. each stage's FROM is expanded with them: a base that names an earlier
   stage makes that stage a dependency, anything else is an image (or
   ``scratch``);
3. each stage's ``COPY --from`` and ``RUN --mount=from=`` are expanded with
   the stage's ARG/ENV values as they stand at that line and resolved to a
   stage (by name, or by index) — otherwise they name an image;
4. from the target (``--target`` or the last stage) the dependencies are
   walked depth first: only those stages are built, dependencies first.  A
   broken stage that the target does not need is never looked at again.

Errors (InvalidArgument, ``Dockerfile:LINE: ...``): an unknown ``--target``,
a ``--from`` index that is not an earlier stage, a stage used as its own
dependency, a duplicate stage name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.build.args import ArgScope
from dockyard.build.parser.expand import expand_instruction
from dockyard.build.parser.instructions import Arg, Copy, Env, From, Run, Stage
from dockyard.build.parser.shell import ShellLex
from dockyard.errors import InvalidArgument

__all__ = ["Plan", "StagePlan", "find_stage", "meta_arg_values", "plan_build"]


@dataclass
class StagePlan:
    """One stage to build: its index, expanded base and what it needs."""

    index: int
    name: str
    base: str  # expanded FROM argument
    base_stage: int | None  # the stage it builds on, if any
    deps: list[int] = field(default_factory=list)  # stages read by COPY --from / mounts
    platform: str = ""


@dataclass
class Plan:
    """The stages to build, dependencies first; the last one is the target."""

    stages: list[StagePlan]
    meta: dict[str, str]
    target: int

    @property
    def order(self) -> list[int]:
        return [s.index for s in self.stages]


def meta_arg_values(
    meta_args: list[Arg],
    build_args: Mapping[str, str],
    automatic: Mapping[str, str],
    escape: str = "\\",
    filename: str = "Dockerfile",
) -> dict[str, str]:
    """The values of the meta args; the automatic platform args are always there."""
    values = dict(automatic)
    for inst in meta_args:
        expanded = expand_instruction(inst, values, escape, filename)
        for pair in expanded.args:
            if pair.key in build_args:
                values[pair.key] = build_args[pair.key]
            elif pair.value is not None:
                values[pair.key] = pair.value
    return values


def find_stage(stages: list[Stage], ref: str, current: int | None = None) -> int | None:
    """The index of the stage ``ref`` names (name, case-insensitive, or index), or None."""
    lowered = ref.lower()
    for i, st in enumerate(stages):
        if st.name and st.name == lowered and (current is None or i != current):
            return i
    if ref.isdigit():
        idx = int(ref)
        if current is not None and idx >= current:
            raise InvalidArgument(
                f"invalid from flag value {ref}: refers to current or later build stage"
            )
        if idx < len(stages):
            return idx
    return None


def _stage_refs(
    stages: list[Stage], index: int, meta: Mapping[str, str], build_args: Mapping[str, str],
    escape: str, filename: str,
) -> list[int]:  # fmt: skip
    """Stages that ``COPY --from`` / ``RUN --mount from=`` of stage ``index`` read."""
    scope = ArgScope(build_args, meta)
    env: dict[str, str] = {}
    lex = ShellLex(escape)
    deps: list[int] = []
    for inst in stages[index].instructions:
        refs: list[str] = []
        if isinstance(inst, Arg):
            for pair in expand_instruction(inst, scope.expansion_env(env), escape, filename).args:
                scope.declare(pair.key, pair.value)
        elif isinstance(inst, Env):
            for p in expand_instruction(inst, scope.expansion_env(env), escape, filename).pairs:
                env[p.key] = p.value
        elif isinstance(inst, Copy) and inst.from_:
            refs.append(lex.process_word(inst.from_, scope.expansion_env(env)))
        elif isinstance(inst, Run):
            refs += [lex.process_word(m.from_, scope.expansion_env(env))
                     for m in inst.mounts if m.from_]  # fmt: skip
        for ref in refs:
            try:
                found = find_stage(stages, ref, index)
            except InvalidArgument as exc:
                raise InvalidArgument(f"{filename}:{inst.start_line}: {exc}") from None
            if found is not None and found not in deps:
                deps.append(found)
    return deps


def plan_build(
    stages: list[Stage],
    meta_args: list[Arg],
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    automatic: Mapping[str, str] | None = None,
    escape: str = "\\",
    filename: str = "Dockerfile",
) -> Plan:
    """Plan the build of ``target`` (default: the last stage)."""
    build_args = dict(build_args or {})
    meta = meta_arg_values(meta_args, build_args, automatic or {}, escape, filename)
    if not stages:
        raise InvalidArgument(f"{filename}: the Dockerfile has no FROM instruction")
    _check_names(stages, filename)
    target_index = len(stages) - 1
    if target:
        found = next((i for i, s in enumerate(stages) if s.name == target.lower()), None)
        if found is None:
            raise InvalidArgument(f"target stage {target!r} could not be found")
        target_index = found
    plans: dict[int, StagePlan] = {}
    order: list[int] = []
    visiting: set[int] = set()

    def visit(i: int) -> None:
        if i in plans:
            return
        if i in visiting:
            line = stages[i].from_.start_line
            raise InvalidArgument(
                f"{filename}:{line}: circular dependency detected on stage: {stages[i].name or i}"
            )
        visiting.add(i)
        plan = _stage_plan(stages, i, meta, build_args, escape, filename)
        for dep in ([plan.base_stage] if plan.base_stage is not None else []) + plan.deps:
            visit(dep)
        visiting.discard(i)
        plans[i] = plan
        order.append(i)

    visit(target_index)
    return Plan([plans[i] for i in order], meta, target_index)


def _stage_plan(
    stages: list[Stage], i: int, meta: Mapping[str, str], build_args: Mapping[str, str],
    escape: str, filename: str,
) -> StagePlan:  # fmt: skip
    frm: From = expand_instruction(stages[i].from_, meta, escape, filename)
    if not frm.base:
        raise InvalidArgument(f"{filename}:{frm.start_line}: base name ({stages[i].base}) "
                              "should not be blank")  # fmt: skip
    base_stage = None
    for j in range(i):
        if stages[j].name and stages[j].name == frm.base.lower():
            base_stage = j
    deps = _stage_refs(stages, i, meta, build_args, escape, filename)
    return StagePlan(i, stages[i].name, frm.base, base_stage, deps, frm.platform)


def _check_names(stages: list[Stage], filename: str) -> None:
    seen: dict[str, int] = {}
    for st in stages:
        if st.name and st.name in seen:
            raise InvalidArgument(
                f"{filename}:{st.from_.start_line}: duplicate stage name {st.name!r}"
            )
        if st.name:
            seen[st.name] = st.from_.start_line
