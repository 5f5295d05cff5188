"""Compose translation, interpolation and the dependency graph."""

from __future__ import annotations

import base64
from pathlib import Path

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
