"""The engine's networking: ``dockyard.network`` wired to containers, records and the API.

Over 800 lines because it wires every network step of a container (validate, start, stop,
remove, spare namespaces, DNS, connect) to its record; its split waits for the typed record.

Terms
-----
*wanted networks* — the networks a container is a member of (``--network`` and ``network
connect``), kept in its record (``ContainerConfig.net_wanted``: :class:`NetWish` es of name,
aliases, ``--ip``), whether it runs or not. *endpoint* — a running container's attachment
to one network (:class:`~dockyard.network.Endpoint`), a row of ``endpoints`` while it exists.
*netns file* — ``<run-root>/netns/<id>``: a bind mount of the network namespace the daemon
makes for a bridged container before it starts; the runtime joins it (``config.json`` names
it), so veths, addresses and published ports exist before the application runs and survive a
daemon restart.

Lifecycle (hooks of :class:`~dockyard.engine.daemon.Daemon`)::

    open          default network ``bridge`` planned once and stored; every stored network
                  created (idempotent), stale nft rules pruned, ports of stored endpoints held
                  again (NetworkManager.restore), one DnsResponder per network with DNS
    validate      before anything is made: network exists, -p/--ip/--add-host/--dns parse
    before_start  netns file, IPAM address, connect (veth, DNAT, port reservation), rows,
                  DNS records, /etc/hosts and /etc/resolv.conf; any failure undoes all of it
    after_stop    disconnect, release addresses, delete rows, DNS records, netns file
    after_remove  the same (idempotent)

``--network host`` joins nothing; ``none`` lets the runtime make a netns with ``lo`` only;
``container:NAME`` joins that running container's namespace (its netns file, else
``/proc/<pid>/ns/net``) and shares its hosts/resolv.conf.

Errors: unknown network → NotFound (``network X not found``); bad flags → InvalidArgument;
a host port in use or a taken ``--ip`` → Conflict; a network in use → FailedPrecondition;
removing ``bridge`` → PermissionDenied; networking unusable on this host → Unavailable.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import ContainerConfig, HostBinding, NetWish, config_of
from dockyard.errors import AlreadyExists as AlreadyExistsError
from dockyard.errors import (
    Conflict,
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
    undo,
)
from dockyard.oci import fastjson
from dockyard.records import asdict, replace

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.options import DaemonOptions, RunOptions
    from dockyard.network import (
        DnsResponder,
        Endpoint,
        EndpointSpec,
        NetworkManager,
        NetworkSpec,
        NetworkState,
        PortSpec,
    )
    from dockyard.store.db import ContainerRecord, StateDB

__all__ = [
    "NetPlumb",
    "SqliteIpamStore",
    "endpoint_from",
    "make_netns",
    "network_from",
    "release_netns",
    "wanted_networks",
]

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
SPECIAL = ("none", "host")


# ---------------------------------------------------------------------- records


def network_from(data: dict[str, Any]) -> NetworkState:
    from dockyard.network import NetworkState

    return NetworkState(**{**data, "labels": dict(data.get("labels") or {})})


def endpoint_from(data: dict[str, Any]) -> Endpoint:
    from dockyard.network import Endpoint, PortBinding

    return Endpoint(**{
        **data,
        "ports": tuple(PortBinding(**p) for p in data.get("ports") or ()),
        "aliases": tuple(data.get("aliases") or ()),
    })  # fmt: skip


class SqliteIpamStore:
    """:class:`~dockyard.network.IpamStore` on ``state.db`` (``ipam_*`` tables)."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def allocations(self, network: str) -> dict[str, str]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT address, owner FROM ipam_allocations WHERE network = ?", (network,)
            )
            return {str(r[0]): str(r[1]) for r in rows}

    def add(self, network: str, address: str, owner: str) -> None:
        with self.db.transaction(write=True) as conn:
            try:
                conn.execute(
                    "INSERT INTO ipam_allocations (network, address, owner) VALUES (?, ?, ?)",
                    (network, address, owner),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"allocate {address}: already in use") from None

    def remove(self, network: str, address: str) -> None:
        with self.db.transaction(write=True) as conn:
            cur = conn.execute(
                "DELETE FROM ipam_allocations WHERE network = ? AND address = ?",
                (network, address),
            )
            if cur.rowcount == 0:
                raise NotFound(f"release {address}: not allocated")

    def transfer(self, network: str, address: str, owner: str) -> None:
        """Give an allocated ``address`` to another owner (a spare endpoint taken)."""
        with self.db.transaction(write=True) as conn:
            cur = conn.execute(
                "UPDATE ipam_allocations SET owner = ? WHERE network = ? AND address = ?",
                (owner, network, address),
            )
            if cur.rowcount == 0:
                raise NotFound(f"transfer {address}: not allocated")

    def cursor(self, network: str) -> str | None:
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT address FROM ipam_cursors WHERE network = ?", (network,)
            ).fetchone()
            return None if row is None else str(row[0])

    def set_cursor(self, network: str, address: str) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO ipam_cursors (network, address) VALUES (?, ?)",
                (network, address),
            )


