"""What the engine offers the orchestrator beyond the container lifecycle: :class:`PodSupport`.

The orchestrator (``orchestrator/``) never calls the kernel itself (``DESIGN.md``): what a
kubelet reads from cgroups and network namespaces, and what its Services and NetworkPolicy
controllers need from the daemon's networking, it asks here. The orchestrator types what it
uses as Protocols (``orchestrator/engine_port.py``: :class:`EnginePort`,
:class:`ServiceNetworking`); this class implements them structurally, so the engine imports
nothing of the orchestrator (lower never imports higher).

Vocabulary:

* *usage* — a running container's CPU time (nanoseconds, the cgroup's ``cpuacct.usage`` /
  ``cpu.stat usage_usec``) and working set (memory usage less the page cache, as the
  kubelet's ``container_memory_working_set_bytes``), stamped with the wall time it was read
  (:class:`ContainerUsage`). A container whose stats raise is left out (a cgroup already gone
  may read as zeros on a v1 host: callers ask for running containers only);
* *netns path* — the file that names a container's network namespace: the one networking
  bind-mounted under ``<run-root>/netns/<id>``, else ``/proc/<pid>/ns/net``;
* *network probe* — a TCP connect or an HTTP(S) GET made from a socket created in a network
  namespace (:class:`NetProbe`; :func:`net_probe`), as the kubelet probes a pod from the
  node but with the pod's own addresses reachable (127.0.0.1 included).

Example (what ``orchestrator/enginepods.py`` does)::

    support = PodSupport(daemon)
    usage = support.usage(["3f2a…", "9c01…"])        # {id: ContainerUsage}
    netns = support.netns_path(daemon.get("3f2a…"))
    ok = await support.net_probe(netns, NetProbe("http", "127.0.0.1", 8080, "/healthz"))

Errors: none of these raises for a container that vanished (it is left out, or the probe
fails); :meth:`PodSupport.service_ipam` and the networking calls raise Unavailable when the
daemon runs without networking.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from ipaddress import IPv4Network

from dockyard.errors import DockyardError, Unavailable
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    from dockyard.engine.daemon import Daemon
    from dockyard.engine.netplumb import NetPlumb
    from dockyard.network import DnsResponder, Ipam
    from dockyard.store.db import ContainerRecord, StateDB

__all__ = ["ContainerUsage", "NetProbe", "PodSupport", "net_probe", "read_usage"]


@record
class ContainerUsage:
    """One reading of a container's cgroup: ``stamp`` (wall seconds), ``cpu_ns`` (CPU time
    used since it started), ``working_set`` (bytes)."""

    stamp: float
    cpu_ns: int
    working_set: int


@record
class NetProbe:
    """A probe made from a network namespace: ``kind`` is ``tcp`` (connect) or ``http`` (a GET
    of ``path``; 200-399 passes); any other kind (``grpc``) fails. ``scheme`` HTTPS speaks TLS
    without verifying the certificate, as the kubelet; ``headers`` are sent as given (a
    ``Host`` or ``User-Agent`` among them replaces the default)."""

    kind: str
    host: str
    port: int
    path: str = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()


def read_usage(ids: Sequence[str]) -> dict[str, ContainerUsage]:
    """The usage of each container of ``ids`` whose stats can be read (blocking: the caller
    runs it in a thread)."""
    from dockyard.cgroups import create_manager
    from dockyard.engine.placement import cgroup_path

    out = {}
    for cid in ids:
        try:
            s = create_manager(cgroup_path(cid)).stats()
        except (DockyardError, OSError):
            continue
        working_set = max(s.memory_usage - s.memory_cache, 0)
        out[cid] = ContainerUsage(time.time(), s.cpu_usage_ns, working_set)
    return out


async def net_probe(netns: str | None, probe: NetProbe) -> bool:
    """Run ``probe`` from a socket made in ``netns`` (None: the daemon's own namespace).
    Connection errors raise OSError; a cancelled probe (its timeout) frees its socket."""
    import socket

    from dockyard.network import in_netns

    sock = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    writer: asyncio.StreamWriter | None = None
    try:
        await loop.sock_connect(sock, (probe.host, probe.port))
        if probe.kind == "tcp":
            return True
        if probe.kind != "http":
            return False  # grpc: not supported
        reader, writer = await _open_http(sock, probe)
        writer.write(_request(probe))
        await writer.drain()
        status = await reader.readline()
        writer.close()
        parts = status.split()
        return len(parts) >= 2 and parts[1].isdigit() and 200 <= int(parts[1]) < 400
    finally:
        # Once a transport owns the socket, only the transport may close it: closing the
        # socket under a live transport (a probe cancelled by its timeout) frees the fd
        # while the loop still watches it, and the next probe's socket, given the same fd,
        # fails with "File descriptor N is used by transport" (regression test:
        # tests/regressions/test_probe_timeout_frees_its_fd.py).
        if writer is not None:
            writer.transport.abort()
        else:
            sock.close()


async def _open_http(
    sock: socket.socket, probe: NetProbe
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ssl_ctx = None
    if probe.scheme.upper() == "HTTPS":
        import ssl

        ssl_ctx = ssl.create_default_context()
        ssl_ctx.check_hostname = False
        ssl_ctx.verify_mode = ssl.CERT_NONE
    server = probe.host if ssl_ctx else None
    return await asyncio.open_connection(sock=sock, ssl=ssl_ctx, server_hostname=server)


def _request(probe: NetProbe) -> bytes:
    names = {k.lower() for k, _ in probe.headers}
    lines = [f"GET {probe.path or '/'} HTTP/1.1"]
    if "host" not in names:
        lines.append(f"Host: {probe.host}:{probe.port}")
    if "user-agent" not in names:
        lines.append("User-Agent: kube-probe/1.30")
    lines += [f"{k}: {v}" for k, v in probe.headers]
    lines += ["Accept: */*", "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


class PodSupport:
    """The engine side of the orchestrator's ports (see the module docstring), over an
    opened :class:`~dockyard.engine.daemon.Daemon`."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon

    def state_db(self) -> StateDB:
        """The daemon's state database, where the orchestrator's store keeps its own tables
        (``orchestrator_objects``, ``orchestrator_meta``) beside the engine's."""
        return self.d.engine.db

    # -- EnginePort --------------------------------------------------------------------

    def containers(self) -> list[ContainerRecord]:
        """Every container record (spares left out), newest first."""
        return self.d.engine.db.list_containers()

    async def usage(self, ids: Sequence[str]) -> dict[str, ContainerUsage]:
        """:func:`read_usage` in a thread."""
        return await asyncio.to_thread(read_usage, list(ids))

    def netns_path(self, rec: ContainerRecord) -> str:
        """The file naming ``rec``'s network namespace (see the module docstring)."""
        net = self.d.net
        if net is not None:
            path = net.netns_path(rec.id)
            if os.path.exists(path):
                return path
        return f"/proc/{rec.pid}/ns/net"

    async def net_probe(self, netns: str | None, probe: NetProbe) -> bool:
        return await net_probe(netns, probe)

    # -- ServiceNetworking -------------------------------------------------------------

    @property
    def networking(self) -> bool:
        """Whether the daemon has working networking (Services and policies need it)."""
        return self.d.net is not None and not self.d.net.broken

    def _net(self) -> NetPlumb:
        net = self.d.net
        if net is None or net.broken:
            raise Unavailable("networking is not available")
        return net

    def used_subnets(self) -> list[IPv4Network]:
        """The host's routes and every network's subnet (what a VIP range must avoid)."""
        net = self._net()
        return [*net.mgr.routes(), *(IPv4Network(n.subnet) for n in net.networks())]

    def service_ipam(self) -> Ipam:
        """An IPAM over the engine's address tables (Service VIPs live beside container
        addresses, so one owner table answers "who holds this address")."""
        from dockyard.engine.netplumb import SqliteIpamStore
        from dockyard.network import Ipam

        self._net()
        return Ipam(SqliteIpamStore(self.d.engine.db))

    def dns_responders(self) -> list[DnsResponder]:
        """The networks' DNS responders (names published there reach every container)."""
        return list(self._net().dns.values())

    def bridge_gateway(self) -> str:
        """The default bridge's gateway address (NotFound without a default bridge)."""
        return str(self._net().network("bridge").gateway)

    def gateways(self) -> list[str]:
        """Every network's gateway address."""
        return [str(n.gateway) for n in self._net().networks()]
