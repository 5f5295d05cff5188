"""Subnet choice, network planning, interface names and ``--network`` parsing (pure)."""

from __future__ import annotations

from ipaddress import IPv4Network as N

import pytest

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, Unavailable
from dockyard.network import (
    DEFAULT_BRIDGE,
    NetworkMode,
    NetworkSpec,
    choose_subnet,
    parse_network_mode,
    plan_network,
)
from dockyard.network._plan import bridge_name, default_candidates, veth_name


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        ([], "172.17.0.0/16"),
        ([N("0.0.0.0/0"), N("192.0.2.0/24")], "172.17.0.0/16"),  # default route ignored
        ([N("172.17.0.0/16")], "172.18.0.0/16"),
        ([N("172.17.5.0/24"), N("172.18.0.1/32")], "172.19.0.0/16"),
        ([N("172.16.0.0/12")], "10.0.0.0/24"),
        ([N("172.16.0.0/12"), N("10.0.0.0/23")], "10.0.2.0/24"),
        ([N("172.0.0.0/8"), N("10.0.0.0/8")], None),
    ],
)
def test_choose_subnet_skips_every_overlap(routes: list[N], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(Unavailable, match="every candidate subnet overlaps"):
            choose_subnet(routes)
    else:
        assert choose_subnet(routes) == N(expected)


def test_candidates_start_with_docker_pool_then_10() -> None:
    cands = default_candidates()
    first = [next(cands) for _ in range(16)]
    assert first[0] == N("172.17.0.0/16") and first[14] == N("172.31.0.0/16")
    assert first[15] == N("10.0.0.0/24")


def test_choose_subnet_with_own_candidates() -> None:
    assert choose_subnet([N("10.1.0.0/16")], [N("10.1.2.0/24"), N("10.2.0.0/24")]) == N(
        "10.2.0.0/24"
    )


def test_plan_default_network() -> None:
    st = plan_network(NetworkSpec("bridge"), [], [N("172.17.0.0/16")], default=True)
    assert (st.bridge, st.subnet, st.gateway) == (DEFAULT_BRIDGE, "172.18.0.0/16", "172.18.0.1")
    assert st.default and not st.dns
    assert st.owner == "dockyard:network:bridge"


def test_plan_user_network_avoids_other_networks() -> None:
    first = plan_network(NetworkSpec("a"), [], [])
    second = plan_network(NetworkSpec("b"), [first], [])
    assert first.subnet == "172.17.0.0/16" and second.subnet == "172.18.0.0/16"
    assert second.dns and second.bridge == bridge_name(second.id)
    assert len(second.bridge) <= 15 and second.bridge.startswith("dy-")


def test_plan_explicit_subnet_and_gateway() -> None:
    st = plan_network(NetworkSpec("n", subnet="192.168.50.0/24", gateway="192.168.50.254"), [], [])
    assert (st.subnet, st.gateway, st.prefixlen) == ("192.168.50.0/24", "192.168.50.254", 24)


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        (NetworkSpec("n", subnet="10.0.0.1/24"), InvalidArgument, "invalid subnet"),
        (NetworkSpec("n", subnet="fd00::/64"), InvalidArgument, "IPv6"),
        (NetworkSpec("n", subnet="10.0.0.0/31"), InvalidArgument, "too small"),
        (NetworkSpec("n", subnet="10.0.0.0/24", gateway="10.0.1.1"), InvalidArgument, "gateway"),
        (NetworkSpec("n", subnet="10.0.0.0/24", gateway="10.0.0.255"), InvalidArgument, "gateway"),
        (NetworkSpec("n", subnet="10.0.0.0/24", gateway="x"), InvalidArgument, "invalid gateway"),
        (NetworkSpec("n", gateway="10.0.0.1"), InvalidArgument, "needs --subnet"),
        (NetworkSpec("bad name"), InvalidArgument, "invalid name"),
        (NetworkSpec("host"), InvalidArgument, "reserved"),
        (NetworkSpec("bridge"), InvalidArgument, "reserved"),
        (NetworkSpec("n", bridge="much-too-long-name"), InvalidArgument, "bridge name"),
    ],
)
def test_plan_rejects(spec: NetworkSpec, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        plan_network(spec, [], [])


def test_plan_conflicts_with_stored_networks() -> None:
    a = plan_network(NetworkSpec("a", subnet="10.5.0.0/16"), [], [])
    with pytest.raises(AlreadyExists, match="create network a: a network with that name exists"):
        plan_network(NetworkSpec("a"), [a], [])
    with pytest.raises(Conflict, match=r"subnet 10\.5\.1\.0/24 overlaps network a"):
        plan_network(NetworkSpec("b", subnet="10.5.1.0/24"), [a], [])
    with pytest.raises(AlreadyExists, match="bridge"):
        plan_network(NetworkSpec("c", bridge=a.bridge), [a], [])


def test_explicit_subnet_may_overlap_a_route() -> None:
    # the user asked for it: Docker allows it too (the route decides what wins)
    st = plan_network(NetworkSpec("n", subnet="192.0.2.0/24"), [], [N("192.0.2.0/24")])
    assert st.subnet == "192.0.2.0/24"


def test_network_ids_are_stable() -> None:
    assert plan_network(NetworkSpec("x"), [], []).id == plan_network(NetworkSpec("x"), [], []).id


def test_veth_names_fit_and_differ() -> None:
    cid = "0123456789abcdef" * 4
    names = {veth_name(cid, f"eth{i}") for i in range(8)}
    assert veth_name(cid, "eth0") == "dy0123456789ab"
    assert len(names) == 8 and all(len(n) <= 15 and n.startswith("dy") for n in names)


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        ([], NetworkMode("bridge", ("bridge",))),
        (["host"], NetworkMode("host")),
        (["none"], NetworkMode("none")),
        (["container:web"], NetworkMode("container", target="web")),
        (["container:/proc/7/ns/net"], NetworkMode("container", target="/proc/7/ns/net")),
        (["front", "back"], NetworkMode("bridge", ("front", "back"))),
    ],
)
def test_parse_network_mode(values: list[str], mode: NetworkMode) -> None:
    assert parse_network_mode(values) == mode


def test_network_mode_properties() -> None:
    assert NetworkMode("bridge", ("x",)).needs_veth
    assert not NetworkMode("host").needs_veth and not NetworkMode("host").new_netns
    assert NetworkMode("none").new_netns and not NetworkMode("container").new_netns


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (["host", "front"], "cannot be combined"),
        (["container:"], "a container is required"),
        (["a", "a"], "given twice"),
        ([""], "empty network name"),
    ],
)
def test_parse_network_mode_errors(values: list[str], match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        parse_network_mode(values)


def test_connect_validates_before_touching_anything() -> None:
    from dockyard.network import EndpointSpec, NetworkManager

    net = plan_network(NetworkSpec("v", subnet="10.3.0.0/24"), [], [])
    mgr = NetworkManager(host_netns="/nonexistent/netns")  # never opened: validation comes first
    cases = [
        (EndpointSpec("c", "/x", "10.3.0.2", ifname="Eth0!"), "invalid interface name"),
        (EndpointSpec("c", "/x", "10.3.0.2", ifname="lo"), "invalid interface name"),
        (EndpointSpec("c", "/x", "nope"), "invalid address"),
        (
            EndpointSpec("c", "/x", "10.4.0.2"),
            r"address 10\.4\.0\.2 is not in subnet 10\.3\.0\.0/24",
        ),
    ]
    for spec, match in cases:
        with pytest.raises(InvalidArgument, match=f"connect container c to network v: {match}"):
            mgr.connect(net, spec)
