"""Regression (issue 21, 3e): ``image prune`` removed without asking, and kept dangling
images unless ``-a``; ``system prune -f`` removed only stopped containers (no unused
networks, no dangling images, no total)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest
from regress_kit import Daemonized, dyd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "store"))
from store_tarfixtures import F, layer_tar, oci_archive

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]

QUESTION = (
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
)


def _dangling(dyd: Daemonized, tmp_path: Path) -> str:
    """Load t:1 twice with other content: the first image loses its tag; its id."""
    for n in (1, 2):
        path = oci_archive(tmp_path / f"t{n}.tar", [layer_tar([F("f", str(n).encode())])],
                           "docker.io/library/t:1")  # fmt: skip
        dyd.out("load", "-i", str(path))
        if n == 1:
            first = dyd.out("inspect", "-f", "{{.Id}}", "t:1")
    assert first in dyd.out("images", "-a", "-q", "--no-trunc").split()
    return first


def _on_a_terminal(dyd: Daemonized, answer: bytes, *args: str) -> str:
    """Run the CLI with a pty as stdin and stdout; answer once the question is out."""
    master, slave = pty.openpty()
    p = subprocess.Popen(dyd.argv(*args), stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    seen = b""
    try:
        while b"[y/N] " not in seen:
            select.select([master], [], [], 30)
            seen += os.read(master, 4096)
        os.write(master, answer)
        while True:
            try:
                piece = os.read(master, 4096)
            except OSError:  # EIO: the CLI exited and closed the terminal
                break
            if not piece:
                break
            seen += piece
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
        assert p.stderr is not None
        p.stderr.close()
    return seen.decode().replace("\r\n", "\n")


def test_image_prune_asks_and_removes_dangling_images(dyd: Daemonized, tmp_path: Path) -> None:
    first = _dangling(dyd, tmp_path)
    p = dyd.run("image", "prune", input="")  # no answer: declined
    assert p.returncode == 0 and p.stdout.startswith(QUESTION)
    assert first in dyd.out("images", "-a", "-q", "--no-trunc").split()
    out = _on_a_terminal(dyd, b"n\r", "image", "prune")
    assert QUESTION in out and first in dyd.out("images", "-a", "-q", "--no-trunc").split()
    out = _on_a_terminal(dyd, b"y\r", "image", "prune")
    assert QUESTION in out and f"deleted: {first}" in out and "Total reclaimed space" in out
    assert first not in dyd.out("images", "-a", "-q", "--no-trunc").split()
    assert "t:1" in dyd.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    p = dyd.run("image", "prune", "-f", "-a")  # busybox and t:1: no container uses them
    assert (
        p.returncode == 0 and "untagged: t:1" in p.stdout and "untagged: busybox:latest" in p.stdout
    )
    assert dyd.out("images", "-q") == ""


def test_system_prune_removes_networks_and_dangling_images(dyd: Daemonized,
                                                         tmp_path: Path) -> None:  # fmt: skip
    first = _dangling(dyd, tmp_path)
    dyd.out("network", "create", "unused")
    dyd.out("network", "create", "inuse")
    dyd.out("run", "-d", "--name", "keep", "--network", "inuse", "busybox", "sleep", "60")
    dyd.out("run", "--name", "gone", "busybox", "true")
    p = dyd.run("system", "prune", input="")
    assert p.returncode == 0 and "  - all networks not used by at least one container" in p.stdout
    assert "unused" in dyd.out("network", "ls", "--format", "{{.Name}}").split()
    out = dyd.out("system", "prune", "-f")
    assert "Deleted Containers:\n" in out and "Deleted Networks:\nunused\n" in out
    assert f"Deleted Images:\ndeleted: {first}" in out and "Total reclaimed space: " in out
    assert sorted(dyd.out("network", "ls", "--format", "{{.Name}}").split()) == ["bridge", "inuse"]
    assert dyd.out("ps", "-a", "--format", "{{.Names}}") == "keep"
    assert first not in dyd.out("images", "-a", "-q", "--no-trunc").split()
    out = dyd.out("system", "prune", "-f", "-a")  # t:1 unused; busybox kept by "keep"
    assert "untagged: t:1" in out and "busybox" not in out
    assert dyd.out("images", "--format", "{{.Repository}}") == "busybox"
