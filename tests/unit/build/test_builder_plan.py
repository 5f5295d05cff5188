"""The build planner, build-arg scopes and the metadata instructions (pure, no kernel)."""

from __future__ import annotations

import pytest

from dockyard.build.args import ArgScope, platform_args, unused_build_args
from dockyard.build.parser import parse_dockerfile
from dockyard.build.parser.instructions import instructions_from_ast
from dockyard.build.plan import plan_build
from dockyard.build.state import ImageState, apply_metadata
from dockyard.errors import InvalidArgument


def _plan(text: str, **kw: object) -> list[str]:
    stages, meta = instructions_from_ast(parse_dockerfile(text))
    plan = plan_build(stages, meta, automatic=platform_args("linux", "amd64"), **kw)  # type: ignore[arg-type]
    return [s.name or str(s.index) for s in plan.stages]


MULTI = """\
FROM busybox AS deps
RUN echo deps
FROM busybox AS broken
RUN exit 1
FROM deps AS build
COPY --from=tools /x /x
FROM busybox AS tools
FROM busybox
COPY --from=build /x /x
"""

# (dockerfile, options, stages built in order)
PLANS = [
    ("FROM busybox\n", {}, ["0"]),
    (MULTI, {}, ["deps", "tools", "build", "4"]),
    (MULTI, {"target": "deps"}, ["deps"]),
    (MULTI, {"target": "BROKEN"}, ["broken"]),
    ("FROM busybox AS a\nFROM busybox\nCOPY --from=0 /x /x\n", {}, ["a", "1"]),
    ("ARG S=a\nFROM busybox AS a\nFROM busybox AS b\nFROM $S\n", {}, ["a", "2"]),
    ("ARG S=a\nFROM busybox AS a\nFROM busybox AS b\nFROM $S\n", {"build_args": {"S": "b"}},
     ["b", "2"]),
    ("FROM busybox AS a\nFROM busybox\nARG F=a\nCOPY --from=$F /x /x\n", {}, ["a", "1"]),
    ("FROM busybox AS a\nFROM busybox\nENV F=a\nRUN --mount=from=$F,target=/m true\n", {},
     ["a", "1"]),
    ("FROM busybox\nCOPY --from=alpine:3 /x /x\n", {}, ["0"]),  # an image, not a stage
]  # fmt: skip


@pytest.mark.parametrize(("text", "opts", "want"), PLANS)
def test_plan_builds_only_what_the_target_needs(text: str, opts: dict[str, object],
                                                want: list[str]) -> None:  # fmt: skip
    assert _plan(text, **opts) == want


@pytest.mark.parametrize(
    ("text", "opts", "message"),
    [
        ("FROM busybox\n", {"target": "nope"}, "target stage 'nope' could not be found"),
        ("FROM busybox AS a\nFROM busybox AS a\n", {}, "Dockerfile:2: duplicate stage name"),
        ("FROM busybox\nCOPY --from=3 /x /x\n", {}, "Dockerfile:2: invalid from flag value 3"),
        (
            "FROM busybox AS a\nCOPY --from=b /x /\nFROM busybox AS b\nCOPY --from=a /x /\n",
            {},
            "circular dependency",
        ),
        ("ARG B\nFROM $B\n", {}, "Dockerfile:2: base name ($B) should not be blank"),
    ],
)
def test_plan_errors(text: str, opts: dict[str, object], message: str) -> None:
    import re

    with pytest.raises(InvalidArgument, match=re.escape(message)):
        _plan(text, **opts)


def test_meta_args_and_platform_args() -> None:
    stages, meta = instructions_from_ast(parse_dockerfile("ARG A=1\nARG B=${A}2\nFROM x$B\n"))
    plan = plan_build(stages, meta, automatic=platform_args("linux", "amd64"))
    assert plan.meta["B"] == "12"
    assert plan.meta["TARGETARCH"] == "amd64"
    assert plan.stages[0].base == "x12"


# (declarations, build args, meta, expected values in the stage)
SCOPES = [
    ([("A", "1")], {}, {}, {"A": "1"}),
    ([("A", "1")], {"A": "cli"}, {}, {"A": "cli"}),
    ([("A", None)], {}, {"A": "meta"}, {"A": "meta"}),  # reuse the global default
    ([("A", None)], {}, {}, {}),  # declared, no value
    ([("A", "own")], {}, {"A": "meta"}, {"A": "own"}),
]


