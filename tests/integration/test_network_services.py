"""Services on the real kernel: a VIP and a NodePort spread over pods with nftables DNAT.

Topology each test builds (and deletes in a finalizer, even on failure)::

    dys-<tag>-p1 ─┐
    dys-<tag>-p2 ─┤  "pods": veths made by NetworkManager, tiny HTTP servers on :8080
    dys-<tag>-p3 ─┤
    dys-<tag>-p4 ─┤  (a spare pod, for adding an endpoint)
    dys-<tag>-c  ─┘  "client pod"
          └─ dys-<tag>-h  "the host": bridge, dockyard's nft tables, ip_forward=1

The real host's namespaces are never touched; traffic goes only to addresses inside these
namespaces (and their loopback). Every load loop is bounded in count and in time, and only the
processes started here are stopped, by their Popen handle.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import IO

import pytest
from netns_kit import NetnsLab, need_lab, opened
from netns_kit import run as _run

from dockyard.errors import Conflict
from dockyard.network import (
    Ipam,
    MemoryIpamStore,
    NetworkManager,
    NetworkState,
)
from dockyard.network._netns import in_netns
from dockyard.network.services import (
    ServiceBackend,
    ServicePort,
    ServiceProxy,
    ServiceSpec,
    allocate_node_port,
    choose_service_cidr,
    service_range,
)

pytestmark = [pytest.mark.root, pytest.mark.timeout(180)]

# An HTTP/1.0 server that answers every GET with its pod name; gone after 170 s at the latest.
SERVER = r"""
import signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
signal.alarm(170)
name = sys.argv[1]
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = (name + "\n").encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
ThreadingHTTPServer.request_queue_size = 128
s = ThreadingHTTPServer(("0.0.0.0", 8080), H)
print("ready", flush=True)
s.serve_forever()
"""

# N requests (a new connection each), at most `seconds`, until the file `stop` exists (when
# given); one JSON line [start, answer] per request as it ends, then why it ended.
CLIENT = r"""
import json, os, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds, pause = float(sys.argv[4]), float(sys.argv[5])
stop = sys.argv[6] if len(sys.argv) > 6 else ""
deadline = time.monotonic() + seconds
end = "count"
for i in range(count):
    t = time.monotonic()
    if t > deadline:
        end = "deadline"
        break
    if stop and os.path.exists(stop):
        end = "stop"
        break
    try:
        with socket.create_connection((host, port), timeout=3) as c:
            c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        ok = head.startswith(b"HTTP/1.0 200")
        res = [t, body.decode().strip() if ok else "FAIL:" + head[:40].decode()]
    except OSError as e:
        res = [t, f"FAIL:{type(e).__name__}:{e}"]
    print(json.dumps(res), flush=True)
    if pause:
        time.sleep(pause)
