"""Several compose files merged as the compose spec says, profiles, restart "no",
container_name and unknown keys (issue 16: only the first ``-f`` was read, profiles were
ignored, unknown keys vanished)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument
from dockyard.orchestrator._compose_merge import merge_documents, parse_compose_yaml
from dockyard.orchestrator.compose import (
    CONTAINER_NAME_ANNOTATION,
    load_compose,
    load_compose_file,
    schema_from_file,
)
from dockyard.orchestrator.export import to_dict
from dockyard.orchestrator.objects import Deployment, Pod


def _merge(*texts: str) -> dict[str, Any]:
    return merge_documents([parse_compose_yaml(t, f"f{i}") for i, t in enumerate(texts)])


def _svc(*texts: str) -> dict[str, Any]:
    foo: dict[str, Any] = _merge(*texts)["services"]["foo"]
    return foo


def test_spec_rules() -> None:
    # mapping: added and replaced; sequence: appended
    assert _svc("services: {foo: {key1: a, key2: b, dns: [1.1.1.1]}}",
                "services: {foo: {key2: B, key3: c, dns: [8.8.8.8]}}") == {
        "key1": "a", "key2": "B", "key3": "c", "dns": ["1.1.1.1", "8.8.8.8"]}  # fmt: skip
    # shell commands are replaced
    foo = _svc("services: {foo: {command: [echo, foo],"
               " healthcheck: {test: [CMD, a], retries: 3}}}",
               "services: {foo: {command: [echo, bar],"
               " healthcheck: {test: [CMD, b]}}}")  # fmt: skip
    assert foo == {"command": ["echo", "bar"], "healthcheck": {"test": ["CMD", "b"], "retries": 3}}
    # unique resources: volumes/secrets/configs by target, ports by (ip, target, published, proto)
    foo = _svc("services: {foo: {volumes: ['foo:/work', '/tmp:/tmp'], ports: ['8080:80'],"
               " secrets: [a]}}",
               "services: {foo: {volumes: ['bar:/work'], ports: ['8080:80', '9090:90'],"
               " secrets: [a, b]}}")  # fmt: skip
    assert foo["volumes"] == ["bar:/work", "/tmp:/tmp"]
    assert foo["ports"] == ["8080:80", "9090:90"]
    assert foo["secrets"] == ["a", "b"]
    # environment / labels / depends_on / networks / build: list or mapping, merged by key
    foo = _svc("services: {foo: {environment: [A=1, B=2], depends_on: [db], networks: [n1],"
               " build: ./app}}",
               "services: {foo: {environment: {B: 3, C: 4}, depends_on: {cache:"
               " {condition: service_started}}, networks: [n2],"
               " build: {target: dev}}}")  # fmt: skip
    assert foo["environment"] == {"A": "1", "B": 3, "C": 4}
    assert foo["depends_on"] == {"db": None, "cache": {"condition": "service_started"}}
    assert foo["networks"] == {"n1": None, "n2": None}
    assert foo["build"] == {"context": "./app", "target": "dev"}


def test_reset_and_override() -> None:
    foo = _svc("services: {foo: {image: app, ports: ['8080:80'], environment: {FOO: BAR, X: 1}}}",
               "services: {foo: {ports: !reset [], environment: {FOO: !reset null}}}")  # fmt: skip
    assert foo == {"image": "app", "environment": {"X": 1}}
    foo = _svc("services: {foo: {image: app, ports: ['8080:80']}}",
               "services: {foo: {ports: !override ['8443:443']}}")  # fmt: skip
    assert foo["ports"] == ["8443:443"]


def test_override_file_on_a_corpus_app(corpus_dir: Path, tmp_path: Path) -> None:
    app = tmp_path / "nginx-flask-mysql"
    shutil.copytree(corpus_dir / "compose" / "awesome-compose" / "nginx-flask-mysql", app)
    (app / "compose.override.yaml").write_text(
        "services:\n"
        "  db:\n    image: mariadb:11\n    environment: [MYSQL_DATABASE=other, EXTRA=1]\n"
        "  backend:\n    ports: ['8000:8000', '8001:8001']\n"
        "  proxy:\n    restart: !reset\n"
    )
    schema = schema_from_file(corpus_dir / "compose" / "compose-spec.json")
    project = load_compose_file(app / "compose.yaml", overrides=[app / "compose.override.yaml"],
                                schema=schema)  # fmt: skip
    db = next(o for o in project.objects if o.metadata.name == "db")
    assert isinstance(db, Deployment)
    c = db.spec.template.spec.containers[0]
    assert c.image == "mariadb:11"
    env = {e.name: e.value for e in c.env}
    assert env["MYSQL_DATABASE"] == "other" and env["EXTRA"] == "1"
    assert env["MYSQL_ROOT_PASSWORD_FILE"] == "/run/secrets/db-password"  # kept from the base
    assert [p.published for p in project.services["backend"].ports] == [8000, 8001]
    assert project.services["proxy"].restart == "no"
    base = load_compose_file(app / "compose.yaml")  # before: the override was never read
    assert base.services["db"].image == "mariadb:10-focal"


PROFILED = """\
services:
  web: {image: busybox, depends_on: [db]}
  db: {image: busybox}
  debug: {image: busybox, profiles: [debug], depends_on: [tools]}
  tools: {image: busybox, profiles: [tools]}
