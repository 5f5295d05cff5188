"""Where the managers attach the v2 device filter (the fake cgroupfs records attachments):
the v2 leaf; on hybrid hosts the cgroup2 leaf, which the container then joins."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest
from cgroups_fakefs import V2_OWN, FakeCgroupFs, make_v1_root, make_v2_root

from dockyard.cgroups import Manager, create_manager
from dockyard.cgroups.v2.devices import program
from dockyard.errors import InvalidArgument, PermissionDenied
from dockyard.oci.resources import DeviceRule, LinuxResources, Pids

RULES = (DeviceRule(False), DeviceRule(True, "c", 1, 3, "rwm"))


@pytest.fixture
def fs() -> FakeCgroupFs:
    return FakeCgroupFs()


def _v2(tmp_path: Path, fs: FakeCgroupFs) -> Manager:
    root, _ = make_v2_root(tmp_path)
    m = create_manager("dockyard/c1", root=root, mode="v2", own_cgroups={"": V2_OWN}, fs=fs)
    m.create()
    return m


def _hybrid(tmp_path: Path, fs: FakeCgroupFs, *, v1_devices: bool = True) -> Manager:
    root, own = make_v1_root(tmp_path)
    uni = root / "unified"
    uni.mkdir()
    for name in ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs"):
        (uni / name).write_text("")
    own[""] = "/"
    if not v1_devices:
        del own["devices"]
    m = create_manager("dockyard/c1", root=root, mode="hybrid", own_cgroups=own, fs=fs)
    m.create()
    return m


def test_v2_apply_attaches_the_program_to_the_leaf(tmp_path: Path, fs: FakeCgroupFs) -> None:
    m = _v2(tmp_path, fs)
    m.apply(LinuxResources(devices=RULES))
    leaf = str(m.paths()[""])
    assert fs.device_filters == {leaf: [program(RULES)]}
    # update: a new program each time (install detaches the earlier one after attaching)
    later = (*RULES, DeviceRule(True, "c", 1, 5, "rwm"))
    m.apply(LinuxResources(devices=later))
    assert fs.device_filters[leaf] == [program(RULES), program(later)]


def test_v2_no_rules_no_program(tmp_path: Path, fs: FakeCgroupFs) -> None:
    """An update without device rules (docker update --memory) keeps the filter there is."""
    m = _v2(tmp_path, fs)
    m.apply(LinuxResources(pids=Pids(10)))
    assert fs.device_filters == {}


def test_bad_rules_change_nothing(tmp_path: Path, fs: FakeCgroupFs) -> None:
    for m in (_v2(tmp_path / "v2", fs), _hybrid(tmp_path / "h", fs)):
        fs.writes.clear()
        bad = LinuxResources(pids=Pids(5), devices=(DeviceRule(False, "b", 1 << 40, 0, "r"),))
        with pytest.raises(InvalidArgument, match="major 1099511627776: out of range"):
            m.apply(bad)
        assert fs.writes == [] and fs.device_filters == {}


def test_v2_attach_failure_is_the_error(tmp_path: Path, fs: FakeCgroupFs) -> None:
    """On v2 the program is the only device control: no filter, no container."""
    m = _v2(tmp_path, fs)
    fs.fail["bpf"] = errno.EPERM
    with pytest.raises(PermissionDenied, match="attach bpf program"):
        m.apply(LinuxResources(devices=RULES))


def test_hybrid_device_rules_join_the_cgroup2_leaf(tmp_path: Path, fs: FakeCgroupFs) -> None:
    m = _hybrid(tmp_path, fs)
    assert "" not in m.joined()
    m.apply(LinuxResources(devices=RULES))
    uni_leaf = tmp_path / "cgroup" / "unified" / "dockyard" / "c1"
    assert fs.device_filters == {str(uni_leaf): [program(RULES)]}
    assert "" in m.joined() and m.paths()[""] == uni_leaf  # the init mounts it, as joined
    assert ("devices.deny", "a") in [(Path(f).name, v) for f, v in fs.writes]  # v1 as before
    child = subprocess.Popen(["sleep", "30"])
    try:
        m.add(child.pid)
        assert (uni_leaf / "cgroup.procs").read_text().split() == [str(child.pid)]
    finally:
        child.kill()
        child.wait()
    m.destroy()
    assert not uni_leaf.exists()


def test_hybrid_update_moves_running_members_in(tmp_path: Path, fs: FakeCgroupFs) -> None:
    """A container started without device rules and given some by ``update``: its members
    join the cgroup2 leaf that carries the program (frozen meanwhile)."""
    m = _hybrid(tmp_path, fs)
    child = subprocess.Popen(["sleep", "30"])
    try:
        m.add(child.pid)
        m.apply(LinuxResources(devices=RULES))
        assert (m.paths()[""] / "cgroup.procs").read_text().split() == [str(child.pid)]
    finally:
        child.kill()
        child.wait()
    m.kill_all()
    m.destroy()


def test_hybrid_tolerates_no_bpf_when_v1_devices_enforces(tmp_path: Path, fs: FakeCgroupFs) -> None:
    m = _hybrid(tmp_path, fs)
    fs.fail["bpf"] = errno.EPERM
    m.apply(LinuxResources(devices=RULES))  # the v1 devices hierarchy still refuses
    assert ("devices.deny", "a") in [(Path(f).name, v) for f, v in fs.writes]


def test_hybrid_without_v1_devices_needs_the_program(tmp_path: Path, fs: FakeCgroupFs) -> None:
    m = _hybrid(tmp_path, fs, v1_devices=False)
    fs.fail["bpf"] = errno.EPERM
    with pytest.raises(PermissionDenied, match="attach bpf program"):
        m.apply(LinuxResources(devices=RULES))
    del fs.fail["bpf"]
    m.apply(LinuxResources(devices=RULES))
    assert list(fs.device_filters.values()) == [[program(RULES)]]