@pytest.mark.parametrize(("decls", "build_args", "meta", "want"), SCOPES)
def test_arg_scope(decls: list[tuple[str, str | None]], build_args: dict[str, str],
                   meta: dict[str, str], want: dict[str, str]) -> None:  # fmt: skip
    scope = ArgScope(build_args, meta)
    for name, default in decls:
        scope.declare(name, default)
    assert scope.defined() == want


def test_env_wins_over_arg_and_proxies_reach_run() -> None:
    scope = ArgScope({"HTTP_PROXY": "http://p", "X": "arg"}, {})
    scope.declare("X", None)
    assert scope.expansion_env({"X": "env"})["X"] == "env"
    assert scope.run_env(["X=env"]) == ["X=env", "HTTP_PROXY=http://p"]
    assert unused_build_args({"HTTP_PROXY": "p", "Y": "1", "X": "2"}, {"X"}) == ["Y"]


def _meta(state: ImageState, line: str) -> str | None:
    stages, _ = instructions_from_ast(parse_dockerfile("FROM scratch\n" + line))
    return apply_metadata(state, stages[0].instructions[0])


# (instruction, config key, value, history text)
METADATA = [
    ('CMD ["python", "app.py"]', "Cmd", ["python", "app.py"], 'CMD ["python" "app.py"]'),
    ("CMD echo hi", "Cmd", ["/bin/sh", "-c", "echo hi"], 'CMD ["/bin/sh" "-c" "echo hi"]'),
    ("ENTRYPOINT top -b", "Entrypoint", ["/bin/sh", "-c", "top -b"],
     'ENTRYPOINT ["/bin/sh" "-c" "top -b"]'),
    ("EXPOSE 8080 53/udp", "ExposedPorts", {"8080/tcp": {}, "53/udp": {}},
     "EXPOSE map[53/udp:{} 8080/tcp:{}]"),
    ("LABEL a=b c=d", "Labels", {"a": "b", "c": "d"}, "LABEL a=b c=d"),
    ("USER app:app", "User", "app:app", "USER app:app"),
    ("WORKDIR app", "WorkingDir", "/srv/app", "WORKDIR /srv/app"),
    ("VOLUME /data", "Volumes", {"/data": {}}, "VOLUME [/data]"),
    ("STOPSIGNAL SIGINT", "StopSignal", "SIGINT", "STOPSIGNAL SIGINT"),
    ('SHELL ["/bin/bash", "-c"]', "Shell", ["/bin/bash", "-c"], 'SHELL ["/bin/bash" "-c"]'),
    ("ONBUILD RUN make", "OnBuild", ["RUN make"], "ONBUILD RUN make"),
    ("HEALTHCHECK --interval=5s CMD true", "Healthcheck",
     {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000},
     'HEALTHCHECK ["CMD-SHELL" "true"]'),
]  # fmt: skip


@pytest.mark.parametrize(("line", "key", "value", "history"), METADATA)
def test_metadata_instructions(line: str, key: str, value: object, history: str) -> None:
    state = ImageState.scratch("amd64", "linux", "k")
    state.config["WorkingDir"] = "/srv"
    assert _meta(state, line) == history
    assert state.config[key] == value


def test_entrypoint_resets_inherited_cmd_but_not_own() -> None:
    state = ImageState.scratch("amd64", "linux", "k")
    state.config["Cmd"] = ["base"]
    _meta(state, 'ENTRYPOINT ["e"]')
    assert state.config["Cmd"] is None
    _meta(state, 'CMD ["c"]')
    _meta(state, 'ENTRYPOINT ["f"]')
    assert state.config["Cmd"] == ["c"]


def test_env_replaces_in_place_and_config_document() -> None:
    state = ImageState.scratch("amd64", "linux", "k")
    _meta(state, "ENV A=1 B=2")
    _meta(state, "ENV A=3")
    assert state.env() == {"PATH": state.env()["PATH"], "A": "3", "B": "2"}
    state.add_history("2024-01-01T00:00:00Z", "ENV A=3", empty=True)
    cfg = state.image_config("2024-01-01T00:00:00Z")
    assert cfg.config.env[-2:] == ("B=2", "A=3")
    assert cfg.history[0].empty_layer and cfg.history[0].comment == "buildkit.dockerfile.v0"
    assert cfg.digest() == state.image_config("2024-01-01T00:00:00Z").digest()
