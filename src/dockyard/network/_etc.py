"""A container's ``/etc/hosts`` and ``/etc/resolv.conf`` (pure text in, text out).

The engine writes the results into the bundle (``containers/<id>/hosts``, ``resolv.conf``),
which are bind-mounted into the container.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import ip_address

from dockyard.errors import InvalidArgument
from dockyard.records import record

__all__ = [
    "FALLBACK_NAMESERVERS",
    "ResolvConf",
    "parse_add_host",
    "parse_resolv_conf",
    "render_hosts",
    "render_resolv_conf",
]

# Docker's choice when the host has no usable nameserver; written down in docs/network.md.
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
_IPV6_LINES = (
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
)


@record
class ResolvConf:
    """The parts of a resolv.conf that dockyard keeps."""

    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


def parse_resolv_conf(text: str) -> ResolvConf:
    """nameserver/search/domain/options lines of ``text``; the last search/domain wins."""
    servers: list[str] = []
    search: tuple[str, ...] = ()
    options: list[str] = []
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split(";", 1)[0].split()
        if len(parts) < 2:
            continue
        key, args = parts[0], parts[1:]
        if key == "nameserver":
            servers.append(args[0])
        elif key in ("search", "domain"):
            search = tuple(args)
        elif key == "options":
            options.extend(args)
    return ResolvConf(tuple(servers), search, tuple(options))


def _is_loopback(server: str) -> bool:
    try:
        return ip_address(server.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def render_resolv_conf(
    host: ResolvConf,
    *,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    network_dns: str = "",
) -> str:
    """The container's resolv.conf.

    ``network_dns`` (the gateway of a network with a DNS responder) becomes the only
    nameserver: the responder answers container names and forwards the rest (to ``--dns``
    servers when the engine registers them with the responder). Otherwise ``--dns`` servers,
    else the host's servers minus loopback ones (unreachable from a container), else
    :data:`FALLBACK_NAMESERVERS`. ``--dns-search``/``--dns-option`` replace the host's.
    """
    for s in dns:
        try:
            ip_address(s)
        except ValueError:
            raise InvalidArgument(f"invalid --dns {s!r}: not an IP address") from None
    if network_dns:
        servers: Sequence[str] = (network_dns,)
    elif dns:
        servers = dns
    else:
        servers = [s for s in host.nameservers if not _is_loopback(s)] or FALLBACK_NAMESERVERS
    lines = [f"nameserver {s}" for s in servers]
    search = dns_search or host.search
    if search and list(search) != ["."]:
        lines.append("search " + " ".join(search))
    options = dns_options or host.options
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def parse_add_host(value: str, host_gateway: str = "") -> tuple[str, str]:
    """``--add-host NAME:IP`` (or ``NAME=IP``) → (name, ip); ``host-gateway`` → the gateway."""
    sep = "=" if "=" in value else ":"
    name, found, addr = value.partition(sep)
    what = f"invalid --add-host {value!r}"
    if not found or not name or not addr:
        raise InvalidArgument(f"{what}: expected NAME:IP")
    if addr.startswith("[") and addr.endswith("]"):
        addr = addr[1:-1]
    if addr == "host-gateway":
        if not host_gateway:
            raise InvalidArgument(f"{what}: the container has no gateway")
        addr = host_gateway
    try:
        ip_address(addr)
    except ValueError:
        raise InvalidArgument(f"{what}: invalid IP address {addr!r}") from None
    if any(c.isspace() for c in name):
        raise InvalidArgument(f"{what}: invalid host name")
    return name, addr


def render_hosts(
    hostname: str,
    addresses: Sequence[str] = (),
    *,
    aliases: Sequence[str] = (),
    extra_hosts: Sequence[tuple[str, str]] = (),
) -> str:
    """The container's /etc/hosts: localhost, its own addresses, then ``--add-host`` lines.

    Without an address (``--network none``) the hostname maps to 127.0.1.1, as Debian does.
    """
    lines = ["127.0.0.1\tlocalhost", *_IPV6_LINES]
    names = " ".join([hostname, *[a for a in aliases if a != hostname]])
    for addr in addresses or ("127.0.1.1",):
        lines.append(f"{addr}\t{names}")
    lines.extend(f"{ip}\t{name}" for name, ip in extra_hosts)
    return "\n".join(lines) + "\n"
