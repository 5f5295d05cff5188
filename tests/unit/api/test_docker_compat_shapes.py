"""What docker-py's integration suite showed missing in create bodies and inspect shapes."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.api.convert import options_from_create
from dockyard.api.shapes import _host_config_rest, _log_config
from dockyard.errors import InvalidArgument


def test_config_volumes_are_anonymous_volumes_unless_bound() -> None:
    body = {"Image": "busybox", "Volumes": {"/vol1": {}, "/data": {}},
            "HostConfig": {"Binds": ["/srv:/data:rw"]}}  # fmt: skip
    _run, d = options_from_create(body, None)
    assert d.volumes == ["/srv:/data:rw", "/vol1"]


def test_an_anonymous_bind_covers_its_declared_volume() -> None:
    body = {"Image": "busybox", "Volumes": {"/data": {}}, "HostConfig": {"Binds": ["/data"]}}
    _run, d = options_from_create(body, None)
    assert d.volumes == ["/data"]  # once: docker-py's containers.create(volumes=[...]) sends both


def test_a_mount_target_covers_a_declared_volume() -> None:
    mount = {"Type": "volume", "Target": "/m", "Source": "v"}
    body = {"Image": "busybox", "Volumes": {"/m": {}}, "HostConfig": {"Mounts": [mount]}}
    _run, d = options_from_create(body, None)
    assert d.volumes == []


@pytest.mark.parametrize("kind", ["", "json-file", None])
def test_json_file_is_the_log_driver(kind: str | None) -> None:
    body = {
        "Image": "b",
        "HostConfig": {"LogConfig": {"Type": kind, "Config": {"max-file": "100"}}},
    }
    _run, d = options_from_create(body, None)
    assert _log_config(d) == {"max-file": "100"}


def test_another_log_driver_is_refused_in_dockerds_words() -> None:
    body = {"Image": "b", "HostConfig": {"LogConfig": {"Type": "asdf", "Config": {}}}}
    with pytest.raises(InvalidArgument) as e:
        options_from_create(body, None)
    assert str(e.value) == "logger: no log driver named 'asdf' is registered"


def test_host_config_has_dockerds_keys_with_what_dockyard_does() -> None:
    body: dict[str, Any] = {"Image": "b", "HostConfig": {
        "Tmpfs": {"/run": "size=1m"}, "Devices": [{"PathOnHost": "/dev/null"}],
        "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}]}}  # fmt: skip
    run, d = options_from_create(body, None)
    hc = _host_config_rest(run, d)
    for key in ("VolumesFrom", "CgroupnsMode", "PidMode", "UTSMode", "IpcMode", "Isolation",
                "MemorySwappiness", "DeviceCgroupRules", "Runtime", "VolumeDriver"):  # fmt: skip
        assert key in hc
    assert hc["CgroupnsMode"] == "private" and hc["PidMode"] == ""  # own namespaces
    assert hc["Tmpfs"] == {"/run": "size=1m"}
    assert hc["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/null",
                              "CgroupPermissions": "rwm"}]  # fmt: skip
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]


def test_isolation_is_default_or_nothing_on_linux() -> None:
    body: dict[str, Any] = {"Image": "b", "HostConfig": {"Isolation": "default"}}
    run, d = options_from_create(body, None)
    assert _host_config_rest(run, d)["Isolation"] == "default"
    body["HostConfig"]["Isolation"] = "hyperv"
    with pytest.raises(InvalidArgument, match="linux only supports 'default'"):
        options_from_create(body, None)


def test_config_env_is_the_image_env_with_the_containers_in_place() -> None:
    from dockyard.api.shapes import config_env

    image = ["PATH=/usr/bin:/bin", "LANG=C"]
    assert config_env(image, ["Foo", "LANG=C.UTF-8", "Blank="]) == [
        "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "Foo", "Blank=",
    ]  # fmt: skip


def test_a_variable_without_value_is_unset_in_the_process() -> None:
    from pathlib import Path

    from dockyard.engine.options import RunOptions
    from dockyard.engine.spec import SpecInputs, build_spec
    from dockyard.runtime.users import ExecUser

    inputs = SpecInputs(container_id="c" * 64, rootfs=Path("/r"),
                        image_config={"Cmd": ["sh"], "Env": ["LANG=C", "PATH=/bin"]},
                        user=ExecUser(0, 0, (), "/root"), hostname="box", files_dir=Path("/b"),
                        cgroups_path="dockyard/x")  # fmt: skip
    opts = RunOptions(image="b", env=["LANG", "Foo", "Blank="])
    env = build_spec(opts, inputs)["process"]["env"]
    assert "Blank=" in env and not any(e.startswith(("LANG", "Foo")) for e in env)


def test_exec_bodies_are_read_as_dockerd_reads_them() -> None:
    from dockyard.api.convert import exec_config_from

    cfg = exec_config_from({"Cmd": ["cat"], "detachKeys": "ctrl-x", "tty": True})
    assert (cfg.detach_keys, cfg.tty) == ("ctrl-x", True)
