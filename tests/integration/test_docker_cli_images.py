"""The stock docker CLI (28.x from docker.com; 20.10 from Debian's docker.io) against
dockyardd's image endpoints: images, tag, inspect, history, save, load, rmi, push and pull
through a registry, import; API version negotiation as dockerd refuses versions.

Each test runs its own daemon in private namespaces (``daemon_kit``); the registry runs in
the same network namespace as the daemon (the daemon pulls and pushes, not the client)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import Daemonized, api_request, dyd, registry_in

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]

CLIENTS = [p for p in ("/usr/local/bin/docker", "/usr/bin/docker") if os.access(p, os.X_OK)]


def docker(d: Daemonized, exe: str, *args: str, timeout: float = 60,
           input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    env = {**os.environ, "DOCKER_HOST": f"unix://{d.run_root / 'dockyard.sock'}",
           "DOCKER_CONFIG": str(d.root.parent / "docker-config")}  # fmt: skip
    for k in ("DOCKER_API_VERSION", "DOCKER_CONTEXT", "DOCKER_BUILDKIT"):
        env.pop(k, None)
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, input=input, check=False)  # fmt: skip


def ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"{p.args}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout


@pytest.fixture(params=CLIENTS or ["docker"])
def exe(request: pytest.FixtureRequest, dyd: Daemonized) -> str:
    if not CLIENTS:
        pytest.skip("no docker client installed (the docker.io package has one)")
    dyd.out("ps")  # the daemon runs
    return str(request.param)


def test_images_tag_inspect_history_save_load_rmi(dyd: Daemonized, exe: str,
                                                  tmp_path: Path) -> None:  # fmt: skip
    listed = ok(docker(dyd, exe, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"))
    assert re.search(r"^busybox:latest [0-9a-f]{12}$", listed, re.M), listed
    ok(docker(dyd, exe, "tag", "busybox", "mine:1"))
    tags = ok(docker(dyd, exe, "images", "--format", "{{.Repository}}:{{.Tag}}"))
    assert {"busybox:latest", "mine:1"} <= set(tags.split()), tags
    assert ok(docker(dyd, exe, "images", "-q", "mine")).strip()
    view = json.loads(ok(docker(dyd, exe, "image", "inspect", "mine:1")))[0]
    assert view["Id"].startswith("sha256:") and "mine:1" in view["RepoTags"]
    assert view["Os"] == "linux" and view["RootFS"]["Layers"]
    assert ok(docker(dyd, exe, "inspect", "--format", "{{.Id}}", "busybox")).strip() == view["Id"]
    hist = ok(docker(dyd, exe, "history", "--no-trunc", "--format", "{{.ID}} {{.Size}}", "busybox"))
    assert hist.splitlines()[0].startswith(view["Id"]), hist

    # save to a file, remove, load back: the tag returns
    archive = tmp_path / "mine.tar"
    ok(docker(dyd, exe, "save", "-o", str(archive), "mine:1"))
    with tarfile.open(archive) as tf:
        assert "manifest.json" in tf.getnames()
    out = ok(docker(dyd, exe, "rmi", "mine:1"))
    assert "Untagged: mine:1" in out, out
    assert "mine:1" not in ok(docker(dyd, exe, "images", "--format", "{{.Repository}}:{{.Tag}}"))
    out = ok(docker(dyd, exe, "load", "-i", str(archive)))
    assert "Loaded image: mine:1" in out, out
    assert "busybox:latest" in ok(
        docker(dyd, exe, "images", "--format", "{{.Repository}}:{{.Tag}}")
    )
    # errors as docker's: a one-line message, non-zero exit
    missing = docker(dyd, exe, "image", "inspect", "nosuch:image")
    assert missing.returncode != 0 and "nosuch:image" in missing.stderr, missing.stderr
    search = docker(dyd, exe, "search", "busybox")
    assert search.returncode != 0 and "not supported" in search.stderr, search.stderr


@pytest.fixture
def registry(dyd: Daemonized, tmp_path: Path) -> Iterator[str]:
    with registry_in(dyd.ns_pid, tmp_path) as addr:
        yield addr


def test_push_and_pull_through_a_registry(dyd: Daemonized, exe: str, registry: str) -> None:
    target = f"{registry}/team/app:1"
    ok(docker(dyd, exe, "tag", "busybox", target))
    pushed = ok(docker(dyd, exe, "push", target))
    assert re.search(r"1: digest: sha256:[0-9a-f]{64} size: \d+", pushed), pushed
    ok(docker(dyd, exe, "rmi", target))
    pulled = ok(docker(dyd, exe, "pull", target))
    assert f"Downloaded newer image for {target}" in pulled, pulled
    tags = ok(docker(dyd, exe, "images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    # a pull never drops a user's other tags of the same image
    assert target in tags and "busybox:latest" in tags, tags
    digests = ok(
        docker(dyd, exe, "images", "--digests", "--format", "{{.Digest}}", f"{registry}/team/app")
    )
    assert digests.strip().startswith("sha256:"), digests
    missing = docker(dyd, exe, "pull", f"{registry}/team/nosuch:1")
    assert missing.returncode != 0 and "nosuch" in missing.stderr, missing.stderr


def test_pull_and_push_stream_byte_progress(
    dyd: Daemonized, exe: str, registry: str, tmp_path: Path
) -> None:
    """dockerd's progress messages: ``progressDetail`` {current, total} for each blob (the
    docker CLI draws its bars from them) and the ``progress`` text; a terminal gets bars."""
    target = f"{registry}/team/bars:1"
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "noise").write_bytes(os.urandom(3 << 20))  # a layer no other image shares
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tf:
        tf.add(root, arcname=".")
    ok(docker(dyd, exe, "import", str(tarball), target))
    status, _, body = _api(dyd, f"/images/{target}/push", "POST")
    assert status == 200, body
    pushed = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert not [m for m in pushed if "error" in m], pushed
    details = [m for m in pushed if m.get("status") == "Pushing" and "progressDetail" in m]
    assert details and all(m["progressDetail"]["total"] > 0 for m in details), pushed
    assert any(m["progressDetail"]["current"] == m["progressDetail"]["total"] for m in details)
    ok(docker(dyd, exe, "rmi", target))
    ok(docker(dyd, exe, "image", "prune", "-f"))  # its blobs go: nothing else refers to them
    status, _, body = _api(dyd, f"/images/create?fromImage={target}", "POST")
    assert status == 200, body
    pulled = [json.loads(line) for line in body.splitlines() if line.strip()]
    bars = [m for m in pulled if m.get("status") == "Downloading" and "progressDetail" in m]
    assert bars, pulled
    last = {m["id"]: m for m in bars}
    assert all(
        m["progressDetail"]["current"] == m["progressDetail"]["total"] for m in last.values()
    )
    assert all(m["progress"].startswith("[") and "/" in m["progress"] for m in bars), bars
    # the docker CLI on a terminal draws them
    ok(docker(dyd, exe, "rmi", target))
    ok(docker(dyd, exe, "image", "prune", "-f"))
    import pty

    env = {**os.environ, "DOCKER_HOST": f"unix://{dyd.run_root / 'dockyard.sock'}",
           "DOCKER_CONFIG": str(dyd.root.parent / "docker-config"), "COLUMNS": "160"}  # fmt: skip
    primary, secondary = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    p = subprocess.Popen([exe, "pull", target], stdout=secondary, stderr=secondary,
                         stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # EIO: the client closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert p.wait(timeout=60) == 0, seen
    assert b"Downloading [" in seen and b"=>" in seen and b"Pull complete" in seen, seen


def test_import_a_rootfs_tarball(dyd: Daemonized, exe: str, tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "motd").write_text("imported\n")
    tarball = tmp_path / "rootfs.tar"
    with tarfile.open(tarball, "w") as tf:
        tf.add(root, arcname=".")
    image_id = ok(docker(dyd, exe, "import", str(tarball), "imported:1")).strip()
    assert image_id.startswith("sha256:"), image_id
    view = json.loads(ok(docker(dyd, exe, "image", "inspect", "imported:1")))[0]
    assert view["Id"] == image_id and len(view["RootFS"]["Layers"]) == 1


def _api(d: Daemonized, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    auth = {"X-Registry-Auth": "e30="} if method == "POST" else {}
    return api_request(d.run_root, path, method, auth)


def test_version_negotiation_as_dockerd(dyd: Daemonized) -> None:
    dyd.out("ps")
    status, headers, body = _api(dyd, "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["Api-Version"] == "1.43" and headers["OSType"] == "linux"
    assert headers["Builder-Version"] == "1"
    version = json.loads(_api(dyd, "/version")[2])
    assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.43", "1.24")
    assert _api(dyd, "/v1.43/images/json")[0] == 200
    assert _api(dyd, "/v1.24/images/json")[0] == 200
    status, _, body = _api(dyd, "/v1.99/images/json")
    assert status == 400 and json.loads(body)["message"] == (
        "client version 1.99 is too new. Maximum supported API version is 1.43")  # fmt: skip
    status, _, body = _api(dyd, "/v1.12/containers/json")
    assert status == 400 and "is too old. Minimum supported API version is 1.24" in json.loads(
        body)["message"]  # fmt: skip


DOCKERFILE = """\
FROM busybox
ARG GREETING=hello
RUN echo "$GREETING from a RUN step" && echo "$GREETING" > /greeting
COPY note.txt /note.txt
CMD ["cat", "/greeting"]
"""


def test_classic_build_through_the_docker_cli(dyd: Daemonized, exe: str, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile.app").write_text(DOCKERFILE)
    (ctx / "note.txt").write_text("a note\n")
    env_build = ["build", "-f", str(ctx / "Dockerfile.app"), "--build-arg", "GREETING=hi",
                 "-t", "built:1", str(ctx)]  # fmt: skip
    out = docker(dyd, exe, *env_build, timeout=180)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "hi from a RUN step" in text and "Successfully tagged built:1" in text, text
    run = ok(docker(dyd, exe, "run", "--rm", "built:1"))
    assert run == "hi\n"
    # again: every step cached, the same image id
    first = json.loads(ok(docker(dyd, exe, "image", "inspect", "built:1")))[0]["Id"]
    quiet = ok(docker(dyd, exe, "build", "-q", "-f", str(ctx / "Dockerfile.app"),
                      "--build-arg", "GREETING=hi", "-t", "built:1", str(ctx)))  # fmt: skip
    assert quiet.strip() == first, (quiet, first)
    # a failing step: docker's one-line error, non-zero exit, nothing tagged
    (ctx / "Dockerfile.bad").write_text("FROM busybox\nRUN exit 3\n")
    bad = docker(dyd, exe, "build", "-f", str(ctx / "Dockerfile.bad"), "-t", "bad:1", str(ctx))
    assert bad.returncode != 0 and "exit" in bad.stderr.lower(), bad.stderr
    assert "bad:1" not in ok(docker(dyd, exe, "images", "--format", "{{.Repository}}:{{.Tag}}"))


def _post_build(d: Daemonized, body: bytes) -> tuple[int, list[dict[str, object]]]:
    sock_path = str(d.run_root / "dockyard.sock")

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock_path)

    c = Conn("localhost", timeout=60)
    try:
        c.request("POST", "/v1.43/build?t=evil:1", body=body,
                  headers={"Content-Type": "application/x-tar"})  # fmt: skip
        r = c.getresponse()
        raw = r.read().decode()
        if r.status != 200:
            return r.status, [json.loads(raw)]
        return r.status, [json.loads(x) for x in raw.splitlines() if x.strip()]
    finally:
        c.close()


def test_hostile_build_contexts_are_refused(dyd: Daemonized, tmp_path: Path) -> None:
    """A symlink to a host directory followed by a member below it, a climbing name and a
    device node: each refused with one message; nothing written outside, no image."""
    import io

    dyd.out("ps")
    victim = tmp_path / "victim"
    victim.mkdir()

    def tar(*entries: tarfile.TarInfo, data: bytes = b"x") -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            df = tarfile.TarInfo("Dockerfile")
            body = b"FROM busybox\n"
            df.size = len(body)
            tf.addfile(df, io.BytesIO(body))
            for e in entries:
                tf.addfile(e, io.BytesIO(data) if e.isfile() else None)
        return buf.getvalue()

    link = tarfile.TarInfo("a")
    link.type, link.linkname = tarfile.SYMTYPE, str(victim)
    below = tarfile.TarInfo("a/owned")
    below.size = 1
    climb = tarfile.TarInfo("../../escaped")
    climb.size = 1
    dev = tarfile.TarInfo("null")
    dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
    for entries, word in (((link, below), "below a symlink"), ((climb,), "outside"),
                          ((dev,), "device")):  # fmt: skip
        status, msgs = _post_build(dyd, tar(*entries))
        assert status == 400 and word in str(msgs[0]["message"]), (status, msgs)
    assert not (victim / "owned").exists()
    assert "evil" not in dyd.out("images")
    leftovers = [p.name for p in (dyd.root / "images" / "tmp").glob("*")] if (
        dyd.root / "images" / "tmp").exists() else []  # fmt: skip
    assert not leftovers, leftovers


def test_run_pulls_a_missing_image_as_docker_does(dyd: Daemonized, registry: str) -> None:
    target = f"{registry}/team/onrun:1"
    dyd.out("tag", "busybox", target)
    dyd.out("push", target)
    dyd.out("rmi", target)
    never = dyd.run("run", "--rm", "--pull", "never", target, "echo", "hi")
    assert never.returncode == 125 and "no such image" in never.stderr, never.stderr
    bad = dyd.run("run", "--rm", "--pull", "sometimes", target, "true")
    assert bad.returncode != 0 and "invalid pull option" in bad.stderr, bad.stderr
    ran = dyd.run("run", "--rm", target, "echo", "hi")
    assert ran.returncode == 0 and ran.stdout == "hi\n", ran.stderr
    assert f"Unable to find image '{target}' locally" in ran.stderr, ran.stderr
    again = dyd.run("run", "--rm", target, "echo", "hi")  # present now: no pull
    assert again.stdout == "hi\n" and "Unable to find" not in again.stderr, again.stderr
    always = dyd.run("run", "--rm", "--pull", "always", target, "echo", "hi")
    assert always.stdout == "hi\n" and "Pulling from" in always.stderr, always.stderr
    created = dyd.run("create", "--pull", "missing", f"{registry}/team/nosuch:1", "true")
    assert created.returncode != 0 and "nosuch" in created.stderr, created.stderr


def test_ps_rm_network_volume_system_df(dyd: Daemonized, exe: str) -> None:
    """The rest of the docker CLI's everyday verbs against dockyardd."""
    cid = ok(docker(dyd, exe, "run", "-d", "--name", "svc", "busybox", "sleep", "1000")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid), cid
    listed = ok(docker(dyd, exe, "ps", "--format", "{{.Names}} {{.Status}}"))
    assert re.search(r"^svc Up", listed, re.M), listed
    assert ok(docker(dyd, exe, "ps", "-q", "--no-trunc")).split() == [cid]
    ok(docker(dyd, exe, "network", "create", "backend"))
    assert "backend" in ok(docker(dyd, exe, "network", "ls", "--format", "{{.Name}}")).split()
    ok(docker(dyd, exe, "network", "connect", "backend", "svc"))
    nets = json.loads(ok(docker(dyd, exe, "inspect", "svc")))[0]["NetworkSettings"]["Networks"]
    assert "backend" in nets, nets
    ok(docker(dyd, exe, "volume", "create", "data"))
    assert "data" in ok(docker(dyd, exe, "volume", "ls", "-q")).split()
    df = ok(docker(dyd, exe, "system", "df"))
    assert "Images" in df and "Containers" in df and "Local Volumes" in df, df
    ok(docker(dyd, exe, "rm", "-f", "svc"))
    assert ok(docker(dyd, exe, "ps", "-aq")) == ""
    ok(docker(dyd, exe, "network", "rm", "backend"))
    ok(docker(dyd, exe, "volume", "rm", "data"))
    assert "data" not in ok(docker(dyd, exe, "volume", "ls", "-q")).split()
    gone = docker(dyd, exe, "rm", "svc")
    assert gone.returncode != 0 and "svc" in gone.stderr, gone.stderr
