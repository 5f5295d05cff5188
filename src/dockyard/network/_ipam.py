"""IPAM: container addresses of a network, allocated over a store the engine provides.

Terms: an *allocation* is (network id, address) → owner (a container id). The store is the
source of truth and must make ``add`` atomic (SQLite: a UNIQUE(network, address) constraint);
the allocator is pure logic on top of it, so two engines racing for one address see Conflict
from the store and try the next one.

Order: addresses are handed out serially after the last one allocated (wrapping around), as
Docker does, so a just-released address is not reused at once (stale ARP caches in the
other containers would still point at the old MAC).

Worked example::

    ipam = Ipam(MemoryIpamStore())
    a = ipam.allocate(state, "c1")                 # 172.18.0.2
    b = ipam.allocate(state, "c2", "172.18.0.9")   # --ip
    ipam.release(state, a)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address
from typing import Protocol

from dockyard.errors import Conflict, InvalidArgument, NotFound, Unavailable
from dockyard.network._model import NetworkState

__all__ = ["Ipam", "IpamStore", "MemoryIpamStore", "pick_address"]


class IpamStore(Protocol):
    """Where allocations live. Every method is keyed by the network id."""

    def allocations(self, network: str) -> dict[str, str]:
        """address → owner for every allocated address of ``network``."""
        ...

    def add(self, network: str, address: str, owner: str) -> None:
        """Record the allocation atomically; Conflict when the address is already taken."""
        ...

    def remove(self, network: str, address: str) -> None:
        """Forget the allocation; NotFound when there is none."""
        ...

    def cursor(self, network: str) -> str | None:
        """The last address handed out automatically, or None."""
        ...

    def set_cursor(self, network: str, address: str) -> None: ...


class MemoryIpamStore:
    """An :class:`IpamStore` in a dict, for tests and for one-shot use."""

    def __init__(self) -> None:
        self._allocs: dict[str, dict[str, str]] = {}
        self._cursors: dict[str, str] = {}

    def allocations(self, network: str) -> dict[str, str]:
        return dict(self._allocs.get(network, {}))

    def add(self, network: str, address: str, owner: str) -> None:
        allocs = self._allocs.setdefault(network, {})
        if address in allocs:
            raise Conflict(f"allocate {address}: in use by {allocs[address]}")
        allocs[address] = owner

    def remove(self, network: str, address: str) -> None:
        if self._allocs.get(network, {}).pop(address, None) is None:
            raise NotFound(f"release {address}: not allocated")

    def cursor(self, network: str) -> str | None:
        return self._cursors.get(network)

    def set_cursor(self, network: str, address: str) -> None:
        self._cursors[network] = address


def pick_address(
    subnet: IPv4Network, excluded: Iterable[IPv4Address], after: IPv4Address | None = None
) -> IPv4Address | None:
    """The first host address of ``subnet`` after ``after`` (wrapping) not in ``excluded``."""
    skip = set(excluded)
    first = int(subnet.network_address) + 1
    last = int(subnet.broadcast_address) - 1
    size = last - first + 1
    if size <= 0:
        return None
    start = first if after is None or after not in subnet else int(after) + 1
    for i in range(size):
        n = first + (start - first + i) % size
        cand = IPv4Address(n)
        if cand not in skip:
            return cand
    return None


class Ipam:
    """Allocates and releases container addresses of networks over an :class:`IpamStore`."""

    def __init__(self, store: IpamStore) -> None:
        self.store = store

    def allocate(self, network: NetworkState, owner: str, requested: str = "") -> str:
        """An address for ``owner``: ``requested`` (``--ip``) or the next free one.

        Raises InvalidArgument (requested outside the subnet, or the network/broadcast/gateway
        address), Conflict (requested is taken), Unavailable (the subnet is full).
        """
        subnet = IPv4Network(network.subnet)
        if requested:
            return self._static(network, subnet, owner, requested)
        for _ in range(8):  # bounded: retries only when another allocator races us
            taken = {IPv4Address(a) for a in self.store.allocations(network.id)}
            taken.add(IPv4Address(network.gateway))
            cursor = self.store.cursor(network.id)
            addr = pick_address(subnet, taken, IPv4Address(cursor) if cursor else None)
            if addr is None:
                raise Unavailable(f"allocate address on network {network.name}: no free address")
            try:
                self.store.add(network.id, str(addr), owner)
            except Conflict:
                continue
            self.store.set_cursor(network.id, str(addr))
            return str(addr)
        raise Conflict(f"allocate address on network {network.name}: too many concurrent changes")

    def _static(self, network: NetworkState, subnet: IPv4Network, owner: str, req: str) -> str:
        what = f"allocate {req} on network {network.name}"
        try:
            addr = ip_address(req)
        except ValueError:
            raise InvalidArgument(f"{what}: invalid IPv4 address") from None
        if addr not in subnet:
            raise InvalidArgument(f"{what}: not in subnet {subnet}")
        if addr in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"{what}: not a host address")
        if str(addr) == network.gateway:
            raise InvalidArgument(f"{what}: the address of the gateway")
        try:
            self.store.add(network.id, str(addr), owner)
        except Conflict:
            holder = self.store.allocations(network.id).get(str(addr), "another container")
            raise Conflict(f"{what}: address in use by {holder}") from None
        return str(addr)

    def release(self, network: NetworkState, address: str) -> None:
        """Give the address back; releasing one that is not allocated is not an error."""
        with contextlib.suppress(NotFound):
            self.store.remove(network.id, address)

    def release_owner(self, network: NetworkState, owner: str) -> list[str]:
        """Release every address ``owner`` holds on ``network`` (cleanup after a crash)."""
        mine = [a for a, o in self.store.allocations(network.id).items() if o == owner]
        for a in mine:
            self.release(network, a)
        return mine
