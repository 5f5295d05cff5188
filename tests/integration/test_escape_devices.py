"""Device escapes against the v2 device filter (a BPF_PROG_TYPE_CGROUP_DEVICE program).

A container keeps CAP_MKNOD (Docker's default set) and its ``/dev`` is a tmpfs without
``nodev``: root in it can ``mknod`` the host's disk or ``/dev/mem`` and open them unless
device control refuses. On v1 that is the devices hierarchy; on cgroup v2 only a BPF
program attached to the container's cgroup can. This host is hybrid (v1 and a cgroup2
mount), where the container now also joins a cgroup2 leaf that carries the program.

To show that the *program* refuses (not v1's devices hierarchy), the runtime tests build
their managers without the v1 devices hierarchy (``own_cgroups`` without ``devices``: the
init stays in the host's root devices cgroup, which allows everything, as on a v2 host);
"defence off" is the same with a cgroupfs whose ``attach_device_filter`` does nothing, a
test-only stand-in, so production code has no switch to turn the filter off.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from support import base_config, build_rootfs, cgroup_dirs, runtime_cli, write_bundle

from conftest import Dockyard
from dockyard.cgroups import CgroupFs, Manager, create_manager, own_cgroups
from dockyard.linux.bpf import BPF_CGROUP_DEVICE, LibcBpf
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import parse_resources
from dockyard.runtime import Runtime

pytestmark = pytest.mark.root

CGROUP2 = Path("/sys/fs/cgroup/unified")


def _host_disk() -> tuple[int, int]:
    """A block device of the host that the host itself can open: its disk where it may (on
    this machine the sandbox around it refuses /dev/vda even to root), else a zram or loop
    device: what matters is that only the device control stands in the way."""
    devs = sorted(Path("/sys/block").iterdir(), key=lambda d: d.name.startswith(("zram", "loop")))
    for dev in devs:
        if dev.name.startswith(("ram", "dm-", "nbd")):
            continue
        major, minor = (int(x) for x in (dev / "dev").read_text().split(":"))
        try:
            os.close(os.open(f"/dev/{dev.name}", os.O_RDONLY))
        except OSError:
            continue
        return major, minor
    pytest.skip("no block device on this host that the host itself can open")


def _cgroup2_leaf(pid: int) -> Path:
    """The cgroup2 directory of process ``pid`` (hybrid: under the cgroup2 mount)."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            base = CGROUP2 if CGROUP2.is_dir() else Path("/sys/fs/cgroup")
            return base / line[3:].lstrip("/")
    raise AssertionError(f"process {pid} has no cgroup2 membership")


