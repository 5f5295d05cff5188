"""Typed instructions: shapes, flags, stage splitting, errors with lines."""

from __future__ import annotations

import pytest

from dockyard.build.parser import instructions_from_ast, parse_dockerfile
from dockyard.build.parser.expand import expand_instruction
from dockyard.build.parser.instructions import (
    Add,
    Arg,
    ArgPair,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Mount,
    Onbuild,
    Run,
    Shell,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from dockyard.errors import InvalidArgument


def stages(text: str) -> tuple[list[Stage], list[Arg]]:
    return instructions_from_ast(parse_dockerfile(text))


def one(line: str) -> Instruction:
    st, _ = stages("FROM scratch\n" + line + "\n")
    return st[0].instructions[0]


def test_stage_splitting_and_meta_args() -> None:
    text = (
        "ARG BASE=alpine\nARG V\nFROM --platform=$BUILDPLATFORM $BASE:$V AS Build\n"
        "RUN make\nFROM scratch\nCOPY --from=build /out /\n"
    )
    st, meta = stages(text)
    assert [a.args for a in meta] == [[ArgPair("BASE", "alpine")], [ArgPair("V", None)]]
    assert [(s.name, s.base, s.platform) for s in st] == [
        ("build", "$BASE:$V", "$BUILDPLATFORM"),
        ("", "scratch", ""),
    ]
    assert isinstance(st[0].from_, From)
    assert (st[0].from_.start_line, st[1].instructions[0].start_line) == (3, 6)


def test_run_forms_and_flags() -> None:
    run = one("RUN --mount=type=cache,target=/root/.cache --network=none echo  hi")
    assert isinstance(run, Run)
    assert run.cmd_line == ["echo  hi"] and run.prepend_shell
    assert run.mounts == [
        Mount(type="cache", target="/root/.cache", id="/root/.cache", sharing="shared")
    ]
    assert run.network == "none" and run.flags_used == ["mount", "network"]
    exec_form = one('RUN ["a", "b c"]')
    assert isinstance(exec_form, Run) and exec_form.cmd_line == ["a", "b c"]
    assert not exec_form.prepend_shell


def test_run_mount_kinds() -> None:
    run = one(
        "RUN --mount=type=secret,id=npm --mount=type=ssh "
        "--mount=target=/src,rw --mount=type=bind,from=build,source=/o,target=/i x"
    )
    assert isinstance(run, Run)
    secret, ssh, bind_rw, bind = run.mounts
    assert (secret.target, secret.mode) == ("/run/secrets/npm", 0o400)
    assert (ssh.id, ssh.mode) == ("default", 0o600)
    assert (bind_rw.type, bind_rw.readonly) == ("bind", False)
    assert (bind.from_, bind.source, bind.readonly) == ("build", "/o", True)


def test_run_heredoc_files() -> None:
    st, _ = stages("FROM a\nRUN <<EOF\necho hi\nEOF\n")
    run = st[0].instructions[0]
    assert isinstance(run, Run)
    assert [(f.name, f.content) for f in run.files] == [("EOF", "echo hi\n")]
    assert (run.start_line, run.end_line) == (2, 4)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("ENV a=b c=d", [KeyValue("a", "b"), KeyValue("c", "d")]),
        ("ENV a b c", [KeyValue("a", "b c", no_delim=True)]),
        ('ENV a="x y"', [KeyValue("a", '"x y"')]),
    ],
)
def test_env(line: str, expected: list[KeyValue]) -> None:
    env = one(line)
    assert isinstance(env, Env) and env.pairs == expected


def test_simple_instructions() -> None:
    assert one('CMD ["a"]') == Cmd(
        name="cmd",
        original='CMD ["a"]',
        start_line=2,
        end_line=2,
        cmd_line=["a"],
        prepend_shell=False,
    )
    entry = one("ENTRYPOINT run me")
    assert isinstance(entry, Entrypoint) and entry.cmd_line == ["run me"]
    label = one('LABEL "a b"=c')
    assert isinstance(label, Label) and label.pairs == [KeyValue('"a b"', "c")]
    expose = one("EXPOSE 8080 443/tcp 80")
    assert isinstance(expose, Expose) and expose.ports == ["443/tcp", "80", "8080"]
    assert isinstance(one("WORKDIR /app"), Workdir)
    assert isinstance(one("USER app:app"), User)
    assert isinstance(one("STOPSIGNAL SIGTERM"), StopSignal)
    volume = one('VOLUME ["/a", "/b"]')
    assert isinstance(volume, Volume) and volume.volumes == ["/a", "/b"]
    shell = one('SHELL ["/bin/bash", "-c"]')
    assert isinstance(shell, Shell) and shell.shell == ["/bin/bash", "-c"]
    onbuild = one("ONBUILD  RUN make")
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "RUN make"
    maintainer = one("MAINTAINER Jane <j@x>")
    assert isinstance(maintainer, Maintainer) and maintainer.maintainer == "Jane <j@x>"


def test_copy_and_add_flags() -> None:
    copy = one(
        "COPY --from=build --chown=1:1 --chmod=755 --link --exclude=*.md --exclude=x "
        "--parents a b /dst/"
    )
    assert isinstance(copy, Copy)
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents) == (
        "build",
        "1:1",
        "755",
        True,
        True,
    )
    assert copy.excludes == ["*.md", "x"] and copy.sources == ["a", "b"] and copy.dest == "/dst/"
    add = one("ADD --keep-git-dir=false --checksum=sha256:abc --unpack=true x /y")
    assert isinstance(add, Add)
    assert (add.keep_git_dir, add.checksum, add.unpack) == (False, "sha256:abc", True)
    st, _ = stages("FROM a\nCOPY <<-one <<two /d\n\tx\none\ny\ntwo\n")
    heredoc = st[0].instructions[0]
    assert isinstance(heredoc, Copy) and heredoc.sources == []
    assert [(c.path, c.data) for c in heredoc.contents] == [("one", "x\n"), ("two", "y\n")]


