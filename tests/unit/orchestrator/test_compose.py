"""Compose translation, interpolation and the dependency graph."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.orchestrator._compose_ports import PortBinding, parse_expose, parse_ports
from dockyard.orchestrator._interpolate import (
    interpolate,
    parse_bytes,
    parse_duration,
    parse_env_file,
)
from dockyard.orchestrator.compose import NETWORKS_ANNOTATION, Dependency, load_compose
from dockyard.orchestrator.objects import ConfigMap, Deployment, Secret, Service

ENV = {"SET": "yes", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${SET}", "yes"),
        ("$SET-x", "yes-x"),
        ("${UNSET}", ""),
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${UNSET-dflt}", "dflt"),
        ("${SET:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET:-${SET}}", "yes"),
        ("$$(cat /run/secrets/x)", "$(cat /run/secrets/x)"),
        ("cost: 5$", "cost: 5$"),
    ],
)
def test_interpolation(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


@pytest.mark.parametrize(
    "text", ["${UNSET:?need it}", "${EMPTY:?need it}", "${UNSET?need it}", "${SET", "${1A}"]
)
def test_interpolation_errors(text: str) -> None:
    with pytest.raises(InvalidArgument):
        interpolate(text, ENV)


def test_env_file() -> None:
    text = "# comment\n\nA=1\nexport B = two\nC=\"x\\ny\"\nD='$lit'\nE=v # note\n"
    assert parse_env_file(text) == {"A": "1", "B": "two", "C": "x\ny", "D": "$lit", "E": "v"}
    with pytest.raises(InvalidArgument, match=r"\.env:1"):
        parse_env_file("1BAD=x")


@pytest.mark.parametrize(
    ("text", "seconds"), [("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), (5, 5)]
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text, "x") == seconds


@pytest.mark.parametrize(
    ("text", "n"),
    [("50M", 50 * 1024**2), ("1gb", 1024**3), ("512", 512), (100, 100), ("1.5k", 1536)],
)
def test_byte_sizes(text: str | int, n: int) -> None:
    assert parse_bytes(text, "x") == n


def test_ports_and_expose() -> None:
    got = parse_ports(
        [
            "80",
            "8080:80",
            "127.0.0.1:5000:5000/udp",
            "9090-9091:8080-8081",
            {"target": 443, "published": "8443"},
        ],
        "p",
    )
    assert got == (
        PortBinding(80),
        PortBinding(80, 8080),
        PortBinding(5000, 5000, "127.0.0.1", "UDP"),
        PortBinding(8080, 9090),
        PortBinding(8081, 9091),
        PortBinding(443, 8443),
    )
    assert parse_expose([3306, "33060/udp"], "e") == ((3306, "TCP"), (33060, "UDP"))
    with pytest.raises(InvalidArgument):
        parse_ports(["1:2:3:4"], "p")


COMPOSE = """\
name: shop
services:
  web:
    build:
      context: ./web
      target: dev
    entrypoint: ["/entry.sh"]
    command: serve --port ${PORT:-8000}
    ports: ["80:${PORT:-8000}"]
    environment:
      MODE: prod
      FROM_SHELL:
    env_file: web.env
    depends_on:
      db:
        condition: service_healthy
      cache:
        condition: service_started
        required: false
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.50", memory: 50M}
        reservations: {cpus: "0.25", memory: 20M}
    restart: on-failure
    networks:
      front:
        aliases: [www]
      back:
    volumes:
      - ./static:/srv/static:ro
      - data:/data
      - /scratch
    secrets: [db_password]
    configs:
      - source: app_conf
        target: /etc/app.conf
    labels:
      traefik.http.routers.web.rule: Path(`/`)
  db:
    image: postgres:16
    healthcheck:
      test: ["CMD-SHELL", "pg_isready"]
      interval: 10s
      timeout: 5s
      retries: 5
      start_period: 30s
    expose: [5432]
    networks: [back]
networks:
  front: {}
  back: {}
volumes:
  data: {}
