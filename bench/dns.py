"""``python -m bench dns``: the cluster DNS, asked from a pod, against the host's own resolver.

One private daemon (:class:`bench.common.Dockyard`) in an :class:`bench.common.NsHolder`.
The holder's network namespace has no way out, so the *host's resolver* is Debian's
``dnsmasq``, started in the holder's netns on ``127.0.0.1:53`` (and on
:data:`DNSMASQ_ADDR`, an address of the holder's ``lo`` that pods reach through their
gateway), authoritative for ``example.test`` and nothing else; before the daemon starts,
``/etc/resolv.conf`` inside the holder's private mount namespace is bind-mounted to a file
saying ``nameserver 127.0.0.1``, so the cluster DNS relays every name outside
``cluster.local`` to that dnsmasq. The client runs in a pod's network namespace
(``nsenter -t <pid> -n``). Measured, in one run:

1. **Latency** of one A query (dnspython ``dns.query.udp``, one socket per path, the paths
   alternating query by query): a cluster name answered by the cluster DNS; a host name
   relayed by the cluster DNS to dnsmasq; the same host name asked of dnsmasq directly from
   the pod; and from the holder (the host) on ``127.0.0.1``. Median, p90, p99, and the ratio
   of each median to the direct path from the pod.
2. **Answers/s under load**: ``dnsperf`` (Debian's) from the pod for a few seconds each,
   alternating rounds: the cluster name and the relayed host name at the cluster DNS, the host
   name at dnsmasq directly; queries/s, lost queries, mean latency.
3. **Time from a Service change to the new answer**, polled from the pod (one UDP query every
   ~2 ms): creating a Service (→ NOERROR with its ClusterIP), deleting it (→ NXDOMAIN),
   scaling a headless Service's Deployment 1 → 2 (→ the new pod's address) and back to 1
   (→ the address gone). Measured from the CLI command returning and from its start (the
   CLI's process start, schema validation and exit are in the difference); creating and
   deleting also through the daemon's API socket alone (one HTTP request, no CLI process).

Needs root, ``dnsmasq`` (dnsmasq-base) and ``dnsperf`` (reported as n/a when missing).
Everything started (dnsmasq, dnsperf, the daemon, the client, the holder) is stopped by PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    IMAGE_CACHE,
    REPO,
    VENV_BIN,
    Dockyard,
    NsHolder,
    remove_work,
    run_ok,
    tool,
    wait_for,
)

SAMPLES = max(2, int(os.environ.get("BENCH_DNS_SAMPLES", "2000")))
PERF_SECONDS = int(os.environ.get("BENCH_DNS_PERF_SECONDS", "3"))
PERF_ROUNDS = int(os.environ.get("BENCH_DNS_PERF_ROUNDS", "2"))
REPS = max(1, int(os.environ.get("BENCH_DNS_REPS", "12")))
POLL_INTERVAL = 0.002

DNSMASQ_ADDR = "198.51.100.53"  # TEST-NET-2: never a bridge's subnet, on the holder's lo
HOST_NAME = "www.example.test"
HOST_ADDR = "192.0.2.10"
CLUSTER_NAME = "web.default.svc.cluster.local"
PROBE_NAME = "probe.default.svc.cluster.local"
HEADLESS_NAME = "hl.default.svc.cluster.local"

WORKLOAD = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {name: web, image: "busybox:latest", command: ["sleep", "1000000"]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hl}
spec:
  replicas: 1
  selector: {matchLabels: {app: hl}}
  template:
    metadata: {labels: {app: hl}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {name: hl, image: "busybox:latest", command: ["sleep", "1000000"]}
---
apiVersion: v1
kind: Service
metadata: {name: hl}
spec:
  clusterIP: None
  selector: {app: hl}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {role: client}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - {name: c, image: "busybox:latest", command: ["sleep", "1000000"]}
"""
PROBE = """\
apiVersion: v1
kind: Service
metadata: {name: probe}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""


# --- the client half: runs in the pod's network namespace ---------------------------------


def _setns_net(pid: int) -> None:
    """Move this (single-threaded) process into ``pid``'s network namespace (Python 3.11
    has no ``os.setns``)."""
    import ctypes

    clone_newnet = 0x40000000
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/proc/{pid}/ns/net") as f:
        if libc.setns(f.fileno(), clone_newnet) != 0:
            raise OSError(ctypes.get_errno(), "setns")


def _ask(sock: Any, server: str, name: str) -> tuple[str, list[str]]:
    """(rcode name, A addresses) of one UDP query; ``("TIMEOUT", [])`` after 1 s."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype

    q = dns.message.make_query(name, "A")
    try:
        r = dns.query.udp(q, server, timeout=1.0, sock=sock, ignore_unexpected=True)
    except dns.exception.Timeout:
        return "TIMEOUT", []
    addrs = [rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.A
             for rd in rrset]  # fmt: skip
    return dns.rcode.to_text(r.rcode()), addrs


