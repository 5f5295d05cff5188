"""Clients no one here wrote against dockyardd: Debian's ``docker-compose`` (1.29, on
docker-py) brings a two-service project up, the client resolves the server by name, ``ps``,
``logs``, ``exec``, ``--scale`` and ``down`` work; Testcontainers-python runs a container
from a local image and reads its logs (its reaper, an image from Docker Hub, is off).

Each test runs its own daemon in private namespaces (``daemon_kit``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import Daemonized, dyd
from kube_kit import wait_until

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]

PROJECT = """\
version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo from-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
  client:
    image: busybox:latest
    depends_on: [web]
    command: ["sh", "-c", "until wget -qO- http://web:8080/; do sleep 0.2; done; exec sleep 100000"]
"""  # noqa: E501


def _compose(
    d: Daemonized, project: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"unix://{d.run_root / 'dockyard.sock'}",
           "COMPOSE_INTERACTIVE_NO_CLI": "1"}  # fmt: skip
    return subprocess.run(["docker-compose", "-p", "pair", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)  # fmt: skip


def test_docker_compose_v1_against_dockyardd(dyd: Daemonized, tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (make setup installs it)")
    dyd.out("ps")
    project = tmp_path / "pair"
    project.mkdir()
    (project / "docker-compose.yml").write_text(PROJECT)
    try:
        up = _compose(dyd, project, "up", "-d")
        assert up.returncode == 0, up.stderr
        ps = _compose(dyd, project, "ps")
        assert "pair_web_1" in ps.stdout and "pair_client_1" in ps.stdout, ps.stdout
        assert ps.stdout.count("pair_web_1") == 1, ps.stdout

        def logged() -> bool:
            return "from-web" in _compose(dyd, project, "logs", "client").stdout

        wait_until(logged, 30, "the client's call by name in its log")
        ex = _compose(dyd, project, "exec", "-T", "client", "wget", "-qO-", "http://web:8080/")
        assert (ex.returncode, ex.stdout) == (0, "from-web\n"), ex.stderr
        scaled = _compose(dyd, project, "up", "-d", "--scale", "web=2")
        assert scaled.returncode == 0, scaled.stderr
        assert "pair_web_2" in _compose(dyd, project, "ps").stdout
    finally:
        down = _compose(dyd, project, "down")
    assert down.returncode == 0, down.stderr
    assert dyd.out("ps", "-aq") == ""
    assert "pair_default" not in dyd.out("network", "ls")


def test_testcontainers_runs_a_local_image(
    dyd: Daemonized, monkeypatch: pytest.MonkeyPatch
) -> None:
    tc = pytest.importorskip("testcontainers.core.container")
    dyd.out("ps")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{dyd.run_root / 'dockyard.sock'}")
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper is a Hub image
    container: Any = tc.DockerContainer("busybox:latest").with_command(
        ["sh", "-c", "echo ready-from-testcontainers; exec sleep 100000"]
    )
    with container:
        wait_until(lambda: b"ready-from-testcontainers" in container.get_logs()[0], 30, "logs")
        code, out = container.exec(["echo", "inside"])
        assert (code, out) == (0, b"inside\n")
    assert dyd.out("ps", "-q") == ""
