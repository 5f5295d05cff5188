"""engine/userns.py: modes, subordinate-id files, the range allocator; the spec edits;
store/shifted.py's capability rewrite. No root, no kernel (the shifted copy's owners need
root: that part is in tests/integration/test_userns.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.engine import userns as u
from dockyard.engine.options import RunOptions
from dockyard.engine.spec import check_userns, with_user_namespace
from dockyard.errors import FailedPrecondition, InvalidArgument, Unavailable
from dockyard.store.db import ContainerRecord, StateDB
from dockyard.store.shifted import _caps_v3


@pytest.mark.parametrize(
    ("text", "kind", "size"),
    [("", "host", 65536), ("host", "host", 65536), ("keep-id", "keep-id", 65536),
     ("auto", "auto", 65536), ("auto:size=1000", "auto", 1000)],
)  # fmt: skip
def test_parse_mode(text: str, kind: str, size: int) -> None:
    assert u.parse_mode(text) == u.Mode(kind, size)


@pytest.mark.parametrize(
    "text", ["nope", "auto:", "auto:size=", "auto:size=x", "auto:size=0", "auto:uidmapping=0",
             "host:x", "keep-id:uid=1", "auto:size=99999999"],
)  # fmt: skip
def test_parse_mode_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid --userns"):
        u.parse_mode(text)


def test_the_daemons_default_applies_only_to_containers_that_ask_nothing() -> None:
    assert u.effective_mode("", "").kind == "host"  # dockerd's default: no remapping
    assert u.effective_mode("", "default").kind == "auto"
    assert u.effective_mode("host", "default").kind == "host"
    assert u.parse_remap("default") == u.parse_remap("dockyard") == "default"
    with pytest.raises(InvalidArgument, match="--userns-remap"):
        u.parse_remap("someone:else")


def test_wants_userns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKYARD_USERNS_REMAP", raising=False)
    assert not u.wants_userns("") and not u.wants_userns("host") and u.wants_userns("auto")
    monkeypatch.setenv("DOCKYARD_USERNS_REMAP", "default")
    assert u.wants_userns("") and not u.wants_userns("host")


# ------------------------------------------------------------------ subordinate ids


def _files(tmp_path: Path, uid: str = "", gid: str = "") -> u.SubIds:
    (tmp_path / "subuid").write_text(uid)
    (tmp_path / "subgid").write_text(gid)
    return u.SubIds(str(tmp_path / "subuid"), str(tmp_path / "subgid"))


def test_the_dockyard_line_goes_where_no_line_gives_ids(tmp_path: Path) -> None:
    sub = _files(tmp_path, "alice:100000:65536\ncontainers:2147483647:2147483648\n",
                 "alice:100000:65536")  # fmt: skip
    assert sub.ranges() == ([(196608, u.DEFAULT_COUNT)], [(196608, u.DEFAULT_COUNT)])
    sub = _files(tmp_path, "x:0:4290000000\n")
    with pytest.raises(FailedPrecondition, match="no room"):
        sub.ranges()


def test_append_keeps_other_lines_and_is_idempotent(tmp_path: Path) -> None:
    sub = _files(tmp_path, "alice:100000:65536", "bob:165536:65536\n")
    uids, gids = sub.ranges()
    assert uids == [(196608, u.DEFAULT_COUNT)] and gids == [(262144, u.DEFAULT_COUNT)]
    assert (tmp_path / "subuid").read_text() == (
        f"alice:100000:65536\ndockyard:196608:{u.DEFAULT_COUNT}\n"
    )
    assert sub.ranges() == (uids, gids)  # found, not appended again
    assert (tmp_path / "subuid").read_text().count("dockyard:") == 1
    assert not (tmp_path / "subuid.lock").exists()


def test_existing_lines_of_the_user_are_used_as_they_are(tmp_path: Path) -> None:
    sub = _files(tmp_path, "dockyard:300000:131072\n# note\ndockyard:900000:65536\n",
                 "dockyard:400000:131072\n")  # fmt: skip
    assert sub.ranges() == ([(300000, 131072), (900000, 65536)], [(400000, 131072)])


def test_a_malformed_line_names_the_file_and_line(tmp_path: Path) -> None:
    sub = _files(tmp_path, "ok:1:2\nbroken-line\n")
    with pytest.raises(FailedPrecondition, match=r"subuid: line 2"):
        sub.ranges()


def test_add_and_remove_line_touch_only_that_line(tmp_path: Path) -> None:
    path = tmp_path / "subuid"
    path.write_text("a:1:2\n")
    u.add_line(str(path), "containers:5:6")
    path.write_text(path.read_text() + "b:3:4\n")  # someone else's, meanwhile
    u.remove_line(str(path), "containers:5:6\n")
    assert path.read_text() == "a:1:2\nb:3:4\n"


def test_a_dead_holders_lock_is_broken(tmp_path: Path) -> None:
    sub = _files(tmp_path)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    (tmp_path / "subuid.lock").write_text(str(pid))  # its holder is gone
    assert sub.ranges()[0][0][1] == u.DEFAULT_COUNT


# ------------------------------------------------------------------ the allocator


@pytest.fixture
def db(tmp_path: Path) -> StateDB:
    d = StateDB(tmp_path / "state.db")
    for cid in ("a", "b", "c", "d"):
        d.add_container(ContainerRecord(id=cid, name=cid, image_ref="x", image_id="x",
                                        created="now", status="created"))  # fmt: skip
    return d


def test_ranges_are_disjoint_first_fit_and_reused_after_release(
    tmp_path: Path, db: StateDB
) -> None:
    sub = _files(tmp_path, "dockyard:100000:262144\n", "dockyard:500000:262144\n")
    a = u.allocate(db, "a", 65536, sub)
    b = u.allocate(db, "b", 65536, sub)
    assert (a.uid_base, a.gid_base) == (100000, 500000)
    assert (b.uid_base, b.gid_base) == (165536, 565536)
    assert u.allocate(db, "a", 65536, sub) == a  # the one it holds
    small = u.allocate(db, "c", 1000, sub)
    assert small.uid_base == 231072
    u.release(db, "a")
    assert u.allocate(db, "d", 65536, sub).uid_base == 100000  # a's, free again
    assert set(u.held(db)) == {"b", "c", "d"}


def test_exhaustion_is_unavailable(tmp_path: Path, db: StateDB) -> None:
    sub = _files(tmp_path, "dockyard:100000:65536\n", "dockyard:100000:65536\n")
    u.allocate(db, "a", 65536, sub)
    with pytest.raises(Unavailable, match="no free range"):
        u.allocate(db, "b", 65536, sub)
    assert set(u.held(db)) == {"a"}


def test_a_range_without_a_container_record_is_taken_back(tmp_path: Path, db: StateDB) -> None:
    sub = _files(tmp_path, "dockyard:100000:131072\n", "dockyard:100000:131072\n")
    u.allocate(db, "a", 65536, sub)
    db.remove_container("a")  # a daemon killed between the two: the record went first
    assert u.allocate(db, "b", 65536, sub).uid_base == 100000
    assert u.sweep(db, {"c"}) == ["b"] and u.held(db) == {}


def test_ranges_survive_a_new_connection(tmp_path: Path, db: StateDB) -> None:
    sub = _files(tmp_path, "dockyard:100000:131072\n", "dockyard:100000:131072\n")
    a = u.allocate(db, "a", 65536, sub)
    again = StateDB(tmp_path / "state.db")  # what a restarted daemon opens
    assert u.held(again) == {"a": a}
    assert u.allocate(again, "b", 65536, sub).uid_base == 165536


# ------------------------------------------------------------------ the spec


def test_combinations_refused_as_dockerd_does() -> None:
    for opts, flag in ((RunOptions("x", privileged=True), "--privileged"),
                       (RunOptions("x", pid_mode="host"), "--pid host"),
                       (RunOptions("x", network="host"), "--network host"),
                       (RunOptions("x", uts_mode="host"), "--uts host")):  # fmt: skip
        with pytest.raises(InvalidArgument, match=flag):
            check_userns(opts, "auto")
        check_userns(opts, "host")


def _spec() -> dict[str, object]:
    return {
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]},
        "mounts": [{"destination": "/sys", "type": "sysfs", "source": "sysfs",
                    "options": ["nosuid", "noexec", "nodev", "ro"]}],
    }  # fmt: skip


def test_with_user_namespace_adds_the_namespace_and_maps() -> None:
    spec = with_user_namespace(_spec(), [(0, 165536, 65536)], [(0, 200000, 65536)],
                               sys_source=None)  # fmt: skip
    linux = spec["linux"]
    assert {"type": "user"} in linux["namespaces"]  # type: ignore[index]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": 165536, "size": 65536}]  # type: ignore[index]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": 200000, "size": 65536}]  # type: ignore[index]
    assert spec["mounts"][0]["type"] == "sysfs"  # type: ignore[index]


def test_sysfs_is_bound_where_the_netns_is_the_daemons() -> None:
    spec = with_user_namespace(_spec(), [(0, 1, 2)], [(0, 1, 2)], sys_source="/r/userns/sys")
    m = spec["mounts"][0]  # type: ignore[index]
    assert m["type"] == "bind" and m["source"] == "/r/userns/sys"
    assert "ro" in m["options"] and "rbind" in m["options"]


# ------------------------------------------------------------------ shifted copies


def test_v2_file_capabilities_become_v3_with_the_ranges_root() -> None:
    v2 = (0x02000001).to_bytes(4, "little") + bytes(range(16))
    v3 = _caps_v3(v2, 165536)
    assert int.from_bytes(v3[:4], "little") == 0x03000001
    assert v3[4:20] == v2[4:20] and int.from_bytes(v3[20:], "little") == 165536
    assert _caps_v3(v3, 1) == v3  # v3 already: kept
