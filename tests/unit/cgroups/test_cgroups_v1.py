"""v1 controllers and manager against the fake filesystem."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from cgroups_fakefs import FakeCgroupFs, make_v1_root

from dockyard.cgroups import Manager, create_manager
from dockyard.cgroups.v1.devices import rule_line
from dockyard.errors import InvalidArgument, PermissionDenied, Unavailable
from dockyard.oci.resources import (
    CPU,
    BlockIO,
    DeviceRule,
    HugepageLimit,
    LinuxResources,
    Memory,
    Network,
    ThrottleDevice,
    WeightDevice,
)


@pytest.fixture
def fs() -> FakeCgroupFs:
    return FakeCgroupFs()


@pytest.fixture
def m(tmp_path: Path, fs: FakeCgroupFs) -> Manager:
    root, own = make_v1_root(tmp_path)
    mgr = create_manager("dockyard/c1", root=root, mode="v1", own_cgroups=own, fs=fs)
    mgr.create()
    return mgr


def read(m: Manager, controller: str, name: str) -> str:
    return (m.paths()[controller] / name).read_text().strip()


def test_memory_placed_beneath_own_memory_cgroup(m: Manager) -> None:
    assert "process_api/abc/dockyard/c1" in str(m.paths()["memory"])
    assert m.paths()["cpu"] == m.paths()["cpuacct"]


def test_cpuset_copied_from_parent_on_create(m: Manager) -> None:
    d = m.paths()["cpuset"]
    assert (d.parent / "cpuset.cpus").read_text() == "0-1"
    assert read(m, "cpuset", "cpuset.cpus") == "0-1"
    assert read(m, "cpuset", "cpuset.mems") == "0"


def test_memory_limits(m: Manager, fs: FakeCgroupFs) -> None:
    m.apply(
        LinuxResources(
            memory=Memory(
                limit=100, swap=200, reservation=50, swappiness=10, disable_oom_killer=True
            )
        )
    )
    assert read(m, "memory", "memory.limit_in_bytes") == "100"
    assert read(m, "memory", "memory.memsw.limit_in_bytes") == "200"
    assert read(m, "memory", "memory.soft_limit_in_bytes") == "50"
    assert read(m, "memory", "memory.swappiness") == "10"
    assert read(m, "memory", "memory.oom_control") == "1"


def test_memory_swap_order_when_lowering(m: Manager, fs: FakeCgroupFs) -> None:
    m.apply(LinuxResources(memory=Memory(limit=100, swap=200)))
    fs.writes.clear()
    m.apply(LinuxResources(memory=Memory(limit=50, swap=80)))
    names = [Path(p).name for p, _ in fs.writes]
    assert names == ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    fs.writes.clear()
    m.apply(LinuxResources(memory=Memory(limit=500, swap=900)))
    names = [Path(p).name for p, _ in fs.writes]
    assert names == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


@pytest.mark.parametrize("limit", [0, -1, -5])
def test_memory_non_positive_is_unlimited(m: Manager, limit: int) -> None:
    m.apply(LinuxResources(memory=Memory(limit=limit)))
    assert read(m, "memory", "memory.limit_in_bytes") == "-1"


def test_memory_bad_swappiness(m: Manager) -> None:
    with pytest.raises(InvalidArgument, match="swappiness 101"):
        m.apply(LinuxResources(memory=Memory(swappiness=101)))


def test_swap_without_accounting_is_unavailable(m: Manager) -> None:
    (m.paths()["memory"] / "memory.memsw.limit_in_bytes").unlink()
    with pytest.raises(Unavailable, match="swap accounting"):
        m.apply(LinuxResources(memory=Memory(limit=100, swap=200)))
    m.apply(LinuxResources(memory=Memory(limit=100, swap=-1)))  # unlimited: nothing to do


def test_cpu(m: Manager) -> None:
    m.apply(LinuxResources(cpu=CPU(shares=512, quota=20000, period=50000, burst=1000, idle=1)))
    assert read(m, "cpu", "cpu.shares") == "512"
    assert read(m, "cpu", "cpu.cfs_quota_us") == "20000"
    assert read(m, "cpu", "cpu.cfs_period_us") == "50000"
    assert read(m, "cpu", "cpu.cfs_burst_us") == "1000"
    assert read(m, "cpu", "cpu.idle") == "1"


def test_realtime_refused_without_rt_group_sched(m: Manager, fs: FakeCgroupFs) -> None:
    fs.writes.clear()
    with pytest.raises(Unavailable, match="realtime"):
        m.apply(LinuxResources(cpu=CPU(realtime_runtime=1000, cpus="0")))
    assert fs.writes == []  # refused before anything was written


def test_realtime_written_when_supported(m: Manager) -> None:
    (m.paths()["cpu"] / "cpu.rt_runtime_us").write_text("0")
    (m.paths()["cpu"] / "cpu.rt_period_us").write_text("1000000")
    m.apply(LinuxResources(cpu=CPU(realtime_runtime=1000, realtime_period=500000)))
    assert read(m, "cpu", "cpu.rt_runtime_us") == "1000"
    assert read(m, "cpu", "cpu.rt_period_us") == "500000"


def test_kernel_einval_names_file_and_value(m: Manager, fs: FakeCgroupFs) -> None:
    fs.fail["cpu.cfs_quota_us"] = errno.EINVAL
    with pytest.raises(InvalidArgument) as e:
        m.apply(LinuxResources(cpu=CPU(quota=5)))
    assert str(e.value).endswith("cpu.cfs_quota_us = 5: invalid argument")
    assert "\n" not in str(e.value)


def test_kernel_eperm_is_permission_denied(m: Manager, fs: FakeCgroupFs) -> None:
    fs.fail["devices.allow"] = errno.EPERM
    with pytest.raises(PermissionDenied, match=r"devices.allow = c 1:3 rwm: operation"):
        m.apply(LinuxResources(devices=(DeviceRule(True, "c", 1, 3, "rwm"),)))


def test_cpuset(m: Manager) -> None:
    m.apply(LinuxResources(cpu=CPU(cpus="1", mems="0")))
    assert read(m, "cpuset", "cpuset.cpus") == "1"


def test_blkio(m: Manager, fs: FakeCgroupFs) -> None:
    m.apply(
        LinuxResources(
            block_io=BlockIO(
                weight=300,
                weight_device=(WeightDevice(8, 0, 200),),
                throttle_read_bps_device=(ThrottleDevice(8, 0, 1024),),
                throttle_write_iops_device=(ThrottleDevice(8, 0, 10),),
            )
        )
    )
    assert read(m, "blkio", "blkio.bfq.weight") == "300"
    assert read(m, "blkio", "blkio.bfq.weight_device") == "8:0 200"
    assert read(m, "blkio", "blkio.throttle.read_bps_device") == "8:0 1024"
    assert read(m, "blkio", "blkio.throttle.write_iops_device") == "8:0 10"


@pytest.mark.parametrize("w", [5, 1001])
def test_blkio_weight_range(m: Manager, w: int) -> None:
    with pytest.raises(InvalidArgument, match=f"weight {w}"):
        m.apply(LinuxResources(block_io=BlockIO(weight=w)))


@pytest.mark.parametrize(
    ("rule", "line"),
    [
        (DeviceRule(False), "a"),
        (DeviceRule(True, "c", 1, 3, "rwm"), "c 1:3 rwm"),
        (DeviceRule(True, "b", None, None, "r"), "b *:* r"),
        (DeviceRule(True, "u", 4, None, "rw"), "c 4:* rw"),
        (DeviceRule(True, "p"), None),
    ],
)
def test_device_rule_lines(rule: DeviceRule, line: str | None) -> None:
    assert rule_line(rule) == line


def test_devices_in_order(m: Manager, fs: FakeCgroupFs) -> None:
    fs.writes.clear()
    m.apply(LinuxResources(devices=(DeviceRule(False), DeviceRule(True, "c", 1, 3, "rwm"))))
    assert [(Path(p).name, v) for p, v in fs.writes] == [
        ("devices.deny", "a"),
        ("devices.allow", "c 1:3 rwm"),
    ]


def test_hugetlb(m: Manager) -> None:
    m.apply(LinuxResources(hugepage_limits=(HugepageLimit("2MB", 4 << 20),)))
    assert read(m, "hugetlb", "hugetlb.2MB.limit_in_bytes") == str(4 << 20)
    with pytest.raises(Unavailable, match="1GB"):
        m.apply(LinuxResources(hugepage_limits=(HugepageLimit("1GB", 1),)))


def test_network_classes(m: Manager) -> None:
    m.apply(LinuxResources(network=Network(class_id=0x100001, priorities=(("eth0", 5),))))
    assert read(m, "net_cls", "net_cls.classid") == str(0x100001)
    assert read(m, "net_prio", "net_prio.ifpriomap") == "eth0 5"


def test_unified_refused_on_v1(m: Manager) -> None:
    with pytest.raises(Unavailable, match="unified"):
        m.apply(LinuxResources(unified={"memory.high": "100"}))


def test_missing_hierarchy_is_unavailable(tmp_path: Path, fs: FakeCgroupFs) -> None:
    root, own = make_v1_root(tmp_path)
    del own["pids"]
    m = create_manager("x", root=root, mode="v1", own_cgroups=own, fs=fs)
    from dockyard.oci.resources import Pids

    with pytest.raises(Unavailable, match="no pids hierarchy"):
        m.apply(LinuxResources(pids=Pids(10)))


def test_stats(m: Manager) -> None:
    st = m.stats()
    assert (st.cpu_usage_ns, st.cpu_user_ns, st.cpu_system_ns) == (1500, 1000, 500)
    assert (st.cpu_periods, st.cpu_throttled_periods, st.cpu_throttled_ns) == (4, 2, 7000)
    assert (st.memory_usage, st.memory_max_usage, st.memory_cache) == (4096, 8192, 300)
    assert st.memory_limit is None
    assert (st.blkio_read_bytes, st.blkio_write_bytes) == (10, 20)


def test_oom_kill_count(m: Manager) -> None:
    d = m.paths()["memory"]
    (d / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")
    assert m.oom_kill_count() == 3
    assert m.stats().memory_oom_kill_events == 3


def test_hybrid_unified_keys_and_hugetlb(tmp_path: Path, fs: FakeCgroupFs) -> None:
    root, own = make_v1_root(tmp_path)
    import shutil

    shutil.rmtree(root / "hugetlb")
    uni = root / "unified"
    uni.mkdir()
    (uni / "cgroup.controllers").write_text("hugetlb memory")
    (uni / "cgroup.subtree_control").write_text("hugetlb")
    (uni / "cgroup.procs").write_text("")
    (uni / "hugetlb.2MB.max").write_text("max")
    own[""] = "/"
    m = create_manager("c", root=root, mode="hybrid", own_cgroups=own, fs=fs)
    m.create()
    assert "" not in m.paths() and not (uni / "c").exists()  # joined only when needed
    m.apply(LinuxResources(hugepage_limits=(HugepageLimit("2MB", 2 << 20),)))
    d = m.paths()[""]
    assert d == uni / "c"
    assert (d / "hugetlb.2MB.max").read_text() == str(2 << 20)
    with pytest.raises(Unavailable, match=r"memory.high.*controller memory not enabled"):
        m.apply(LinuxResources(unified={"memory.high": "100"}))
    m.destroy()
    assert not d.exists()


def test_create_joins_only_the_hierarchies_dockyard_uses(m: Manager, tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    assert set(m.paths()) == {"cpuset", "cpu", "cpuacct", "memory", "pids", "blkio",
                              "devices", "freezer"}  # fmt: skip
    assert not (root / "hugetlb" / "dockyard").exists()
    assert not (root / "net_cls,net_prio" / "dockyard").exists()
    assert not (root / "systemd" / "dockyard").exists()


def test_on_demand_hierarchy_joined_late_takes_the_members(
    m: Manager, fs: FakeCgroupFs, tmp_path: Path
) -> None:
    import subprocess

    child = subprocess.Popen(["sleep", "30"])
    try:
        m.add(child.pid)
        assert ("cgroup.procs", str(child.pid)) in [(Path(f).name, v) for f, v in fs.writes]
        m.apply(LinuxResources(network=Network(class_id=7)))
        leaf = m.paths()["net_cls"]
        assert (leaf / "net_cls.classid").read_text() == "7"
        moved = [f for f, v in fs.writes if v == str(child.pid) and str(leaf) in str(f)]
        assert moved, fs.writes
    finally:
        child.kill()
        child.wait()
    m.kill_all()
    m.destroy()
    assert not (tmp_path / "cgroup" / "net_cls,net_prio" / "dockyard" / "c1").exists()


def test_joined_names_the_hierarchies_added_to(m: Manager) -> None:
    """The always-joined ones; the on-demand ones once apply() made them (the runtime tells
    the init these, and only these are mounted into the container)."""
    before = set(m.joined())
    assert {"cpu", "cpuacct", "memory", "pids", "freezer", "devices", "blkio"} <= before
    assert not before & {"hugetlb", "net_cls", "net_prio", "", "name=systemd"}
    try:
        m.apply(LinuxResources(network=Network(class_id=0x100001)))
    except Unavailable:
        pytest.skip("no net_cls hierarchy in this fake")
    assert "net_cls" in m.joined()
