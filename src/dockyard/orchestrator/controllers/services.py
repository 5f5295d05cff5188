"""The Services controller: Service objects + ready pods → the kernel's load balancer.

What it does (``docs/controllers.md``, "Services and NetworkPolicy in the daemon"):

* **allocation** — a ClusterIP from the Services' VIP range (chosen once with
  :func:`~dockyard.network.services.choose_service_cidr` against the host's routes and the
  bridge networks' subnets, kept as the orchestrator store's ``service_cidr`` setting:
  :func:`service_cidr`), through the engine's IPAM tables (owner ``service:<ns>/<name>``);
  node ports for ``NodePort``/``LoadBalancer`` Services (``spec.ports[].nodePort``
  honoured, else the lowest free port). Both are written into the Service's ``spec``
  (``clusterIP``, ``clusterIPs``, ``nodePort``) and a re-applied manifest without them gets
  the same ones back;
* **endpoints** — the pods matching ``spec.selector`` that are ready (terminating pods
  never are), with their address; a named ``targetPort`` is resolved per pod from its
  container ports (a pod without that port is no endpoint of that port);
* **programming** — :meth:`ServiceProxy.sync` with the whole desired state, whenever it
  changed: on every pod readiness change (``EnginePodBackend.on_change``), container event,
  store write, and a periodic resync;
* **draining** — a pod about to be stopped is dropped first (:meth:`ServicesController.drain`,
  awaited by the backend before preStop/SIGTERM): the nft transaction is committed (``nft``
  returned) before the drain returns, so no new connection reaches a dying pod; then the
  drain waits, up to ``drain_seconds``, until the pod has no accepted TCP connection open
  (established ones finish there; their conntrack entries are kept);
* **dead endpoints** — a pod's container that exits on its own (crash, OOM, SIGKILL) is
  reported by the engine's exit listener before anything else happens
  (:meth:`ServicesController.endpoint_died`): its address leaves the maps at once, without
  waiting for a probe or a full reconcile, and its conntrack entries are deleted, so
  retransmitted SYNs meet the new maps instead of a vanished address;
* **DNS** (best effort) — ``<svc>``, ``<svc>.<ns>``, ``<svc>.<ns>.svc`` and
  ``<svc>.<ns>.svc.cluster.local`` → the ClusterIP in every network's DNS responder; the
  whole cluster zone (:func:`~dockyard.orchestrator.clusterdns.cluster_records`: headless
  Services, SRV, pod records) in the cluster DNS responder, on every reconcile.

The planning functions (:func:`endpoints_of`, :func:`proxy_specs`, :func:`with_allocations`)
are pure and unit-tested; the controller class does the I/O through typed collaborators
(:class:`ServicePods`, :class:`ServiceProgrammer`, :class:`NameTable`, :class:`ClusterZone`,
an :class:`~dockyard.network.Ipam`), wired by :func:`attach_services` from the engine's
:class:`~dockyard.orchestrator.engine_port.ServiceNetworking`.

It keeps its own loop (:class:`~dockyard.orchestrator.syncloop.SyncLoop`, on the injected
clock) rather than a place in the controllers' :class:`Manager`: one pass programs the whole
kernel state at once, under a lock that the drain and exit hooks share, and those hooks must
run the instant they are called (``docs/decisions/house-engine-interface.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from dockyard.errors import Conflict, DockyardError, InvalidArgument
from dockyard.network.conntrack import forget_address, open_connections
from dockyard.network.services import (
    ServiceBackend,
    ServicePort,
    ServiceSpec,
    allocate_node_port,
    choose_service_cidr,
    service_range,
)
from dockyard.records import replace

from ..backend import ObservedPod
from ..clusterdns import CLUSTER_DOMAIN, cluster_data, cluster_records, pod_address
from ..compose import PROJECT_LABEL
from ..objects import Pod, Service
from ..store import ObjectStore
from ..syncloop import SyncLoop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ipaddress import IPv4Network

    from dockyard.network import DnsResponder, Ipam, RData, Srv

    from ..engine_port import ServiceNetworking
    from ..sqlite_store import SqliteObjectStore
    from .manager import Clock

__all__ = [
    "ClusterZone",
    "NameTable",
    "ServicePods",
    "ServiceProgrammer",
    "ServicesController",
    "Settings",
    "dns_names",
    "endpoints_of",
    "proxy_specs",
    "selects",
    "service_owner",
    "target_number",
    "with_allocations",
]

NODE_PORT_TYPES = ("NodePort", "LoadBalancer")
_META_CIDR = "service_cidr"


# ---------------------------------------------------------------------- pure


def service_owner(svc: Service) -> str:
    return f"service:{svc.metadata.namespace or 'default'}/{svc.metadata.name}"


def wants_cluster_ip(svc: Service) -> bool:
    return svc.spec.type != "ExternalName" and svc.spec.cluster_ip != "None"


def selects(svc: Service, pod: Pod) -> bool:
    """Whether ``svc`` selects ``pod`` (same namespace, every selector label; an empty
    selector selects nothing: its endpoints are managed by hand upstream)."""
    sel = svc.spec.selector
    if not sel or (pod.metadata.namespace or "default") != (svc.metadata.namespace or "default"):
        return False
    labels = pod.metadata.labels
    return all(labels.get(k) == v for k, v in sel.items())


def target_number(pod: Pod, target: int | str | None, port: int, protocol: str) -> int | None:
    """A Service port's ``targetPort`` on ``pod``: a number as is, a name through the pod's
    container ports (None when it has no such port of that protocol)."""
    if target is None or target in (0, ""):
        return port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    for c in pod.spec.containers:
        for cp in c.ports:
            if cp.name == target and cp.protocol.upper() == protocol.upper():
                return cp.container_port
    return None


def endpoints_of(svc: Service, pods: Iterable[ObservedPod]) -> list[ObservedPod]:
    """The pods that serve ``svc``: selected, with an address, ready (or merely not
    terminating, with ``publishNotReadyAddresses``)."""
    out = []
    for p in pods:
        if p.pod_ip is None or p.terminating or not selects(svc, p.pod):
            continue
        if p.ready or (svc.spec.publish_not_ready_addresses and p.active):
            out.append(p)
    return out


def proxy_specs(svc: Service, cluster_ip: str, pods: Iterable[ObservedPod]) -> list[ServiceSpec]:
    """What the kernel should serve for ``svc``: one :class:`ServiceSpec` per port (so a
    named target port that only some pods have gives each port its own endpoints)."""
    if svc.spec.type == "ExternalName":
        return []
    ready = endpoints_of(svc, pods)
    key = f"{svc.metadata.namespace or 'default'}/{svc.metadata.name}"
    out = []
    for i, sp in enumerate(svc.spec.ports):
        proto = sp.protocol.lower()
        backends = []
        fallback = sp.target_port if isinstance(sp.target_port, int) and sp.target_port else 0
        for p in ready:
            n = target_number(p.pod, sp.target_port, sp.port, sp.protocol)
            if n is None:
                continue
            assert p.pod_ip is not None
            backends.append(ServiceBackend(p.pod_ip, True, {"t": n}))
            fallback = fallback or n
        port = ServicePort(
            port=sp.port,
            target_port=fallback or sp.port,
            protocol=proto,
            node_port=(sp.node_port or 0) if svc.spec.type in NODE_PORT_TYPES else 0,
            name="t",
        )
        vip = cluster_ip if wants_cluster_ip(svc) else ""
        if not vip and not port.node_port:
            continue  # headless: nothing for the kernel
        out.append(ServiceSpec(f"{key}:{sp.name or i}/{proto}", vip, (port,), tuple(backends)))
    return out


def with_allocations(svc: Service, cluster_ip: str, node_ports: Sequence[int]) -> Service:
    """``svc`` with its ClusterIP and node ports (``node_ports[i]`` for port ``i``; 0 keeps
    none) written into the spec, target ports defaulted."""
    ports = []
    for i, given in enumerate(svc.spec.ports):
        n = node_ports[i] if i < len(node_ports) else 0
        ports.append(replace(given.defaulted(), node_port=n or None))
    spec = replace(svc.spec, ports=tuple(ports))
    if wants_cluster_ip(svc) and cluster_ip:
        spec = replace(spec, cluster_ip=cluster_ip, cluster_ips=(cluster_ip,))
    return replace(svc, spec=spec)


def dns_names(svc: Service) -> list[str]:
    ns = svc.metadata.namespace or "default"
    n = svc.metadata.name
    names = [f"{n}.{ns}", f"{n}.{ns}.svc", f"{n}.{ns}.svc.cluster.local"]
    return ([n] if ns == "default" else []) + names


# ---------------------------------------------------------------------- collaborators


class ServicePods(Protocol):
    """The pods as the controller sees them (the pod backend, ``enginepods.py``)."""

    async def list_pods(self, namespace: str | None = None) -> list[ObservedPod]: ...

    def pod_netns(self, namespace: str, name: str) -> str | None:
        """The pod's network-namespace path (None: none running); the drain counts the
        connections it still serves there."""
        ...


class ServiceProgrammer(Protocol):
    """The kernel's load balancer (:class:`~dockyard.network.services.ServiceProxy`)."""

    def sync(self, services: Iterable[ServiceSpec]) -> None:
        """Make the kernel serve exactly ``services`` (one transaction)."""
        ...

    def release(self) -> None:
        """Free what the process holds (node port sockets), leaving the rules in place."""
        ...


