"""Compose as users drive it (issue 16): every ``-f`` merged, ``profiles``,
``container_name``, ``restart: "no"``, unknown keys warned about, and ``compose exec``,
``run``, ``stop``/``start``, ``pull`` — against a private daemon (``kube_kit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE, registry_in
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

BASE = """\
services:
  web:
    image: busybox:latest
    container_name: web-main
    command: ["sh", "-c", "echo web-up; exec sleep 1000000"]
    stop_signal: SIGINT
    stop_grace_period: 1s
  job:
    image: busybox:latest
    restart: "no"
    command: ["sh", "-c", "echo job-done"]
  debug:
    image: busybox:latest
    profiles: [debug]
    command: ["sleep", "1000000"]
  puller:
    image: {image}
    profiles: [pull]
    command: ["sleep", "1000000"]
"""
OVERRIDE = """\
services:
  web:
    environment: [GREETING=from-override]
"""


@pytest.fixture
def registry(kube: KubeDaemon, tmp_path: Path) -> Iterator[str]:
    with registry_in(kube.holder, tmp_path) as addr:
        yield addr


def _pods(kube: KubeDaemon, service: str) -> list[dict[str, object]]:
    return [p for p in kube.pods(f"dockyard.io/compose-service={service}")
            if not p["metadata"].get("deletionTimestamp")]  # type: ignore[attr-defined]  # fmt: skip


def test_compose_habits(kube: KubeDaemon, registry: str, tmp_path: Path) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    image = f"{registry}/lib/bb:1"
    kube.run("tag", "busybox:latest", image, check=True)
    kube.run("push", image, check=True, timeout=120)
    kube.run("rmi", image, check=True)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "compose.yaml").write_text(BASE.format(image=image))
    (proj / "override.yaml").write_text(OVERRIDE)
    f = ["compose", "-f", str(proj / "compose.yaml"), "-f", str(proj / "override.yaml")]

    up = kube.run(*f, "up", "-d", timeout=120)
    assert up.returncode == 0, up.stderr
    assert "services.web.stop_signal: not supported by dockyard, ignored" in up.stderr
    wait_until(lambda: kube.ready_pods("dockyard.io/compose-service=web"), 60, "web")
    # the override was merged, container_name names the container
    assert kube.out("exec", "web-main", "sh", "-c", "echo $GREETING") == "from-override"
    # profiles: debug and puller are not started
    assert _pods(kube, "debug") == [] and _pods(kube, "puller") == []
    # restart "no": the job ran once, as a bare pod, and stays done
    wait_until(lambda: [p for p in _pods(kube, "job")
                        if p["status"]["phase"] == "Succeeded"], 60, "the job")  # type: ignore[index]  # fmt: skip
    assert len(_pods(kube, "job")) == 1
    # compose exec: the command keeps its own flags
    assert kube.out(*f, "exec", "-T", "web", "sh", "-c", "echo $GREETING") == "from-override"
    p = kube.run(*f, "exec", "nosuch", "true")
    assert p.returncode != 0 and "no such service: nosuch" in p.stderr
    # compose run: a one-off container, its output and exit status, removed with --rm
    p = kube.run(*f, "run", "--rm", "-e", "X=1", "web", "sh", "-c", "echo run-$X; exit 3",
                 timeout=120)  # fmt: skip
    assert (p.returncode, p.stdout) == (3, "run-1\n"), p.stderr
    wait_until(lambda: len(_pods(kube, "web")) == 1, 30, "the one-off pod to go")
    # stop / start
    kube.out(*f, "stop", "web")
    wait_until(lambda: kube.pods("dockyard.io/compose-service=web") == [], 60, "web to stop")
    assert kube.run("exec", "web-main", "true").returncode != 0
    kube.out(*f, "start", "web")
    wait_until(lambda: kube.ready_pods("dockyard.io/compose-service=web"), 60, "web again")
    # pull: the images of the named services (a profile's service when named)
    assert image not in kube.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    p = kube.run(*f, "pull", "puller", timeout=120)
    assert p.returncode == 0, p.stderr
    assert image in kube.out("images", "--format", "{{.Repository}}:{{.Tag}}")
    down = kube.run(*f, "down", timeout=120)
    assert down.returncode == 0, down.stderr
