"""podman drives dockyard-runtime (``--runtime``), on private storage and config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from support import build_rootfs

pytestmark = [pytest.mark.root, pytest.mark.anchors, pytest.mark.slow]
RUNTIME = Path(sys.executable).parent / "dockyard-runtime"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="dy-pm-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def podman(tmp_path: Path, short_dir: Path) -> list[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    exe = shutil.which("podman")
    if exe is None:
        pytest.skip("podman is not installed")
    if not RUNTIME.exists():
        pytest.skip("dockyard-runtime is not installed in this environment")
    conf = tmp_path / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
    )
    os.environ["CONTAINERS_CONF"] = str(conf)
    return [exe, "--root", str(tmp_path / "root"), "--runroot", str(short_dir / "run"),
            "--storage-driver", "vfs", "--runtime", str(RUNTIME)]  # fmt: skip


def test_podman_run_rm(podman: list[str], tmp_path: Path) -> None:
    rootfs = build_rootfs(tmp_path / "rootfs")
    try:
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
        imp = subprocess.run([*podman, "import", "-", "localhost/dybox"], input=tar.stdout,
                             capture_output=True, check=False, timeout=120)  # fmt: skip
        assert imp.returncode == 0, imp.stderr.decode()
        done = subprocess.run(
            [*podman, "run", "--rm", "--network", "none", "localhost/dybox",
             "sh", "-c", "echo pid=$$; hostname; exit 3"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 3, done.stderr
        assert "pid=1" in done.stdout
        ps = subprocess.run(
            [*podman, "ps", "-aq"], capture_output=True, text=True, timeout=60, check=False
        )
        assert ps.stdout.strip() == ""
    finally:
        subprocess.run([*podman, "rm", "-af"], capture_output=True, timeout=60, check=False)
        os.environ.pop("CONTAINERS_CONF", None)
