"""engine/netplumb.py without a kernel: the SQLite IPAM store, wanted networks, validation
of networking flags, network records and their Docker shape, one-line start errors."""

from __future__ import annotations

from ipaddress import IPv4Network
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.engine.netplumb import (
    NetPlumb,
    SqliteIpamStore,
    _start_error,
    endpoint_from,
    wanted_networks,
)
from dockyard.engine.options import DaemonOptions, RunOptions
from dockyard.engine.record import NetWish
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from dockyard.network import (
    Endpoint,
    Ipam,
    NetworkSpec,
    PortBinding,
    PortSpec,
    plan_network,
)
from dockyard.records import asdict
from dockyard.store.db import ContainerRecord, StateDB


class FakeDaemon:
    def __init__(self, tmp: Path) -> None:
        self.engine = SimpleNamespace(db=StateDB(tmp / "state.db"))
        self.run_root = tmp / "run"
        self.root = tmp

    def get(self, ref: str) -> Any:
        return self.engine.db.get_container(ref)

    def bundle(self, cid: str) -> Path:
        return self.root / "containers" / cid


@pytest.fixture
def plumb(tmp_path: Path) -> NetPlumb:
    p = NetPlumb(FakeDaemon(tmp_path))  # type: ignore[arg-type]
    bridge = plan_network(NetworkSpec("bridge"), [], [], default=True)
    front = plan_network(NetworkSpec("front", subnet="10.9.0.0/24"), [bridge], [])
    p._save_network(bridge)
    p._save_network(front)
    return p


def test_sqlite_ipam_store_serves_the_allocator(tmp_path: Path) -> None:
    store = SqliteIpamStore(StateDB(tmp_path / "s.db"))
    net = plan_network(NetworkSpec("n", subnet="10.1.0.0/29"), [], [])
    ipam = Ipam(store)
    a = ipam.allocate(net, "c1")
    b = ipam.allocate(net, "c2")
    assert (a, b) == ("10.1.0.2", "10.1.0.3")
    assert ipam.allocate(net, "c3", "10.1.0.6") == "10.1.0.6"
    with pytest.raises(Conflict):
        ipam.allocate(net, "c4", "10.1.0.6")
    with pytest.raises(Conflict):
        store.add(net.id, a, "x")
    ipam.release(net, a)
    assert ipam.allocate(net, "c5") == "10.1.0.4"  # serial: a released address waits
    assert store.allocations(net.id) == {"10.1.0.3": "c2", "10.1.0.4": "c5", "10.1.0.6": "c3"}
    with pytest.raises(NotFound):
        store.remove(net.id, "10.1.0.2")
    store.transfer(net.id, "10.1.0.4", "spare:ab")  # a spare endpoint's address, taken
    assert store.allocations(net.id)["10.1.0.4"] == "spare:ab"
    with pytest.raises(NotFound):
        store.transfer(net.id, "10.1.0.5", "c6")


def test_only_a_plain_default_network_start_takes_a_spare(plumb: NetPlumb) -> None:
    plumb._closed = True  # no refill task (no event loop here)
    spare = object()
    plumb._spares = [spare]  # type: ignore[list-item]
    assert plumb._take_spare([NetWish("front")]) is None
    assert plumb._take_spare([NetWish("bridge", ip="172.18.0.9")]) is None
    assert plumb._take_spare([NetWish("bridge"), NetWish("front")]) is None
    assert plumb._take_spare([NetWish("bridge")]) is spare
    assert plumb._take_spare([NetWish("bridge")]) is None  # the pool is empty


def _rec(network: str, **config: Any) -> ContainerRecord:
    cfg = {"options": {"network": network}, "daemon": {"aliases": ["a1"], "ip": "10.9.0.9"}}
    return ContainerRecord("c" * 64, "web", "busybox", "sha", "now", config={**cfg, **config})


def test_wanted_networks_follow_the_mode_and_connects() -> None:
    assert wanted_networks(_rec("default")) == [NetWish("bridge", ("a1",), "10.9.0.9")]
    assert wanted_networks(_rec("front"))[0].name == "front"
    for mode in ("none", "host", "container:x"):
        assert wanted_networks(_rec(mode)) == []
    stored = [{"name": "front", "aliases": [], "ip": ""}, {"name": "back", "aliases": [], "ip": ""}]
    assert wanted_networks(_rec("front", net_wanted=stored)) == [NetWish("front"), NetWish("back")]


