"""Compose networking and ``depends_on`` conditions on real containers.

Services resolve each other by name on the project's networks (``<project>_default``, and
the ``networks:`` a file declares), a scaled service answers by name with every replica,
``compose down`` removes the networks; ``compose up`` starts a dependent only after
``service_healthy`` is met and fails with one line when a dependency fails.

Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

SERVE = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 8080 -h /www"


def _start(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)


def _project(tmp_path: Path, text: str) -> str:
    proj = tmp_path / "proj"
    proj.mkdir(exist_ok=True)
    (proj / "compose.yaml").write_text(text)
    return str(proj / "compose.yaml")


def _pod(kube: KubeDaemon, service: str, count: int = 1) -> list[str]:
    def ready() -> list[str]:
        pods = kube.ready_pods(f"dockyard.io/compose-service={service}")
        return pods if len(pods) == count else []

    pods: list[str] = wait_until(ready, 60, f"{count} ready {service} pod(s)")
    return pods


def _wget(kube: KubeDaemon, pod: str, url: str) -> str:
    # (no -T: Debian's busybox 1.35 wget crashes with it)
    r = kube.run("exec", pod, "--", "wget", "-qO-", url)
    return (r.stdout + r.stderr).strip()


def _has_network(kube: KubeDaemon, name: str) -> bool:
    return kube.run("network", "inspect", name).returncode == 0


def _down(kube: KubeDaemon, compose: str) -> None:
    down = kube.run("compose", "-f", compose, "down", timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr


TWO = f"""\
name: pair
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "{SERVE.format(text="from-web")}"]
    stop_grace_period: 1s
  client:
    image: busybox:latest
    command: ["sh", "-c", "{SERVE.format(text="from-client")}"]
    stop_grace_period: 1s
    depends_on: [web]
"""


def test_two_services_call_each_other_by_name(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    compose = _project(tmp_path, TWO)
    try:
        up = kube.run("compose", "-f", compose, "up", "-d", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "network pair_default created" in up.stdout, up.stdout
        assert _has_network(kube, "pair_default")
        web, client = _pod(kube, "web")[0], _pod(kube, "client")[0]
        assert _wget(kube, client, "http://web:8080/") == "from-web"
        assert _wget(kube, web, "http://client:8080/") == "from-client"
        # the engine's DNS on the network's gateway answers, as for `network create`
        resolv = kube.out("exec", web, "--", "cat", "/etc/resolv.conf")
        gateway = json.loads(kube.out("network", "inspect", "pair_default"))[0]["IPAM"]
        assert gateway["Config"][0]["Gateway"] in resolv, resolv
    finally:
        _down(kube, compose)
    assert not _has_network(kube, "pair_default")


NETS = f"""\
name: nets
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "{SERVE.format(text="web-$$HOSTNAME")}"]
    stop_grace_period: 1s
    networks:
      appnet:
        aliases: [www]
    deploy:
      replicas: 2
  client:
    image: busybox:latest
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    networks: [appnet]
  outsider:
    image: busybox:latest
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
networks:
  appnet:
    labels: {{tier: app}}
"""


def test_an_explicit_network_aliases_and_a_scaled_service(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    compose = _project(tmp_path, NETS)
    try:
        up = kube.run("compose", "-f", compose, "up", "-d", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        assert _has_network(kube, "nets_appnet") and _has_network(kube, "nets_default")
        info = json.loads(kube.out("network", "inspect", "nets_appnet"))[0]
        assert info["Labels"]["tier"] == "app"
        webs = _pod(kube, "web", 2)
        client = _pod(kube, "client")[0]
        outsider = _pod(kube, "outsider")[0]
        ips = {p["status"]["podIP"] for p in kube.pods("dockyard.io/compose-service=web")}
        assert len(ips) == 2, ips
        # every replica answers to the service name and to the alias
        for name in ("web", "www"):
            out = kube.run("exec", client, "--", "nslookup", f"{name}.").stdout
            assert all(ip in out for ip in ips), out
        assert _wget(kube, client, "http://www:8080/") in {f"web-{p}" for p in webs}
        # a service on another network cannot resolve it
        out = _wget(kube, outsider, "http://web:8080/")
        assert "bad address" in out, out
    finally:
        _down(kube, compose)
    assert not _has_network(kube, "nets_appnet") and not _has_network(kube, "nets_default")


# the server starts after a delay; its health check records (in what it serves) the host's
# uptime at its first success, the client logs the uptime when it starts
HEALTHY = """\
name: order
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo up > /www/up && sleep 3 && exec httpd -f -p 8080 -h /www"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD-SHELL", 'wget -q --spider http://127.0.0.1:8080/up && { test -e /www/first || cut -d" " -f1 /proc/uptime > /www/first; }']
      interval: 1s
  client:
    image: busybox:latest
    command: ["sh", "-c", 'echo started $$(cut -d" " -f1 /proc/uptime); echo healthy $$(wget -qO- http://web:8080/first); exec sleep 1000000']
    stop_grace_period: 1s
    depends_on:
      web: {condition: service_healthy}