class NameTable(Protocol):
    """A network's DNS responder, as far as Service names go."""

    def add(self, name: str, address: str) -> None: ...

    def remove(self, name: str, address: str) -> None: ...

    def lookup(self, name: str) -> list[str] | None: ...


class ClusterZone(Protocol):
    """The cluster DNS responder (authoritative for ``cluster.local``)."""

    def set_records(self, records: Mapping[str, Sequence[str]]) -> None: ...

    def set_srv(self, records: Mapping[str, Sequence[Srv]]) -> None: ...

    def set_data(self, records: Mapping[str, Sequence[RData]]) -> None: ...


class Settings(Protocol):
    """The orchestrator's own settings (:class:`~dockyard.orchestrator.sqlite_store.
    SqliteObjectStore`)."""

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """The value of ``key``; the first call stores ``default()``."""
        ...


# ---------------------------------------------------------------------- the controller


class ServicesController(SyncLoop):
    """Keeps the kernel's Services in step with the store and the pods (see the module doc).

    ``proxy`` programs the kernel (a :class:`~dockyard.network.services.ServiceProxy`);
    ``ipam`` allocates VIPs from ``cidr``; ``dns`` returns the DNS responders to publish
    names in; ``clock`` paces the loop (the real one by default)."""

    def __init__(
        self,
        store: ObjectStore,
        backend: ServicePods,
        proxy: ServiceProgrammer,
        *,
        cidr: str,
        ipam: Ipam,
        dns: Callable[[], Iterable[NameTable]] = lambda: (),
        cluster_dns: ClusterZone | None = None,
        resync: float = 1.0,
        drain_seconds: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        on_event: Callable[[str, str, Mapping[str, str]], None] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.backend = backend
        self.proxy = proxy
        self.cidr = cidr
        self.range = service_range(cidr)
        self.ipam = ipam
        self.dns = dns
        self.cluster_dns = cluster_dns  # a DnsResponder authoritative for cluster.local
        self.resync = resync
        self.drain_seconds = drain_seconds
        self.on_error = on_error
        self.on_event = on_event  # (action, name, attributes): the daemon's events
        self.errors: dict[str, str] = {}
        self.synced: list[ServiceSpec] | None = None
        self.syncs = 0
        SyncLoop.__init__(self, clock)
        self._lock = asyncio.Lock()
        self._node_ports: dict[str, list[int]] = {}  # owner -> last allocated, per port
        self._dns_added: dict[str, str] = {}  # name -> address
        self._removed: dict[str, float] = {}  # address -> when it left the maps (monotonic)

    def _loop_error(self, e: Exception) -> None:
        self._error("services", f"{type(e).__name__}: {e}")

    # -- one pass ----------------------------------------------------------------------

    async def reconcile(self, exclude: frozenset[tuple[str, str]] = frozenset()) -> bool:
        """Allocate what is missing, then sync the kernel if its state changed; pods in
        ``exclude`` (namespace, name) are treated as gone. Returns whether it synced."""
        async with self._lock:
            services = [self._allocate(s) for s in self.store.list(Service)]
            self._release_gone(services)
            observe = services or self.cluster_dns is not None
            pods = [  # no Service: no need to observe every pod (a 50-pod scale-up asks often)
                p for p in (await self.backend.list_pods() if observe else [])
                if (p.namespace, p.name) not in exclude
            ]  # fmt: skip
            wanted: list[ServiceSpec] = []
            for svc in services:
                vip = svc.spec.cluster_ip or ""
                if vip == "None":
                    vip = ""
                wanted.extend(proxy_specs(svc, vip, pods))
            self._publish_dns(services)
            if self.cluster_dns is not None:
                a, srv = cluster_records(services, pods)
                self.cluster_dns.set_records(a)
                self.cluster_dns.set_srv(srv)
                self.cluster_dns.set_data(cluster_data(services, pods))
            if wanted == self.synced:
                return False
            await self._sync(wanted)
            return True

    async def _sync(self, wanted: list[ServiceSpec]) -> None:
        """Program ``wanted`` (under the lock); note the addresses that left the maps."""
        before = self.endpoint_addresses()
        try:
            await asyncio.to_thread(self.proxy.sync, wanted)
        except DockyardError as e:
            self._error("sync", str(e))
            raise
        self.errors.pop("sync", None)
        previous = {spec.name: spec.endpoints for spec in self.synced or ()}
        self.synced = wanted
        self.syncs += 1
        for spec in wanted:
            if previous.get(spec.name) != spec.endpoints:
                addresses = ",".join(sorted(e.address for e in spec.endpoints))
                self._event("endpoints", spec.name, {"endpoints": addresses})
        now = time.monotonic()
        for addr in before - self.endpoint_addresses():
            self._removed[addr] = now
        for addr in [a for a, t in self._removed.items() if now - t > 60]:
            del self._removed[addr]

    async def endpoint_died(self, namespace: str, name: str, address: str) -> None:
        """A container of pod ``namespace/name`` (address ``address``) exited: take the
        address out of every Service now — from the last synced state, without listing
        anything — then delete its conntrack entries. The next reconcile agrees: the
        backend no longer reports the pod ready."""
        await self._drop(address)
        with contextlib.suppress(DockyardError):
            await asyncio.to_thread(forget_address, address)

    async def drain(self, namespace: str, name: str) -> None:
        """Called before a pod is stopped: take it out of every Service now (the rule
        change is in the kernel when this returns); if it was an endpoint, wait up to
        ``drain_seconds`` for its open connections to finish.

        The pod was often dropped already by a reconcile that its ``terminating`` mark
        triggered: its removal time (:attr:`_removed`) says that it was an endpoint."""
        before = self.endpoint_addresses()
        if not before and not self._removed and not self.store.list(Service):
            return  # no Service: nothing routes to the pod
        addr = next(
            (p.pod_ip for p in await self.backend.list_pods(namespace)
             if p.name == name and p.pod_ip),
            None,
        )  # fmt: skip
        try:
            await self.reconcile(exclude=frozenset({(namespace, name)}))
        except DockyardError:
            if addr is not None:  # (a Service the kernel refused): at least not this pod
                await self._drop(addr)
        if addr is None or (addr not in before and addr not in self._removed):
            return
        netns = self.backend.pod_netns(namespace, name)
        since = self._removed.get(addr, time.monotonic())
        left = await self._wait_closed(netns, since)
        self._event("drained", name, {"namespace": namespace, "address": addr,
                                      "open": str(left)})  # fmt: skip

    async def _wait_closed(self, netns: str | None, since: float) -> int:
        """Until the pod (network namespace ``netns``) has no accepted connection open, or
        ``drain_seconds`` after ``since``, when it left the maps. A SYN DNAT'd just before
        the commit reaches the pod's accept queue within a millisecond, so the first look
        comes 20 ms after ``since``. Without the namespace: 0.25 s, the old fixed wait.
        Returns how many connections were still open at the end (-1: not known)."""
        deadline = since + self.drain_seconds
        if netns is None:
            deadline = min(deadline, since + 0.25)
        await asyncio.sleep(max(0.0, min(since + 0.02, deadline) - time.monotonic()))
        left = -1
        while netns is not None and time.monotonic() < deadline:
            try:
                left = await asyncio.to_thread(open_connections, netns)
            except DockyardError:  # the namespace is gone: nothing is served there
                return 0
            if left == 0:
                return 0
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        return left

    async def _drop(self, address: str) -> None:
        """Take ``address`` out of the last synced state (under the lock)."""
        async with self._lock:
            if self.synced is not None and address in self.endpoint_addresses():
                wanted = [
                    replace(s, endpoints=tuple(e for e in s.endpoints if e.address != address))
                    for s in self.synced
                ]
                with contextlib.suppress(DockyardError):
                    await self._sync(wanted)

    def endpoint_addresses(self) -> set[str]:
        return {ep.address for s in self.synced or () for ep in s.endpoints}

    # -- allocation --------------------------------------------------------------------

    def _allocate(self, svc: Service) -> Service:
        owner = service_owner(svc)
        try:
            vip = self._cluster_ip(svc, owner) if wants_cluster_ip(svc) else ""
            ports = self._node_ports_of(svc, owner)
        except DockyardError as e:
            self._error(owner, str(e))
            return svc
        self.errors.pop(owner, None)
        new = with_allocations(svc, vip, ports)
        if new.spec != svc.spec:
            meta = replace(new.metadata, resource_version=None)
            try:
                new = self.store.update(replace(new, metadata=meta))
            except DockyardError as e:
                self._error(owner, str(e))
                return svc
        if new.status is None:
            with contextlib.suppress(DockyardError):
                new = self.store.update_status(replace(new, status={"loadBalancer": {}}))
        return new

    def _cluster_ip(self, svc: Service, owner: str) -> str:
        held = [a for a, o in self.ipam.store.allocations(self.range.id).items() if o == owner]
        want = svc.spec.cluster_ip or ""
        if want and want not in held:
            for a in held:
                self.ipam.release(self.range, a)
            try:
                return str(self.ipam.allocate(self.range, owner, want))
            except InvalidArgument as e:
                raise InvalidArgument(
                    f'Service "{svc.metadata.name}" is invalid: spec.clusterIP: Invalid value: '
                    f'"{want}": {e}'
                ) from None
        if held:
            return str(held[0])
        return str(self.ipam.allocate(self.range, owner))

    def _node_ports_of(self, svc: Service, owner: str) -> list[int]:
        if svc.spec.type not in NODE_PORT_TYPES:
            self._node_ports.pop(owner, None)
            return []
        used: set[int] = set()
        for other in self.store.list(Service):
            if service_owner(other) != owner:
                used.update(p.node_port for p in other.spec.ports if p.node_port)
        for o, ps in self._node_ports.items():
            if o != owner:
                used.update(ps)
        last = self._node_ports.get(owner, [])
        out: list[int] = []
        for i, sp in enumerate(svc.spec.ports):
            requested = sp.node_port or 0
            if not requested and i < len(last) and last[i] not in used and last[i] not in out:
                requested = last[i]
            try:
                n = allocate_node_port(used | set(out), requested)
            except Conflict as e:
                raise Conflict(
                    f'Service "{svc.metadata.name}" is invalid: spec.ports[{i}].nodePort: '
                    f"Invalid value: {requested}: {e}"
                ) from None
            out.append(n)
        self._node_ports[owner] = out
        return out

    def _release_gone(self, services: Sequence[Service]) -> None:
        owners = {service_owner(s) for s in services}
        for addr, owner in list(self.ipam.store.allocations(self.range.id).items()):
            if owner.startswith("service:") and owner not in owners:
                self.ipam.release(self.range, addr)
        for owner in [o for o in self._node_ports if o not in owners]:
            del self._node_ports[owner]

    # -- DNS ---------------------------------------------------------------------------

    def _publish_dns(self, services: Sequence[Service]) -> None:
        wanted: dict[str, str] = {}
        for svc in services:
            if PROJECT_LABEL in svc.metadata.labels:
                # a compose service's name is its network alias there, answered with every
                # replica as docker does (the network's own records): a VIP among them
                # would be one more, different, answer to the same name
                continue
            vip = svc.spec.cluster_ip
            if vip and vip != "None":
                for name in dns_names(svc):
                    wanted[name] = vip
        try:
            responders = list(self.dns())
        except Exception:
            return
        for r in responders:
            for name, addr in self._dns_added.items():
                if wanted.get(name) != addr:
                    with contextlib.suppress(Exception):
                        r.remove(name, addr)
            for name, addr in wanted.items():
                if addr not in (r.lookup(name) or []):
                    r.add(name, addr)
        self._dns_added = wanted

    def _event(self, action: str, name: str, attributes: Mapping[str, str]) -> None:
        if self.on_event is not None:
            with contextlib.suppress(Exception):  # (observability never stops the loop)
                self.on_event(action, name, attributes)

    def _error(self, key: str, message: str) -> None:
        if self.errors.get(key) != message:
            self.errors[key] = message
            if self.on_error is not None:
                self.on_error(f"services {key}: {message}")


# ---------------------------------------------------------------------- daemon wiring


def service_cidr(settings: Settings, used: Callable[[], Iterable[IPv4Network]]) -> str:
    """The VIP range: the orchestrator's ``service_cidr`` setting, chosen on first use with
    ``used()`` (the host's routes and the networks' subnets) and kept from then on."""
    return settings.setting(_META_CIDR, lambda: str(choose_service_cidr(list(used()))))


def attach_services(
    net: ServiceNetworking,
    store: SqliteObjectStore,
    backend: ServicePods,
    cluster_dns: ClusterZone | None = None,
) -> ServicesController | None:
    """Make the Services controller of a daemon's orchestrator (None without networking)."""
    from dockyard.network.services import ServiceProxy

    if not net.networking:
        return None
    return ServicesController(
        store,
        backend,
        ServiceProxy(),
        cidr=service_cidr(store, net.used_subnets),
        ipam=net.service_ipam(),
        dns=net.dns_responders,
        cluster_dns=cluster_dns,
        on_error=lambda line: print(f"dockyardd: {line}", flush=True),
    )


async def start_cluster_dns(net: ServiceNetworking) -> DnsResponder | None:
    """Start the cluster DNS responder on the default bridge's gateway, authoritative for
    ``cluster.local`` and relaying the rest to the host's resolvers (None without
    networking; a note on the daemon's output when the address is taken)."""
    from dockyard.network import DnsResponder, parse_resolv_conf, upstreams_from_resolv

    if not net.networking:
        return None
    try:
        gateway = net.bridge_gateway()
    except DockyardError:
        return None
    try:
        with open("/etc/resolv.conf") as f:
            host = parse_resolv_conf(f.read())
    except OSError:
        host = parse_resolv_conf("")
    r = DnsResponder(
        gateway,
        upstreams=upstreams_from_resolv(host, exclude=net.gateways()),
        zones=(CLUSTER_DOMAIN,),
        ttl=5,
        synthesize=pod_address,
    )
    try:
        await r.start()
    except DockyardError as e:
        print(f"dockyardd: no cluster DNS: {e}", flush=True)
        return None
    return r
