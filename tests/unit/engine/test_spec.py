"""From image config and run options to config.json: secure defaults and opt-outs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.engine.options import RunOptions
from dockyard.engine.spec import SpecInputs, build_spec
from dockyard.errors import InvalidArgument
from dockyard.runtime.users import ExecUser


def _spec(image_cfg: dict[str, Any] | None = None, **opts: Any) -> dict[str, Any]:
    inputs = SpecInputs(
        container_id="c" * 64,
        rootfs=Path("/r"),
        image_config=image_cfg if image_cfg is not None else {"Cmd": ["sh"], "Env": ["A=1"]},
        user=ExecUser(1000, 1000, (10,), "/home/app"),
        hostname="box",
        files_dir=Path("/b"),
        cgroups_path="dockyard/x",
    )
    return build_spec(RunOptions(image="busybox", **opts), inputs)


def test_secure_defaults() -> None:
    s = _spec()
    proc = s["process"]
    assert proc["noNewPrivileges"] is True
    assert "CAP_SYS_ADMIN" not in proc["capabilities"]["bounding"]
    assert "CAP_CHOWN" in proc["capabilities"]["effective"]
    assert len(proc["capabilities"]["bounding"]) == 14
    assert s["linux"]["seccomp"]["defaultAction"] in ("SCMP_ACT_ERRNO", "SCMP_ACT_KILL")
    assert "/proc/kcore" in s["linux"]["maskedPaths"]
    assert "/proc/sys" in s["linux"]["readonlyPaths"]
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" in sysfs["options"]
    assert proc["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [10]}
    assert {"type": "network"} in s["linux"]["namespaces"]


def test_privileged_is_an_explicit_opt_out() -> None:
    s = _spec(privileged=True)
    assert "seccomp" not in s["linux"]
    assert "CAP_SYS_ADMIN" in s["process"]["capabilities"]["bounding"]
    assert s["linux"]["maskedPaths"] == [] and s["linux"]["readonlyPaths"] == []
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_cap_add_drop_and_security_opts() -> None:
    s = _spec(cap_add=["net_admin"], cap_drop=["CHOWN"],
              security_opt=["no-new-privileges=false", "seccomp=unconfined"])  # fmt: skip
    caps = s["process"]["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps
    assert s["process"]["noNewPrivileges"] is False
    assert "seccomp" not in s["linux"]
    assert _spec(cap_drop=["ALL"])["process"]["capabilities"]["bounding"] == []
    with pytest.raises(InvalidArgument, match="unknown capability"):
        _spec(cap_add=["FLY"])


def test_image_command_env_and_overrides() -> None:
    s = _spec({"Entrypoint": ["/entry"], "Cmd": ["a"], "Env": ["A=1", "PATH=/x"],
               "WorkingDir": "/app"}, env=["A=2", "B=3"])  # fmt: skip
    assert s["process"]["args"] == ["/entry", "a"]
    env = s["process"]["env"]
    assert "A=2" in env and "B=3" in env and "PATH=/x" in env and "HOME=/home/app" in env
    assert "HOSTNAME=box" in env
    assert s["process"]["cwd"] == "/app"
    assert _spec({"Cmd": ["a"]}, command=["b", "c"])["process"]["args"] == ["b", "c"]
    assert _spec({"Entrypoint": ["/e"], "Cmd": ["a"]}, entrypoint=["/x"])["process"]["args"] == [
        "/x"
    ]
    with pytest.raises(InvalidArgument, match="no command specified"):
        _spec({"Entrypoint": ["/entry"], "Cmd": ["a"]}, entrypoint=[])
    with pytest.raises(InvalidArgument, match="no command specified"):
        _spec({"Env": []})


def test_resources() -> None:
    s = _spec(memory=64 * 2**20, nano_cpus=500_000_000, pids_limit=20, cpu_shares=512)
    res = s["linux"]["resources"]
    assert res["memory"] == {"limit": 64 * 2**20, "swap": 128 * 2**20}
    assert res["cpu"] == {"period": 100000, "quota": 50000, "shares": 512}
    assert res["pids"] == {"limit": 20}
    assert res["devices"][0] == {"allow": False, "access": "rwm"}
    with pytest.raises(InvalidArgument):
        _spec(memory=2**20, memory_swap=2**19)