print(json.dumps(end), flush=True)
"""


class Lab(NetnsLab):
    """A host netns with a dockyard network, pod namespaces on it, and helpers."""

    prefix = "dys"

    def __init__(self, pods: int = 4) -> None:
        super().__init__()
        self.pod_ns = [self.name(f"p{i}") for i in range(1, pods + 1)]
        self.client = self.name("c")
        self.servers: dict[str, subprocess.Popen[str]] = {}
        self.proxies: list[ServiceProxy] = []
        self.mgr: NetworkManager | None = None
        self.net: NetworkState | None = None

    def setup(self) -> None:
        self.add_netns(self.host, *self.pod_ns, self.client)
        self.mgr, self.net = self.dockyard_network("svcnet", (*self.pod_ns, self.client))

    def teardown(self) -> None:
        for proxy in self.proxies:
            proxy.release()  # node port sockets live in the host netns
        super().teardown()

    def proxy(self, balance: str = "inc") -> ServiceProxy:
        proxy = ServiceProxy(self.path(self.host), balance=balance)
        self.proxies.append(proxy)
        return proxy

    def serve(self, ns: str) -> None:
        self.servers[ns] = self.spawn_ready(ns, SERVER, ns.rsplit("-", 1)[1])

    def stop_server(self, ns: str) -> None:
        p = self.servers.pop(ns)
        p.kill()
        p.wait(timeout=10)

    def load(
        self, ns: str, host: str, port: int, count: int, seconds: float = 20, pause: float = 0,
        stop: str = "",
    ) -> subprocess.Popen[str]:  # fmt: skip
        args = (host, str(port), str(count), str(seconds), str(pause), stop)
        return self.spawn(ns, CLIENT, *args)

    @staticmethod
    def results(p: subprocess.Popen[str]) -> list[tuple[float, str]]:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        lines = [json.loads(line) for line in out.splitlines()]
        return [(float(t), str(r)) for t, r in lines[:-1]]

    def drained(self, ns: str) -> bool:
        """No connection of the pod's server is being set up or open (a closed one may
        linger in FIN-WAIT or TIME-WAIT: the kernel finishes it without the process)."""
        out = self.sh(ns, "ss", "-Htn", "state", "syn-recv",
                      "state", "established", "( sport = :8080 )").stdout  # fmt: skip
        return not out.strip()

    def requests(
        self, ns: str, host: str, port: int, count: int, seconds: float = 20
    ) -> list[tuple[float, str]]:
        return self.results(self.load(ns, host, port, count, seconds))


@pytest.fixture
def lab() -> Iterator[Lab]:
    need_lab()
    with opened(Lab()) as lab:
        yield lab


def _service(lab: Lab, pods: list[str], node_port: int, *, ready: bool = True) -> ServiceSpec:
    assert lab.mgr is not None and lab.net is not None
    cidr = choose_service_cidr([*lab.mgr.routes(), IPv4Network(lab.net.subnet)])
    vip = Ipam(MemoryIpamStore()).allocate(service_range(str(cidr)), "default/web")
    return ServiceSpec(
        "default/web",
        vip,
        (ServicePort(80, 8080, "tcp", node_port),),
        tuple(ServiceBackend(lab.addr[ns], ready) for ns in pods),
    )


def _spread(results: list[tuple[float, str]]) -> Counter[str]:
    return Counter(r for _, r in results)


def _fails(results: list[tuple[float, str]]) -> list[str]:
    return [r for _, r in results if r.startswith("FAIL")]


@pytest.mark.parametrize("balance", ["random", "inc"])
def test_nodeport_and_cluster_ip_spread_over_pods(lab: Lab, balance: str) -> None:
    pods = lab.pod_ns[:3]
    for ns in pods:
        lab.serve(ns)
    proxy = lab.proxy(balance)
    port = allocate_node_port([])
    svc = _service(lab, pods, port)
    proxy.sync([svc])
    assert "ip dockyard-svc" in lab.nft_tables()
    names = {ns.rsplit("-", 1)[1] for ns in pods}

    n = 300
    local = lab.requests(lab.host, "127.0.0.1", port, n)
    spread = _spread(local)
    print(f"\n[{balance}] host 127.0.0.1:{port} x{n}: {dict(sorted(spread.items()))}")
    assert not _fails(local) and len(local) == n
    assert set(spread) == names
    if balance == "inc":  # a global round robin: exactly even
        assert max(spread.values()) - min(spread.values()) <= 1
    else:  # expected n/3 = 100 each, sd ~8.2: 60 is ~5 sd away
        assert min(spread.values()) >= 60

    assert lab.net is not None
    gw = lab.net.gateway  # a host address that is not loopback
    via_gw = lab.requests(lab.host, gw, port, 30)
    assert not _fails(via_gw) and len(via_gw) == 30

    from_pod = lab.requests(lab.client, svc.cluster_ip, 80, 90)  # ClusterIP from another pod
    pod_spread = _spread(from_pod)
    print(f"[{balance}] pod -> {svc.cluster_ip}:80 x90: {dict(sorted(pod_spread.items()))}")
    assert not _fails(from_pod) and set(pod_spread) == names
    hairpin = lab.requests(lab.client, gw, port, 30)  # a pod to a host address's node port
    assert not _fails(hairpin)

    proxy.close()
    assert "ip dockyard-svc" not in lab.nft_tables()


class LiveLoad:
    """A :data:`CLIENT` whose answers the test sees as they come (a reader thread)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.res: list[tuple[float, str]] = []
        self.end = ""
        assert proc.stdout is not None
        self.reader = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self.reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            item = json.loads(line)
            if isinstance(item, list):
                self.res.append((float(item[0]), str(item[1])))
            else:
                self.end = str(item)

    def since(self, t: float) -> list[str]:
        return [r for start, r in list(self.res) if start > t]

    def finish(self) -> list[tuple[float, str]]:
        """Wait for the end (the test made the stop file) and return every answer; its
        output is the reader thread's alone (a communicate() would race it)."""
        self.reader.join(60)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr is not None else ""
        assert self.proc.returncode == 0, err
        return self.res


