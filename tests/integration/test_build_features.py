"""``COPY --parents`` and ``RUN --mount=type=ssh`` in real builds."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import IMAGE_CACHE, Dockyard

pytestmark = pytest.mark.root

PARENTS = """\
FROM busybox AS files
COPY --parents ./x/a.txt y/a.txt /parents/
COPY --parents ./x/./y/*.txt /pivot/
COPY --parents packages/*/package.json /app/
FROM busybox
COPY --from=files --parents /app/./packages/p2 /from/
RUN find /from | sort > /from.list
"""


def _context(tmp_path: Path, dockerfile: str, files: tuple[str, ...] = ()) -> Path:
    ctx = tmp_path / "ctx"
    for rel in files:
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{rel}\n")
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(dockerfile)
    return ctx


def test_copy_parents_keeps_the_directories_below_the_pivot(dy_fresh: Dockyard,
                                                            tmp_path: Path) -> None:  # fmt: skip
    dy_fresh.ensure("busybox:latest")
    files = ("x/a.txt", "y/a.txt", "x/y/b.txt", "x/y/c.md", "packages/p1/package.json",
             "packages/p2/package.json", "packages/p2/index.js")  # fmt: skip
    ctx = _context(tmp_path, PARENTS, files)
    proc = dy_fresh.run("build", "--target", "files", "-t", "files:1", str(ctx), timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = dy_fresh.run("run", "--rm", "files:1", "sh", "-c",
                       "find /parents /pivot /app -type f | sort", check=True).stdout  # fmt: skip
    assert out.split() == [
        "/app/packages/p1/package.json", "/app/packages/p2/package.json",
        "/parents/x/a.txt", "/parents/y/a.txt", "/pivot/y/b.txt",
    ]  # fmt: skip
    cat = dy_fresh.run("run", "--rm", "files:1", "cat", "/parents/x/a.txt", check=True).stdout
    assert cat == "x/a.txt\n"
    proc = dy_fresh.run("build", "-t", "from:1", str(ctx), timeout=300)
    assert proc.returncode == 0, proc.stderr
    listing = dy_fresh.run("run", "--rm", "from:1", "cat", "/from.list", check=True).stdout
    assert listing.split() == ["/from", "/from/packages", "/from/packages/p2",
                               "/from/packages/p2/package.json"]  # fmt: skip
    # an edit of a copied file misses the cache; one of an unrelated file does not
    (ctx / "x" / "y" / "c.md").write_text("changed\n")
    proc = dy_fresh.run("build", "--target", "files", "-t", "files:1", str(ctx), timeout=300)
    assert proc.returncode == 0 and "DONE" not in proc.stderr, proc.stderr
    (ctx / "x" / "y" / "b.txt").write_text("changed\n")
    proc = dy_fresh.run("build", "--target", "files", "-t", "files:1", str(ctx), timeout=300)
    assert proc.stderr.count("CACHED") == 1 and proc.stderr.count("DONE") == 2, proc.stderr


@contextlib.contextmanager
def _fake_agent(path: Path) -> Iterator[list[bytes]]:
    """A socket that answers ``pong:<what it got>`` (a stand-in for ssh-agent)."""
    seen: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                with conn:
                    data = conn.recv(100)
                    seen.append(data)
                    conn.sendall(b"pong:" + data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(5)


def _builder(dy: Dockyard) -> object:
    from dockyard.build import Builder
    from dockyard.store.images import ImageStore

    return Builder(ImageStore(dy.root), dy.run_root)


def test_ssh_mount_socket_env_and_required(dy_fresh: Dockyard, tmp_path: Path) -> None:
    from dockyard.build import Builder, BuildOptions
    from dockyard.errors import NotFound

    dy_fresh.ensure("busybox:latest")
    ctx = _context(tmp_path, """\
FROM busybox
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && stat -c '%a %u %g %n' "$SSH_AUTH_SOCK" > /one
RUN --mount=type=ssh,id=other,uid=1000,mode=0660 --mount=type=ssh,id=nothing \\
    stat -c '%a %u %g %n' /run/buildkit/ssh_agent.0 > /two && echo "$SSH_AUTH_SOCK" >> /two \\
    && test ! -e /run/buildkit/ssh_agent.1
""")  # fmt: skip
    builder = _builder(dy_fresh)
    assert isinstance(builder, Builder)
    with _fake_agent(tmp_path / "agent.sock"):
        agents = {"default": tmp_path / "agent.sock", "other": tmp_path / "agent.sock"}
        result = builder.build(BuildOptions(context=ctx, tags=("ssh:1",), ssh=agents))
    one = dy_fresh.run("run", "--rm", str(result.image.id), "cat", "/one", check=True).stdout
    assert one == "600 0 0 /run/buildkit/ssh_agent.0\n"
    two = dy_fresh.run("run", "--rm", "ssh:1", "cat", "/two", check=True).stdout
    assert two == "660 1000 0 /run/buildkit/ssh_agent.0\n/run/buildkit/ssh_agent.0\n"
    # no socket and no mount point is left in the layers
    out = dy_fresh.run("run", "--rm", "ssh:1", "ls", "-a", "/run", check=True).stdout
    assert "buildkit" not in out
    ctx2 = _context(tmp_path / "r", "FROM busybox\nRUN --mount=type=ssh,required=true true\n")
    with pytest.raises(NotFound, match="ssh agent 'default' is required but was not given"):
        builder.build(BuildOptions(context=ctx2))


def test_ssh_agent_answers_inside_the_container(dy_fresh: Dockyard, tmp_path: Path) -> None:
    from dockyard.build import Builder, BuildOptions

    if not (IMAGE_CACHE / "python_3.11-slim.tar").is_file():
        pytest.skip(f"python:3.11-slim is not cached in {IMAGE_CACHE}")
    dy_fresh.ensure("python:3.11-slim")
    client = ("import os, socket; s = socket.socket(socket.AF_UNIX); "
              "s.connect(os.environ['SSH_AUTH_SOCK']); s.sendall(b'ping'); "
              "print(s.recv(100).decode())")  # fmt: skip
    ctx = _context(tmp_path, f'FROM python:3.11-slim\nRUN --mount=type=ssh python -c "{client}" '
                             "> /answer\n")  # fmt: skip
    builder = _builder(dy_fresh)
    assert isinstance(builder, Builder)
    with _fake_agent(tmp_path / "agent.sock") as seen:
        builder.build(BuildOptions(context=ctx, tags=("agent:1",),
                                   ssh={"default": tmp_path / "agent.sock"}))  # fmt: skip
    assert seen == [b"ping"]
    out = dy_fresh.run("run", "--rm", "agent:1", "cat", "/answer", check=True).stdout
    assert out == "pong:ping\n"


def test_build_cli_ssh_flag(dy_fresh: Dockyard, tmp_path: Path) -> None:
    """``dockyard build --ssh default=SOCKET`` gives RUN --mount=type=ssh that agent; a
    required agent that is not given is one line and a non-zero exit."""
    dy_fresh.ensure("busybox:latest")
    ctx = _context(tmp_path / "c", 'FROM busybox\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK"\n')
    with _fake_agent(tmp_path / "agent.sock"):
        proc = dy_fresh.run("build", "--ssh", f"default={tmp_path / 'agent.sock'}", "-t",
                            "sshcli:1", str(ctx), timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    ctx2 = _context(tmp_path / "r", "FROM busybox\nRUN --mount=type=ssh,required=true true\n")
    proc = dy_fresh.run("build", str(ctx2), timeout=300)
    assert proc.returncode != 0 and "ssh agent 'default' is required" in proc.stderr
    assert "Traceback" not in proc.stderr
