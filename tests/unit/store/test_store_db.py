"""The state database: migrations, containers resolved like docker."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound
from dockyard.records import replace
from dockyard.store.db import MIGRATIONS, ContainerRecord, ImageRecord, StateDB


def rec(cid: str, name: str) -> ContainerRecord:
    return ContainerRecord(
        id=cid,
        name=name,
        image_ref="busybox",
        image_id="sha256:" + "f" * 64,
        created="2024-01-01T00:00:00Z",
        config={"Cmd": ["sh"]},
        labels={"a": "b"},
    )


def test_schema_and_wal(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    assert not (tmp_path / "state.db").exists()  # lazy
    assert db.schema_version == len(MIGRATIONS)
    conn = sqlite3.connect(tmp_path / "state.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert StateDB(tmp_path / "state.db").schema_version == len(MIGRATIONS)


def test_container_crud_and_resolution(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    a, b = "ab" + "0" * 62, "ac" + "1" * 62
    db.add_container(rec(a, "web"))
    db.add_container(rec(b, "db"))
    assert db.get_container(a).name == "web"
    assert db.get_container("web").id == a
    assert db.get_container("/web").id == a
    assert db.get_container("ab").id == a
    assert db.get_container(b[:5]).config == {"Cmd": ["sh"]}
    with pytest.raises(InvalidArgument, match="ambiguous"):
        db.get_container("a")
    with pytest.raises(NotFound, match="no such container"):
        db.get_container("zz")
    with pytest.raises(AlreadyExists):
        db.add_container(rec("ff" * 32, "web"))
    db.update_container(replace(db.get_container("web"), status="running", pid=42, oom_killed=True))
    got = db.get_container("web")
    assert (got.status, got.pid, got.oom_killed, got.labels) == ("running", 42, True, {"a": "b"})
    assert {c.id for c in db.list_containers()} == {a, b}
    assert db.containers_using("sha256:" + "f" * 64) != []
    assert db.remove_container("db").id == b
    with pytest.raises(NotFound):
        db.update_container(rec(b, "db"))


def test_image_tags(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    r = ImageRecord("sha256:" + "1" * 64, "sha256:" + "2" * 64, "m", None, 1, 0.0)
    db.put_image(r, ("docker.io/library/x:latest",))
    assert db.get_tag("docker.io/library/x:latest") == r.manifest_digest
    assert db.find_images("sha256:22") == [r]
    db.delete_image(r.manifest_digest)
    assert db.get_tag("docker.io/library/x:latest") is None  # tags cascade
    with pytest.raises(NotFound):
        db.set_tag("docker.io/library/y:latest", r.manifest_digest)


def _writer(path: str, n: int) -> None:
    db = StateDB(Path(path))
    for i in range(20):
        db.add_container(rec(f"{n:02d}{i:062d}", f"c{n}-{i}"))


def test_several_processes(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    db = StateDB(path)
    assert db.schema_version == len(MIGRATIONS)
    db.close()  # never fork with an open SQLite connection
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(path), n)) for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert len(StateDB(path).list_containers()) == 60


def test_status_columns_update_without_touching_the_config(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "state.db")
    r = replace(rec("c1", "one"), config={"spec": {"big": list(range(5))}})
    db.add_container(r)
    assert db.container_name_taken("one") and not db.container_name_taken("two")
    db.set_container_status("c1", status="exited", exit_code=3, oom_killed=True, pid=0)
    got = db.get_container("c1")
    assert (got.status, got.exit_code, got.oom_killed, got.pid) == ("exited", 3, True, 0)
    assert got.config == r.config
    with pytest.raises(InvalidArgument, match="not status columns"):
        db.set_container_status("c1", config="{}")
    with pytest.raises(NotFound):
        db.set_container_status("nope", status="exited")
