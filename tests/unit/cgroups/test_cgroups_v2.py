"""v2 controllers, conversions and manager against the fake filesystem."""

from __future__ import annotations

from pathlib import Path

import pytest
from cgroups_fakefs import V2_OWN, FakeCgroupFs, make_v2_root

from dockyard.cgroups import Manager, create_manager
from dockyard.cgroups.v2.cpu import cpu_max, shares_to_weight
from dockyard.cgroups.v2.io import blkio_to_io_weight
from dockyard.cgroups.v2.memory import swap_max
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.oci.resources import (
    CPU,
    BlockIO,
    DeviceRule,
    HugepageLimit,
    LinuxResources,
    Memory,
    Network,
    Pids,
    ThrottleDevice,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_v2_root(tmp_path)[0]


@pytest.fixture
def m(root: Path) -> Manager:
    mgr = create_manager(
        "dockyard/c1", root=root, mode="v2", own_cgroups={"": V2_OWN}, fs=FakeCgroupFs()
    )
    mgr.create()
    return mgr


def read(m: Manager, name: str) -> str:
    return (m.paths()[""] / name).read_text().strip()


@pytest.mark.parametrize(
    ("shares", "weight"), [(2, 1), (1024, 39), (262144, 10000), (512, 20), (100, 4)]
)
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("shares", [1, 262145])
def test_shares_out_of_range(shares: int) -> None:
    with pytest.raises(InvalidArgument, match="shares"):
        shares_to_weight(shares)


@pytest.mark.parametrize(
    ("limit", "swap", "out"),
    [
        (100, None, None),
        (100, 0, None),
        (100, -1, "max"),
        (100, 300, "200"),
        (100, 100, "0"),
    ],
)
def test_swap_max(limit: int, swap: int | None, out: str | None) -> None:
    assert swap_max(limit, swap) == out


@pytest.mark.parametrize(("limit", "swap"), [(None, 100), (-1, 100), (200, 100)])
def test_swap_max_invalid(limit: int | None, swap: int) -> None:
    with pytest.raises(InvalidArgument, match="swap"):
        swap_max(limit, swap)


@pytest.mark.parametrize(
    ("cpu", "current", "out"),
    [
        (CPU(quota=50000, period=100000), "max 100000", "50000 100000"),
        (CPU(quota=50000), "max 200000", "50000 200000"),
        (CPU(period=50000), "20000 100000", "20000 50000"),
        (CPU(quota=-1), "20000 100000", "max 100000"),
        (CPU(shares=2), "max 100000", None),
    ],
)
def test_cpu_max(cpu: CPU, current: str, out: str | None) -> None:
    assert cpu_max(cpu, current) == out


def test_blkio_to_io_weight() -> None:
    assert [blkio_to_io_weight(w) for w in (10, 500, 1000)] == [1, 4950, 10000]


def test_controllers_enabled_in_intermediate_not_own_nor_leaf(root: Path, m: Manager) -> None:
    own = root / V2_OWN.lstrip("/")
    leaf = m.paths()[""]
    assert leaf == own / "dockyard" / "c1"
    assert set((own / "dockyard" / "cgroup.subtree_control").read_text().split()) == {
        "cpu",
        "cpuset",
        "hugetlb",
        "io",
        "memory",
        "pids",
    }
    assert read(m, "cgroup.subtree_control") == ""
    assert (own / "cgroup.subtree_control").read_text() == "cpuset cpu io memory hugetlb pids"


def test_apply(m: Manager) -> None:
    m.apply(
        LinuxResources(
            memory=Memory(limit=100 << 20, swap=150 << 20, reservation=10 << 20),
            cpu=CPU(shares=1024, quota=25000, period=100000, burst=500, cpus="0", mems="0"),
            pids=Pids(limit=30),
            block_io=BlockIO(weight=500, throttle_read_bps_device=(ThrottleDevice(8, 0, 99),)),
            hugepage_limits=(HugepageLimit("2MB", 2 << 20),),
            devices=(DeviceRule(False),),
        )
    )
    assert read(m, "memory.max") == str(100 << 20)
    assert read(m, "memory.swap.max") == str(50 << 20)
    assert read(m, "memory.low") == str(10 << 20)
    assert read(m, "cpu.weight") == "39"
    assert read(m, "cpu.max") == "25000 100000"
    assert read(m, "cpu.max.burst") == "500"
    assert read(m, "cpuset.cpus") == "0"
    assert read(m, "pids.max") == "30"
    assert read(m, "io.weight") == "4950"
    assert read(m, "io.max") == "8:0 rbps=99"
    assert read(m, "hugetlb.2MB.max") == str(2 << 20)


def test_unlimited(m: Manager) -> None:
    m.apply(LinuxResources(memory=Memory(limit=100), pids=Pids(10)))
    m.apply(LinuxResources(memory=Memory(limit=-1), pids=Pids(-1)))
    assert read(m, "memory.max") == "max"
    assert read(m, "pids.max") == "max"


def test_unified_written_raw_and_checked(m: Manager) -> None:
    m.apply(LinuxResources(unified={"memory.high": "12345"}))
    assert read(m, "memory.high") == "12345"
    with pytest.raises(InvalidArgument, match="not a cgroup file"):
        m.apply(LinuxResources(unified={"../escape": "1"}))
    with pytest.raises(InvalidArgument, match="cgroup manager"):
        m.apply(LinuxResources(unified={"cgroup.procs": "1"}))
    with pytest.raises(Unavailable, match=r"rdma\.max"):
        m.apply(LinuxResources(unified={"rdma.max": "1"}))


def test_realtime_refused(m: Manager) -> None:
    with pytest.raises(Unavailable, match="realtime"):
        m.apply(LinuxResources(cpu=CPU(realtime_runtime=950000)))


def test_swappiness_refused_but_minus_one_ok(m: Manager) -> None:
    m.apply(LinuxResources(memory=Memory(swappiness=-1, disable_oom_killer=True)))
    with pytest.raises(Unavailable, match="swappiness"):
        m.apply(LinuxResources(memory=Memory(swappiness=10)))


def test_network_classes_refused(m: Manager) -> None:
    with pytest.raises(Unavailable, match="network"):
        m.apply(LinuxResources(network=Network(class_id=1)))


def test_undelegated_controller_is_unavailable(root: Path) -> None:
    own = root / V2_OWN.lstrip("/")
    (own / "cgroup.subtree_control").write_text("cpu")
    mgr = create_manager("c", root=root, mode="v2", own_cgroups={"": V2_OWN}, fs=FakeCgroupFs())
    mgr.create()
    mgr.apply(LinuxResources(cpu=CPU(quota=1000)))
    with pytest.raises(Unavailable, match=r"controller memory, pids not enabled .*subtree_control"):
        mgr.apply(LinuxResources(memory=Memory(limit=1), pids=Pids(1)))


def test_stats(m: Manager) -> None:
    st = m.stats()
    assert (st.cpu_usage_ns, st.cpu_user_ns, st.cpu_system_ns) == (5000, 3000, 2000)
    assert (st.cpu_periods, st.cpu_throttled_periods, st.cpu_throttled_ns) == (4, 1, 9000)
    assert (st.memory_usage, st.memory_max_usage, st.memory_cache) == (4096, 8192, 300)
    assert st.memory_limit is None
    assert (st.memory_oom_events, st.memory_oom_kill_events) == (2, 1)
    assert (st.blkio_read_bytes, st.blkio_write_bytes) == (11, 22)
    assert m.oom_kill_count() == 1


def test_no_v2_membership(root: Path) -> None:
    with pytest.raises(Unavailable, match="no cgroup v2 membership"):
        create_manager("c", root=root, mode="v2", own_cgroups={"memory": "/"})
