"""Links, addresses and routes through pyroute2 (netlink); run inside ``in_netns``.

pyroute2 is imported inside :func:`iproute` only: it costs ~0.3 s to import and only the daemon
path (create network, connect) needs it, never the CLI's start-up.
"""

from __future__ import annotations

import errno
import importlib
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import IPv4Address, IPv4Network, ip_network
from typing import Any, TypeVar

from dockyard.errors import (
    AlreadyExists,
    Conflict,
    DockyardError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)

__all__ = [
    "bridge_ports",
    "configure_container_side",
    "create_veth",
    "delete_link",
    "ensure_bridge",
    "host_networks",
    "iproute",
    "link_down_here",
    "link_index",
    "mac_for",
    "netlink_error",
    "read_sysctl",
    "write_sysctl",
]

T = TypeVar("T")
IPR = Any  # pyroute2.IPRoute: untyped, imported lazily
_LOCAL_TABLE = 255


def netlink_error(e: BaseException, what: str) -> DockyardError:
    """The dockyard error for a failed netlink request."""
    code = getattr(e, "code", None)
    if code is None and isinstance(e, OSError):
        code = e.errno
    reason = os.strerror(code).lower() if isinstance(code, int) else str(e).lower()
    if code == errno.EEXIST:
        return AlreadyExists(f"{what}: {reason}")
    if code in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"{what}: {reason}")
    if code in (errno.ENODEV, errno.ENOENT, errno.ESRCH):
        return NotFound(f"{what}: {reason}")
    if code in (errno.EINVAL, errno.ERANGE):
        return InvalidArgument(f"{what}: {reason}")
    if code == errno.EOPNOTSUPP:
        return Unavailable(f"{what}: {reason}")
    return Internal(f"{what}: {reason}")


@contextmanager
def iproute() -> Iterator[IPR]:
    """A pyroute2 ``IPRoute`` bound to the calling thread's network namespace."""
    try:  # through importlib: pyroute2 ships no type information
        pyroute2 = importlib.import_module("pyroute2")
    except ImportError:
        raise Unavailable("networking: the pyroute2 package is not installed") from None
    with pyroute2.IPRoute() as ipr:
        yield ipr