def _latency(socks: dict[str, Any], cmd: dict[str, Any]) -> dict[str, Any]:
    """Alternate the targets query by query (the order rotating each round); a sample whose
    answer is not the expected address is counted as an error, not timed."""
    import time as t

    targets: list[dict[str, str]] = cmd["targets"]
    samples: dict[str, list[float]] = {x["label"]: [] for x in targets}
    wrong: dict[str, int] = {x["label"]: 0 for x in targets}
    last: dict[str, str] = {}
    for i in range(-int(cmd["warmup"]), int(cmd["n"])):
        k = i % len(targets)
        for x in [*targets[k:], *targets[:k]]:
            t0 = t.perf_counter()
            rcode, addrs = _ask(socks[x["netns"]], x["server"], x["name"])
            dt = t.perf_counter() - t0
            if rcode != "NOERROR" or addrs != [x["expect"]]:
                wrong[x["label"]] += 1
                last[x["label"]] = f"{rcode} {addrs}"
            elif i >= 0:
                samples[x["label"]].append(dt)
    return {"samples": samples, "wrong": wrong, "last_wrong": last}


def _met(cond: str, n: int, rcode: str, addrs: list[str]) -> bool:
    if cond == "nx":
        return rcode == "NXDOMAIN"
    if cond == "ok":
        return rcode == "NOERROR" and bool(addrs)
    return rcode == "NOERROR" and len(set(addrs)) == n  # "count"


def _until(sock: Any, cmd: dict[str, Any]) -> None:
    """Poll ``cmd["name"]`` every ~2 ms until the condition holds: one line once the first
    poll is done (``armed``, with its state), one line with the monotonic time of the first
    answer that met it."""
    import time as t

    server, name, cond, n = cmd["server"], cmd["name"], cmd["cond"], int(cmd.get("n", 0))
    rcode, addrs = _ask(sock, server, name)
    print(json.dumps({"armed": True, "met": _met(cond, n, rcode, addrs),
                      "state": f"{rcode} {addrs}"}), flush=True)  # fmt: skip
    deadline = t.monotonic() + float(cmd["timeout"])
    polls = 1
    while t.monotonic() < deadline:
        t.sleep(POLL_INTERVAL)
        rcode, addrs = _ask(sock, server, name)
        now = t.monotonic()
        polls += 1
        if _met(cond, n, rcode, addrs):
            print(json.dumps({"t": now, "addrs": addrs, "polls": polls}), flush=True)
            return
    print(json.dumps({"error": f"not met after {polls} polls: {rcode} {addrs}"}), flush=True)


def client_main() -> None:
    """``nsenter -t <pod pid> -n python -c 'from bench.dns import client_main; ...' HOLDER``:
    one socket in the pod's netns, one in the holder's (the host), then JSON commands on
    stdin, answers on stdout."""
    import socket

    pod = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    pod.setblocking(False)
    _setns_net(int(sys.argv[1]))
    host = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host.setblocking(False)
    socks = {"pod": pod, "host": host}
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "latency":
            print(json.dumps(_latency(socks, cmd)), flush=True)
        else:
            _until(pod, cmd)


