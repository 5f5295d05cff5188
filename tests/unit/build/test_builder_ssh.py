"""The ssh agent relay of ``RUN --mount=type=ssh`` and the ``--ssh`` specs."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from dockyard.build.sshagent import AgentProxy, agent_for, parse_ssh_specs
from dockyard.errors import InvalidArgument, NotFound


def test_parse_ssh_specs() -> None:
    env = {"SSH_AUTH_SOCK": "/tmp/agent.sock"}
    assert parse_ssh_specs(["default"], env) == {"default": Path("/tmp/agent.sock")}
    assert parse_ssh_specs(["git=/a.sock,/b.sock", "x"], env) == {
        "git": Path("/a.sock"), "x": Path("/tmp/agent.sock"),
    }  # fmt: skip
    with pytest.raises(InvalidArgument, match="SSH_AUTH_SOCK is not set"):
        parse_ssh_specs(["default"], {})


def test_agent_for(tmp_path: Path) -> None:
    assert agent_for({}, "default", required=False) is None
    with pytest.raises(NotFound, match="'default' is required but was not given"):
        agent_for({}, "default", required=True)
    (tmp_path / "key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(InvalidArgument, match="not a socket"):
        agent_for({"default": tmp_path / "key"}, "default", required=False)


def test_the_proxy_relays_every_connection_and_cleans_up(tmp_path: Path) -> None:
    agent = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(agent))
    server.listen(4)

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                while data := conn.recv(100):
                    conn.sendall(data.upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    uid, gid = os.getuid(), os.getgid()
    with AgentProxy(agent, uid, gid, 0o640) as path:
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
        assert (st.st_uid, st.st_gid) == (uid, gid)
        for word in (b"ping", b"again"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                c.connect(str(path))
                c.sendall(word)
                assert c.recv(100) == word.upper()
    thread.join(5)
    server.close()
    assert not path.exists() and not path.parent.exists()