def test_network_lookup_by_name_id_and_prefix(plumb: NetPlumb) -> None:
    front = plumb.network("front")
    assert plumb.network(front.id) == front
    assert plumb.network(front.id[:10]) == front
    with pytest.raises(NotFound, match="network nosuch not found"):
        plumb.network("nosuch")
    with pytest.raises(AlreadyExists):
        plumb._save_network(front)
    assert [n.name for n in plumb.networks()] == ["bridge", "front"]


def _check(plumb: NetPlumb, network: str = "default", **dopts: Any) -> None:
    plumb.validate(RunOptions(image="busybox", network=network), DaemonOptions(**dopts))


def test_validate_refuses_bad_networking_flags_before_anything_exists(plumb: NetPlumb) -> None:
    _check(plumb)
    _check(plumb, "front", aliases=["db"], ip="10.9.0.50", add_hosts=["gw:host-gateway"])
    _check(plumb, "none", publish=[PortSpec(80)], dns=["1.1.1.1"])
    bad: list[tuple[str, dict[str, Any], type[Exception], str]] = [
        ("nosuch", {}, NotFound, "network nosuch not found"),
        ("default", {"ip": "172.17.0.9"}, InvalidArgument, "user defined networks"),
        ("bridge", {"aliases": ["x"]}, InvalidArgument, "user defined networks"),
        ("none", {"ip": "10.9.0.9"}, InvalidArgument, "user defined networks"),
        ("front", {"ip": "10.8.0.1"}, InvalidArgument, "not a host address"),
        ("front", {"ip": "10.9.0.1"}, InvalidArgument, "the gateway"),
        ("front", {"ip": "nonsense"}, InvalidArgument, "not an IPv4 address"),
        ("front", {"dns": ["dns.example"]}, InvalidArgument, "invalid --dns"),
        ("front", {"add_hosts": ["nocolon"]}, InvalidArgument, "invalid --add-host"),
        ("container:ghost", {}, NotFound, "ghost"),
    ]
    for network, dopts, kind, text in bad:
        with pytest.raises(kind, match=text):
            _check(plumb, network, **dopts)
    SqliteIpamStore(plumb.db).add(plumb.network("front").id, "10.9.0.50", "other")
    with pytest.raises(Conflict, match="already in use"):
        _check(plumb, "front", ip="10.9.0.50")
    plumb.broken = "nft: not found"
    with pytest.raises(Unavailable, match="networking unavailable"):
        _check(plumb)
    _check(plumb, "none")  # no bridge needed


def test_endpoint_records_round_trip_and_docker_shape(plumb: NetPlumb) -> None:
    ep = Endpoint("c" * 64, "front", "/run/x", "eth0", "dyccc", "10.9.0.2", 24, "10.9.0.1",
                  "02:42:0a:09:00:02", (PortBinding("127.0.0.1", 8080, 80),), ("db",))  # fmt: skip
    assert endpoint_from(asdict(ep)) == ep
    plumb._save_endpoint(ep)
    shape = plumb.network_json(plumb.network("front"))
    assert shape["Name"] == "front" and shape["Driver"] == "bridge"
    assert shape["IPAM"]["Config"] == [{"Subnet": "10.9.0.0/24", "Gateway": "10.9.0.1"}]
    assert shape["Containers"]["c" * 64]["IPv4Address"] == "10.9.0.2/24"
    assert shape["Created"]
    assert plumb.endpoints(container_id="c" * 64) == [ep]
    plumb._delete_endpoint(ep)
    assert plumb.endpoints() == []


def test_start_errors_are_one_line_naming_the_container() -> None:
    rec = _rec("default")
    e = Conflict(f"connect container {rec.id} to network bridge: publish 127.0.0.1:8080/tcp "
                 f"for container {rec.id}: port is already allocated")  # fmt: skip
    out = _start_error(rec, e)
    assert isinstance(out, Conflict)
    assert str(out) == (
        "start web: publish 127.0.0.1:8080/tcp for container web: port is already allocated"
    )


def test_default_subnet_avoids_host_routes() -> None:
    net = plan_network(NetworkSpec("bridge"), [], [IPv4Network("172.17.0.0/16")], default=True)
    assert net.subnet == "172.18.0.0/16" and net.bridge == "dockyard0" and not net.dns
