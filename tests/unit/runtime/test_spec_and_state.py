"""config.json parsing (typed, strict, JSON paths in errors), state rules, defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import FailedPrecondition, InvalidArgument
from dockyard.oci.runtime_spec import (
    default_spec,
    default_spec_dict,
    dumps_json,
    loads_json,
    parse_spec,
    replace,
)
from dockyard.runtime import state as st
from dockyard.runtime.defaults import (
    DEFAULT_CAPS,
    DEFAULT_MASKED_PATHS,
    default_mounts,
    default_seccomp,
)


def _with(path: str, value: Any) -> dict[str, Any]:
    cfg = default_spec_dict()
    node: Any = cfg
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return cfg


def test_default_spec_round_trips() -> None:
    spec = default_spec()
    assert spec.process is not None and spec.process.args == ("sh",)
    assert spec.linux is not None and spec.linux.namespace("pid") is not None
    again = parse_spec(json.dumps(spec.to_dict()).encode())
    assert again == spec


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("ociVersion", 1, "ociVersion: expected a string"),
        ("process.args", [], "process.args: at least one argument"),
        ("process.cwd", "relative", "process.cwd: must be an absolute path"),
        ("process.user.uid", -1, "process.user.uid: must be at least 0"),
        (
            "process.rlimits",
            [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}],
            r"rlimits\[0\]\.type: unknown rlimit",
        ),
        (
            "process.rlimits",
            [{"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}] * 2,
            "duplicate rlimit",
        ),
        ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}], "exceeds hard"),
        ("linux.namespaces", [{"type": "pid"}, {"type": "pid"}], "duplicate namespace 'pid'"),
        ("linux.namespaces", [{"type": "nope"}], "unknown namespace 'nope'"),
        (
            "linux.uidMappings",
            [{"containerID": 0, "hostID": 1000, "size": 1}],
            "need a user namespace",
        ),
        ("linux.seccomp", {"defaultAction": "SCMP_ACT_NOPE"}, "defaultAction: unknown action"),
        ("linux.resources", {"pids": {"limit": "x"}}, r"linux\.resources\.pids\.limit"),
        ("linux.rootfsPropagation", "sideways", "unknown propagation"),
        ("hooks", {"prestart": [{"path": "rel"}]}, r"hooks\.prestart\[0\]\.path"),
        ("mounts", [{"type": "tmpfs"}], r"mounts\[0\]\.destination: required"),
        ("linux.sysctl", {"../../etc": "1"}, "invalid sysctl name"),
    ],
)
def test_bad_values_name_the_json_path(path: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_spec(_with(path, value))


def test_unknown_keys_are_ignored() -> None:
    cfg = default_spec_dict()
    cfg["futureKey"] = {"x": 1}
    cfg["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE"}
    cfg["linux"]["intelRdt"] = {"closID": "x"}
    parse_spec(cfg)


def test_fast_json_matches_json() -> None:
    doc = {"a": [1, 2.5, None, True, "é\n"], "b": {"c": -3}}
    assert loads_json(json.dumps(doc)) == doc
    assert json.loads(dumps_json(doc)) == doc
    for bad in (b"{]", b"[1] x", b"\xff", b"NaN"):
        with pytest.raises(InvalidArgument):
            loads_json(bad)


def test_record_is_frozen_and_replace_works() -> None:
    spec = default_spec()
    with pytest.raises(AttributeError):
        spec.hostname = "x"  # type: ignore[misc]
    assert replace(spec, hostname="y").hostname == "y"
    assert spec.hostname == "dockyard"


@pytest.mark.parametrize(
    ("status", "op", "ok"),
    [
        ("created", "start", True), ("running", "start", False), ("stopped", "delete", True),
        ("running", "delete", False), ("running", "pause", True), ("paused", "resume", True),
        ("stopped", "kill", False), ("paused", "exec", False),
    ],
)  # fmt: skip
def test_lifecycle_rules(status: str, op: str, ok: bool) -> None:
    s = st.State(id="c1", pid=1, bundle="/b", rootfs="/r", created="now", status=status)
    if ok:
        st.require(s, op)
    else:
        with pytest.raises(FailedPrecondition, match=f"{op} container c1: container is {status}"):
            st.require(s, op)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "x y", "é"])
def test_bad_ids(cid: str) -> None:
    with pytest.raises(InvalidArgument):
        st.check_id(cid)


def test_state_file_round_trip(tmp_path: Path) -> None:
    s = st.State(id="c1", pid=999999, bundle="/b", rootfs="/r", created=st.now_rfc3339(),
                 annotations={"a": "b"}, cgroup_path="dockyard/c1")  # fmt: skip
    st.write_state(str(tmp_path), s)
    back = st.read_state(str(tmp_path), "c1")
    assert back.status == "stopped"  # that pid is not alive
    assert back.to_oci()["annotations"] == {"a": "b"}
    assert set(back.to_oci()) == {
        "ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner", "annotations",
    }  # fmt: skip


def test_defaults() -> None:
    assert len(DEFAULT_CAPS) == 14 and "CAP_SYS_ADMIN" not in DEFAULT_CAPS
    assert "/proc/kcore" in DEFAULT_MASKED_PATHS
    assert [m["destination"] for m in default_mounts()][:2] == ["/proc", "/dev"]
    prof = default_seccomp()
    parsed = parse_spec({"ociVersion": "1.0.0", "linux": {"seccomp": prof}})
    assert parsed.linux is not None and parsed.linux.seccomp is not None
    allowed = prof["syscalls"][0]["names"]
    assert "mount" not in allowed and "chroot" in allowed
    assert "mount" in default_seccomp([*DEFAULT_CAPS, "CAP_SYS_ADMIN"])["syscalls"][0]["names"]
