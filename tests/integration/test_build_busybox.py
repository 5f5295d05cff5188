"""``dockyard build`` on busybox: multi-stage, cache behaviour, reproducibility, errors."""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path

import pytest

from conftest import Dockyard

pytestmark = pytest.mark.root

MULTI = """\
FROM busybox AS base
ARG WHO=world
ENV GREETING=hi
WORKDIR /app
COPY a.txt ./
COPY sub/ /app/sub/
RUN echo "$GREETING $WHO" > /app/out.txt
FROM busybox AS broken
RUN exit 3
FROM busybox
COPY --from=base /app /srv
RUN cat /srv/out.txt /srv/a.txt > /srv/all.txt
CMD ["cat", "/srv/all.txt"]
"""


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("hello\n")
    (root / "sub" / "x.txt").write_text("x\n")
    (root / "notes.log").write_text("ignored\n")
    (root / ".dockerignore").write_text("*.log\n")
    (root / "Dockerfile").write_text(MULTI)
    return root


def build(dy: Dockyard, ctx: Path, *args: str, env: dict[str, str] | None = None,
          ok: bool = True) -> tuple[int, str]:  # fmt: skip
    import subprocess

    proc = subprocess.run(dy.argv("build", *args, str(ctx)), capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})}, check=False)  # fmt: skip
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc.returncode, proc.stderr


def steps(log: str) -> dict[str, str]:
    """Step title -> CACHED or DONE, from the plain progress output."""
    titles = dict(re.findall(r"^#(\d+) \[[^\]]+\] (.*)$", log, re.M))
    states = dict(re.findall(r"^#(\d+) (CACHED|DONE)", log, re.M))
    return {titles[n]: s for n, s in states.items()}


def test_multistage_build_runs_and_skips_unused_broken_stage(dy_fresh: Dockyard,
                                                             ctx: Path) -> None:  # fmt: skip
    dy_fresh.ensure("busybox:latest")
    _, log = build(dy_fresh, ctx, "-t", "app:1")
    assert "exit 3" not in log
    out = dy_fresh.run("run", "--rm", "app:1", check=True).stdout
    assert out == "hi world\nhello\n"
    info = json.loads(dy_fresh.run("image", "inspect", "app:1", check=True).stdout)[0]
    assert info["Config"]["Cmd"] == ["cat", "/srv/all.txt"]