def _nl(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except DockyardError:
        raise
    except Exception as e:
        if type(e).__name__ == "NetlinkError" or isinstance(e, OSError):
            raise netlink_error(e, what) from None
        raise


def link_index(ipr: IPR, name: str) -> int | None:
    """The index of link ``name`` in the calling thread's network namespace.

    ``socket.if_nametoindex`` is one ioctl; pyroute2's ``link_lookup`` dumps every link
    and filters in Python, which grows with the number of veths on a busy bridge."""
    del ipr  # the namespace is the calling thread's, as the IPRoute's
    import socket

    try:
        return socket.if_nametoindex(name)
    except OSError:
        return None


def mac_for(address: str) -> str:
    """``02:42:`` + the IPv4 address (Docker's scheme: stable across restarts, no collisions)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in IPv4Address(address).packed)


def _has_address(ipr: IPR, index: int, address: str, prefixlen: int) -> bool:
    for a in ipr.get_addr(index=index, family=2):
        if a.get("address") == address and a["prefixlen"] == prefixlen:
            return True
    return False


def ensure_bridge(ipr: IPR, name: str, gateway: str, prefixlen: int) -> bool:
    """Bridge ``name`` up with ``gateway/prefixlen``; returns whether it was created now."""
    what = f"create bridge {name}"
    created = False
    index = link_index(ipr, name)
    if index is None:
        _nl(what, lambda: ipr.link("add", ifname=name, kind="bridge"))
        created = True
        index = link_index(ipr, name)
        if index is None:
            raise Internal(f"{what}: created but not found")
    elif ipr.get_links(index)[0].get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") != "bridge":
        raise AlreadyExists(f"{what}: a link of that name exists and is not a bridge")
    if not _has_address(ipr, index, gateway, prefixlen):
        others = [
            f"{a.get('address')}/{a['prefixlen']}" for a in ipr.get_addr(index=index, family=2)
        ]
        if others:
            # Another state root (another daemon) owns this bridge with its own subnet:
            # stacking a second gateway on it would mix two networks on one link.
            raise Conflict(
                f"{what}: it exists with address {', '.join(others)}, not {gateway}/{prefixlen} "
                "(a bridge of that name belongs to another dockyard state root)"
            )
        net = IPv4Network(f"{gateway}/{prefixlen}", strict=False)
        brd = str(net.broadcast_address)
        _nl(what, lambda: ipr.addr("add", index=index, address=gateway, prefixlen=prefixlen,
                                   broadcast=brd))  # fmt: skip
    # Pin the bridge's MAC (set it to itself: the kernel then marks it chosen by the user).
    # Otherwise a bridge takes the lowest MAC of its ports, and when that port goes (a pod,
    # a spare endpoint) the gateway's MAC changes under the containers' ARP caches: their
    # packets to the gateway (the DNS responder, the way out) vanish until the entry expires.
    mac = ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")
    if mac:
        _nl(what, lambda: ipr.link("set", index=index, address=mac))
    _nl(what, lambda: ipr.link("set", index=index, state="up"))
    write_sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")
    no_router_adverts(name)
    return created


def no_router_adverts(ifname: str) -> None:
    """``accept_ra=0`` on a host-side link of ours: a container that sends a router
    advertisement must not become the host's IPv6 router (CVE-2020-13401). Hosts without
    IPv6 have no such key: nothing to do."""
    try:
        write_sysctl(f"net/ipv6/conf/{ifname}/accept_ra", "0")
    except NotFound:
        pass


def no_ipv6_here(ifname: str) -> None:
    """``disable_ipv6=1`` on a container's interface (run in its netns, before it is up): no
    link-local address, so no IPv6 path between containers that no IPv4 rule would see."""
    try:
        write_sysctl(f"net/ipv6/conf/{ifname}/disable_ipv6", "1")
    except NotFound:
        pass


def delete_link(ipr: IPR, name: str) -> bool:
    """Delete link ``name`` if it exists; returns whether it did."""
    index = link_index(ipr, name)
    if index is None:
        return False
    try:
        _nl(f"delete link {name}", lambda: ipr.link("del", index=index))
    except NotFound:
        return False
    return True


def rename_link(ipr: IPR, old: str, new: str) -> None:
    """Rename link ``old`` to ``new`` (down for the rename, up again after)."""
    what = f"rename link {old} to {new}"
    index = link_index(ipr, old)
    if index is None:
        raise NotFound(f"{what}: no such link")
    _nl(what, lambda: ipr.link("set", index=index, state="down"))
    _nl(what, lambda: ipr.link("set", index=index, ifname=new))
    _nl(what, lambda: ipr.link("set", index=index, state="up"))


_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_SIOCSIFNAME = 0x8923
_IFF_UP = 0x1


def rename_link_here(old: str, new: str) -> None:
    """Rename link ``old`` to ``new`` in the calling thread's network namespace with three
    ioctls (down, rename, up): no helper thread, no netlink socket, no pyroute2 parsing."""
    import fcntl
    import socket
    import struct

    what = f"rename link {old} to {new}"
    if len(new.encode()) > 15:
        raise InvalidArgument(f"{what}: name longer than 15 bytes")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        fd = s.fileno()

        def ifreq(name: str, tail: bytes) -> bytes:
            return struct.pack("16s", name.encode()) + tail.ljust(24, b"\0")

        try:
            got = fcntl.ioctl(fd, _SIOCGIFFLAGS, ifreq(old, b""))
            flags = struct.unpack_from("H", got, 16)[0]
            if flags & _IFF_UP:
                fcntl.ioctl(fd, _SIOCSIFFLAGS, ifreq(old, struct.pack("H", flags & ~_IFF_UP)))
            fcntl.ioctl(fd, _SIOCSIFNAME, ifreq(old, struct.pack("16s", new.encode())))
            fcntl.ioctl(fd, _SIOCSIFFLAGS, ifreq(new, struct.pack("H", flags | _IFF_UP)))
        except OSError as e:
            raise netlink_error(e, what) from None


def link_down_here(name: str) -> bool:
    """Set link ``name`` down in the calling thread's network namespace with two ioctls (no
    helper thread, no netlink socket); returns whether it was up. A missing link is
    NotFound."""
    import fcntl
    import socket
    import struct

    what = f"set link {name} down"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        req = struct.pack("16s", name.encode()).ljust(40, b"\0")
        try:
            flags = struct.unpack_from("H", fcntl.ioctl(s.fileno(), _SIOCGIFFLAGS, req), 16)[0]
            if not flags & _IFF_UP:
                return False
            req = struct.pack("16sH", name.encode(), flags & ~_IFF_UP).ljust(40, b"\0")
            fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, req)
        except OSError as e:
            raise netlink_error(e, what) from None
    return True


def bridge_ports(ipr: IPR, bridge: str) -> list[str]:
    index = link_index(ipr, bridge)
    if index is None:
        return []
    return [str(link.get("ifname")) for link in ipr.get_links() if link.get("master") == index]


def create_veth(ipr: IPR, host_if: str, peer_if: str, peer_netns_fd: int, bridge: str) -> None:
    """A veth pair: ``host_if`` here, a port of ``bridge``, up; ``peer_if`` in the other netns."""
    what = f"create veth {host_if} ({peer_if} in the container)"
    br = link_index(ipr, bridge)
    if br is None:
        raise NotFound(f"{what}: bridge {bridge} does not exist")
    peer = {"ifname": peer_if, "net_ns_fd": peer_netns_fd}
    _nl(what, lambda: ipr.link("add", ifname=host_if, kind="veth", peer=peer))
    index = link_index(ipr, host_if)
    if index is None:
        raise Internal(f"{what}: created but not found")
    no_router_adverts(host_if)
    _nl(what, lambda: ipr.link("set", index=index, master=br, state="up"))
    # hairpin: a container's packet to a VIP or published port may be DNATed back to the
    # container itself; with br_netfilter the bridge then sends the frame out of the port it
    # came in by, which a port without hairpin mode drops (a pod calling its own Service
    # hung whenever it was its own endpoint). The kubelet sets the same (hairpin-veth).
    _nl(what, lambda: ipr.link("set", index=index, kind="bridge_slave", mode=1))


def configure_container_side(
    ipr: IPR, ifname: str, address: str, prefixlen: int, gateway: str, default_route: bool
) -> None:
    """In the container's netns: lo up; ``ifname`` gets its MAC, address, up; default route."""
    what = f"configure {ifname}"
    lo = link_index(ipr, "lo")
    if lo is not None:
        _nl("bring up lo", lambda: ipr.link("set", index=lo, state="up"))
    index = link_index(ipr, ifname)
    if index is None:
        raise NotFound(f"{what}: no such interface in the container")
    brd = str(IPv4Network(f"{address}/{prefixlen}", strict=False).broadcast_address)
    no_ipv6_here(ifname)  # no --ipv6 networks yet: containers get none
    _nl(what, lambda: ipr.link("set", index=index, address=mac_for(address)))
    _nl(what, lambda: ipr.addr("add", index=index, address=address, prefixlen=prefixlen,
                               broadcast=brd))  # fmt: skip
    _nl(what, lambda: ipr.link("set", index=index, state="up"))
    if default_route:
        _nl(f"{what}: default route", lambda: ipr.route("add", dst="0.0.0.0/0", gateway=gateway))