"""  # noqa: E501


def test_service_healthy_is_honoured(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    compose = _project(tmp_path, HEALTHY)
    try:
        up = kube.run("compose", "-f", compose, "up", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        lines = up.stdout.splitlines()
        web_at = next(i for i, x in enumerate(lines) if "deployment.apps/web" in x)
        client_at = next(i for i, x in enumerate(lines) if "deployment.apps/client" in x)
        assert web_at < client_at, up.stdout

        def logged() -> dict[str, float]:
            out = kube.run("compose", "-f", compose, "logs", "client").stdout
            got = {}
            for line in out.splitlines():
                words = line.split("|", 1)[-1].split()
                if len(words) == 2 and words[0] in ("started", "healthy"):
                    got[words[0]] = float(words[1])
            return got if len(got) == 2 else {}

        times = wait_until(logged, 30, "the client's log")
        assert times["healthy"] <= times["started"], times
    finally:
        _down(kube, compose)


FAILING = """\
name: broken
services:
  web:
    image: busybox:latest
    command: ["sh", "-c", "exit 3"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  client:
    image: busybox:latest
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    depends_on:
      web: {condition: service_healthy}
"""


def test_a_failing_dependency_is_one_line_error(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    compose = _project(tmp_path, FAILING)
    try:
        up = kube.run("compose", "-f", compose, "up", "-d", timeout=120)
        assert up.returncode != 0, up.stdout
        err = up.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "dependency failed to start: service web exited (3)" in err, err
        assert kube.run("get", "deploy", "client").returncode != 0  # never applied
    finally:
        _down(kube, compose)


RESTART = """\
name: again
services:
  db:
    image: busybox:latest
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    environment: {VERSION: "{version}"}
  app:
    image: busybox:latest
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    depends_on:
      db: {condition: service_started, restart: true}
"""


def test_scale_and_restart_true(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    compose = _project(tmp_path, RESTART.replace("{version}", "1"))
    try:
        up = kube.run("compose", "-f", compose, "up", "-d", "--scale", "db=2", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        _pod(kube, "db", 2)
        first = _pod(kube, "app")
        # nothing changed: the dependent stays as it is
        up = kube.run("compose", "-f", compose, "up", "-d", "--scale", "db=2", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        assert kube.ready_pods("dockyard.io/compose-service=app") == first
        template = kube.get("deploy", "app")["spec"]["template"]["metadata"]
        assert "dockyard.io/compose-restarted-at" not in template["annotations"], template
        # the dependency changed: the dependent with restart: true is replaced
        _project(tmp_path, RESTART.replace("{version}", "2"))
        up = kube.run("compose", "-f", compose, "up", "-d", "--scale", "db=2", timeout=120)
        assert up.returncode == 0, up.stdout + up.stderr
        template = kube.get("deploy", "app")["spec"]["template"]["metadata"]
        assert "dockyard.io/compose-restarted-at" in template["annotations"], template

        def replaced() -> bool:
            pods = kube.ready_pods("dockyard.io/compose-service=app")
            return len(pods) == 1 and pods != first

        wait_until(replaced, 60, "a new app pod")
        bad = kube.run("compose", "-f", compose, "up", "-d", "--scale", "nope=2")
        assert bad.returncode != 0 and "no such service: nope" in bad.stderr, bad.stderr
    finally:
        _down(kube, compose)


ONE_SHOT = """\
name: oneshot
services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "echo migrated; exit {code}"]
  app:
    image: busybox:latest
    command: ["sleep", "1000000"]
    stop_grace_period: 1s
    depends_on:
      migrate: {condition: service_completed_successfully}
"""


@pytest.mark.parametrize("code", [0, 2])
def test_service_completed_successfully(kube: KubeDaemon, tmp_path: Path, code: int) -> None:
    _start(kube)
    compose = _project(tmp_path, ONE_SHOT.replace("{code}", str(code)))
    try:
        up = kube.run("compose", "-f", compose, "up", "-d", timeout=120)
        (migrate,) = kube.pods("dockyard.io/compose-service=migrate")
        if code == 0:
            assert up.returncode == 0, up.stdout + up.stderr
            assert migrate["status"]["phase"] == "Succeeded", migrate["status"]
            _pod(kube, "app")
        else:
            assert up.returncode != 0, up.stdout
            err = up.stderr.strip()
            assert len(err.splitlines()) == 1 and "Traceback" not in err, err
            assert "service migrate didn't complete successfully: exit 2" in err, err
            assert migrate["status"]["phase"] == "Failed", migrate["status"]
            assert kube.run("get", "deploy", "app").returncode != 0
    finally:
        _down(kube, compose)
    assert not kube.pods() and not _has_network(kube, "oneshot_default")