def test_target_builds_the_broken_stage_and_fails_cleanly(dy_fresh: Dockyard, ctx: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    code, log = build(dy_fresh, ctx, "--target", "broken", "-t", "bad:1", ok=False)
    assert code != 0
    assert (
        'Dockerfile:9: process "/bin/sh -c exit 3" did not complete successfully: '
        "exit code: 3" in log
    )
    assert "Traceback" not in log
    assert dy_fresh.run("image", "inspect", "bad:1").returncode != 0
    _, log = build(dy_fresh, ctx, "--target", "base", "-t", "base:1")
    assert "[stage-" not in log and "broken" not in log


def test_cache_touch_ignored_and_content_edits(dy_fresh: Dockyard, ctx: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    build(dy_fresh, ctx, "-t", "app:1")
    _, log = build(dy_fresh, ctx, "-t", "app:1")
    assert set(steps(log).values()) == {"CACHED"}
    os.utime(ctx / "a.txt", (1_700_000_000, 1_700_000_000))
    (ctx / "notes.log").write_text("changed, but ignored\n")
    _, log = build(dy_fresh, ctx, "-t", "app:1")
    assert set(steps(log).values()) == {"CACHED"}
    (ctx / "sub" / "x.txt").write_text("edited\n")
    _, log = build(dy_fresh, ctx, "-t", "app:1")
    s = steps(log)
    assert s["WORKDIR /app"] == "CACHED" and s["COPY a.txt ./"] == "CACHED"
    assert s["COPY sub/ /app/sub/"] == "DONE"
    assert s['RUN echo "$GREETING $WHO" > /app/out.txt'] == "DONE"
    _, log = build(dy_fresh, ctx, "-t", "app:1", "--build-arg", "WHO=you")
    s = steps(log)
    assert s["COPY sub/ /app/sub/"] == "CACHED"
    assert s['RUN echo "$GREETING $WHO" > /app/out.txt'] == "DONE"
    assert dy_fresh.run("run", "--rm", "app:1", check=True).stdout == "hi you\nhello\n"
    _, log = build(dy_fresh, ctx, "-t", "app:1", "--no-cache", "--build-arg", "WHO=you")
    assert "CACHED" not in log


def test_reproducible_with_source_date_epoch(tmp_path: Path, ctx: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    ids = []
    for n in range(2):
        d = Dockyard(tmp_path / f"r{n}", tmp_path / f"run{n}")
        try:
            d.ensure("busybox:latest")
            env = {"SOURCE_DATE_EPOCH": "1700000000"}
            build(d, ctx, "-t", "repro:1", "--iidfile", str(tmp_path / f"id{n}"), env=env)
            info = json.loads(d.run("image", "inspect", "repro:1", check=True).stdout)[0]
            ids.append((info["Id"], info["Metadata"]["ManifestDigest"]))
            assert info["Created"].startswith("2023-11-14T22:13:20")
        finally:
            d.close()
    assert ids[0] == ids[1]


def _layers(dy: Dockyard, ref: str) -> list[list[str]]:
    info = json.loads(dy.run("image", "inspect", ref, check=True).stdout)[0]
    digest = info["Metadata"]["ManifestDigest"].split(":")[1]
    manifest = json.loads((dy.root / "blobs" / "sha256" / digest).read_bytes())
    out = []
    for layer in manifest["layers"]:
        with tarfile.open(dy.root / "blobs" / "sha256" / layer["digest"].split(":")[1]) as tf:
            out.append(tf.getnames())
    return out


def test_layers_are_diffs_with_whiteouts(dy_fresh: Dockyard, tmp_path: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    ctx = tmp_path / "w"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nRUN true\nRUN echo a > /a && rm -rf /home && mkdir /o && echo 1 > /o/1\n"
        "RUN rm /a && rm -rf /o && mkdir /o && echo 2 > /o/2\nUSER nobody\nRUN id -u > /tmp/u\n"
    )
    build(dy_fresh, ctx, "-t", "wh:1")
    layers = _layers(dy_fresh, "wh:1")[1:]
    assert sorted(layers[0]) == [".wh.home", "a", "o", "o/1"]
    assert sorted(layers[1]) == [".wh.a", "o", "o/.wh..wh..opq", "o/2"]
    assert layers[2] == ["tmp", "tmp/u"]
    info = json.loads(dy_fresh.run("image", "inspect", "wh:1", check=True).stdout)[0]
    assert info["Config"]["User"] == "nobody"
    out = dy_fresh.run("run", "--rm", "wh:1", "cat", "/tmp/u", check=True).stdout
    assert out.strip() == "65534"


BAD = [
    ("FROM busybox\nRUNN true\n", "Dockerfile:2: unknown instruction: RUNN"),
    ("FROM busybox\nRUN <<EOF\necho hi\n", "Dockerfile:2: unterminated heredoc"),
    ('FROM busybox\nCMD ["a", 1]\n', "Dockerfile:2:"),
    ("FROM busybox\nCOPY --from=nowhere /x /x\n",
     'Dockerfile:2: --from=nowhere: no build stage or image named "nowhere"'),
    ("FROM busybox\nCOPY ../outside /x\n", "Dockerfile:2: ../outside: source path is outside"),
    ("FROM busybox\nCOPY /etc/passwd /x\n", "Dockerfile:2: /etc/passwd: source path is outside"),
    ("FROM busybox\nCOPY link /x\n", "Dockerfile:2: link: symlink link points outside"),
    ("FROM busybox\nCOPY missing.txt /x\n", 'Dockerfile:2: "/missing.txt": not found'),
    ("FROM nothere:1\n", "Dockerfile:1: base image nothere:1 is not in the store"),
    ("FROM busybox\nCOPY a b c\n", "Dockerfile:2: When using COPY with more than one source"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_dockerfiles(dy: Dockyard, tmp_path: Path, text: str, message: str) -> None:
    ctx = tmp_path / "bad"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(text)
    (ctx / "link").symlink_to("/etc/passwd")
    (ctx / "a").write_text("a")
    (ctx / "b").write_text("b")
    code, log = build(dy, ctx, "-t", "never:1", ok=False)
    assert code != 0
    assert message in log, log
    assert "Traceback" not in log
    assert dy.run("image", "inspect", "never:1").returncode != 0


def test_instructions_end_to_end(dy_fresh: Dockyard, tmp_path: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    ctx = tmp_path / "all"
    (ctx / "d").mkdir(parents=True)
    (ctx / "d" / "f.txt").write_text("f\n")
    (ctx / "d" / "skip.tmp").write_text("t\n")
    import io

    with tarfile.open(ctx / "arch.tar.gz", "w:gz") as tf:
        data = b"inside\n"
        info = tarfile.TarInfo("pkg/inside.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (ctx / "secret.txt").write_text("s3cret\n")
    (ctx / "Dockerfile").write_text("""\
ARG BASE=busybox
FROM ${BASE} AS parent
ONBUILD RUN echo triggered > /onbuild
FROM parent
MAINTAINER someone
LABEL org.example=yes
ENV A=1 B="two words"
EXPOSE 8080 53/udp
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s CMD true
SHELL ["/bin/sh", "-ec"]
WORKDIR /w
COPY --chown=bin:2 --chmod=750 --exclude=*.tmp d/ sub/
ADD arch.tar.gz /x/
COPY <<EOF /hd.txt
A is $A
EOF
RUN --mount=type=secret,id=tok cat /run/secrets/tok > /w/got
RUN --mount=type=cache,target=/cache echo c >> /cache/n && wc -l < /cache/n > /w/cache
RUN --mount=type=bind,source=d,target=/m cat /m/f.txt > /w/bound
RUN --mount=type=tmpfs,target=/t touch /t/x && test ! -e /w/t
RUN --network=none sh -c 'ip link 2>/dev/null | grep -c UP > /w/net || echo 0 > /w/net'
RUN <<EOT
echo heredoc > /w/heredoc
EOT
USER bin
ENTRYPOINT ["sh", "-c"]
CMD ["cat /w/sub/f.txt"]
""")
    sec = tmp_path / "tok"
    sec.write_text("tok-value\n")
    build(dy_fresh, ctx, "-t", "all:1", "--secret", f"id=tok,src={sec}")
    run = dy_fresh.run("run", "--rm", "all:1", check=True).stdout
    assert run == "f\n"
    script = ("cd /w && cat got bound heredoc /onbuild /hd.txt /x/pkg/inside.txt && "
              "ls sub && stat -c '%u:%g %a' sub/f.txt")  # fmt: skip
    out = dy_fresh.run("run", "--rm", "all:1", script, check=True).stdout
    assert out.splitlines() == ["tok-value", "f", "heredoc", "triggered", "A is 1", "inside",
                                "f.txt", "2:2 750"]  # fmt: skip
    info = json.loads(dy_fresh.run("image", "inspect", "all:1", check=True).stdout)[0]
    cfg = info["Config"]
    assert cfg["Labels"] == {"org.example": "yes"}
    assert "B=two words" in cfg["Env"]
    assert sorted(cfg["ExposedPorts"]) == ["53/udp", "8080/tcp"]
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert cfg["User"] == "bin" and cfg["WorkingDir"] == "/w"
    assert cfg["Shell"] == ["/bin/sh", "-ec"]
    assert info["Author"] == "someone"
    assert "OnBuild" not in cfg
    build(dy_fresh, ctx, "-t", "all:1", "--secret", f"id=tok,src={sec}")
    cache_out = dy_fresh.run("run", "--rm", "all:1", "cat /w/cache", check=True).stdout
    assert cache_out.strip() == "1"


def test_prune_forgets_the_cache(dy_fresh: Dockyard, ctx: Path) -> None:
    from dockyard.build import prune_cache
    from dockyard.store.images import ImageStore

    dy_fresh.ensure("busybox:latest")
    build(dy_fresh, ctx, "-t", "app:1")
    result = prune_cache(ImageStore(dy_fresh.root))
    assert result.records >= 5
    _, log = build(dy_fresh, ctx, "-t", "app:1")
    assert "CACHED" not in log
    from dockyard.cli.main import COMMANDS

    if "builder" in COMMANDS:
        out = dy_fresh.run("builder", "prune", "-f", check=True).stdout
        assert "Deleted build cache records" in out


def test_full_cache_hit_is_replayed_from_the_memo(
    dy_fresh: Dockyard, ctx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that would hit the cache at every step is replayed without the parser
    or the step machinery (dockyard.build.memo): same progress, same image."""
    import sys

    from dockyard.build import Builder, BuildOptions
    from dockyard.store.images import ImageStore

    dy_fresh.ensure("busybox:latest")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    _, log = build(dy_fresh, ctx, "-t", "app:1", "--iidfile", str(ctx.parent / "id1"))
    first = (ctx.parent / "id1").read_text()

    def replay() -> tuple[str, list[str]]:
        lines: list[str] = []
        builder = Builder(ImageStore(dy_fresh.root), dy_fresh.run_root, progress=lines.append)
        result = builder.build(BuildOptions(context=ctx, tags=("app:1",)))
        assert result.steps == result.cached
        return str(result.image.id), lines

    with monkeypatch.context() as m:  # the replay must not need them
        for name in ("dockyard.build.stages", "dockyard.build.parser", "dockyard.build.plan"):
            m.setitem(sys.modules, name, None)
        image_id, lines = replay()
        assert image_id == first  # byte for byte the image the full build made
        assert steps("\n".join(lines)) == {t: "CACHED" for t in steps(log)}
        os.utime(ctx / "a.txt")  # touch: the content checksum is the same, still replayed
        assert replay()[0] == first
        (ctx / "a.txt").write_text("edited\n")  # an edit: the memo no longer holds
        with pytest.raises(ImportError):
            replay()
    _, log = build(dy_fresh, ctx, "-t", "app:1")
    assert steps(log)["COPY a.txt ./"] == "DONE"


def test_a_fully_cached_rebuild_is_the_same_image(dy_fresh: Dockyard, ctx: Path) -> None:
    """docker and BuildKit give a rebuild in which every step is cached the same image id;
    a new ``created`` time at each replay once made a new image (and a dangling one) at
    every rebuild. (No SOURCE_DATE_EPOCH here: the clock moves between the builds.)"""
    dy_fresh.ensure("busybox:latest")
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    ids = []
    for i in range(3):
        build(dy_fresh, ctx, "-t", "same:1", "--iidfile", str(ctx.parent / f"id{i}"), env=env)
        ids.append((ctx.parent / f"id{i}").read_text())
    assert ids[0] == ids[1] == ids[2], ids
    assert "<none>" not in dy_fresh.run("images", check=True).stdout
