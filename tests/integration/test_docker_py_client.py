"""docker-py (PyPI ``docker``) against dockyardd: what its own integration suite found
missing (tools/docker-py-suite runs that suite; docs/daemon.md). One private daemon for the
module (``daemon_kit``: private network and mount namespaces)."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import Daemonized, daemonized

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.root]


@pytest.fixture(scope="module")
def dy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemonized]:
    with daemonized(tmp_path_factory.mktemp("dockerpy")) as d:
        d.out("ps", "-q")  # starts the daemon
        yield d


@pytest.fixture
def client(dy: Daemonized) -> Iterator[Any]:
    c = docker.DockerClient(base_url=f"unix://{dy.run_root / 'dockyard.sock'}", timeout=60)
    try:
        yield c
    finally:
        for ctr in c.containers.list(all=True):
            ctr.remove(force=True)
        c.close()


def _wait_status(ctr: Any, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ctr.reload()
        if ctr.status == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"container never {status}: {ctr.status}")


def test_no_swarm_is_answered_as_dockerd_answers_it(client: Any) -> None:
    assert client.api.leave_swarm(force=True) is True  # 503: "not part of a swarm"
    with pytest.raises(docker.errors.APIError) as e:
        client.api.inspect_swarm()
    assert e.value.response.status_code == 503
    with pytest.raises(docker.errors.APIError) as e:
        client.api.services()
    assert "not a swarm manager" in str(e.value.explanation)
    info, version = client.info(), client.version()
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert info["Debug"] is False and info["ExperimentalBuild"] is False
    assert version["GoVersion"].startswith("python") and version["Components"]


def test_diff_and_commit_with_changes(client: Any) -> None:
    ctr = client.containers.run("busybox", ["sh", "-c", "touch /test && rm /bin/true"],
                                detach=True)  # fmt: skip
    assert ctr.wait()["StatusCode"] == 0
    found = {c["Path"]: c["Kind"] for c in ctr.diff()}
    assert found == {"/test": 1, "/bin": 0, "/bin/true": 2}  # no /etc/hosts mount point
    img = ctr.commit("committed", "v1", changes=["EXPOSE 8000", 'CMD ["ls", "/test"]'],
                     message="from a test")  # fmt: skip
    try:
        attrs = client.api.inspect_image("committed:v1")
        assert attrs["Config"]["Cmd"] == ["ls", "/test"]
        assert "8000/tcp" in attrs["Config"]["ExposedPorts"]
        assert client.containers.run(img.id, remove=True) == b"/test\n"  # the new layer
        with pytest.raises(docker.errors.APIError, match="not a valid change command"):
            ctr.commit("bad", changes=["RUN true"])
    finally:
        client.images.remove("committed:v1", force=True)


def test_config_volumes_are_anonymous_volumes(client: Any) -> None:
    ctr = client.api.create_container("busybox", "true", volumes=["/vol1"])
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tf:
        info = tarfile.TarInfo("data.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"hello"))
    assert client.api.put_archive(ctr, "/vol1", data.getvalue())
    mounts = client.api.inspect_container(ctr)["Mounts"]
    assert [m["Destination"] for m in mounts] == ["/vol1"] and mounts[0]["Type"] == "volume"


def test_log_config(client: Any) -> None:
    log = docker.types.LogConfig(type="", config={"max-file": "100"})
    hc = client.api.create_host_config(log_config=log)
    ctr = client.api.create_container("busybox", "true", host_config=hc)
    cfg = client.api.inspect_container(ctr)["HostConfig"]["LogConfig"]
    assert cfg == {"Type": "json-file", "Config": {"max-file": "100"}}
    bad = docker.types.LogConfig(type="asdf", config={})
    with pytest.raises(docker.errors.APIError) as e:
        hc = client.api.create_host_config(log_config=bad)
        client.api.create_container("busybox", "true", host_config=hc)
    assert e.value.explanation == "logger: no log driver named 'asdf' is registered"


def test_prune_reports_the_space_it_reclaimed(client: Any) -> None:
    ctr = client.containers.run("busybox", ["dd", "if=/dev/zero", "of=/blob", "bs=1k",
                                            "count=256"], detach=True)  # fmt: skip
    assert ctr.wait()["StatusCode"] == 0
    result = client.containers.prune()
    assert ctr.id in result["ContainersDeleted"]
    assert result["SpaceReclaimed"] >= 256 * 1024


def test_a_restarting_container_is_not_removed_without_force(client: Any) -> None:
    ctr = client.containers.run("busybox", ["false"], detach=True,
                                restart_policy={"Name": "always"})  # fmt: skip
    _wait_status(ctr, "restarting")
    with pytest.raises(docker.errors.APIError) as e:
        ctr.remove()
    assert "stop the container before" in str(e.value.explanation).lower()
    ctr.remove(force=True)


def test_import_applies_changes(client: Any, tmp_path: Path) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tf:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tf.addfile(info, io.BytesIO(b"hi"))
    client.api.import_image_from_data(data.getvalue(), repository="imported", tag="t",
                                      changes=["USER foobar", 'CMD ["echo"]'])  # fmt: skip
    try:
        cfg = client.api.inspect_image("imported:t")["Config"]
        assert (cfg["User"], cfg["Cmd"]) == ("foobar", ["echo"])
    finally:
        client.images.remove("imported:t", force=True)


def test_kill_answers_once_the_container_is_down(client: Any) -> None:
    ctr = client.containers.run("busybox", ["sleep", "300"], detach=True)
    ctr.kill()
    ctr.remove()  # not "you cannot remove a running container"
    assert ctr.id not in [c.id for c in client.containers.list(all=True)]


def test_a_created_container_is_on_the_network_it_asked_for(client: Any) -> None:
    net = client.networks.create("dockerpy-net")
    try:
        ctr = client.containers.create("busybox", "true", network="dockerpy-net")
        assert list(ctr.attrs["NetworkSettings"]["Networks"]) == ["dockerpy-net"]
        plain = client.containers.create("busybox", "true")
        assert list(plain.attrs["NetworkSettings"]["Networks"]) == ["bridge"]
        none = client.containers.create("busybox", "true", network_mode="none")
        assert none.attrs["NetworkSettings"]["Networks"] == {}
        ctr.remove()
    finally:
        net.remove()


def test_a_failed_build_step_in_the_classic_builders_words(client: Any) -> None:
    # the low-level call: docker-py's images.build leaves its response open when it raises
    stream = client.api.build(fileobj=io.BytesIO(b"FROM busybox\nRUN exit 1\n"), decode=True)
    errors = [m["error"] for m in stream if "error" in m]
    assert errors == ["The command '/bin/sh -c exit 1' returned a non-zero code: 1"]


def test_an_unknown_volume_driver_is_not_found(client: Any) -> None:
    with pytest.raises(docker.errors.NotFound):
        client.volumes.create("vol-x", driver="invalid.driver")
    assert "vol-x" not in [v.name for v in client.volumes.list()]
    vol = client.volumes.create("dockerpy_filter_1")
    try:
        assert [v.name for v in client.volumes.list(filters={"name": "dockerpy_filter"})] == [
            "dockerpy_filter_1"
        ]
        assert client.volumes.list(filters={"name": "nothing-like-it"}) == []
    finally:
        vol.remove()


def test_a_networks_ipam_options_are_null_when_none_were_given(client: Any) -> None:
    net = client.networks.create("dockerpy-ipam")
    try:
        assert client.api.inspect_network(net.id)["IPAM"]["Options"] is None
    finally:
        net.remove()


def test_an_exec_that_cannot_start_has_dockerds_exit_code(client: Any) -> None:
    ctr = client.containers.run("busybox", ["sleep", "300"], detach=True)
    code, _out = ctr.exec_run("no-such-command")
    assert code == 127


def test_create_takes_one_network_and_device_rules(client: Any) -> None:
    net = client.networks.create("dockerpy-one")
    try:
        cfg = {"dockerpy-one": client.api.create_endpoint_config(aliases=["a"]),
               "bar": client.api.create_endpoint_config(aliases=["b"])}  # fmt: skip
        with pytest.raises(docker.errors.APIError, match="cannot be connected"):
            client.containers.run("busybox", "true", network="dockerpy-one",
                                  networking_config=cfg, detach=True)  # fmt: skip
    finally:
        net.remove()
    hc = client.api.create_host_config(device_cgroup_rules=["c 7:128 rwm"])
    ctr = client.api.create_container("busybox", "true", host_config=hc)
    assert client.api.inspect_container(ctr)["HostConfig"]["DeviceCgroupRules"] == ["c 7:128 rwm"]
    with pytest.raises(docker.errors.APIError, match="invalid device cgroup rule"):
        bad = client.api.create_host_config(device_cgroup_rules=["c 7:128 rwx"])
        client.api.create_container("busybox", "true", host_config=bad)


def test_host_pid_and_uts_namespaces(client: Any) -> None:
    import os

    out = client.containers.run("busybox", ["sh", "-c", "hostname; cat /proc/1/comm"],
                                pid_mode="host", uts_mode="host", remove=True)  # fmt: skip
    name, init = out.decode().split()
    assert name == os.uname().nodename  # the host's name, and the host's is unchanged
    with open("/proc/1/comm") as f:
        assert init == f.read().strip()  # the host's PID 1
    ctr = client.containers.create("busybox", "true", pid_mode="host", uts_mode="host")
    hc = client.api.inspect_container(ctr.id)["HostConfig"]
    assert (hc["PidMode"], hc["UTSMode"]) == ("host", "host")
    own = client.containers.run("busybox", ["sh", "-c", "hostname; cat /proc/1/comm"],
                                remove=True).decode().split()  # fmt: skip
    assert own[0] != os.uname().nodename and own[1] != init
    for bad in ({"pid_mode": "container:x"}, {"ipc_mode": "host"}):
        with pytest.raises(docker.errors.APIError, match="is not supported"):
            client.containers.create("busybox", "true", **bad)


def test_a_volume_driver_is_echoed_and_refused_when_it_would_make_a_volume(client: Any) -> None:
    ctr = client.containers.create("busybox", "true", volume_driver="foo")
    assert ctr.attrs["HostConfig"]["VolumeDriver"] == "foo"
    ctr.remove()
    before = {c.id for c in client.containers.list(all=True)}
    with pytest.raises(docker.errors.NotFound, match='plugin "foo" not found'):
        client.containers.create("busybox", "true", volume_driver="foo", volumes=["/data"])
    assert {c.id for c in client.containers.list(all=True)} == before  # nothing left


def test_an_exec_start_frames_by_its_own_tty(client: Any) -> None:
    """dockerd frames an exec's output by the start request's ``Tty``: docker-py creates with
    a terminal and starts without one (and demultiplexes what comes)."""
    ctr = client.containers.run("busybox", ["sleep", "300"], detach=True)
    cmd = ["sh", "-c", "echo hello out; sleep 0.2; echo hello err >&2"]
    made = client.api.exec_create(ctr.id, cmd, tty=True)
    assert client.api.exec_start(made, demux=True) == (b"hello out\r\nhello err\r\n", None)
    made = client.api.exec_create(ctr.id, cmd, tty=True)
    assert client.api.exec_start(made, tty=True) == b"hello out\r\nhello err\r\n"
    made = client.api.exec_create(ctr.id, cmd)
    assert client.api.exec_start(made, demux=True) == (b"hello out\n", b"hello err\n")


def test_an_exec_detached_with_the_keys_closes_its_connection(client: Any) -> None:
    import socket

    ctr = client.containers.run("busybox", ["sleep", "300"], detach=True)
    made = client.api.exec_create(ctr.id, "cat", stdin=True, tty=True)
    sock = client.api.exec_start(made, tty=True, socket=True)
    raw: socket.socket = sock._sock
    try:
        raw.settimeout(10)
        raw.sendall(b"hi\n")
        assert b"hi" in raw.recv(128)
        raw.sendall(b"\x10\x11")  # docker's default: ctrl-p ctrl-q
        got = b""
        while chunk := raw.recv(128):  # ends (b"") when the daemon closes: no timeout
            got += chunk
        assert client.api.exec_inspect(made)["Running"] is True  # detached, not ended
    finally:
        sock.close()
        raw.close()


def test_log_driver_none_keeps_no_log(client: Any, dy: Daemonized) -> None:
    assert client.containers.run("busybox", "echo hello", log_config={"type": "none"}) is None
    ctr = client.containers.run("busybox", ["echo", "hello"], detach=True,
                                log_config={"type": "none"})  # fmt: skip
    assert ctr.wait()["StatusCode"] == 0
    assert ctr.attrs["HostConfig"]["LogConfig"]["Type"] == "none"
    assert not list((dy.root / "containers" / ctr.id).glob("*-json.log*"))
    with pytest.raises(docker.errors.APIError, match="does not support reading"):
        ctr.logs()
    # attached, the output still reaches the client (only the log is not kept)
    made = client.api.create_container("busybox", ["echo", "hi"],
                                       host_config=client.api.create_host_config(
                                           log_config={"type": "none"}))  # fmt: skip
    sock = client.api.attach_socket(made, params={"stdout": 1, "stream": 1})
    client.api.start(made)
    raw = sock._sock
    try:
        raw.settimeout(10)
        got = b""
        while chunk := raw.recv(1024):
            got += chunk
        assert got.endswith(b"hi\n")
    finally:
        sock.close()
        raw.close()


def test_attach_with_logs_after_the_exit_has_the_output_every_time(client: Any) -> None:
    """aiohttp sends the headers with the first body bytes; docker-py, reading beneath its
    buffered HTTP reader, lost them (13 times in 30 before the headers went out alone)."""
    for _ in range(15):
        ctr = client.api.create_container("busybox", "echo hello")
        client.api.start(ctr)
        client.api.wait(ctr, condition="not-running")
        assert client.api.attach(ctr, stream=False, logs=True) == b"hello\n"
        client.api.remove_container(ctr)