# ---------------------------------------------------------------------- netns files


def make_netns(path: str) -> None:
    """A new network namespace kept alive by a bind mount on ``path`` (a stale one replaced)."""
    from dockyard.linux import LibcSyscalls

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    release_netns(path)
    os.close(os.open(path, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o444))
    failure: list[BaseException] = []

    def run() -> None:  # unshare moves only this helper thread
        try:
            sc = LibcSyscalls()
            sc.unshare(CLONE_NEWNET)
            sc.mount("/proc/thread-self/ns/net", path, None, MS_BIND, None)
        except BaseException as e:
            failure.append(e)

    t = threading.Thread(target=run, name="netns-create", daemon=True)
    t.start()
    t.join()
    if failure:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise failure[0]


def release_netns(path: str) -> None:
    """Unmount and delete a netns file (idempotent)."""
    from dockyard.linux import LibcSyscalls

    if not os.path.exists(path):
        return
    with contextlib.suppress(DockyardError):
        LibcSyscalls().umount2(path, MNT_DETACH)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def move_netns(src: str, dst: str) -> None:
    """The namespace kept alive on ``src`` kept on ``dst`` instead (a bind mount of it,
    then ``src`` released)."""
    from dockyard.linux import LibcSyscalls

    release_netns(dst)
    os.close(os.open(dst, os.O_CREAT | os.O_RDONLY | os.O_CLOEXEC, 0o444))
    try:
        LibcSyscalls().mount(src, dst, None, MS_BIND, None)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(dst)
        raise
    release_netns(src)


# ---------------------------------------------------------------------- helpers


FORWARDING_WARNING = (
    "IPv4 forwarding is disabled (net.ipv4.ip_forward=0): containers cannot reach "
    "beyond this host and published ports answer only on this host "
    "(enable with: sysctl -w net.ipv4.ip_forward=1)"
)


def _kind(network: str) -> str:
    """``bridge`` (a named network), ``none``, ``host`` or ``container``."""
    if network in SPECIAL:
        return network
    if network.startswith("container:"):
        return "container"
    return "bridge"


def _primary(network: str) -> str:
    return "bridge" if network in ("", "default", "bridge") else network


def wanted_networks(rec: ContainerRecord | ContainerConfig) -> list[NetWish]:
    """The container's networks in order (first: default route, published ports)."""
    cfg = rec if isinstance(rec, ContainerConfig) else config_of(rec)
    if cfg.net_wanted is not None:
        return list(cfg.net_wanted)
    network = cfg.options.network or "default"
    if _kind(network) != "bridge":
        return []
    return [NetWish(_primary(network), tuple(cfg.daemon.aliases), cfg.daemon.ip or "")]


def _exposed(cfg: ContainerConfig) -> list[str]:
    """The image's ``ExposedPorts`` keys (``80/tcp``)."""
    exposed = (cfg.image_config or {}).get("ExposedPorts")
    return [str(k) for k in exposed] if isinstance(exposed, dict) else []


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _now() -> str:
    from dockyard.engine.logfile import format_time

    return format_time(time.time_ns())


# Spare endpoints: host veth ends "dys" + 10 hex (container ids are hex: theirs never start
# so), netns files ".spare-<token>", IPAM owners "spare:<token>".
_SPARE_LINK = "dys"
_SPARE_FILE = ".spare-"
_SPARE_OWNER = "spare:"

# ---------------------------------------------------------------------- the plumbing


