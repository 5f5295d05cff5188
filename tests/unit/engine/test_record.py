"""engine/record.py: the typed container config, its JSON round trip, and rows an older
daemon wrote (``daemon.publish`` as ``-p`` strings)."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.engine.daemon import daemon_options_of, run_options_of
from dockyard.engine.options import DaemonOptions, HealthConfig, RunOptions
from dockyard.engine.record import (
    ContainerConfig,
    ContainerState,
    HostBinding,
    NetWish,
    PodMembership,
    UserNamespace,
    config_of,
)
from dockyard.network import PortSpec
from dockyard.store.db import ContainerRecord, StateDB

# A row as the daemon before the typed record wrote it (every key it knew, publish as text).
OLD_ROW: dict[str, object] = {
    "options": {"image": "nginx", "name": "web", "network": "front", "remove": False,
                "ulimits": [["RLIMIT_NOFILE", 1024, 2048]], "labels": {"a": "1"}},
    "daemon": {"restart": "on-failure", "restart_max": 3, "publish": ["127.0.0.1:8080:80",
               "53/udp", "8000-8010:443"], "publish_all": True, "dns": ["1.1.1.1"],
               "health": {"test": ["CMD", "true"], "interval": 2.0, "timeout": 1.0,
                          "retries": 5, "start_period": 0.0}},
    "spec": {"hostname": "web", "process": {"args": ["nginx", "-g", "daemon off;"],
                                            "env": ["PATH=/bin"]}},
    "bundle": "/var/lib/dockyard/containers/c/bundle",
    "state": {"restart_count": 2, "stopped_by_user": False, "error": "",
              "health": {"Status": "healthy", "FailingStreak": 0, "Log": []}},
    "image_config": {"ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT"},
    "mounts": [{"Type": "volume", "Name": "v1", "Anonymous": True}],
    "networks": {"front": {"IPAddress": "10.9.0.2"}},
    "ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "443/tcp": None},
    "port_bindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                      "53/udp": [{"HostIp": "", "HostPort": ""}]},
    "pod": {"object": {"metadata": {"name": "web-1"}}, "container": "web", "index": 0,
            "created": 1700000000.5, "terminating": True},
    "net_wanted": [{"name": "front", "aliases": ["w"], "ip": ""}],
    "userns": {"mode": "auto", "range": [100000, 100000, 65536], "rootfs": "idmap"},
    "someone_elses_key": {"kept": True},
}  # fmt: skip


def _record(config: dict[str, object]) -> ContainerRecord:
    created = "2026-01-02T03:04:05.000000000Z"
    return ContainerRecord("c" * 64, "web", "nginx", "sha256:ab", created, config=config)


def test_an_old_row_loads_typed() -> None:
    cfg = config_of(_record(OLD_ROW))
    assert cfg.options.image == "nginx" and cfg.options.network == "front"
    assert cfg.options.ulimits == [("RLIMIT_NOFILE", 1024, 2048)]
    assert cfg.daemon.publish == [
        PortSpec(80, "tcp", "127.0.0.1", 8080),
        PortSpec(53, "udp"),
        PortSpec(443, "tcp", "", 8000, 8010),
    ]
    assert cfg.daemon.health == HealthConfig(["CMD", "true"], 2.0, 1.0, 5, 0.0)
    assert cfg.args() == ["nginx", "-g", "daemon off;"] and cfg.env() == ["PATH=/bin"]
    assert cfg.hostname() == "web"
    assert cfg.state == ContainerState(2, False, "", {"Status": "healthy", "FailingStreak": 0,
                                                      "Log": []})  # fmt: skip
    assert cfg.ports == {"80/tcp": [HostBinding("127.0.0.1", "8080")], "443/tcp": None}
    assert cfg.port_bindings == [PortSpec(80, "tcp", "127.0.0.1", 8080), PortSpec(53, "udp")]
    assert cfg.pod == PodMembership({"metadata": {"name": "web-1"}}, "web", 0, 1700000000.5,
                                    terminating=True)  # fmt: skip
    assert cfg.net_wanted == [NetWish("front", ("w",))]
    assert cfg.userns == UserNamespace("auto", (100000, 100000, 65536), "idmap")
    assert cfg.extra == {"someone_elses_key": {"kept": True}}
    # the readers the engine used before keep answering the same
    assert run_options_of(_record(OLD_ROW)).ulimits == [("RLIMIT_NOFILE", 1024, 2048)]
    assert daemon_options_of(_record(OLD_ROW)).publish == cfg.daemon.publish


def test_an_old_row_written_back_changes_only_publish() -> None:
    """Everything but ``daemon.publish`` keeps its JSON shape (a daemon of either version
    reads the other's rows); publish is written typed."""
    out = config_of(_record(OLD_ROW)).to_json()
    old_daemon = dict(OLD_ROW["daemon"])  # type: ignore[call-overload]
    new_daemon = dict(out.pop("daemon"))  # type: ignore[call-overload]
    assert new_daemon.pop("publish") == [
        {"container_port": 80, "proto": "tcp", "host_ip": "127.0.0.1", "host_port": 8080,
         "host_port_end": 0},
        {"container_port": 53, "proto": "udp", "host_ip": "", "host_port": 0, "host_port_end": 0},
        {"container_port": 443, "proto": "tcp", "host_ip": "", "host_port": 8000,
         "host_port_end": 8010},
    ]  # fmt: skip
    old_daemon.pop("publish")
    assert {k: v for k, v in new_daemon.items() if k in old_daemon} == old_daemon
    expected = {k: v for k, v in OLD_ROW.items() if k != "daemon"}
    options = dict(out.pop("options"))  # type: ignore[call-overload]
    old_options = dict(expected.pop("options"))  # type: ignore[call-overload]
    assert {k: v for k, v in options.items() if k in old_options} == {
        **old_options,
        "ulimits": [("RLIMIT_NOFILE", 1024, 2048)],
    }
    assert json.loads(json.dumps(out)) == expected


def test_round_trip_through_the_database(tmp_path: Path) -> None:
    cfg = ContainerConfig(
        options=RunOptions(image="busybox", network="default", ulimits=[("RLIMIT_NPROC", 1, 2)]),
        daemon=DaemonOptions(
            publish=[PortSpec(80, "tcp", "", 8000, 8010), PortSpec(53, "udp")],
            health=HealthConfig(["CMD", "true"]),
        ),
        spec={"process": {"args": ["sh"]}},
        bundle="/b",
        state=ContainerState(restart_count=1, health={"Status": "starting"}),
        ports={"80/tcp": [HostBinding("0.0.0.0", "8003")]},
        port_bindings=[PortSpec(80, "tcp", "", 8000)],
        net_wanted=[NetWish("bridge", ("a",), "172.17.0.9")],
        userns=UserNamespace("keep-id"),
    )
    db = StateDB(f"{tmp_path}/state.db")
    try:
        db.add_container(_record(cfg.to_json()))
        back = config_of(db.get_container("web"))
    finally:
        db.close()
    assert back == cfg


def test_a_fresh_record_leaves_unset_keys_out() -> None:
    """``containers.py`` writes options, spec and bundle first; nothing else appears."""
    raw = {"options": {"image": "busybox"}, "spec": {}, "bundle": "/b"}
    out = ContainerConfig.from_json(raw).to_json()
    assert set(out) == {"options", "spec", "bundle", "daemon"}
    assert ContainerConfig.from_json(out) == ContainerConfig.from_json(raw)
    assert ContainerConfig.from_json({}).to_json()["spec"] == {}


def test_an_old_row_reads_the_same_through_every_reader() -> None:
    """The readers moved onto the typed record answer for an old row as they did."""
    from dockyard.api.shapes import container_summary
    from dockyard.engine.query import matches

    rec = _record(OLD_ROW)
    assert matches(rec, {"health": ["healthy"]})
    summary = container_summary(rec)
    assert summary["Ports"] == [{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080,
                                 "Type": "tcp"}]  # fmt: skip
    assert summary["Mounts"] == [{"Type": "volume", "Name": "v1"}]
    assert summary["Command"] == "nginx -g daemon off;"