secrets:
  db_password:
    file: secrets/pw.txt
configs:
  app_conf:
    content: "debug = false"
"""


def files(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "pw.txt").write_text("s3cret")
    (tmp_path / "web.env").write_text("MODE=dev\nFROM_FILE=1\n")
    (tmp_path / ".env").write_text("PORT=9000\n")
    return tmp_path


def test_translation(tmp_path: Path) -> None:
    project = load_compose(
        COMPOSE, "compose.yaml", project_dir=files(tmp_path), environ={"FROM_SHELL": "sh"}
    )
    assert project.name == "shop"
    assert project.start_order() == ["db", "web"]
    kinds = [(o.kind, o.metadata.name) for o in project.objects]
    assert kinds == [
        ("Secret", "db-password"),
        ("ConfigMap", "app-conf"),
        ("Deployment", "db"),
        ("Service", "db"),
        ("Deployment", "web"),
        ("Service", "web"),
    ]
    secret = project.objects[0]
    assert isinstance(secret, Secret) and base64.b64decode(secret.data["db_password"]) == b"s3cret"
    assert isinstance(project.objects[1], ConfigMap) and project.objects[1].data == {
        "app_conf": "debug = false"
    }
    web = project.objects[4]
    assert isinstance(web, Deployment)
    assert web.spec.replicas == 3
    c = web.spec.template.spec.containers[0]
    assert c.image == "shop-web"
    assert (c.command, c.args) == (("/entry.sh",), ("serve", "--port", "9000"))
    assert {e.name: e.value for e in c.env} == {
        "MODE": "prod",
        "FROM_FILE": "1",
        "FROM_SHELL": "sh",
    }
    assert [(p.container_port, p.host_port) for p in c.ports] == [(9000, 80)]
    assert {k: v.text for k, v in c.resources.limits.items()} == {"cpu": "500m", "memory": "50Mi"}
    assert {k: v.text for k, v in c.resources.requests.items()} == {"cpu": "250m", "memory": "20Mi"}
    mounts = {m.mount_path: m for m in c.volume_mounts}
    assert set(mounts) == {
        "/srv/static",
        "/data",
        "/scratch",
        "/run/secrets/db_password",
        "/etc/app.conf",
    }
    assert mounts["/srv/static"].read_only
    vols = {v.name: v for v in web.spec.template.spec.volumes}
    static = vols[mounts["/srv/static"].name].host_path
    assert static is not None and static.path == str(tmp_path / "static")
    data = vols[mounts["/data"].name].persistent_volume_claim
    assert data is not None and data.claim_name == "data"
    assert vols[mounts["/scratch"].name].empty_dir is not None
    assert mounts["/run/secrets/db_password"].sub_path == "db_password"
    annotations = dict(web.spec.template.metadata.annotations)
    annotations.pop(NETWORKS_ANNOTATION)
    assert annotations == {"traefik.http.routers.web.rule": "Path(`/`)"}
    info = project.services["web"]
    assert info.build is not None and (info.build.context, info.build.target) == ("./web", "dev")
    assert info.depends_on == (
        Dependency("db", "service_healthy"),
        Dependency("cache", "service_started", required=False),
    )
    assert info.networks == {"front": ("www",), "back": ()}
    assert info.restart == "on-failure"
    db = project.objects[2]
    assert isinstance(db, Deployment)
    probe = db.spec.template.spec.containers[0].readiness_probe
    assert probe is not None and probe.exec_ is not None
    assert probe.exec_.command == ("/bin/sh", "-c", "pg_isready")
    assert (probe.period_seconds, probe.timeout_seconds, probe.failure_threshold) == (10, 5, 5)
    hc = project.services["db"].healthcheck
    assert hc is not None and hc.start_period == 30
    svc = project.objects[3]
    assert isinstance(svc, Service) and [(p.port, p.target_port) for p in svc.spec.ports] == [
        (5432, 5432)
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n",
            "depends on undefined service 'b'",
        ),
        (
            "services:\n  a:\n    image: x\n    depends_on: [b]\n"
            "  b:\n    image: y\n    depends_on: [a]\n",
            "dependency cycle detected: a -> b -> a",
        ),
        ("services:\n  a: {}\n", "has neither an image nor a build context"),
        ("services:\n  a:\n    image: x\n    secrets: [nope]\n", "undefined secret nope"),
        ("services:\n  a:\n    image: x\n    volumes: ['nope:/d']\n", "undefined volume nope"),
        (
            "services:\n  a:\n    image: x\n"
            "    depends_on: {b: {condition: service_sleeping}}\n  b: {image: y}\n",
            "unsupported condition",
        ),
        (
            "services:\n  a:\n    image: ${NEED:?set NEED}\n",
            "required variable NEED is missing a value: set NEED",
        ),
    ],
)
def test_compose_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        load_compose(text, "compose.yaml", project_dir=tmp_path)


def test_project_name_from_directory(tmp_path: Path) -> None:
    d = tmp_path / "My_App"
    d.mkdir()
    project = load_compose("services:\n  a: {image: x}\n", project_dir=d)
    assert project.name == "my_app"
    assert project.objects[0].metadata.labels["dockyard.io/compose-project"] == "my-app"


# -- networks ---------------------------------------------------------------------------

NETWORKED = """\
name: shop
services:
  web:
    image: busybox
    container_name: shop-web
    networks:
      front:
        aliases: [www]
        ipv4_address: 10.5.0.10
      back: {}
  db:
    image: busybox
  tool:
    image: busybox
    network_mode: host
