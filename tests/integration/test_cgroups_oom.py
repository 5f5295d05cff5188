"""A real OOM: a child allocating 256 MB in a 64 MB cgroup is killed and counted."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_cgroups_contract_host import host_usable

from dockyard.cgroups import create_manager
from dockyard.oci.resources import LinuxResources, Memory

pytestmark = pytest.mark.root

HOG = "import sys; sys.stdin.readline(); b = b'x' * (256 << 20); print(len(b))"


def test_oom_kill_is_seen() -> None:
    reason = host_usable()
    if reason:
        pytest.skip(reason)
    m = create_manager(f"dockyard-test-{uuid.uuid4().hex[:10]}/oom")
    m.create()
    try:
        # memory+swap equal to memory: no escape into swap where swap accounting exists.
        m.apply(LinuxResources(memory=Memory(limit=64 << 20, swap=64 << 20)))
        child = subprocess.Popen(
            [sys.executable, "-S", "-c", HOG], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        try:
            m.add(child.pid)
            assert child.stdin is not None
            child.stdin.write(b"go\n")
            child.stdin.close()
            assert child.wait(timeout=60) == -signal.SIGKILL
        finally:
            child.kill()
            child.wait()
        assert m.oom_kill_count() >= 1
        assert m.stats().memory_oom_kill_events >= 1
    finally:
        m.kill_all()
        m.destroy()
    assert not any(d.exists() for d in m.paths().values())