class Client:
    """:func:`client_main` in the pod's network namespace, started and stopped by PID."""

    def __init__(self, pod_pid: str, holder: NsHolder) -> None:
        self.proc = subprocess.Popen(
            ["nsenter", "-t", pod_pid, "-n", "--", str(VENV_BIN / "python"), "-c",
             "from bench.dns import client_main; client_main()", str(holder.pid)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            if self._line() != "ready":
                raise RuntimeError("the DNS client did not start in the pod's netns")
        except RuntimeError:
            self.close()
            raise

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the DNS client exited ({self.proc.poll()})")
        return line.strip()

    def send(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self.read()

    def read(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self._line())
        return out

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# --- setup ---------------------------------------------------------------------------------


def _start_dnsmasq(holder: NsHolder, work: Path) -> subprocess.Popen[bytes]:
    """dnsmasq in the holder's netns on 127.0.0.1 and :data:`DNSMASQ_ADDR`, answering
    ``example.test`` itself and nothing else (no upstream, no /etc/hosts); once it answers."""
    run_ok(holder.wrap(["ip", "addr", "add", f"{DNSMASQ_ADDR}/32", "dev", "lo"]))
    with open(work / "dnsmasq.log", "wb") as log:
        proc = subprocess.Popen(
            holder.wrap(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                         "--no-resolv", "--no-hosts", "--bind-interfaces",
                         f"--listen-address=127.0.0.1,{DNSMASQ_ADDR}", "--port=53",
                         f"--address=/example.test/{HOST_ADDR}",
                         f"--pid-file={work / 'dnsmasq.pid'}", "--log-facility=-"]),
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"dnsmasq exited {proc.returncode}: "
                               f"{(work / 'dnsmasq.log').read_text().strip()[-300:]}")  # fmt: skip
        p = subprocess.run(holder.wrap(["dig", "+short", "+time=1", "+tries=1", "@127.0.0.1",
                                        HOST_NAME]),
                           capture_output=True, text=True, check=False)  # fmt: skip
        return p.stdout.split() == [HOST_ADDR]

    wait_for(answers, 10, "dnsmasq to answer", 0.05)
    return proc


def _stop(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Cluster:
    dy: Dockyard
    client: Client
    pod_pid: str
    dns: str  # the cluster DNS address, from the client pod's resolv.conf
    vip: str  # web's ClusterIP


def _cluster(dy: Dockyard, holder: NsHolder) -> Cluster:
    dy.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"))
    dy.run("apply", "-f", "-", input=WORKLOAD)
    for sel in ("app=web", "app=hl", "role=client"):

        def one_ready(s: str = sel) -> bool:
            return dy.ready(s) == 1

        wait_for(one_ready, 90, f"the {sel} pod", 0.2)
    pid = dy.run("inspect", "-f", "{{.State.Pid}}", "client").strip()
    conf = Path(f"/proc/{pid}/root/etc/resolv.conf").read_text()
    m = re.search(r"^nameserver\s+(\S+)", conf, re.M)
    if m is None:
        raise RuntimeError(f"the client pod's resolv.conf names no server: {conf!r}")
    vip = json.loads(dy.run("get", "svc", "web", "-o", "json"))["spec"]["clusterIP"]
    return Cluster(dy, Client(pid, holder), pid, m.group(1), vip)


# --- report helpers ------------------------------------------------------------------------


def _pcts(xs: Sequence[float]) -> tuple[float, float, float, float]:
    """(median, p90, p99, max)."""
    if len(xs) < 2:
        x = xs[0] if xs else float("nan")
        return x, x, x, x
    qs = statistics.quantiles(xs, n=100, method="inclusive")
    return statistics.median(xs), qs[89], qs[98], max(xs)


# --- 1. latency ----------------------------------------------------------------------------


def _latency_section(c: Cluster) -> str:
    targets = [
        ("cluster name, cluster DNS", "pod", c.dns, CLUSTER_NAME, c.vip),
        ("host name, relayed by cluster DNS", "pod", c.dns, HOST_NAME, HOST_ADDR),
        ("host name, dnsmasq direct (pod)", "pod", DNSMASQ_ADDR, HOST_NAME, HOST_ADDR),
        ("host name, dnsmasq 127.0.0.1 (host)", "host", "127.0.0.1", HOST_NAME, HOST_ADDR),
    ]
    keys = ("label", "netns", "server", "name", "expect")
    r = c.client.send({"op": "latency", "n": SAMPLES, "warmup": 50,
                       "targets": [dict(zip(keys, t, strict=True)) for t in targets]})  # fmt: skip
    base = "host name, dnsmasq direct (pod)"
    lines = [
        f"== DNS latency of one A query from a pod (dnspython, {SAMPLES} per path, alternating)",
        f"{'path':<38} {'median µs':>9} {'p90':>7} {'p99':>7} {'max':>8} {'errs':>5} "
        f"{'x direct':>8}",
    ]
    base_med = statistics.median(r["samples"][base]) if r["samples"][base] else float("nan")
    for label, *_ in targets:
        xs = r["samples"][label]
        if not xs:
            lines.append(f"{label:<38} n/a ({r['last_wrong'].get(label, 'no sample')})")
            continue
        med, p90, p99, mx = _pcts(xs)
        errs = r["wrong"][label]
        lines.append(f"{label:<38} {med * 1e6:>9.0f} {p90 * 1e6:>7.0f} {p99 * 1e6:>7.0f} "
                     f"{mx * 1e6:>8.0f} {errs:>5} {med / base_med:>7.2f}x")  # fmt: skip
    return "\n".join(lines)


# --- 2. dnsperf ----------------------------------------------------------------------------


def _dnsperf(c: Cluster, server: str, qfile: Path) -> dict[str, float]:
    p = subprocess.run(
        ["nsenter", "-t", c.pod_pid, "-n", "--", "dnsperf", "-s", server, "-d", str(qfile),
         "-l", str(PERF_SECONDS), "-t", "1", "-q", "100"],
        capture_output=True, text=True, check=False, timeout=PERF_SECONDS + 30,
    )  # fmt: skip
    out = p.stdout

    def num(pattern: str) -> float:
        m = re.search(pattern, out)
        if m is None:
            raise RuntimeError(f"dnsperf -s {server}: {(p.stderr or out).strip()[-300:]}")
        return float(m.group(1))

    return {
        "qps": num(r"Queries per second:\s+([\d.]+)"),
        "sent": num(r"Queries sent:\s+(\d+)"),
        "lost": num(r"Queries lost:\s+(\d+)"),
        "latency": num(r"Average Latency \(s\):\s+([\d.]+)"),
        "noerror": float(m.group(1)) if (m := re.search(r"NOERROR (\d+)", out)) else 0.0,
    }


def _load_section(c: Cluster, work: Path) -> str:
    if not tool("dnsperf"):
        return "== DNS answers/s: n/a (dnsperf is not installed: apt-get install dnsperf)"
    cluster_q, host_q = work / "cluster.txt", work / "host.txt"
    cluster_q.write_text(f"{CLUSTER_NAME} A\n")
    host_q.write_text(f"{HOST_NAME} A\n")
    runs = [
        ("cluster name, cluster DNS", c.dns, cluster_q),
        ("host name, relayed by cluster DNS", c.dns, host_q),
        ("host name, dnsmasq direct (pod)", DNSMASQ_ADDR, host_q),
    ]
    got: dict[str, list[dict[str, float]]] = {r[0]: [] for r in runs}
    for rnd in range(PERF_ROUNDS):
        k = rnd % len(runs)
        for label, server, qfile in [*runs[k:], *runs[:k]]:
            got[label].append(_dnsperf(c, server, qfile))
    lines = [
        f"== DNS answers/s under load from a pod (dnsperf -l {PERF_SECONDS} -q 100, one name; "
        f"median of {PERF_ROUNDS} alternating rounds)",
        f"{'path':<38} {'queries/s':>10} {'lost':>6} {'of sent':>8} {'mean µs':>8} {'x direct':>8}",
    ]
    base = statistics.median(x["qps"] for x in got[runs[2][0]])
    for label, *_ in runs:
        xs = got[label]
        qps = statistics.median(x["qps"] for x in xs)
        lost = sum(x["lost"] for x in xs)
        sent = sum(x["sent"] for x in xs)
        lat = statistics.median(x["latency"] for x in xs)
        lines.append(f"{label:<38} {qps:>10.0f} {lost:>6.0f} {sent:>8.0f} {lat * 1e6:>8.0f} "
                     f"{qps / base:>7.2f}x")  # fmt: skip
    return "\n".join(lines)


# --- 3. change → answer ----------------------------------------------------------------------


@dataclass
class Change:
    after: float  # seconds from the command returning to the first new answer
    start: float  # ... from the command's start
    addrs: list[str]  # that answer


def _change(c: Cluster, name: str, cond: str, n: int, act: Callable[[], None]) -> Change:
    """Arm the poller, ``act()``, and time the first answer meeting ``cond``."""
    armed = c.client.send({"op": "until", "server": c.dns, "name": name, "cond": cond, "n": n,
                           "timeout": 30})  # fmt: skip
    if armed["met"]:
        c.client.read()
        raise RuntimeError(f"{name}: already {cond} before the change ({armed['state']})")
    t0 = time.monotonic()
    act()
    t1 = time.monotonic()
    r = c.client.read()
    if "error" in r:
        raise RuntimeError(f"{name}: {r['error']}")
    return Change(float(r["t"]) - t1, float(r["t"]) - t0, list(r["addrs"]))


def _cli(dy: Dockyard, *args: str, stdin: str | None = None) -> Callable[[], None]:
    def act() -> None:
        dy.run(*args, input=stdin)

    return act


def _api(dy: Dockyard, method: str, url: str, body: Any = None) -> Callable[[], None]:
    """One request to the daemon's API socket (no CLI process: what the API itself takes)."""
    import http.client
    import socket

    sock_path = str(dy.run_root / "dockyard.sock")

    class Conn(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(sock_path)

    data = None if body is None else json.dumps(body)

    def act() -> None:
        conn = Conn("localhost", timeout=30)
        try:
            conn.request(method, url, data, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            text = resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {url}: {resp.status} {text[:200]!r}")
        finally:
            conn.close()

    return act


PROBE_DOC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe"},
             "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}  # fmt: skip
ROWS = (
    "create Service: apply CLI → NOERROR",
    "create Service: API POST → NOERROR",
    "delete Service: delete CLI → NXDOMAIN",
    "delete Service: API DELETE → NXDOMAIN",
    "scale headless 1→2: scale CLI → new addr",
    "scale headless 2→1: scale CLI → addr gone",
)


def _propagation_section(c: Cluster) -> str:
    dy = c.dy
    rows: dict[str, list[Change]] = {r: [] for r in ROWS}
    apply_api = _api(dy, "POST", "/apis/dockyard.io/v1/apply",
                     {"items": [PROBE_DOC], "namespace": "default", "dryRun": False})  # fmt: skip
    delete_api = _api(dy, "DELETE", "/api/v1/namespaces/default/services/probe")
    wrong_ip = 0
    for _ in range(REPS):
        for create, delete, k in ((_cli(dy, "apply", "-f", "-", stdin=PROBE),
                                   _cli(dy, "delete", "svc", "probe"), 0),
                                  (apply_api, delete_api, 1)):  # fmt: skip
            made = _change(c, PROBE_NAME, "ok", 0, create)
            rows[ROWS[k]].append(made)
            vip = json.loads(dy.run("get", "svc", "probe", "-o", "json"))["spec"]["clusterIP"]
            wrong_ip += made.addrs != [vip]
            rows[ROWS[2 + k]].append(_change(c, PROBE_NAME, "nx", 0, delete))
    for _ in range(REPS):
        for n in (2, 1):
            scale = _cli(dy, "scale", "deploy/hl", "--replicas", str(n))
            rows[ROWS[6 - n]].append(_change(c, HEADLESS_NAME, "count", n, scale))
        wait_for(lambda: dy.ready("app=hl") == 1 and len(dy.pods("app=hl")) == 1, 30,
              "the scaled-down pod gone", 0.1)  # fmt: skip
    lines = [
        f"== Service change → new answer, polled from a pod every ~{POLL_INTERVAL * 1000:.0f} ms "
        f"({REPS} repetitions; ms from the command returning, and from its start; < 0: the "
        "answer changed before the CLI process had exited)",
        f"{'change':<42} {'median':>7} {'max':>7}   {'from start: median':>18} {'max':>7}",
    ]
    for label in ROWS:
        after = [x.after * 1000 for x in rows[label]]
        start = [x.start * 1000 for x in rows[label]]
        lines.append(f"{label:<42} {statistics.median(after):>7.1f} {max(after):>7.1f}   "
                     f"{statistics.median(start):>18.1f} {max(start):>7.1f}")  # fmt: skip
    lines.append(f"create: first NOERROR answer not exactly the new ClusterIP: {wrong_ip} "
                 f"of {2 * REPS}")  # fmt: skip
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------


def main() -> str:
    if os.geteuid() != 0:
        return "== dns: n/a (needs root)"
    if not tool("dnsmasq"):
        return "== dns: n/a (dnsmasq is not installed: apt-get install dnsmasq-base)"
    work = Path(tempfile.mkdtemp(prefix="dydns-"))
    holder: NsHolder | None = None
    dnsmasq: subprocess.Popen[bytes] | None = None
    dy: Dockyard | None = None
    cluster: Cluster | None = None
    out: list[str] = []
    try:
        holder = NsHolder()
        dnsmasq = _start_dnsmasq(holder, work)
        resolv = work / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\n")
        run_ok(holder.wrap(["mount", "--bind", str(resolv), "/etc/resolv.conf"]))
        dy = Dockyard(holder, work / "dy")
        cluster = _cluster(dy, holder)
        c = cluster
        sections: list[Callable[[], str]] = [
            lambda: _latency_section(c),
            lambda: _load_section(c, work),
            lambda: _propagation_section(c),
        ]
        for section in sections:
            try:
                out.append(section())
            except (RuntimeError, subprocess.SubprocessError, OSError, KeyError, ValueError) as e:
                out.append(f"== section failed: {e}")
        return "\n\n".join(out)
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        return "\n\n".join([*out, f"== dns: failed: {e}"])
    finally:
        if cluster is not None:
            cluster.client.close()
        if dy is not None:
            dy.close()
        _stop(dnsmasq)
        if holder is not None:
            holder.close()
        remove_work(work)


if __name__ == "__main__":
    print(main())