def test_healthcheck() -> None:
    hc = one("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f x")
    assert isinstance(hc, Healthcheck)
    assert hc.test == ["CMD-SHELL", "curl -f x"]
    assert (hc.interval, hc.timeout, hc.retries) == (90_000_000_000, 500_000_000, 3)
    exec_hc = one('HEALTHCHECK CMD ["a", "b"]')
    assert isinstance(exec_hc, Healthcheck) and exec_hc.test == ["CMD", "a", "b"]
    none = one("HEALTHCHECK NONE")
    assert isinstance(none, Healthcheck) and none.test == ["NONE"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("RUNN x", "Dockerfile:2: unknown instruction: RUNN"),
        ("COPY --chwon=a x y", "Dockerfile:2: unknown flag: chwon"),
        (
            "COPY --link=maybe x y",
            "Dockerfile:2: expecting boolean value for flag link, not: maybe",
        ),
        ("COPY --from x y", "Dockerfile:2: missing a value on flag: from"),
        ("COPY --from=a --from=b x y", "Dockerfile:2: duplicate flag specified: from"),
        ("COPY x", "Dockerfile:2: COPY requires at least two arguments, but only one"),
        ("ADD x", "Dockerfile:2: ADD requires at least two arguments"),
        ("COPY x <<EOF\nhi\nEOF", "Dockerfile:2: COPY cannot accept a heredoc as a destination"),
        ("SHELL /bin/sh -c", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
        ("SHELL []", "Dockerfile:2: SHELL requires at least one argument"),
        ("WORKDIR", "Dockerfile:2: WORKDIR requires exactly one argument"),
        ("USER", "Dockerfile:2: USER requires exactly one argument"),
        ("ARG", "Dockerfile:2: ARG requires at least one argument"),
        ("EXPOSE", "Dockerfile:2: EXPOSE requires at least one argument"),
        ("ENV", "Dockerfile:2: ENV requires at least one argument"),
        ('VOLUME [""]', "Dockerfile:2: VOLUME specified can not be an empty string"),
        ("HEALTHCHECK NONE x", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Dockerfile:2: Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK BOGUS x", 'Dockerfile:2: Unknown type "BOGUS" in HEALTHCHECK'),
        ("HEALTHCHECK --interval=1us CMD x", 'Dockerfile:2: Interval "interval" cannot be less'),
        ("HEALTHCHECK --timeout=5 CMD x", "Dockerfile:2: time: missing unit in duration"),
        ("HEALTHCHECK --retries=-1 CMD x", "Dockerfile:2: --retries cannot be negative (-1)"),
        ("ONBUILD ONBUILD RUN x", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD`"),
        ("ONBUILD FROM x", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
        ("RUN --network=bridge x", "Dockerfile:2: unsupported network mode"),
        ("RUN --mount=type=nfs,target=/x x", "Dockerfile:2: unsupported mount type"),
        ("RUN --mount=type=cache x", "Dockerfile:2: mount type cache requires a target"),
        ("MAINTAINER", "Dockerfile:2: MAINTAINER requires exactly one argument"),
        ("FROM a b", "Dockerfile:2: FROM requires either one or three arguments"),
        ("FROM a AS 1x", "Dockerfile:2: invalid name for build stage: '1x'"),
    ],
)
def test_errors(line: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        stages("FROM scratch\n" + line + "\n")
    assert str(info.value).startswith(message)


def test_unknown_instruction_suggests() -> None:
    with pytest.raises(InvalidArgument) as info:
        stages("FROM a\nRUNN x\n")
    assert str(info.value) == "Dockerfile:2: unknown instruction: RUNN"
    assert info.value.__notes__ == ["did you mean RUN?"]


def test_instruction_before_from() -> None:
    with pytest.raises(InvalidArgument, match=r"^Dockerfile:1: no build stage in current context"):
        stages("RUN x\nFROM a\n")


def test_expand_instructions() -> None:
    env = {"BASE": "alpine", "V": "3.20", "DIR": "/srv", "PORTS": "80 443", "U": "app"}
    st, _ = stages(
        "FROM $BASE:${V:-latest}\nWORKDIR $DIR/app\nEXPOSE $PORTS\nUSER ${U}\n"
        'ENV X="$DIR y" $U=1\nCOPY --chown=$U ${DIR}/a '
        "'q$U'"
        " $DIR/\nARG Z=${V}\n"
    )
    assert expand_instruction(st[0].from_, env).base == "alpine:3.20"
    workdir, expose, user, env_i, copy, arg = (
        expand_instruction(i, env) for i in st[0].instructions
    )
    assert isinstance(workdir, Workdir) and workdir.path == "/srv/app"
    assert isinstance(expose, Expose) and expose.ports == ["80", "443"]
    assert isinstance(user, User) and user.user == "app"
    assert isinstance(env_i, Env) and env_i.pairs == [KeyValue("X", "/srv y"), KeyValue("app", "1")]
    assert isinstance(copy, Copy)
    assert (copy.chown, copy.sources, copy.dest) == ("app", ["/srv/a", "q$U"], "/srv/")
    assert isinstance(arg, Arg) and arg.args == [ArgPair("Z", "3.20")]


def test_expand_error_has_line() -> None:
    st, _ = stages("FROM a\nWORKDIR ${X\n")
    with pytest.raises(InvalidArgument, match=r"^Dockerfile:2: failed to process"):
        expand_instruction(st[0].instructions[0], {})
