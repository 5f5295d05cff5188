"""Crash safety: ``kill -9`` during 20 concurrent pushes leaves nothing corrupt or half visible.

The server runs as a subprocess (``dockyard registry serve``); after the kill
and a restart on the same root every visible blob and manifest must hash to
its name, every tag must name a complete manifest, and every push must
complete when retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dockyard.distribution.testing import HttpClient, TinyImage, tiny_image
from dockyard.oci.digest import sha256_digest

pytestmark = pytest.mark.slow

_RUNNER = """
import argparse, sys
from pathlib import Path
from dockyard.cli.commands import registry as m
from dockyard.cli.main import Context
p = argparse.ArgumentParser()
m.add_arguments(p, "registry")
a = p.parse_args(sys.argv[1:])
sys.exit(m.run(Context(Path("/nonexistent"), Path("/nonexistent")), a, "registry"))
"""


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def start(self) -> HttpClient:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, "serve", "--addr", "127.0.0.1:0",
             "--root", str(self.root), "--access-log="],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        assert m, line
        self.port = int(m.group(1))
        return HttpClient("127.0.0.1", self.port)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "reg")
    try:
        yield s
    finally:
        s.kill()


def _chunked_push(
    c: HttpClient,
    repo: str,
    img: TinyImage,
    tag: str,
    chunk: int,
    on_patch: Callable[[], None] = lambda: None,
) -> None:
    for d, data in img.blobs().items():
        if c("HEAD", f"/v2/{repo}/blobs/{d}").status == 200:
            continue
        r = c("POST", f"/v2/{repo}/blobs/uploads/")
        assert r.status == 202, r.body
        loc = r.headers["Location"]
        for start in range(0, len(data), chunk):
            part = data[start : start + chunk]
            rng = f"{start}-{start + len(part) - 1}"
            r = c("PATCH", loc, part, {"Content-Range": rng})
            assert r.status == 202, r.body
            loc = r.headers["Location"]
            on_patch()
        r = c("PUT", f"{loc}?digest={d}")
        assert r.status == 201, r.body
    ct = json.loads(img.manifest)["mediaType"]
    r = c("PUT", f"/v2/{repo}/manifests/{tag}", img.manifest, {"Content-Type": ct})
    assert r.status == 201, r.body


def _check_store(root: Path) -> None:
    """Every committed blob hashes to its name (there may be none yet)."""
    blobs = root / "blobs" / "sha256"
    for p in blobs.iterdir() if blobs.is_dir() else ():
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name, p


IN_FLIGHT = 10  # uploads that have a chunk accepted, and no more, when the kill comes


def test_kill_9_during_concurrent_pushes(server: Server) -> None:
    """The kill comes when IN_FLIGHT uploads are part-way, whatever the machine's speed.

    Each push holds after its first accepted chunk until the kill (the others keep going):
    the test waits for that event, not for a fixed time that a fast machine outruns.
    """
    images = [tiny_image(f"crash{i}", layers=2, size=300_000) for i in range(20)]
    c = server.start()
    errors: list[BaseException] = []
    lock = threading.Lock()
    started: list[int] = []
    enough = threading.Event()
    killed = threading.Event()

    def work(i: int) -> None:
        def on_patch() -> None:
            with lock:
                if i in started or killed.is_set():
                    return
                started.append(i)
                if len(started) >= IN_FLIGHT:
                    enough.set()
            killed.wait(60)

        try:
            _chunked_push(c, f"crash/app{i}", images[i], "v1", 64 * 1024, on_patch)
        except BaseException as e:  # the kill interrupts most of them
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    assert enough.wait(60), f"only {len(started)} uploads got a chunk in"
    server.kill()
    killed.set()
    for t in threads:
        t.join(60)
    assert errors, "the kill came too late to interrupt anything"

    c = server.start()
    _check_store(server.root)
    for i, img in enumerate(images):
        r = c("GET", f"/v2/crash/app{i}/manifests/v1")
        if r.status == 200:  # visible only complete
            assert r.body == img.manifest
            for d, data in img.blobs().items():
                assert c("GET", f"/v2/crash/app{i}/blobs/{d}").body == data
        else:
            assert r.status == 404
    # every push completes when retried
    for i, img in enumerate(images):
        _chunked_push(c, f"crash/app{i}", img, "v1", 64 * 1024)
    for i, img in enumerate(images):
        r = c("GET", f"/v2/crash/app{i}/manifests/v1")
        assert r.status == 200 and sha256_digest(r.body) == img.digest
        for d, data in img.blobs().items():
            assert c("GET", f"/v2/crash/app{i}/blobs/{d}").body == data
    _check_store(server.root)