networks:
  front:
    internal: true
    ipam:
      config: [{subnet: 10.5.0.0/24}]
  back:
    name: shared-back
  outside:
    external: true
"""


def test_networks_become_engine_networks_and_a_pod_annotation() -> None:
    import json

    from dockyard.orchestrator.enginepods import container_options, pod_networks
    from dockyard.orchestrator.objects import ObjectMeta, Pod

    project = load_compose(NETWORKED, environ={})
    defs = project.network_defs
    assert (defs["default"].name, defs["front"].name, defs["back"].name) == (
        "shop_default",
        "shop_front",
        "shared-back",
    )
    assert defs["front"].internal and defs["front"].subnet == "10.5.0.0/24"
    assert defs["outside"].external and defs["outside"].name == "outside"
    deps = {o.metadata.name: o for o in project.objects if isinstance(o, Deployment)}
    web = json.loads(deps["web"].spec.template.metadata.annotations[NETWORKS_ANNOTATION])
    assert web == [
        {"name": "shop_front", "aliases": ["web", "shop-web", "www"], "ip": "10.5.0.10"},
        {"name": "shared-back", "aliases": ["web", "shop-web"], "ip": ""},
    ]
    db = json.loads(deps["db"].spec.template.metadata.annotations[NETWORKS_ANNOTATION])
    assert db == [{"name": "shop_default", "aliases": ["db"], "ip": ""}]
    tool = deps["tool"].spec.template
    assert NETWORKS_ANNOTATION not in tool.metadata.annotations and tool.spec.host_network
    # the engine's side: the first network with its names, all of them for net_wanted
    t = deps["web"].spec.template
    pod = Pod(metadata=ObjectMeta(name="web-1", annotations=t.metadata.annotations), spec=t.spec)
    opts, dopts = container_options(pod, 0)
    assert (opts.network, dopts.aliases, dopts.ip) == (
        "shop_front",
        ["web", "shop-web", "www"],
        "10.5.0.10",
    )
    assert [w.name for w in pod_networks(pod)] == ["shop_front", "shared-back"]


def test_an_undefined_network_is_an_error() -> None:
    text = "services:\n  web:\n    image: busybox\n    networks: [nowhere]\n"
    with pytest.raises(InvalidArgument, match=r"web\.networks: .*undefined network nowhere"):
        load_compose(text, environ={})


# -- depends_on conditions ----------------------------------------------------------------


def _pod_doc(phase: str, state: dict[str, Any], ready: bool = False) -> dict[str, Any]:
    return {
        "metadata": {"name": "p"},
        "status": {"phase": phase, "containerStatuses": [{"state": state, "ready": ready}]},
    }


RUNNING = _pod_doc("Running", {"running": {}})
READY = _pod_doc("Running", {"running": {}}, ready=True)
EXITED_3 = _pod_doc("Failed", {"terminated": {"exitCode": 3}})
DONE = _pod_doc("Succeeded", {"terminated": {"exitCode": 0}})
WAITING = _pod_doc("Pending", {"waiting": {}})
# restarted in place and exiting again (the kubelet's CrashLoopBackOff): its last exit counts
CRASHLOOP = _pod_doc("Pending", {"waiting": {"reason": "CrashLoopBackOff"}})
CRASHLOOP["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 3}}
RESTARTING = _pod_doc("Pending", {"waiting": {"reason": "ContainerCreating"}})
RESTARTING["status"]["containerStatuses"][0]["lastState"] = {"terminated": {"exitCode": 3}}


@pytest.mark.parametrize(
    ("condition", "pods", "healthcheck", "expected"),
    [
        ("service_started", [], True, (False, "")),
        ("service_started", [WAITING], True, (False, "")),
        ("service_started", [RUNNING], True, (True, "")),
        ("service_started", [EXITED_3], True, (True, "")),
        ("service_healthy", [RUNNING], True, (False, "")),
        ("service_healthy", [READY], True, (True, "")),
        ("service_healthy", [READY], False, (False, "dependency failed to start: "
                                              "service db has no healthcheck")),
        ("service_healthy", [EXITED_3], True, (False, "dependency failed to start: "
                                                 "service db exited (3)")),
        ("service_healthy", [CRASHLOOP], True, (False, "dependency failed to start: "
                                                  "service db exited (3)")),
        ("service_healthy", [RESTARTING], True, (False, "")),  # one crash: restarted at once
        ("service_completed_successfully", [RUNNING], True, (False, "")),
        ("service_completed_successfully", [DONE], True, (True, "")),
        ("service_completed_successfully", [EXITED_3], True,
         (False, "service db didn't complete successfully: exit 3")),
    ],
)  # fmt: skip
def test_condition_state(
    condition: str, pods: list[dict[str, Any]], healthcheck: bool, expected: tuple[bool, str]
) -> None:
    from dockyard.orchestrator.compose import ComposeService, HealthCheck, condition_state

    target = ComposeService(
        "db", "db", "busybox", healthcheck=HealthCheck(("true",)) if healthcheck else None
    )
    assert condition_state(Dependency("db", condition), target, 1, pods) == expected


def test_conditions_of_undefined_or_scaled_down_dependencies_are_met() -> None:
    from dockyard.orchestrator.compose import ComposeService, condition_state

    dep = Dependency("db", "service_healthy", required=False)
    assert condition_state(dep, None, 1, []) == (True, "")
    assert condition_state(dep, ComposeService("db", "db", "busybox"), 0, []) == (True, "")


def test_a_service_waited_on_to_complete_is_a_pod_that_runs_once() -> None:
    from dockyard.orchestrator.objects import Pod

    text = """\
services:
  migrate: {image: busybox, command: ["true"]}
  again: {image: busybox, restart: on-failure}
  app:
    image: busybox
    depends_on:
      migrate: {condition: service_completed_successfully}
      again: {condition: service_completed_successfully}
"""
    objects = {o.metadata.name: o for o in load_compose(text, environ={}).objects}
    migrate = objects["migrate"]
    assert isinstance(migrate, Pod) and migrate.spec.restart_policy == "Never"
    assert migrate.metadata.labels["dockyard.io/compose-service"] == "migrate"
    assert NETWORKS_ANNOTATION in migrate.metadata.annotations
    assert isinstance(objects["again"], Deployment)  # it asked to be restarted
    assert isinstance(objects["app"], Deployment)
