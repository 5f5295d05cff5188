"""Regression: a build with the default (sandbox) network unmounted the host's mounts on a
host whose mounts are shared (every systemd host): slirp4netns's ``--enable-sandbox``
detached its old root after making ``/`` private without MS_REC, and the detach propagated
(the cgroup v2 guest lost /sys/fs/cgroup after one build).

The test makes that host: a private mount namespace of its own whose mounts are shared, with
a sentinel tmpfs on a tmpfs (as /sys/fs/cgroup sits on /sys); a build there must leave the
sentinel mounted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / ".cache" / "images" / "busybox_latest.tar"


@pytest.mark.root
def test_a_sandboxed_build_leaves_a_shared_hosts_mounts(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not IMAGE.exists() or not shutil.which("slirp4netns"):
        pytest.skip("needs the cached busybox image and slirp4netns (make setup)")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox:latest\nRUN echo hi > /x\n")
    sentinel = tmp_path / "sentinel"
    sentinel.mkdir()
    cli = f"{sys.executable} -m dockyard.cli.main --root {tmp_path}/r --run-root {tmp_path}/rr"
    script = f"""
        set -e
        ip link set lo up
        mount -t tmpfs base {sentinel}
        mkdir {sentinel}/s
        mount -t tmpfs sentinel {sentinel}/s
        {cli} load -i {IMAGE} >/dev/null
        {cli} build --progress plain -t t:1 {ctx} >/dev/null 2>&1
        findmnt -n {sentinel}/s >/dev/null && echo KEPT || echo LOST
    """
    p = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "shared", "--", "sh", "-c", script],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "KEPT", (p.stdout, p.stderr)
    shutil.rmtree(tmp_path / "r", ignore_errors=True)
