"""NetworkManager: the one object the engine calls to realise networks and endpoints.

Lifecycle (the engine owns the records; every call here is idempotent where it can be)::

    mgr = NetworkManager()                       # host = this process's network namespace
    for warning in mgr.check_host(): ...         # e.g. ip_forward is off: report, never change
    state = plan_network(NetworkSpec("web"), stored, mgr.routes())
    mgr.create(state)                            # bridge, gateway address, nft rules
    ip = ipam.allocate(state, cid)
    ep = mgr.connect(state, EndpointSpec(cid, "/proc/4242/ns/net", ip, ports=...))
    ...
    mgr.disconnect(ep)                           # veth, DNAT rules, port reservations gone
    ipam.release(state, ep.address)
    mgr.remove(state)                            # bridge and nft rules gone (tables when last)

Failures leave nothing behind: a step that fails undoes the steps before it, and a cleanup
failure is attached to the original error as a note.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network
from typing import TypeVar

from dockyard.errors import DockyardError, FailedPrecondition, InvalidArgument, NotFound, undo
from dockyard.network._links import (
    bridge_ports,
    configure_container_side,
    create_veth,
    delete_link,
    ensure_bridge,
    host_networks,
    iproute,
    link_down_here,
    link_index,
    mac_for,
    read_sysctl,
    rename_link,
    rename_link_here,
)
from dockyard.network._model import Endpoint, EndpointSpec, NetworkState, PortSpec
from dockyard.network._netns import in_netns, open_netns
from dockyard.network._nft import Nft
from dockyard.network._nftrules import (
    BASE_OWNER,
    endpoint_rules,
    guard_delete_commands,
    guard_rules,
    network_rules,
    owners_in,
)
from dockyard.network._plan import veth_name
from dockyard.network._ports import PortReservation, reserve_ports
from dockyard.records import replace

__all__ = ["NetworkManager"]

T = TypeVar("T")
_IFNAME = re.compile(r"[a-z][a-z0-9]{0,14}")


def _within(e: DockyardError, what: str) -> DockyardError:
    """The same kind of error, its message prefixed with the operation (notes kept)."""
    if str(e).startswith(what):
        return e
    wrapped = type(e)(f"{what}: {e}")
    for note in getattr(e, "__notes__", []):
        wrapped.add_note(note)
    return wrapped


def _rename_over(ipr: object, old: str, new: str) -> None:
    """``old`` renamed ``new``; a stale ``new`` (of a crashed daemon) deleted first."""
    delete_link(ipr, new)
    rename_link(ipr, old, new)


def _close(held: Iterable[PortReservation]) -> None:
    for r in held:
        r.close()


class NetworkManager:
    """Bridges, veths, addresses and nft rules in the host network namespace.

    ``host_netns`` names that namespace (None: the caller's own); tests pass a private one.
    Calls are serialised by a lock: the daemon may call from several threads.
    """

    def __init__(self, host_netns: str | None = None, nft: Nft | None = None) -> None:
        self.host_netns = host_netns
        self.nft = nft or Nft(host_netns)
        self._lock = threading.RLock()
        self._reservations: dict[str, list[PortReservation]] = {}
        # guards of disconnected endpoints, deleted with the next nft transaction (see
        # disconnect): a guard whose port is gone matches no frame, and a new endpoint with
        # the same address rewrites it
        self._stale_guards: set[str] = set()

    def _host(self, fn: Callable[..., T], *args: object) -> T:
        def run() -> T:
            with iproute() as ipr:
                return fn(ipr, *args)

        return in_netns(self.host_netns, run)

    # --- host ---------------------------------------------------------------------------
    def routes(self) -> list[IPv4Network]:
        """The host's route destinations and address prefixes, for :func:`plan_network`."""

        def run() -> list[IPv4Network]:
            with iproute() as ipr:
                return host_networks(ipr)

        return in_netns(self.host_netns, run)

    def check_host(self) -> list[str]:
        """Problems the engine should report (dockyard never changes global sysctls)."""
        found = []
        fwd = in_netns(self.host_netns, lambda: read_sysctl("net/ipv4/ip_forward"))
        if fwd != "1":
            found.append(
                "net.ipv4.ip_forward is 0: containers cannot reach beyond this host and "
                "published ports are reachable only from this host "
                "(enable with: sysctl -w net.ipv4.ip_forward=1)"
            )
        return found

    # --- networks -------------------------------------------------------------------------
    def create(self, net: NetworkState) -> None:
        """Make ``net`` exist: bridge up with the gateway address, its nft rules (idempotent)."""
        what = f"create network {net.name}"
        with self._lock:
            created = self._host(ensure_bridge, net.bridge, net.gateway, net.prefixlen)
            try:
                self.nft.add(network_rules(net), [net.owner], what)
            except DockyardError as e:
                if created:
                    undo(e, [lambda: self._host(delete_link, net.bridge)])
                raise

    def remove(self, net: NetworkState) -> None:
        """Delete ``net``'s rules and bridge; FailedPrecondition while endpoints are attached."""
        what = f"remove network {net.name}"
        with self._lock:
            ports = self._host(bridge_ports, net.bridge)
            if ports:
                raise FailedPrecondition(f"{what}: endpoints still attached: {', '.join(ports)}")
            self._drop_stale_guards(what)
            self.nft.remove([net.owner], what)
            self._host(delete_link, net.bridge)

    def _drop_stale_guards(self, what: str) -> None:
        """Delete the guards of endpoints disconnected since the last transaction, now."""
        if self._stale_guards:
            owners = sorted(self._stale_guards)
            self.nft.apply([c for o in owners for c in guard_delete_commands(o)], what)
            self._stale_guards.clear()

    # --- endpoints ------------------------------------------------------------------------
    def connect(self, net: NetworkState, spec: EndpointSpec) -> Endpoint:
        """Attach a container: veth, address and routes inside, published ports.

        Raises InvalidArgument (bad interface name or address), NotFound (no bridge, or the
        container netns is gone), AlreadyExists (the interface exists in the container),
        Conflict (a host port is in use).
        """
        what = f"connect container {spec.container_id} to network {net.name}"
        self._check(net, spec, what)
        host_if = spec.host_ifname or veth_name(spec.container_id, spec.ifname)
        with self._lock:
            held = reserve_ports(spec.ports, spec.container_id, self.host_netns)
            ep = Endpoint(
                container_id=spec.container_id,
                network=net.name,
                netns=spec.netns,
                ifname=spec.ifname,
                host_ifname=host_if,
                address=spec.address,
                prefixlen=net.prefixlen,
                gateway=net.gateway,
                mac=mac_for(spec.address),
                ports=tuple(r.binding for r in held),
                aliases=spec.aliases,
            )
            done: list[Callable[[], object]] = [lambda: _close(held)]
            try:
                self._host(delete_link, host_if)  # a stale one of a crashed daemon
                self._veth(ep, net, spec.default_route, done)
                # anti-spoofing on the port, DNAT of published ports, the stale guards of
                # earlier disconnects: one transaction
                self._stale_guards.discard(ep.guard_owner)  # rewritten by guard_rules
                stale = sorted(self._stale_guards)
                done.append(lambda: self.nft.apply(guard_delete_commands(ep.guard_owner)))
                if ep.ports:
                    done.append(lambda: self.nft.remove([ep.owner]))
                drops = [c for o in stale for c in guard_delete_commands(o)]
                self.nft.append([*drops, *guard_rules(ep), *endpoint_rules(ep)], what)
                self._stale_guards.difference_update(stale)
            except DockyardError as e:
                undo(e, done)
                raise _within(e, what) from e
            self._reservations[ep.owner] = held
            return ep

    def adopt(self, ep: Endpoint, container_id: str, netns: str, ports: tuple[PortSpec, ...],
              aliases: tuple[str, ...]) -> Endpoint:  # fmt: skip
        """A ready endpoint (veth made and configured ahead of time for no container) given
        to ``container_id``: its published ports held and their DNAT rules added."""
        what = f"connect container {container_id} to network {ep.network}"
        host_if = veth_name(container_id, ep.ifname)
        # The rename touches only this endpoint's own veth: it does not wait for the lock
        # (which a spare being plumbed on a worker thread may hold for a while).
        try:
            if self.host_netns == "/proc/self/ns/net" and link_index(None, host_if) is None:
                rename_link_here(ep.host_ifname, host_if)  # our own namespace: ioctls
            else:  # another namespace, or a stale link of that name (a crashed daemon's)
                self._host(_rename_over, ep.host_ifname, host_if)
        except DockyardError as e:
            raise _within(e, what) from e
        new = replace(ep, container_id=container_id, netns=netns, aliases=aliases,
                      host_ifname=host_if)  # fmt: skip
        if not ports:
            return new
        with self._lock:
            done: list[Callable[[], object]] = [
                lambda: self._host(rename_link, host_if, ep.host_ifname)
            ]
            try:
                held = reserve_ports(ports, container_id, self.host_netns)
                done.append(lambda: _close(held))
                new = replace(new, ports=tuple(r.binding for r in held))
                self.nft.add(endpoint_rules(new), [new.owner], what)
            except DockyardError as e:
                undo(e, done)
                raise _within(e, what) from e
            self._reservations[new.owner] = held
            return new

    def drop_links(self, bridge: str, prefix: str) -> list[str]:
        """Delete the ports of ``bridge`` whose names start with ``prefix`` (spare veths a
        killed daemon left); returns their names."""
        with self._lock:
            names = [n for n in self._host(bridge_ports, bridge) if n.startswith(prefix)]
            for name in names:
                self._host(delete_link, name)
            return names

    def _check(self, net: NetworkState, spec: EndpointSpec, what: str) -> None:
        if not _IFNAME.fullmatch(spec.ifname) or spec.ifname == "lo":
            raise InvalidArgument(f"{what}: invalid interface name {spec.ifname!r}")
        try:
            addr = IPv4Address(spec.address)
        except ValueError:
            raise InvalidArgument(f"{what}: invalid address {spec.address!r}") from None
        if addr not in IPv4Network(net.subnet):
            raise InvalidArgument(f"{what}: address {addr} is not in subnet {net.subnet}")

    def _veth(
        self,
        ep: Endpoint,
        net: NetworkState,
        default_route: bool,
        done: list[Callable[[], object]],
    ) -> None:
        fd = open_netns(ep.netns)
        try:
            self._host(create_veth, ep.host_ifname, ep.ifname, fd, net.bridge)
        finally:
            os.close(fd)
        done.append(lambda: self._host(delete_link, ep.host_ifname))

        def inside() -> None:
            with iproute() as ipr:
                configure_container_side(
                    ipr, ep.ifname, ep.address, ep.prefixlen, ep.gateway, default_route
                )

        in_netns(ep.netns, inside)

    def disconnect(self, ep: Endpoint) -> None:
        """Detach: DNAT rules, the veth pair (both ends), the port reservations (idempotent)."""
        what = f"disconnect container {ep.container_id} from network {ep.network}"
        with self._lock:
            errors: list[DockyardError] = []
            # the guard is deleted later, with the next transaction (no nft on the rm path)
            self._stale_guards.add(ep.guard_owner)
            steps: list[Callable[[], object]] = [lambda: self._host(delete_link, ep.host_ifname)]
            if ep.ports:  # DNAT rules exist for published ports only (see connect)
                steps.insert(0, lambda: self.nft.remove([ep.owner], what))
            for step in steps:
                try:
                    step()
                except NotFound:
                    pass
                except DockyardError as e:
                    errors.append(e)
            for r in self._reservations.pop(ep.owner, []):
                r.close()
            if errors:
                for other in errors[1:]:
                    errors[0].add_note(f"also: {other}")
                raise errors[0]

    def isolate(self, ep: Endpoint) -> None:
        """Stop forwarding to a container that died: its veth's host end goes down, so a
        packet still sent to its address is dropped (the client retransmits) instead of
        meeting the dead namespace's TCP reset; :meth:`disconnect` removes the pair later.
        Idempotent; a link already gone is not an error."""
        here = self.host_netns in (None, "/proc/self/ns/net")
        try:  # in the daemon's own namespace: two ioctls on the caller's thread
            if here:
                link_down_here(ep.host_ifname)
            else:
                in_netns(self.host_netns, lambda: link_down_here(ep.host_ifname))
        except NotFound:
            pass

    def restore(self, endpoints: Iterable[Endpoint]) -> list[DockyardError]:
        """After a daemon restart: hold the published ports of running containers again.

        Returns the failures (a port taken meanwhile) for the engine to report.
        """
        failures: list[DockyardError] = []
        for ep in endpoints:
            specs = [PortSpec(b.container_port, b.proto, b.host_ip, b.host_port) for b in ep.ports]
            try:
                held = reserve_ports(specs, ep.container_id, self.host_netns)
            except DockyardError as e:
                failures.append(e)
                continue
            with self._lock:
                self._reservations[ep.owner] = held
        return failures

    def prune(self, networks: Iterable[NetworkState], endpoints: Iterable[Endpoint]) -> list[str]:
        """Delete nft rules whose owner is neither a stored network nor endpoint (after a crash).

        Returns the owners removed.
        """
        eps = list(endpoints)
        keep = {n.owner for n in networks} | {BASE_OWNER}
        keep |= {e.owner for e in eps} | {e.guard_owner for e in eps}
        with self._lock:
            stale = sorted(
                o
                for o in owners_in(self.nft.rules())
                if o not in keep and o.startswith("dockyard:")
            )
            guards = [o for o in stale if o.startswith("dockyard:guard:")]
            rules = [o for o in stale if o not in guards]
            if guards:
                cmds = [c for o in guards for c in guard_delete_commands(o)]
                self.nft.apply(cmds, "prune nftables rules")
            if rules:
                self.nft.remove(rules, "prune nftables rules")
            return stale

    def release_all(self) -> None:
        """Close every held port reservation (daemon shutdown; rules and links stay)."""
        with self._lock:
            for held in self._reservations.values():
                for r in held:
                    r.close()
            self._reservations.clear()
