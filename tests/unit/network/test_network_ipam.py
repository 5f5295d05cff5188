"""IPAM: the allocator (pure) and the store contract every IpamStore must pass."""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address as A
from ipaddress import IPv4Network as N

import pytest

from dockyard.errors import Conflict, InvalidArgument, NotFound, Unavailable
from dockyard.network import Ipam, IpamStore, MemoryIpamStore, NetworkSpec, plan_network
from dockyard.network._ipam import pick_address

# The engine's SQLite store joins this list (containerd's shared-testsuite habit).
STORES: list[Callable[[], IpamStore]] = [MemoryIpamStore]
NET = plan_network(NetworkSpec("n", subnet="10.9.0.0/29"), [], [])  # hosts .1-.6, gw .1


@pytest.fixture(params=STORES, ids=lambda f: getattr(f, "__name__", "store"))
def store(request: pytest.FixtureRequest) -> IpamStore:
    factory: Callable[[], IpamStore] = request.param
    return factory()


def test_store_contract(store: IpamStore) -> None:
    assert store.allocations("n") == {} and store.cursor("n") is None
    store.add("n", "10.9.0.2", "c1")
    with pytest.raises(Conflict):
        store.add("n", "10.9.0.2", "c2")
    store.add("other", "10.9.0.2", "c2")  # networks are independent
    assert store.allocations("n") == {"10.9.0.2": "c1"}
    store.set_cursor("n", "10.9.0.2")
    assert store.cursor("n") == "10.9.0.2"
    store.remove("n", "10.9.0.2")
    with pytest.raises(NotFound):
        store.remove("n", "10.9.0.2")
    assert store.allocations("n") == {}


def test_allocate_serially_skipping_gateway(store: IpamStore) -> None:
    ipam = Ipam(store)
    got = [ipam.allocate(NET, f"c{i}") for i in range(5)]
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(Unavailable, match="allocate address on network n: no free address"):
        ipam.allocate(NET, "c9")


def test_released_address_is_not_reused_at_once(store: IpamStore) -> None:
    ipam = Ipam(store)
    a, b = ipam.allocate(NET, "c1"), ipam.allocate(NET, "c2")
    ipam.release(NET, a)
    assert ipam.allocate(NET, "c3") == "10.9.0.4"
    assert b == "10.9.0.3"


def test_allocation_wraps_around(store: IpamStore) -> None:
    ipam = Ipam(store)
    for i in range(5):
        ipam.allocate(NET, f"c{i}")
    ipam.release(NET, "10.9.0.3")
    assert ipam.allocate(NET, "again") == "10.9.0.3"


def test_static_address(store: IpamStore) -> None:
    ipam = Ipam(store)
    assert ipam.allocate(NET, "c1", "10.9.0.5") == "10.9.0.5"
    with pytest.raises(Conflict, match=r"allocate 10\.9\.0\.5 on network n: address in use by c1"):
        ipam.allocate(NET, "c2", "10.9.0.5")
    # the automatic allocator steps over it
    assert [ipam.allocate(NET, f"d{i}") for i in range(4)] == [
        "10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.6"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("requested", "match"),
    [
        ("10.9.1.2", "not in subnet"),
        ("10.9.0.0", "not a host address"),
        ("10.9.0.7", "not a host address"),
        ("10.9.0.1", "gateway"),
        ("nope", "invalid IPv4 address"),
    ],
)
def test_static_address_errors(store: IpamStore, requested: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        Ipam(store).allocate(NET, "c1", requested)


def test_release_is_idempotent_and_by_owner(store: IpamStore) -> None:
    ipam = Ipam(store)
    ipam.allocate(NET, "c1")
    ipam.allocate(NET, "c1", "10.9.0.6")
    ipam.allocate(NET, "c2")
    ipam.release(NET, "10.9.0.4")  # not allocated: fine
    assert sorted(ipam.release_owner(NET, "c1")) == ["10.9.0.2", "10.9.0.6"]
    assert store.allocations(NET.id) == {"10.9.0.3": "c2"}


class RacingStore(MemoryIpamStore):
    """Another engine takes the address between our read and our add, once."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    def add(self, network: str, address: str, owner: str) -> None:
        if not self.raced:
            self.raced = True
            super().add(network, address, "intruder")
        super().add(network, address, owner)


def test_allocate_retries_after_a_race() -> None:
    store = RacingStore()
    assert Ipam(store).allocate(NET, "c1") == "10.9.0.3"
    assert store.allocations(NET.id) == {"10.9.0.2": "intruder", "10.9.0.3": "c1"}


def test_pick_address_edges() -> None:
    assert pick_address(N("10.0.0.0/30"), []) == A("10.0.0.1")
    assert pick_address(N("10.0.0.0/30"), [A("10.0.0.1"), A("10.0.0.2")]) is None
    assert pick_address(N("10.0.0.0/32"), []) is None
    assert pick_address(N("10.0.0.0/29"), [], after=A("10.0.0.6")) == A("10.0.0.1")
    assert pick_address(N("10.0.0.0/29"), [], after=A("192.168.0.1")) == A("10.0.0.1")


def test_big_subnet_is_fast() -> None:
    net = plan_network(NetworkSpec("big", subnet="10.0.0.0/16"), [], [])
    ipam = Ipam(MemoryIpamStore())
    got = {ipam.allocate(net, f"c{i}") for i in range(300)}
    assert len(got) == 300 and "10.0.0.1" not in got
