"""Paths into a container are resolved inside it (issue 13 item 7): ``dockyard cp`` into a
container whose process flips a directory and a symlink to ``/`` in a tight loop never
writes on the host (CVE-2018-15664), and a cp tar whose hard link names an absolute host
path is refused before anything is written.

A real ``dockyardd`` in private network and mount namespaces (kube_kit); "the host" is the
daemon's mount namespace, where the container's root filesystem is mounted.
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
import uuid
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube

pytestmark = pytest.mark.root

__all__ = ["kube"]


def _start(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)


def _put_archive(kube: KubeDaemon, cid: str, path: str, data: bytes) -> tuple[int, str]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect(str(kube.run_root / "dockyard.sock"))
        head = (
            f"PUT /containers/{cid}/archive?path={path} HTTP/1.0\r\nHost: dockyard\r\n"
            f"Content-Type: application/x-tar\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        s.sendall(head.encode() + data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    finally:
        s.close()
    status, _, body = out.partition(b"\r\n\r\n")
    return int(status.split()[1]), body.decode(errors="replace")


def test_cp_into_a_flipping_symlink_never_lands_on_the_host(
    kube: KubeDaemon, tmp_path: Path
) -> None:
    _start(kube)
    flip = "while :; do rm -rf /w; mkdir /w; rm -rf /w; ln -s / /w; done"
    cid = kube.out("run", "-d", "busybox", "sh", "-c", flip)
    marker = f"dy-escape-{uuid.uuid4().hex[:12]}"
    src = tmp_path / marker
    src.write_text("copied\n")
    try:
        for _ in range(60):
            kube.run("cp", str(src), f"{cid}:/w/")  # fails now and then: /w vanished
            host = kube.sh(f"test -e /{marker} && echo LEAKED").stdout
            assert "LEAKED" not in host, "cp wrote on the host"
        # it did land in the container, through the symlink, in the container's /
        landed = kube.out("exec", cid, "sh", "-c", f"ls /{marker} /w/{marker} 2>/dev/null; true")
        assert marker in landed, landed
    finally:
        kube.sh(f"rm -f /{marker}")
        kube.run("rm", "-f", cid)


def _hardlink_tar(linkname: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("x")
        link.type, link.linkname = tarfile.LNKTYPE, linkname
        tar.addfile(link)
        f = tarfile.TarInfo("x")
        f.size = 5
        tar.addfile(f, io.BytesIO(b"owned"))
    return buf.getvalue()


def test_a_hardlink_to_a_host_path_in_a_cp_tar_is_refused(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    victim = tmp_path / "host-file"
    victim.write_text("host\n")
    cid = kube.out("run", "-d", "busybox", "sleep", "300")
    try:
        for linkname in (str(victim), "../../../../../../../.." + str(victim)):
            status, body = _put_archive(kube, cid, "/tmp", _hardlink_tar(linkname))
            assert status == 400 and "hardlink leaves the destination" in body, (status, body)
        assert victim.read_text() == "host\n"
        assert kube.out("exec", cid, "ls", "-A", "/tmp") == ""  # nothing written
        # a hard link to a name inside the destination still works
        ok = io.BytesIO()
        with tarfile.open(fileobj=ok, mode="w") as tar:
            f = tarfile.TarInfo("a")
            f.size = 2
            tar.addfile(f, io.BytesIO(b"hi"))
            link = tarfile.TarInfo("b")
            link.type, link.linkname = tarfile.LNKTYPE, "a"
            tar.addfile(link)
        status, body = _put_archive(kube, cid, "/tmp", ok.getvalue())
        assert status < 300, (status, body)
        out = kube.out("exec", cid, "sh", "-c", "cat /tmp/b; echo; stat -c %h /tmp/a")
        assert out.split() == ["hi", "2"], out
    finally:
        kube.run("rm", "-f", cid)
    assert os.path.exists(victim)
