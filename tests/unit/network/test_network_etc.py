"""/etc/hosts and /etc/resolv.conf rendering, --add-host parsing."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.network import (
    ResolvConf,
    parse_add_host,
    parse_resolv_conf,
    render_hosts,
    render_resolv_conf,
)

HOST = """# generated
nameserver 127.0.0.53
nameserver 10.0.0.2 ; comment
nameserver ::1
domain old.example
search corp.example lab.example
options ndots:2 timeout:1
options edns0
garbage
"""


def test_parse_resolv_conf() -> None:
    assert parse_resolv_conf(HOST) == ResolvConf(
        ("127.0.0.53", "10.0.0.2", "::1"),
        ("corp.example", "lab.example"),
        ("ndots:2", "timeout:1", "edns0"),
    )


def test_resolv_from_host_drops_loopback() -> None:
    assert render_resolv_conf(parse_resolv_conf(HOST)) == (
        "nameserver 10.0.0.2\nsearch corp.example lab.example\noptions ndots:2 timeout:1 edns0\n"
    )


def test_resolv_falls_back_when_host_has_only_loopback() -> None:
    text = render_resolv_conf(ResolvConf(("127.0.0.53",)))
    assert text == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"


def test_resolv_with_dns_flags() -> None:
    text = render_resolv_conf(
        parse_resolv_conf(HOST), dns=["1.1.1.1"], dns_search=["x.test"], dns_options=["rotate"]
    )
    assert text == "nameserver 1.1.1.1\nsearch x.test\noptions rotate\n"


def test_resolv_on_network_with_dns_uses_gateway_only() -> None:
    text = render_resolv_conf(parse_resolv_conf(HOST), dns=["1.1.1.1"], network_dns="172.18.0.1")
    assert text.splitlines()[0] == "nameserver 172.18.0.1"
    assert "1.1.1.1" not in text


def test_resolv_search_dot_means_none() -> None:
    assert "search" not in render_resolv_conf(ResolvConf(("10.0.0.2",)), dns_search=["."])


def test_resolv_bad_dns() -> None:
    with pytest.raises(InvalidArgument, match=r"invalid --dns 'dns\.example': not an IP address"):
        render_resolv_conf(ResolvConf(), dns=["dns.example"])


def test_hosts_with_address_aliases_and_extra_hosts() -> None:
    text = render_hosts(
        "web",
        ["172.18.0.2"],
        aliases=["frontend", "web"],
        extra_hosts=[("db.local", "10.1.1.1"), ("v6", "::2")],
    )
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1].startswith("::1\tlocalhost")
    assert "172.18.0.2\tweb frontend" in lines
    assert lines[-2:] == ["10.1.1.1\tdb.local", "::2\tv6"]
    assert text.endswith("\n")


def test_hosts_without_network() -> None:
    assert "127.0.1.1\tbox" in render_hosts("box").splitlines()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("db:10.0.0.5", ("db", "10.0.0.5")),
        ("db=10.0.0.5", ("db", "10.0.0.5")),
        ("v6:::1", ("v6", "::1")),
        ("v6=[::1]", ("v6", "::1")),
        ("gw:host-gateway", ("gw", "172.18.0.1")),
    ],
)
def test_parse_add_host(value: str, expected: tuple[str, str]) -> None:
    assert parse_add_host(value, host_gateway="172.18.0.1") == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("db", "expected NAME:IP"),
        (":10.0.0.1", "expected NAME:IP"),
        ("db:nope", "invalid IP address"),
        ("gw:host-gateway", "no gateway"),
    ],
)
def test_parse_add_host_errors(value: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match):
        parse_add_host(value)
