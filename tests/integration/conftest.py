"""Fixtures for tests that drive the ``dockyard`` CLI on real containers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from daemon_kit import TIME_SCALE

REPO = Path(__file__).resolve().parents[2]
IMAGE_CACHE = REPO / ".cache" / "images"
DOCKYARD = [sys.executable, "-m", "dockyard.cli.main"]

# Daemons started by these tests prepare no containers ahead (docs/decisions/0005): many
# tests compare the host's cgroups, mounts and links before and after; a spare made after
# a run would be among them. test_daemon_spares.py turns them on (env DOCKYARD_SPARES=1).
os.environ.setdefault("DOCKYARD_SPARES", "0")


def need_tool(name: str) -> str:
    """The path of a reference tool, or skip the test with the reason."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make setup installs it)")
    return path


def _start_netns_holder() -> subprocess.Popen[bytes]:
    """A ``sleep`` holding a private network namespace (loopback up): the daemons the CLI
    starts live there, so their default bridge, veths and nft tables never reach the real
    host's namespace, and two state roots never share (or fight over) one bridge."""
    p = subprocess.Popen(["unshare", "--net", "--", "sh", "-c",
                          "ip link set lo up; echo ready; exec sleep infinity"],
                         stdout=subprocess.PIPE)  # fmt: skip
    assert p.stdout is not None
    if p.stdout.readline().strip() != b"ready":
        raise AssertionError("unshare --net failed")
    return p


@dataclass
class Dockyard:
    """Runs the CLI against a private state root, in a private network namespace of its
    own (mounts stay in ours, so the cleanup below sees them)."""

    root: Path
    run_root: Path
    holder: subprocess.Popen[bytes] | None = None

    def netns_pid(self) -> int:
        if self.holder is None:
            self.holder = _start_netns_holder()
        return self.holder.pid

    def argv(self, *args: str) -> list[str]:
        cli = [*DOCKYARD, "--root", str(self.root), "--run-root", str(self.run_root), *args]
        if os.geteuid() != 0:
            return cli
        return ["nsenter", "-t", str(self.netns_pid()), "-n", "--", *cli]

    def close(self) -> None:
        """Remove the roots (the daemon and shim end themselves when their roots go),
        then end the namespace holder."""
        _cleanup(self.root, self.run_root)
        if self.holder is not None:
            self.holder.kill()
            self.holder.wait()
            if self.holder.stdout is not None:
                self.holder.stdout.close()
            self.holder = None

    def run(self, *args: str, timeout: float = 120, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout * TIME_SCALE,
            input=input,
            check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip

    def ensure(self, image: str) -> None:
        """Load a base image from make setup's cache, or bootstrap it (busybox is quick)."""
        if self.run("image", "inspect", image).returncode == 0:
            return
        cached = IMAGE_CACHE / (image.replace(":", "_") + ".tar")
        if cached.is_file():
            self.run("load", "-i", str(cached), check=True)
        elif image.startswith("busybox"):
            self.run("image", "bootstrap", image, timeout=300, check=True)
        else:
            pytest.skip(f"{image} is not cached in {IMAGE_CACHE} (make setup builds it)")


def _cleanup(root: Path, run_root: Path) -> None:
    """Unmount anything a failed test left under our roots, then remove them (the
    holders of containers a daemon left are killed first)."""
    from daemon_kit import kill_holders

    kill_holders(run_root)
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        points = []
    for point in sorted(points, key=len, reverse=True):
        if point.startswith((str(root) + "/", str(run_root) + "/")):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(run_root, ignore_errors=True)


@pytest.fixture(scope="session")
def dy_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    """One root with busybox, shared by the tests that only read images."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = tmp_path_factory.mktemp("dy")
    d = Dockyard(base / "root", base / "run")
    d.ensure("busybox:latest")
    yield d
    d.close()


@pytest.fixture
def dy(dy_session: Dockyard) -> Dockyard:
    return dy_session


@pytest.fixture
def dy_fresh(tmp_path: Path) -> Iterator[Dockyard]:
    """A private, empty root for tests that change the image list."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    d = Dockyard(tmp_path / "root", tmp_path / "run")
    yield d
    d.close()