class NetPlumb:
    """One per daemon: networks, endpoints and DNS for its containers."""

    def __init__(self, daemon: Daemon, manager: NetworkManager | None = None) -> None:
        self.d = daemon
        self.db = daemon.engine.db
        self._mgr = manager
        self.dns: dict[str, DnsResponder] = {}
        self.broken = ""  # why networking is unusable (not root, no nft): bridge runs fail
        self.notes: list[str] = []  # problems met at start (restore failures, DNS binds)
        self.forwarding_warned = False  # run_warnings gives the ip_forward one once
        # Spare endpoints on the default network, plumbed ahead of time off the start path
        # (netns, veth on the bridge, address, route): a default-network start takes one.
        self.spares_wanted = 1
        self._spares: list[Endpoint] = []
        self._filler: Any = None  # the task refilling the pool
        self._closed = False

    @property
    def mgr(self) -> NetworkManager:
        if self._mgr is None:
            from dockyard.network import NetworkManager

            # a path, not None: every netlink call then runs in a helper thread (pyroute2's
            # sync API runs its own asyncio loop and cannot run in the daemon's loop thread)
            self._mgr = NetworkManager(host_netns="/proc/self/ns/net")
        return self._mgr

    def netns_path(self, cid: str) -> str:
        return str(self.d.run_root / "netns" / cid)

    # --- records ---------------------------------------------------------------------------
    def networks(self) -> list[NetworkState]:
        with self.db.transaction() as conn:
            rows = conn.execute("SELECT data FROM networks ORDER BY created, name").fetchall()
        return [network_from(fastjson.loads(r[0])) for r in rows]

    def created_of(self, name: str) -> str:
        with self.db.transaction() as conn:
            row = conn.execute("SELECT created FROM networks WHERE name = ?", (name,)).fetchone()
        return "" if row is None else str(row[0])

    def network(self, ref: str) -> NetworkState:
        """A network by name, id or unique id prefix; NotFound otherwise."""
        nets = self.networks()
        for n in nets:
            if ref in (n.name, n.id):
                return n
        found = [n for n in nets if ref and n.id.startswith(ref)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(found)} matches)")
        raise NotFound(f"network {ref} not found")

    def _save_network(self, net: NetworkState) -> None:
        with self.db.transaction(write=True) as conn:
            try:
                conn.execute(
                    "INSERT INTO networks (name, id, created, data) VALUES (?, ?, ?, ?)",
                    (net.name, net.id, _now(), fastjson.dumps(asdict(net))),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExistsError(f"create network {net.name}: already exists") from None

    def _delete_network(self, net: NetworkState) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute("DELETE FROM ipam_allocations WHERE network = ?", (net.id,))
            conn.execute("DELETE FROM ipam_cursors WHERE network = ?", (net.id,))
            conn.execute("DELETE FROM networks WHERE name = ?", (net.name,))

    def endpoints(self, container_id: str | None = None, network: str | None = None
                  ) -> list[Endpoint]:  # fmt: skip
        sql, args = "SELECT data FROM endpoints", []
        conds = []
        if container_id is not None:
            conds.append("container_id = ?")
            args.append(container_id)
        if network is not None:
            conds.append("network = ?")
            args.append(network)
        if conds:
            sql += " WHERE " + " AND ".join(conds)
        with self.db.transaction() as conn:
            rows = conn.execute(sql + " ORDER BY rowid", args).fetchall()
        return [endpoint_from(fastjson.loads(r[0])) for r in rows]

    def isolate(self, container_id: str) -> None:
        """The container died: nothing is forwarded to its addresses any more (its veths'
        host ends go down at once; ``after_stop`` disconnects them later). Best effort."""
        for ep in self.endpoints(container_id=container_id):
            with contextlib.suppress(DockyardError):
                self.mgr.isolate(ep)

    def _save_endpoint(self, ep: Endpoint) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute(
                "INSERT OR REPLACE INTO endpoints (container_id, network, data) VALUES (?, ?, ?)",
                (ep.container_id, ep.network, fastjson.dumps(asdict(ep))),
            )

    def _delete_endpoint(self, ep: Endpoint) -> None:
        with self.db.transaction(write=True) as conn:
            conn.execute(
                "DELETE FROM endpoints WHERE container_id = ? AND network = ?",
                (ep.container_id, ep.network),
            )

    def _ipam(self) -> Any:
        from dockyard.network import Ipam

        return Ipam(SqliteIpamStore(self.db))

    # --- daemon start / stop -----------------------------------------------------------------
    async def open(self) -> None:
        """Default network, every stored network, stale rules, held ports, DNS responders."""
        from dockyard.network import NetworkSpec, plan_network

        try:
            self.notes = list(self.mgr.check_host())
            nets = self.networks()
            if not any(n.name == "bridge" for n in nets):
                net = plan_network(NetworkSpec("bridge"), nets, self.mgr.routes(), default=True)
                self._save_network(net)
                nets.append(net)
            for net in nets:
                self.mgr.create(net)
            eps = self.endpoints()
            self.mgr.prune(nets, eps)
        except DockyardError as e:
            self.broken = str(e)
            print(f"dockyardd: networking unavailable: {e}", file=sys.stderr, flush=True)
            return
        live = {r.id for r in self.d.engine.db.list_containers()
                if r.status in ("running", "paused", "restarting")}  # fmt: skip
        keep = []
        for ep in eps:
            if ep.container_id in live and os.path.exists(ep.netns):
                keep.append(ep)
            else:  # its container ended or went while no daemon ran
                self._drop_endpoint(ep)
        for failure in self.mgr.restore(keep):
            self.notes.append(f"restore: {failure}")
        self._sweep_spares(nets)
        for net in nets:
            await self._start_dns(net)
        self._refill()

    async def close(self) -> None:
        self._closed = True
        if self._filler is not None:
            with contextlib.suppress(Exception):
                await self._filler
        while self._spares:
            self._drop_spare(self._spares.pop())
        if self._mgr is not None:
            self._mgr.release_all()
        for r in list(self.dns.values()):
            with contextlib.suppress(Exception):
                await r.close()
        self.dns.clear()

    def warnings(self) -> list[str]:
        """What ``system info`` shows; nothing here changes the host."""
        out = [f"networking unavailable: {self.broken}"] if self.broken else []
        return out + self._forwarding() + [n for n in self.notes if "ip_forward" not in n]

    def _forwarding(self) -> list[str]:
        if self.broken or _read("/proc/sys/net/ipv4/ip_forward").strip() == "1":
            return []
        return [FORWARDING_WARNING]

    def run_warnings(self, network: str, published: bool = False) -> list[str]:
        """What a ``run``/``create`` shows: nothing off a bridge (``none``, ``host``,
        ``container:``). The forwarding warning only where forwarding matters — a network
        with a way out (not ``--internal``) or published ports — and once per daemon, so
        that it does not land in every script's output (``info`` keeps showing it)."""
        if _kind(network) != "bridge":
            return []
        out = [w for w in self.warnings() if w != FORWARDING_WARNING]
        if self.forwarding_warned or not self._forwarding():
            return out
        try:
            internal = self.network(_primary(network)).internal
        except DockyardError:
            internal = False
        if published or not internal:
            self.forwarding_warned = True
            out.append(FORWARDING_WARNING)
        return out

    # --- DNS ------------------------------------------------------------------------------------
    async def _start_dns(self, net: NetworkState) -> None:
        if not net.dns or net.name in self.dns:
            return
        from dockyard.network import DnsResponder, parse_resolv_conf, upstreams_from_resolv

        host = parse_resolv_conf(_read("/etc/resolv.conf"))
        gateways = [n.gateway for n in self.networks()]
        r = DnsResponder(
            net.gateway,
            upstreams=upstreams_from_resolv(host, exclude=gateways),
            interface=net.bridge,  # answers only queries that came in on the bridge
        )
        try:
            await r.start()
        except DockyardError as e:
            self.notes.append(f"network {net.name}: no DNS by container name: {e}")
            return
        self.dns[net.name] = r
        self._refresh_dns(net.name)

    async def _stop_dns(self, name: str) -> None:
        r = self.dns.pop(name, None)
        if r is not None:
            with contextlib.suppress(Exception):
                await r.close()

    def _refresh_dns(self, network: str) -> None:
        r = self.dns.get(network)
        if r is None:
            return
        records: dict[str, list[str]] = {}
        for ep in self.endpoints(network=network):
            try:
                rec = self.d.engine.db.get_container(ep.container_id)
            except NotFound:
                continue
            for name in {rec.name, rec.id[:12], *ep.aliases}:
                records.setdefault(name, []).append(ep.address)
            dns = config_of(rec).daemon.dns
            if dns:
                r.set_client_upstreams(ep.address, [(s, 53) for s in dns])
        r.set_records(records)

    # --- validation ----------------------------------------------------------------------------
    def validate(self, opts: RunOptions, dopts: DaemonOptions) -> None:
        """Everything about a container's networking that can be checked before it exists."""
        from ipaddress import ip_address

        from dockyard.network import parse_add_host

        network = opts.network or "default"
        kind = _kind(network)
        for s in dopts.dns:
            try:
                ip_address(s)
            except ValueError:
                raise InvalidArgument(f"invalid --dns {s!r}: not an IP address") from None
        gateway = ""
        if kind == "container":
            target = network.partition(":")[2]
            if not target:
                raise InvalidArgument("invalid --network container:: a container is required")
            self.d.get(target)
            if dopts.publish or dopts.publish_all:
                raise InvalidArgument(
                    "conflicting options: port publishing and the container type network mode"
                )
        if kind != "bridge":
            if dopts.ip:
                raise InvalidArgument(
                    f"invalid --ip {dopts.ip}: user specified IP address is supported on user "
                    "defined networks only"
                )
            if dopts.aliases:
                raise InvalidArgument(
                    "invalid --network-alias: network-scoped aliases are supported only for "
                    "containers in user defined networks"
                )
        else:
            if self.broken:
                raise Unavailable(f"network {_primary(network)}: networking unavailable: "
                                  f"{self.broken}")  # fmt: skip
            net = self.network(_primary(network))
            gateway = net.gateway
            if net.default and dopts.ip:
                raise InvalidArgument(
                    f"invalid --ip {dopts.ip}: user specified IP address is supported on user "
                    "defined networks only"
                )
            if net.default and dopts.aliases:
                raise InvalidArgument(
                    "invalid --network-alias: network-scoped aliases are supported only for "
                    "containers in user defined networks"
                )
            if dopts.ip:
                self._check_ip(net, dopts.ip)
        for h in dopts.add_hosts:
            parse_add_host(h, gateway or "0.0.0.0")

    def _check_ip(self, net: NetworkState, ip: str) -> None:
        from ipaddress import IPv4Address, IPv4Network

        try:
            addr = IPv4Address(ip)
        except ValueError:
            raise InvalidArgument(f"invalid --ip {ip!r}: not an IPv4 address") from None
        subnet = IPv4Network(net.subnet)
        if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"invalid --ip {ip}: not a host address of {net.subnet}")
        if ip == net.gateway:
            raise InvalidArgument(f"invalid --ip {ip}: the gateway of network {net.name}")
        owner = SqliteIpamStore(self.db).allocations(net.id).get(ip)
        if owner is not None:
            raise Conflict(f"invalid --ip {ip}: address already in use on network {net.name}")

    # --- start / stop -------------------------------------------------------------------------
    def before_start(self, rec: ContainerRecord, opts: RunOptions, dopts: DaemonOptions) -> None:
        network = opts.network or "default"
        kind = _kind(network)
        bundle = str(self.d.bundle(rec.id))
        if kind == "host":
            self._render(rec, dopts, bundle, [], "")
            return
        if kind == "none":
            self._render(rec, dopts, bundle, [], "")
            return
        if kind == "container":
            target = self.d.get(network.partition(":")[2])
            if target.status not in ("running", "paused"):
                raise FailedPrecondition(
                    f"start {rec.name}: cannot join the network of container {target.name}: "
                    "it is not running"
                )
            path = self.netns_path(target.id)
            if not os.path.exists(path):
                path = f"/proc/{int(target.pid or 0)}/ns/net"
            tb = str(self.d.bundle(target.id))
            for name in ("hosts", "resolv.conf"):
                text = _read(os.path.join(tb, name))
                if text:
                    _write(os.path.join(bundle, name), text)
            self._set_netns(rec.id, path)
            return
        self._start_bridged(rec, opts, dopts, bundle)

    def _start_bridged(
        self, rec: ContainerRecord, opts: RunOptions, dopts: DaemonOptions, bundle: str
    ) -> None:
        from dockyard.network import EndpointSpec, publish_all

        if self.broken:
            raise Unavailable(f"start {rec.name}: networking unavailable: {self.broken}")
        wanted = wanted_networks(rec)
        ports: list[PortSpec] = list(dopts.publish)  # parsed at the edge (api/convert.py)
        if dopts.publish_all:
            exposed = _exposed(config_of(rec))
            have = {(p.container_port, p.proto) for p in ports}
            ports.extend(p for p in publish_all(exposed) if (p.container_port, p.proto)
                         not in have)  # fmt: skip
        path = self.netns_path(rec.id)
        self._cleanup(rec.id)  # what a crashed daemon or a failed stop left
        ipam = self._ipam()
        done: list[Callable[[], object]] = []
        eps: list[Endpoint] = []
        try:
            spare = self._take_spare(wanted)
            if spare is not None:
                done.append(partial(self._drop_spare, spare))
                move_netns(spare.netns, path)
                done.append(lambda: release_netns(path))
                net = self.network("bridge")
                SqliteIpamStore(self.db).transfer(net.id, spare.address, rec.id)
                ep = self.mgr.adopt(spare, rec.id, path, tuple(ports), wanted[0].aliases)
                done.append(partial(self.mgr.disconnect, ep))
                self._save_endpoint(ep)
                done.append(partial(self._delete_endpoint, ep))
                eps.append(ep)
                wanted = []
            else:
                make_netns(path)
                done.append(lambda: release_netns(path))
            for i, w in enumerate(wanted):
                net = self.network(w.name)
                addr = ipam.allocate(net, rec.id, w.ip)
                done.append(partial(ipam.release, net, addr))
                spec = EndpointSpec(
                    rec.id, path, addr, ifname=f"eth{i}", default_route=i == 0,
                    ports=tuple(ports) if i == 0 else (), aliases=w.aliases,
                )  # fmt: skip
                ep = self.mgr.connect(net, spec)
                done.append(partial(self.mgr.disconnect, ep))
                self._save_endpoint(ep)
                done.append(partial(self._delete_endpoint, ep))
                eps.append(ep)
            first = self.network(eps[0].network) if eps else None
            self._render(rec, dopts, bundle, eps, first.gateway if first else "",
                         first.gateway if first is not None and first.dns else "")  # fmt: skip
            self._set_netns(rec.id, path)
            self._record_settings(rec.id, eps, ports)
        except BaseException as e:
            undo(e, done)
            if isinstance(e, DockyardError):
                raise _start_error(rec, e) from None
            raise
        for ep in eps:
            self._refresh_dns(ep.network)

    def _render(self, rec: ContainerRecord, dopts: DaemonOptions, bundle: str,
                eps: Sequence[Endpoint], gateway: str, network_dns: str = "") -> None:  # fmt: skip
        from dockyard.network import (
            parse_add_host,
            parse_resolv_conf,
            render_hosts,
            render_resolv_conf,
        )

        hostname = config_of(rec).hostname() or rec.id[:12]
        extra = [parse_add_host(h, gateway) for h in dopts.add_hosts]
        aliases = [a for ep in eps[:1] for a in ep.aliases]
        hosts = render_hosts(hostname, [ep.address for ep in eps[:1]], aliases=aliases,
                             extra_hosts=extra)  # fmt: skip
        host_conf = parse_resolv_conf(_read("/etc/resolv.conf"))
        resolv = render_resolv_conf(
            host_conf,
            dns=dopts.dns,
            dns_search=dopts.dns_search,
            dns_options=dopts.dns_options,
            network_dns=network_dns,
        )
        _write(os.path.join(bundle, "hosts"), hosts)
        _write(os.path.join(bundle, "resolv.conf"), resolv)

    def _set_netns(self, cid: str, path: str) -> None:
        cfg_path = os.path.join(str(self.d.bundle(cid)), "config.json")
        spec = fastjson.loads(_read(cfg_path))
        for ns in spec["linux"]["namespaces"]:
            if ns.get("type") == "network":
                ns["path"] = path
        _write(cfg_path, fastjson.dumps(spec))

    def _record_settings(self, cid: str, eps: Sequence[Endpoint],
                         ports: Sequence[PortSpec]) -> None:  # fmt: skip
        rec = self.d.engine.db.get_container(cid)
        cfg = config_of(rec)
        cfg.networks = self._settings(rec, eps)
        published: dict[str, list[HostBinding] | None] = dict.fromkeys(_exposed(cfg))
        for ep in eps[:1]:
            for b in ep.ports:
                key = f"{b.container_port}/{b.proto}"
                held = HostBinding(b.host_ip or "0.0.0.0", str(b.host_port))
                published[key] = [*(published.get(key) or []), held]
        cfg.ports = published
        cfg.port_bindings = list(ports)
        self.d.engine.db.update_container(replace(rec, config=cfg.to_json()))

    def _settings(self, rec: ContainerRecord, eps: Sequence[Endpoint],
                  wanted: list[NetWish] | None = None) -> dict[str, object]:  # fmt: skip
        """``NetworkSettings.Networks`` (blank addresses for networks not attached now);
        ``wanted``: the networks about to be stored (default: the record's)."""
        by_name = {ep.network: ep for ep in eps}
        out: dict[str, object] = {}
        for w in wanted_networks(rec) if wanted is None else wanted:
            name = w.name
            ep = by_name.get(name)
            try:
                nid = self.network(name).id
            except DockyardError:
                nid = ""
            ip = w.ip
            out[name] = {
                "IPAMConfig": {"IPv4Address": ip} if ip else None,
                "Links": None,
                "Aliases": list(w.aliases) or None,
                "NetworkID": nid,
                "EndpointID": _endpoint_id(ep) if ep else "",
                "Gateway": ep.gateway if ep else "",
                "IPAddress": ep.address if ep else "",
                "IPPrefixLen": ep.prefixlen if ep else 0,
                "IPv6Gateway": "",
                "GlobalIPv6Address": "",
                "GlobalIPv6PrefixLen": 0,
                "MacAddress": ep.mac if ep else "",
                "DNSNames": [rec.name, rec.id[:12], *(ep.aliases if ep else ())]
                if ep and self._has_dns(name)
                else None,
            }
        return out

    def _has_dns(self, name: str) -> bool:
        try:
            return self.network(name).dns
        except DockyardError:
            return False

    def after_stop(self, rec: ContainerRecord) -> None:
        self._cleanup(rec.id)
        with contextlib.suppress(NotFound):
            cur = self.d.engine.db.get_container(rec.id)
            cfg = config_of(cur)
            if cfg.networks or cfg.ports:
                cfg.networks = self._settings(cur, [])
                cfg.ports = {}
                self.d.engine.db.update_container(replace(cur, config=cfg.to_json()))

    def sweep_netns(self, keep: set[str]) -> None:
        """Network namespace files of containers that no longer exist (a daemon killed
        while releasing them): unmounted and deleted."""
        directory = os.path.join(str(self.d.run_root), "netns")
        try:
            names = os.listdir(directory)
        except OSError:
            return
        for cid in names:
            if cid not in keep and not cid.startswith(_SPARE_FILE):
                release_netns(os.path.join(directory, cid))

    # --- spare endpoints ------------------------------------------------------------------------
    def _refill(self) -> None:
        """Start refilling the spare pool in the background (once at a time)."""
        if self._closed or self.broken or len(self._spares) >= self.spares_wanted:
            return
        if self._filler is not None and not self._filler.done():
            return
        import asyncio

        self._filler = asyncio.ensure_future(self._fill())

    async def _fill(self) -> None:
        import asyncio

        from dockyard.network import EndpointSpec

        while not self._closed and len(self._spares) < self.spares_wanted:
            try:
                net = self.network("bridge")
            except NotFound:
                return
            token = os.urandom(5).hex()
            owner = _SPARE_OWNER + token
            ipam = self._ipam()
            try:
                addr = ipam.allocate(net, owner)
            except DockyardError:
                return  # the subnet is full: starts plumb their own
            path = os.path.join(str(self.d.run_root), "netns", _SPARE_FILE + token)
            spec = EndpointSpec(owner, path, addr, host_ifname=_SPARE_LINK + token)
            try:
                loop = asyncio.get_running_loop()
                ep = await loop.run_in_executor(self.d.background, self._make_spare, net, spec)
            except Exception as e:  # the pool is an optimisation: starts plumb their own
                with contextlib.suppress(DockyardError):
                    ipam.release(net, addr)
                note = f"spare endpoint: {e}"
                if note not in self.notes:  # a refill follows every take: say it once
                    self.notes.append(note)
                return
            if self._closed:
                self._drop_spare(ep)
                return
            self._spares.append(ep)

    def _make_spare(self, net: NetworkState, spec: EndpointSpec) -> Endpoint:
        make_netns(spec.netns)
        try:
            return self.mgr.connect(net, spec)
        except BaseException:
            release_netns(spec.netns)
            raise

    def _drop_spare(self, ep: Endpoint) -> None:
        with contextlib.suppress(DockyardError):
            self.mgr.disconnect(ep)
        release_netns(ep.netns)
        with contextlib.suppress(DockyardError):
            self._ipam().release(self.network(ep.network), ep.address)

    def _take_spare(self, wanted: list[NetWish]) -> Endpoint | None:
        """A spare endpoint for a start on the default network alone, with no fixed address."""
        if len(wanted) != 1 or wanted[0].ip or wanted[0].name != "bridge":
            return None
        spare = self._spares.pop(0) if self._spares else None
        self._refill()
        return spare

    def _sweep_spares(self, nets: Sequence[NetworkState]) -> None:
        """What spare endpoints of a killed daemon left: veths, addresses, netns files."""
        store = SqliteIpamStore(self.db)
        for net in nets:
            with contextlib.suppress(DockyardError):
                self.mgr.drop_links(net.bridge, _SPARE_LINK)
            for addr, owner in store.allocations(net.id).items():
                if owner.startswith(_SPARE_OWNER):
                    with contextlib.suppress(DockyardError):
                        store.remove(net.id, addr)
        directory = os.path.join(str(self.d.run_root), "netns")
        with contextlib.suppress(OSError):
            for name in os.listdir(directory):
                if name.startswith(_SPARE_FILE):
                    release_netns(os.path.join(directory, name))

    def after_remove(self, rec: ContainerRecord) -> None:
        self._cleanup(rec.id)

    def _cleanup(self, cid: str) -> None:
        """Every endpoint of ``cid`` disconnected and released, its netns file gone."""
        errors: list[DockyardError] = []
        nets = set()
        for ep in self.endpoints(container_id=cid):
            nets.add(ep.network)
            try:
                self._drop_endpoint(ep)
            except DockyardError as e:
                errors.append(e)
        release_netns(self.netns_path(cid))
        for n in nets:
            self._refresh_dns(n)
        if errors:
            raise errors[0]

    def _drop_endpoint(self, ep: Endpoint) -> None:
        try:
            self.mgr.disconnect(ep)
        finally:
            with contextlib.suppress(DockyardError):
                net = self.network(ep.network)
                with contextlib.suppress(NotFound):
                    self._ipam().release(net, ep.address)
            self._delete_endpoint(ep)

    # --- network objects ------------------------------------------------------------------------
    def users_of(self, net: NetworkState) -> list[ContainerRecord]:
        return [r for r in self.d.engine.db.list_containers()
                if any(w.name == net.name for w in wanted_networks(r))]  # fmt: skip

    async def create_network(self, spec: NetworkSpec) -> NetworkState:
        from dockyard.network import plan_network

        if self.broken:
            raise Unavailable(f"create network {spec.name}: networking unavailable: "
                              f"{self.broken}")  # fmt: skip
        net = plan_network(spec, self.networks(), self.mgr.routes())
        self.mgr.create(net)
        try:
            self._save_network(net)
        except BaseException as e:
            undo(e, [lambda: self.mgr.remove(net)])
            raise
        await self._start_dns(net)
        self.d.events.emit("network", "create", net.id, {"name": net.name, "type": "bridge"})
        return net

    async def remove_network(self, ref: str) -> NetworkState:
        net = self.network(ref)
        if net.default:
            raise PermissionDenied(f"remove network {net.name}: {net.name} is a pre-defined "
                                   "network and cannot be removed")  # fmt: skip
        users = self.users_of(net)
        if users:
            names = ", ".join(sorted(r.name for r in users))
            raise FailedPrecondition(
                f"remove network {net.name}: network is in use by container(s) {names}"
            )
        self.mgr.remove(net)
        self._delete_network(net)
        await self._stop_dns(net.name)
        self.d.events.emit("network", "destroy", net.id, {"name": net.name, "type": "bridge"})
        return net

    async def prune_networks(self) -> list[str]:
        removed = []
        for net in self.networks():
            if net.default or self.users_of(net):
                continue
            with contextlib.suppress(DockyardError):
                await self.remove_network(net.name)
                removed.append(net.name)
        return removed

    async def connect(self, ref: str, container: str, aliases: Sequence[str] = (),
                      ip: str = "") -> None:  # fmt: skip
        from dockyard.network import EndpointSpec

        net = self.network(ref)
        rec = self.d.get(container)
        if _kind(config_of(rec).options.network or "default") != "bridge":
            raise FailedPrecondition(
                f"connect container {rec.name} to network {net.name}: its network mode "
                "cannot be combined with other networks"
            )
        wanted = wanted_networks(rec)
        if (aliases or ip) and net.default:
            raise InvalidArgument(f"connect container {rec.name} to network {net.name}: "
                                  "aliases and --ip need a user defined network")  # fmt: skip
        if ip:
            self._check_ip(net, ip)
        async with self.d.lock(rec.id):
            rec = self.d.get(rec.id)
            wanted = wanted_networks(rec)
            if any(w.name == net.name for w in wanted):
                if rec.status in ("running", "paused"):
                    raise AlreadyExistsError(
                        f"connect container {rec.name} to network {net.name}: already connected"
                    )
                # a container not started yet: the settings are replaced, as dockerd does
                # (compose v1 connects each container it created to its network again, with
                # the aliases it wants)
                wanted = [w for w in wanted if w.name != net.name]
            entry = NetWish(net.name, tuple(aliases), ip)
            eps = self.endpoints(container_id=rec.id)
            if rec.status in ("running", "paused"):
                used = {ep.ifname for ep in eps}
                ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
                ipam = self._ipam()
                addr = ipam.allocate(net, rec.id, ip)
                try:
                    ep = self.mgr.connect(net, EndpointSpec(
                        rec.id, self.netns_path(rec.id), addr, ifname=ifname,
                        default_route=not eps, aliases=tuple(aliases)))  # fmt: skip
                except BaseException as e:
                    undo(e, [lambda: ipam.release(net, addr)])
                    raise
                self._save_endpoint(ep)
                eps.append(ep)
            cfg = config_of(rec)
            cfg.net_wanted = [*wanted, entry]
            cfg.networks = self._settings(rec, eps, cfg.net_wanted)
            self.d.engine.db.update_container(replace(rec, config=cfg.to_json()))
        self._refresh_dns(net.name)
        self.d.events.emit("network", "connect", net.id,
                           {"name": net.name, "type": "bridge", "container": rec.id})  # fmt: skip

    async def disconnect(self, ref: str, container: str, force: bool = False) -> None:
        net = self.network(ref)
        rec = self.d.get(container)
        wanted = wanted_networks(rec)
        if not any(w.name == net.name for w in wanted):
            raise NotFound(f"disconnect container {rec.name} from network {net.name}: "
                           "not connected")  # fmt: skip
        async with self.d.lock(rec.id):
            rec = self.d.get(rec.id)
            for ep in self.endpoints(container_id=rec.id, network=net.name):
                self._drop_endpoint(ep)
            cfg = config_of(rec)
            cfg.net_wanted = [w for w in wanted if w.name != net.name]
            cfg.networks = self._settings(rec, self.endpoints(container_id=rec.id), cfg.net_wanted)
            self.d.engine.db.update_container(replace(rec, config=cfg.to_json()))
        self._refresh_dns(net.name)
        self.d.events.emit("network", "disconnect", net.id,
                           {"name": net.name, "type": "bridge", "container": rec.id})  # fmt: skip
        del force

    def network_json(self, net: NetworkState) -> dict[str, Any]:
        """Docker's network object (``GET /networks/{id}``)."""
        containers: dict[str, Any] = {}
        for ep in self.endpoints(network=net.name):
            try:
                name = self.d.engine.db.get_container(ep.container_id).name
            except NotFound:
                name = ""
            containers[ep.container_id] = {
                "Name": name, "EndpointID": _endpoint_id(ep), "MacAddress": ep.mac,
                "IPv4Address": f"{ep.address}/{ep.prefixlen}", "IPv6Address": "",
            }  # fmt: skip
        return {
            "Name": net.name, "Id": net.id, "Created": self.created_of(net.name),
            "Scope": "local", "Driver": "bridge", "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
            "Internal": net.internal, "Attachable": False, "Ingress": False,
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": containers,
            # as dockerd: the default bridge shows its options, a user-defined network the
            # ones it was created with (none: compose v1 recreates a network whose
            # Options differ from its file's driver_opts)
            "Options": {"com.docker.network.bridge.name": net.bridge,
                        "com.docker.network.bridge.default_bridge": "true"}
                       if net.default else {},
            "Labels": dict(net.labels),
        }  # fmt: skip


def _endpoint_id(ep: Endpoint) -> str:
    import hashlib

    return hashlib.sha256(ep.owner.encode()).hexdigest()


def _start_error(rec: ContainerRecord, e: DockyardError) -> DockyardError:
    """One line naming the container (the library names it by id)."""
    msg = str(e).replace(rec.id[:64], rec.name)
    for prefix in (f"connect container {rec.name} to network ",):
        if msg.startswith(prefix) and ": " in msg[len(prefix) :]:
            msg = msg[len(prefix) :].partition(": ")[2]
    out = type(e)(f"start {rec.name}: {msg}" if not msg.startswith("start ") else msg)
    for note in getattr(e, "__notes__", []):
        out.add_note(note)
    return out