"""


@pytest.mark.parametrize(
    ("profiles", "named", "env", "want"),
    [
        ([], [], {}, {"web", "db"}),
        (["debug"], [], {}, {"web", "db", "debug", "tools"}),  # a dependency comes along
        ([], ["tools"], {}, {"web", "db", "tools"}),  # named on the command line
        ([], [], {"COMPOSE_PROFILES": "tools"}, {"web", "db", "tools"}),
        (["*"], [], {}, {"web", "db", "debug", "tools"}),
    ],
)
def test_profiles(profiles: list[str], named: list[str], env: dict[str, str],
                  want: set[str]) -> None:  # fmt: skip
    project = load_compose(PROFILED, environ=env, profiles=profiles, named=named,
                           read_file=lambda p: b"")  # fmt: skip
    assert set(project.services) == want
    assert set(project.disabled) == {"web", "db", "debug", "tools"} - want


def test_restart_no_runs_once_and_container_name() -> None:
    project = load_compose(
        "services:\n"
        "  job: {image: busybox, restart: 'no'}\n"
        "  web: {image: busybox, container_name: my-web, restart: always}\n"
        "  plain: {image: busybox}\n",
        read_file=lambda p: b"",
    )
    kinds = {o.metadata.name: o for o in project.objects}
    assert isinstance(kinds["job"], Pod) and kinds["job"].spec.restart_policy == "Never"
    assert isinstance(kinds["plain"], Deployment)  # no restart written: kept running
    web = kinds["web"]
    assert isinstance(web, Deployment)
    assert web.spec.template.metadata.annotations[CONTAINER_NAME_ANNOTATION] == "my-web"
    assert to_dict(web)["spec"]["strategy"]["type"] == "Recreate"
    with pytest.raises(InvalidArgument, match="container_name"):
        load_compose("services: {web: {image: busybox, container_name: x, scale: 2}}",
                     read_file=lambda p: b"")  # fmt: skip


def test_unknown_keys_warn() -> None:
    project = load_compose(
        "version: '3.8'\nx-common: {a: 1}\n"
        "services:\n"
        "  web: {image: busybox, stop_signal: SIGINT, x-note: hi, cap_add: [NET_ADMIN]}\n",
        read_file=lambda p: b"",
    )
    assert project.warnings == (
        "compose.yaml: the attribute `version` is obsolete, it will be ignored",
        "compose.yaml: services.web.stop_signal: not supported by dockyard, ignored",
    )