def _device_programs(leaf: Path) -> list[int]:
    fd = os.open(leaf, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return LibcBpf().prog_query(fd, BPF_CGROUP_DEVICE)
    finally:
        os.close(fd)


def _wait_for(what: str, ok: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- the runtime, with and without the filter -----------------------------------------------------


class _NoFilterFs(CgroupFs):
    """Defence off (tests only): the filter is never attached."""

    def attach_device_filter(self, path: FsPath, program: bytes) -> None:
        return None


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    if not Path("/proc/self/cgroup").read_text().startswith("0::") and "\n0::" not in (
        Path("/proc/self/cgroup").read_text()
    ):
        pytest.skip("no cgroup2 hierarchy on this host")
    return build_rootfs(tmp_path_factory.mktemp("rootfs"))


def _runtime(tmp_path: Path, fs: CgroupFs) -> Runtime:
    own = {k: v for k, v in own_cgroups().items() if k != "devices"}

    def manager(path: str) -> Manager:
        return create_manager(path, own_cgroups=own, fs=fs)

    return Runtime(tmp_path / "state", cgroups=manager)


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for rt in made:
        ids = [s.id for s in rt.list()]
        for cid in ids:
            rt.delete(cid, force=True)
        assert not [d for cid in ids for d in cgroup_dirs(cid)], "cgroups left behind"


def _config(rootfs: Path, script: str, out: Path | None = None) -> dict[str, Any]:
    from dockyard.runtime.defaults import DEFAULT_CAPS, default_seccomp

    cfg = base_config(rootfs, ["sh", "-c", script])
    caps = list(DEFAULT_CAPS)  # CAP_MKNOD among them, as in Docker
    cfg["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    cfg["linux"]["seccomp"] = default_seccomp()
    if out is not None:
        cfg["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]}
        )
    return cfg


def _run(rt: Runtime, bundle: Path) -> tuple[int, str]:
    """Run in the foreground; (exit code, stdout + stderr)."""
    with tempfile.TemporaryFile() as out:
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            status = rt.run("d-" + uuid.uuid4().hex[:10], bundle)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        return status.code, out.read().decode()


ATTACK = (
    "mknod /dev/disk b {major} {minor} && echo made-disk; "
    "mknod /dev/mem c 1 1 && echo made-mem; "
    "head -c 512 /dev/disk >/dev/null && echo opened-disk; "
    "head -c 1 /dev/mem >/dev/null; "
    "echo ok > /dev/null && head -c 4 /dev/zero | wc -c"
)


@pytest.mark.parametrize("defence", ["on", "off"])
def test_mknod_of_the_host_disk_and_dev_mem(
    defence: str, rootfs: Path, tmp_path: Path, runtimes: list[Runtime]
) -> None:
    rt = _runtime(tmp_path, CgroupFs() if defence == "on" else _NoFilterFs())
    runtimes.append(rt)
    major, minor = _host_disk()
    bundle = write_bundle(tmp_path / "b", _config(rootfs, ATTACK.format(major=major, minor=minor)))
    _, out = _run(rt, bundle)
    lines = out.splitlines()
    assert "made-disk" in lines and "made-mem" in lines, out  # mknod itself stays allowed
    assert lines[-1] == "4", out  # /dev/null and /dev/zero (default devices) work
    if defence == "on":
        assert "head: /dev/disk: Operation not permitted" in out, out
        assert "head: /dev/mem: Operation not permitted" in out, out
        assert "opened-disk" not in lines, out
    else:  # the attack works: the host's device opens. /dev/mem reaches its driver, whose
        # own answer depends on the kernel (none: "No such device or address"; a kernel with
        # STRICT_DEVMEM or lockdown refuses even the host's root), so only the disk counts
        assert "opened-disk" in lines, out


def _count(out: Path) -> int:
    return int((out / "count").read_text().strip() or 0)


def test_update_replaces_the_filter_without_a_gap(
    rootfs: Path, tmp_path: Path, runtimes: list[Runtime]
) -> None:
    """A container opens the host's disk in a loop while the filter is replaced 20 times
    (each time still refusing it): no open ever succeeds, and one program is attached
    after each update. A last update that allows the disk takes effect at once, so the
    earlier programs are gone (stacked, they would still refuse)."""
    rt = _runtime(tmp_path, CgroupFs())
    runtimes.append(rt)
    major, minor = _host_disk()
    out = tmp_path / "out"
    out.mkdir()
    script = (
        f"mknod /dev/disk b {major} {minor}; i=0; while [ ! -e /out/stop ]; do "
        "if head -c 1 /dev/disk >/dev/null 2>&1; then echo open >> /out/log; fi; "
        "i=$((i+1)); echo $i > /out/count; done"
    )
    bundle = write_bundle(tmp_path / "b", _config(rootfs, script, out))
    cid = "u-" + uuid.uuid4().hex[:10]
    rt.run(cid, bundle, detach=True)
    leaf = _cgroup2_leaf(rt.state(cid).pid)
    assert len(_device_programs(leaf)) == 1
    _wait_for("the loop", (out / "count").exists)
    deny = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "major": 1,
            "minor": 3, "access": "rwm"}]  # fmt: skip
    seen: set[int] = set()
    for i in range(20):
        extra = [{"allow": True, "type": "c", "major": 1, "minor": 5 + i % 2, "access": "rwm"}]
        before = _count(out)
        rt.update(cid, parse_resources({"devices": deny + extra}))
        progs = _device_programs(leaf)
        assert len(progs) == 1 and progs[0] not in seen, progs
        seen.add(progs[0])
        _wait_for("an open after the update", lambda b=before: _count(out) > b + 1)
    assert not (out / "log").exists(), (out / "log").read_text()
    allow_disk = [{"allow": True, "type": "b", "major": major, "minor": minor, "access": "r"}]
    rt.update(cid, parse_resources({"devices": deny + allow_disk}))
    _wait_for("the disk to open", (out / "log").exists)
    (out / "stop").touch()


def test_runtime_cli_update_replaces_the_filter(rootfs: Path, tmp_path: Path) -> None:
    """``dockyard-runtime update --resources`` goes through the same manager."""
    root = tmp_path / "state"
    cid = "r-" + uuid.uuid4().hex[:10]
    bundle = write_bundle(tmp_path / "b", _config(rootfs, "sleep 60"))
    try:
        done = runtime_cli(root, "run", "--detach", "--bundle", str(bundle), cid)
        assert done.returncode == 0, done.stderr
        pid = json.loads(runtime_cli(root, "state", cid).stdout)["pid"]
        leaf = _cgroup2_leaf(pid)
        first = _device_programs(leaf)
        assert len(first) == 1
        res = tmp_path / "res.json"
        res.write_text(json.dumps({"devices": [{"allow": False, "access": "rwm"}]}))
        done = runtime_cli(root, "update", "--resources", str(res), cid)
        assert done.returncode == 0, done.stderr
        after = _device_programs(leaf)
        assert len(after) == 1 and after != first
    finally:
        runtime_cli(root, "delete", "--force", cid)
    assert not cgroup_dirs(cid)


# -- dockyard run: a default container on this host ------------------------------------------------


def sh(dy: Dockyard, script: str, *flags: str) -> tuple[int, str]:
    out = dy.run("run", "--rm", *flags, "busybox", "sh", "-c", script)
    err = "".join(x for x in out.stderr.splitlines(keepends=True) if not x.startswith("WARNING: "))
    return out.returncode, out.stdout + err


def test_default_container_cannot_read_the_host_disk_or_dev_mem(dy: Dockyard) -> None:
    major, minor = _host_disk()
    _, out = sh(dy, ATTACK.format(major=major, minor=minor))
    lines = out.splitlines()
    assert "made-disk" in lines and "made-mem" in lines, out
    assert "head: /dev/disk: Operation not permitted" in out, out
    assert "head: /dev/mem: Operation not permitted" in out, out
    assert "opened-disk" not in lines and "4" in lines, out


def test_default_container_carries_one_device_filter(dy: Dockyard) -> None:
    name = "devf-" + uuid.uuid4().hex[:8]
    done = dy.run("run", "-d", "--name", name, "busybox", "sleep", "60")
    assert done.returncode == 0, done.stderr
    try:
        info = json.loads(dy.run("inspect", name, check=True).stdout)
        info = info[0] if isinstance(info, list) else info
        leaf = _cgroup2_leaf(int(info["State"]["Pid"]))
        assert leaf != CGROUP2 and leaf != Path("/sys/fs/cgroup"), leaf
        assert len(_device_programs(leaf)) == 1
    finally:
        dy.run("rm", "-f", name)


def test_added_and_tty_devices_still_work(dy: Dockyard) -> None:
    if not Path("/dev/loop-control").exists():
        pytest.skip("no /dev/loop-control on this host")
    script = "exec 3<>/dev/loop-control && echo opened"
    rc, out = sh(dy, script, "--device", "/dev/loop-control")
    assert rc == 0 and "opened" in out, out
    rc, out = sh(dy, "mknod /dev/lc c 10 237 && exec 3<>/dev/lc && echo opened")
    assert "opened" not in out and "Operation not permitted" in out, out  # not added: refused
    rc, out = sh(dy, "echo hi > /dev/tty && echo tty-ok", "-t")
    assert rc == 0 and "tty-ok" in out, out


def test_a_program_the_verifier_refuses_names_its_reason() -> None:
    from dockyard.cgroups.v2.devices import insn
    from dockyard.errors import Internal
    from dockyard.linux.bpf import BPF_PROG_TYPE_CGROUP_DEVICE

    with pytest.raises(Internal, match=r"load bpf program: refused by the verifier: .*R0"):
        LibcBpf().prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, insn(0x95))  # exit, r0 never set
