"""Docker create bodies → engine options; container filters."""

from __future__ import annotations

import pytest

from dockyard.api.convert import options_from_create
from dockyard.engine.query import matches
from dockyard.errors import InvalidArgument
from dockyard.network import PortSpec
from dockyard.store.db import ContainerRecord


def test_create_body_maps_onto_options() -> None:
    body = {
        "Image": "busybox", "Cmd": ["sh"], "Env": ["A=1"], "Tty": True,
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 2_000_000_000, "Retries": 5},
        "HostConfig": {"Memory": 64 << 20, "NanoCpus": 500_000_000, "AutoRemove": False,
                       "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
                       "Binds": ["v:/d"], "PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                       "LogConfig": {"Config": {"max-size": "1m", "max-file": "2"}}},
    }  # fmt: skip
    run, d = options_from_create(body, "web")
    assert (run.image, run.name, run.command, run.memory, run.nano_cpus) == (
        "busybox", "web", ["sh"], 64 << 20, 500_000_000,
    )  # fmt: skip
    assert run.network == "default" and run.tty
    assert (d.restart, d.restart_max, d.volumes) == ("on-failure", 3, ["v:/d"])
    assert d.publish == [PortSpec(80, host_port=8080)]
    assert d.health is not None and d.health.interval == 2 and d.health.retries == 5
    assert (d.log_max_size, d.log_max_file) == (1 << 20, 2)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"Image": 3},
        {"Image": "b", "HostConfig": {"Memory": "lots"}},
        {"Image": "b", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}},
        {"Image": "b", "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}},
        {"Image": "b", "HostConfig": {"UsernsMode": "private"}},
        {"Image": "b", "HostConfig": {"UsernsMode": "auto:size=lots"}},
    ],
)
def test_create_body_refuses(body: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        options_from_create(body, None)


@pytest.mark.parametrize("mode", ["", "host", "auto", "auto:size=1024", "keep-id"])
def test_userns_mode_is_taken_as_given(mode: str) -> None:
    run, _ = options_from_create({"Image": "b", "HostConfig": {"UsernsMode": mode}}, None)
    assert run.userns == mode


def test_port_bindings_are_parsed_once_here() -> None:
    """``PortBindings`` become typed PortSpecs at the edge; nothing below parses text."""
    body = {"Image": "b", "HostConfig": {"PortBindings": {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}, {"HostPort": "8000-8010"}],
        "53/udp": None, "443/tcp": [{"HostIp": "0.0.0.0", "HostPort": ""}],
    }}}  # fmt: skip
    _, d = options_from_create(body, None)
    assert d.publish == [
        PortSpec(80, "tcp", "127.0.0.1", 8080),
        PortSpec(80, "tcp", "", 8000, 8010),
        PortSpec(53, "udp"),
        PortSpec(443, "tcp"),
    ]


@pytest.mark.parametrize(
    ("bindings", "text"),
    [
        ({"80/tcp": [{"HostPort": "0x50"}]}, "invalid -p '0x50:80'"),
        ({"80/sctp": [{"HostPort": "8080"}]}, "protocol must be tcp or udp"),
        ({"99999/tcp": [{}]}, "out of range"),
        ({"80/tcp": [{"HostIp": "nowhere", "HostPort": "1"}]}, "invalid host IP"),
        ({"80/tcp": "8080"}, "expected a list"),
        ({"80/tcp": ["8080"]}, "expected objects"),
    ],
)
def test_bad_port_bindings_are_one_line_errors(bindings: object, text: str) -> None:
    with pytest.raises(InvalidArgument, match=text):
        options_from_create({"Image": "b", "HostConfig": {"PortBindings": bindings}}, None)


def test_filters() -> None:
    rec = ContainerRecord(id="abc123", name="web", image_ref="busybox", image_id="sha256:ff",
                          created="", status="running", labels={"a": "1"},
                          config={"state": {"health": {"Status": "healthy"}}})  # fmt: skip
    assert matches(rec, {"name": ["we"], "status": ["running"], "label": ["a=1"]})
    assert matches(rec, {"health": ["healthy"], "id": ["abc"], "ancestor": ["busybox"]})
    assert not matches(rec, {"status": ["exited"]})
    assert not matches(rec, {"label": ["a=2"]})
    with pytest.raises(InvalidArgument):
        matches(rec, {"bogus": ["x"]})