def _wait_for(pred: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_endpoint_changes_under_load_fail_nothing(lab: Lab, tmp_path: Path) -> None:
    p1, p2, p3, p4 = lab.pod_ns
    for ns in (p1, p2, p3):
        lab.serve(ns)
    proxy = lab.proxy()
    port = allocate_node_port([], 30080)
    svc = _service(lab, [p1, p2, p3], port)
    proxy.sync([svc])

    def backends(*pods: str) -> tuple[ServiceBackend, ...]:
        return tuple(ServiceBackend(lab.addr[ns]) for ns in pods)

    # two clients (host loopback, a pod's VIP) until the stop file exists; bounded anyway:
    # 100000 requests or 120 s. Each step waits until both have answers started after it.
    stop = tmp_path / "stop"
    targets = ((lab.host, "127.0.0.1", port), (lab.client, svc.cluster_ip, 80))
    loads = [LiveLoad(lab.load(ns, host, p, 100000, 120, pause=0.004, stop=str(stop)))
             for ns, host, p in targets]  # fmt: skip

    def answered(after: float, n: int = 20, body: str = "") -> None:
        def enough(ld: LiveLoad) -> bool:
            return len([r for r in ld.since(after) if not body or r == body]) >= n

        _wait_for(lambda: all(enough(ld) for ld in loads), f"{n} answers {body} after {after}")

    try:
        answered(0.0)
        svc = ServiceSpec(svc.name, svc.cluster_ip, svc.ports, backends(p1, p2))
        proxy.sync([svc])  # p3 becomes unready: no new connection may reach it
        p3_gone = time.monotonic()
        _wait_for(lambda: lab.drained(p3), "connections on p3 to finish")
        lab.stop_server(p3)
        answered(time.monotonic())
        lab.serve(p4)
        svc = ServiceSpec(svc.name, svc.cluster_ip, svc.ports, backends(p1, p2, p4))
        proxy.sync([svc])
        p4_added = time.monotonic()
        answered(p4_added, 5, "p4")
        svc = ServiceSpec(svc.name, svc.cluster_ip, svc.ports, backends(p2, p4))
        proxy.sync([svc])
        p1_gone = time.monotonic()
        _wait_for(lambda: lab.drained(p1), "connections on p1 to finish")
        lab.stop_server(p1)
        answered(time.monotonic())
        for _ in range(5):  # flapping readiness: five atomic replacements in a row
            proxy.sync([ServiceSpec(svc.name, svc.cluster_ip, svc.ports, backends(p4, p2))])
            proxy.sync([svc])
        answered(time.monotonic())
        answered(0.0, 200)
        assert [ld.end for ld in loads] == ["", ""]  # the load outlived the changes
    finally:
        stop.touch()
        results = [ld.finish() for ld in loads]
    labels = ("host 127.0.0.1:nodeport", "pod -> VIP")
    for label, ld, res in zip(labels, loads, results, strict=True):
        assert ld.end == "stop"
        spread = _spread(res)
        print(f"\n{label}: {len(res)} requests, failed {len(_fails(res))}: {dict(spread)}")
        assert len(res) >= 200
        assert not _fails(res)
        # started after the sync returned: never on a removed endpoint
        assert not [r for t, r in res if t > p3_gone + 0.001 and r == "p3"]
        assert not [r for t, r in res if t > p1_gone + 0.001 and r == "p1"]
        assert [r for t, r in res if t > p4_added and r == "p4"]


def test_no_ready_endpoint_rejects_at_once(lab: Lab) -> None:
    pods = lab.pod_ns[:2]
    for ns in pods:
        lab.serve(ns)
    proxy = lab.proxy()
    port = allocate_node_port([], 30100)
    svc = _service(lab, pods, port, ready=False)
    proxy.sync([svc])

    def connect(host: str, p: int) -> str:
        t = time.monotonic()
        try:
            socket.create_connection((host, p), timeout=3).close()
            result = "connected"
        except ConnectionRefusedError:
            result = "refused"
        except OSError as e:
            result = type(e).__name__
        assert time.monotonic() - t < 1.0, result
        return result

    host = Lab.path(lab.host)
    assert in_netns(host, lambda: connect("127.0.0.1", port)) == "refused"
    res = lab.requests(lab.client, svc.cluster_ip, 80, 3, 10)
    assert all("ConnectionRefusedError" in r for _, r in res), res
    res = lab.requests(lab.client, svc.cluster_ip, 81, 1, 10)  # a port the Service lacks
    assert all("ConnectionRefusedError" in r for _, r in res), res

    ready = ServiceSpec(svc.name, svc.cluster_ip, svc.ports,
                        tuple(ServiceBackend(e.address) for e in svc.endpoints))  # fmt: skip
    proxy.sync([ready])
    assert not _fails(lab.requests(lab.host, "127.0.0.1", port, 10))
    proxy.sync([])  # the Service deleted: its node port is released at once
    assert in_netns(host, lambda: connect("127.0.0.1", port)) == "refused"
    s = in_netns(host, lambda: socket.create_server(("0.0.0.0", port)))
    s.close()


def test_node_port_in_use_is_a_conflict_and_changes_nothing(lab: Lab) -> None:
    proxy = lab.proxy()
    port = 30200
    holder = in_netns(Lab.path(lab.host), lambda: socket.create_server(("0.0.0.0", port)))
    try:
        svc = _service(lab, lab.pod_ns[:1], port)
        with pytest.raises(Conflict, match=f"{port}"):
            proxy.sync([svc])
        assert "ip dockyard-svc" not in lab.nft_tables()
    finally:
        holder.close()
    proxy.sync([svc])
    assert "ip dockyard-svc" in lab.nft_tables()
    proxy.close()
    assert "ip dockyard-svc" not in lab.nft_tables()


def test_a_pod_reaches_its_own_service_when_it_is_the_endpoint(lab: Lab) -> None:
    """With br_netfilter, DNAT back to the sender sends the frame out of the bridge port it
    came in by: the port needs hairpin mode (a pod calling its own Service hung whenever it
    was its own endpoint). Shown failing with hairpin off where br_netfilter is loaded."""
    pod = lab.pod_ns[0]
    lab.serve(pod)
    proxy = lab.proxy()
    svc = _service(lab, [pod], allocate_node_port([]))
    proxy.sync([svc])
    name = pod.rsplit("-", 1)[1]
    assert {r for _, r in lab.requests(pod, svc.cluster_ip, 80, 5)} == {name}

    ports = [
        link for link in json.loads(_run("ip", "-n", lab.host, "-j", "-d", "link").stdout)
        if link.get("master")
    ]  # fmt: skip
    assert ports and all(p["linkinfo"]["info_slave_data"]["hairpin"] for p in ports), ports
    bridged = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    if bridged.exists() and bridged.read_text().strip() == "1":
        for p in ports:
            _run("ip", "-n", lab.host, "link", "set", p["ifname"], "type", "bridge_slave",
                 "hairpin", "off")  # fmt: skip
        assert _fails(lab.requests(pod, svc.cluster_ip, 80, 1, seconds=10))
