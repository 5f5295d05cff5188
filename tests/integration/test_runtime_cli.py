"""dockyard-runtime's runc command line: lifecycle, output, errors, logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from support import base_config, build_rootfs, write_bundle

pytestmark = [pytest.mark.root]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    return build_rootfs(tmp_path_factory.mktemp("rootfs"))


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI; output goes through files, since a created init keeps its stdio open."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            [sys.executable, "-m", "dockyard.cli.runtime_main", "--root", str(root), *args],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())


def test_cli_lifecycle(tmp_path: Path, rootfs: Path) -> None:
    root = tmp_path / "state"
    bundle = write_bundle(tmp_path / "b", base_config(rootfs, ["sleep", "30"]))
    cid = "cli-" + uuid.uuid4().hex[:8]
    try:
        r = cli(root, "create", "--bundle", str(bundle), "--pid-file", str(tmp_path / "pid"), cid)
        assert r.returncode == 0, r.stderr
        state = json.loads(cli(root, "state", cid).stdout)
        assert state["status"] == "created" and state["pid"] == int((tmp_path / "pid").read_text())
        assert cli(root, "start", cid).returncode == 0
        assert json.loads(cli(root, "state", cid).stdout)["status"] == "running"
        r = cli(root, "exec", cid, "sh", "-c", "echo in; exit 4")
        assert (r.returncode, r.stdout) == (4, "in\n")
        assert cid in cli(root, "list", "-q").stdout
        r = cli(root, "delete", cid)
        assert r.returncode == 1 and "container is running" in r.stderr
        assert cli(root, "kill", cid, "KILL").returncode == 0
    finally:
        assert cli(root, "delete", "--force", cid).returncode == 0
    assert cli(root, "list", "-q").stdout == ""


def test_cli_run_exit_code_and_errors(tmp_path: Path, rootfs: Path) -> None:
    root = tmp_path / "state"
    bundle = write_bundle(tmp_path / "b", base_config(rootfs, ["sh", "-c", "exit 5"]))
    assert cli(root, "run", "-b", str(bundle), "r1").returncode == 5
    log = tmp_path / "log.json"
    r = cli(root, "--log", str(log), "--log-format", "json", "state", "nope")
    assert r.returncode == 1
    assert r.stderr.strip() == "container nope: does not exist"
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and entry["msg"] == "container nope: does not exist"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"ociVersion": "1.0.0", "process": 3}')
    r = cli(root, "run", "-b", str(bad), "r2")
    assert r.returncode == 1 and "process: expected an object" in r.stderr
    assert not (root / "r2").exists()
    r = cli(root, "--systemd-cgroup", "run", "-b", str(bundle), "r3")
    assert r.returncode == 1 and "systemd" in r.stderr
    assert cli(root, "bogus").returncode == 1


def test_cli_spec_and_features(tmp_path: Path) -> None:
    assert cli(tmp_path, "spec", "--bundle", str(tmp_path)).returncode == 0
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["process"]["args"] == ["sh"]
    assert cli(tmp_path, "spec", "--bundle", str(tmp_path)).returncode == 1  # exists
    feats = json.loads(cli(tmp_path, "features").stdout)
    assert "pid" in feats["linux"]["namespaces"]


def test_later_commands_find_the_cgroup_wherever_they_run(tmp_path: Path, rootfs: Path) -> None:
    """podman runs `create` from conmon's cgroup and `delete` from its own: the cgroup is
    placed beneath the creator's cgroup, which the state records for later commands."""
    own = next(
        line.split(":", 2)[2]
        for line in Path("/proc/self/cgroup").read_text().splitlines()
        if line.split(":")[1] == "memory"
    )
    memory = Path("/sys/fs/cgroup/memory") / own.lstrip("/")
    side = memory / f"dy-test-{uuid.uuid4().hex[:8]}"
    side.mkdir()
    root = tmp_path / "state"
    bundle = write_bundle(tmp_path / "b", base_config(rootfs, ["sleep", "30"]))
    cid = "cg-" + uuid.uuid4().hex[:8]
    leaf = side / "dockyard" / cid
    try:
        with open(os.devnull, "w") as null:
            done = subprocess.run(
                [sys.executable, "-m", "dockyard.cli.runtime_main", "--root", str(root),
                 "create", "--bundle", str(bundle), cid],
                stdin=subprocess.DEVNULL, stdout=null, stderr=null, timeout=60, check=False,
                env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                preexec_fn=lambda: (side / "cgroup.procs").write_text("0"),
            )  # fmt: skip
        assert done.returncode == 0
        assert leaf.is_dir() and not (memory / "dockyard" / cid).exists()
        assert cli(root, "start", cid).returncode == 0
        assert len(json.loads(cli(root, "ps", "--format", "json", cid).stdout)) == 1
        r = cli(root, "delete", "--force", cid)
        assert r.returncode == 0, r.stderr
        assert not leaf.exists()
    finally:
        cli(root, "delete", "--force", cid)
        for d in (leaf, side / "dockyard", side):
            if d.exists():
                d.rmdir()