def host_networks(ipr: IPR) -> list[IPv4Network]:
    """Every IPv4 route destination (but the local table and default routes) and address."""
    found: list[IPv4Network] = []
    for r in ipr.route("dump", family=2):
        table = r.get("table") or r.get("RTA_TABLE")
        if table == _LOCAL_TABLE or not r.get("dst_len"):
            continue
        dst = r.get("dst") or r.get("RTA_DST")
        if dst:
            found.append(IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
    for a in ipr.get_addr(family=2):
        addr = a.get("address")
        if addr and not IPv4Address(addr).is_loopback:
            net = ip_network(f"{addr}/{a['prefixlen']}", strict=False)
            if isinstance(net, IPv4Network):
                found.append(net)
    return found


def _sysctl_path(key: str) -> str:
    # /proc/sys/net/* shows the network namespace of the calling *thread* (see _netns.py)
    return f"/proc/sys/{key}"


def read_sysctl(key: str) -> str:
    try:
        with open(_sysctl_path(key)) as f:
            return f.read().strip()
    except FileNotFoundError:
        raise NotFound(f"read sysctl {key}: no such key") from None


def write_sysctl(key: str, value: str) -> None:
    """Write a sysctl; only ever called for keys of interfaces dockyard created."""
    try:
        with open(_sysctl_path(key), "w") as f:
            f.write(value)
    except FileNotFoundError:
        raise NotFound(f"write sysctl {key}: no such key") from None
    except PermissionError:
        raise PermissionDenied(f"write sysctl {key}: permission denied") from None
