"""HostConfig settings into the spec: ``DeviceCgroupRules`` (docker's ``--device-cgroup-rule``),
``PidMode``/``UTSMode`` ``host``."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.options import RunOptions
from dockyard.engine.spec import SpecInputs, build_spec, parse_device_rule
from dockyard.errors import InvalidArgument
from dockyard.runtime.users import ExecUser


def _devices(**opts: object) -> list[dict[str, object]]:
    inputs = SpecInputs(container_id="c" * 64, rootfs=Path("/r"), image_config={"Cmd": ["sh"]},
                        user=ExecUser(0, 0, (), "/root"), hostname="box", files_dir=Path("/b"),
                        cgroups_path="dockyard/x")  # fmt: skip
    spec = build_spec(RunOptions(image="busybox", **opts), inputs)  # type: ignore[arg-type]
    return list(spec["linux"]["resources"]["devices"])


def test_a_rule_is_allowed_after_the_defaults() -> None:
    rules = _devices(device_cgroup_rules=["c 7:128 rwm", "b *:* m"])
    assert rules[0] == {"allow": False, "access": "rwm"}
    assert rules[-2:] == [{"allow": True, "type": "c", "major": 7, "minor": 128, "access": "rwm"},
                          {"allow": True, "type": "b", "access": "m"}]  # fmt: skip
    assert {"allow": True, "type": "c", "major": 7, "minor": 128, "access": "rwm"} not in (
        _devices()
    )


@pytest.mark.parametrize("rule", ["c 7:128", "x 1:1 rwm", "c 1 rwm", "c a:1 r", "c 1:1 rwx", ""])
def test_a_bad_rule_is_one_error(rule: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid device cgroup rule"):
        parse_device_rule(rule)


def test_host_pid_and_uts_leave_out_the_namespaces_and_the_hostname() -> None:
    inputs = SpecInputs(container_id="c" * 64, rootfs=Path("/r"), image_config={"Cmd": ["sh"]},
                        user=ExecUser(0, 0, (), "/root"), hostname="host", files_dir=Path("/b"),
                        cgroups_path="dockyard/x")  # fmt: skip
    spec = build_spec(RunOptions(image="b", pid_mode="host", uts_mode="host"), inputs)
    kinds = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "pid" not in kinds and "uts" not in kinds and "ipc" in kinds
    assert "hostname" not in spec  # the runtime would refuse it: it would rename the host
    own = build_spec(RunOptions(image="b"), inputs)
    assert {"pid", "uts"} <= {n["type"] for n in own["linux"]["namespaces"]}
    assert own["hostname"] == "host"
