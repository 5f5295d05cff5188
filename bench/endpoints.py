"""``python -m bench endpoints``: does traffic meet a dying pod? dockyard's Service vs haproxy.

Everything runs in private namespaces (:class:`bench.common.NsHolder`): dockyardd, three
busybox ``httpd`` replicas behind a NodePort Service, an ``haproxy`` (Debian package) in
front of the same pods, and two open-loop load generators (``bench/openloop.py``: a fixed
rate each, a new connection per request, every result recorded), one per path.

1. **Kills**: every ``BENCH_KILL_EVERY`` s (5) for ``BENCH_KILL_SECONDS`` (60) one ready
   replica's main process is SIGKILLed from outside. The container is restarted in place
   (the kubelet's way: same pod, restartCount + 1, at once on a first crash, after
   CrashLoopBackOff's 10 s on the next), so the Deployment is scaled to one replica per
   kill first and each kill takes a replica not killed before. Per path: failed requests
   per kill and the time from the kill to the endpoint's removal (median, p99). dockyard:
   the deletion of the pod's ``ep-`` chain, seen by ``nft monitor``; haproxy (``check
   inter 1s fall 2 rise 1``, ``retries 2``, ``option redispatch``): the server marked DOWN
   (``show stat`` on its admin socket, polled every 10 ms). Kill → ready again: the
   victim's ``pod ready`` event (the daemon's events, so the bench's own polling does not
   count). A restarted pod whose address changed has its haproxy slot pointed at the new
   one (``set server … addr``), as a discovery agent would.
2. **Rollouts**: ``BENCH_ROLLOUTS`` (10) rolling updates and as many ``rollout undo`` in a
   row under load through the NodePort and the ClusterIP: failed requests (target 0). Not
   run through haproxy: its server list would need a discovery agent for every new pod.

Needs root and haproxy (its column is n/a without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import IMAGE_CACHE, Dockyard, NsHolder, tool
from bench.common import wait_for as _wait

KILL_EVERY = float(os.environ.get("BENCH_KILL_EVERY", "5"))
KILL_SECONDS = float(os.environ.get("BENCH_KILL_SECONDS", "60"))
ROLLOUTS = int(os.environ.get("BENCH_ROLLOUTS", "10"))
RATE = float(os.environ.get("BENCH_ENDPOINTS_RATE", "100"))
NODE_PORT = 30082
HAPROXY_PORT = 18090
OPENLOOP = Path(__file__).resolve().parent / "openloop.py"


def web(text: str) -> str:
    serve = f"mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 8080 -h /www"
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: busybox:latest
        command: ["sh", "-c", "{serve}"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{httpGet: {{path: /, port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, nodePort: {NODE_PORT}}}]
"""


HAPROXY = """\
global
    maxconn 4096
    nbthread 1
    stats socket {sock} mode 600 level admin
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
    default-server check inter 1s fall 2 rise 1
{servers}
"""


class Load:
    """``openloop.py`` in the holder's namespaces."""

    def __init__(self, holder: NsHolder, work: Path, name: str, targets: list[str]) -> None:
        self.out, self.stop = work / f"{name}.json", work / f"{name}.stop"
        self.proc = subprocess.Popen(
            holder.wrap([sys.executable, str(OPENLOOP), "--rate", str(RATE), "--seconds",
                         "3600", "--stop", str(self.stop), "--out", str(self.out), *targets]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip

    def result(self) -> list[list[Any]]:
        self.stop.touch()
        _, err = self.proc.communicate(timeout=60)
        if self.proc.returncode != 0:
            raise RuntimeError(f"openloop: {err.decode(errors='replace')[-300:]}")
        requests: list[list[Any]] = json.loads(self.out.read_text())["requests"]
        return requests

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class NftWatch:
    """``nft monitor`` in the holder's network namespace, lines with arrival times."""

    def __init__(self, holder: NsHolder) -> None:
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ["nsenter", "-t", str(holder.pid), "-n", "--", "nft", "monitor"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            start_new_session=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()
        for i in range(50):  # listening once a change of our own table shows up
            mark = f"ip dyb-mark{i}"
            script = f"nft add table {mark} && nft delete table {mark}"
            subprocess.run(holder.wrap(["sh", "-c", script]), check=False)
            if self.wait(f"dyb-mark{i}", 0.0, 0.2) is not None:
                return
        raise RuntimeError("nft monitor shows nothing")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), line.strip()))
                self.cond.notify_all()

    def wait(self, text: str, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if t >= after and text in line:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _ep_chain(holder: NsHolder, address: str) -> str:
    out = subprocess.run(holder.wrap(["nft", "-j", "list", "table", "ip", "dockyard-svc"]),
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    for item in json.loads(out)["nftables"]:
        rule = item.get("rule")
        if rule and rule["chain"].startswith("ep-") and f'"{address}"' in json.dumps(rule):
            return str(rule["chain"])
    raise RuntimeError(f"no endpoint chain for {address}")


class Haproxy:
    def __init__(self, holder: NsHolder, work: Path, ips: list[str]) -> None:
        self.sock = work / "haproxy.sock"
        self.slots = {f"p{i}": ip for i, ip in enumerate(ips)}
        servers = "\n".join(f"    server {s} {ip}:8080" for s, ip in self.slots.items())
        cfg = work / "haproxy.cfg"
        cfg.write_text(HAPROXY.format(sock=self.sock, port=HAPROXY_PORT, servers=servers))
        self.proc = subprocess.Popen(
            holder.wrap(["haproxy", "-db", "-f", str(cfg)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        _wait(lambda: self.up() == set(self.slots), 30, "haproxy's servers up", 0.1)

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.sock))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while data := s.recv(65536):
                chunks.append(data)
        return b"".join(chunks).decode()

    def up(self) -> set[str]:
        try:
            rows = self.command("show stat").splitlines()
        except OSError:
            return set()
        out = set()
        for row in rows:
            f = row.split(",")
            if len(f) > 17 and f[0] == "be" and f[1] in self.slots and f[17] == "UP":
                out.add(f[1])
        return out

    def wait_down(self, slot: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if slot not in self.up():
                return time.monotonic()
            time.sleep(0.01)
        return None

    def repoint(self, slot: str, ip: str) -> None:
        self.command(f"set server be/{slot} addr {ip} port 8080")
        self.slots[slot] = ip

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def _pods(dy: Dockyard) -> list[dict[str, Any]]:
    """The web pods, from the API socket (a CLI process per poll would compete with the
    daemon for the CPUs while it removes an endpoint)."""
    items: list[dict[str, Any]] = dy.api("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[
        "items"
    ]
    return items


def _ips(dy: Dockyard) -> dict[str, str]:
    return {p["metadata"]["name"]: p["status"]["podIP"] for p in _pods(dy)
            if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")}  # fmt: skip


def _ready(dy: Dockyard) -> int:
    return sum(
        1
        for p in _pods(dy)
        if p["status"].get("phase") == "Running"
        and not p["metadata"].get("deletionTimestamp")
        and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
    )


def _pid(dy: Dockyard, pod: str) -> int:
    return int(dy.run("inspect", "-f", "{{.State.Pid}}", pod).strip())


def _stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    v = sorted(values)
    p99 = v[min(len(v) - 1, round(0.99 * (len(v) - 1)))]
    return f"{statistics.median(v) * 1000:.0f} / {p99 * 1000:.0f} ms"


def _failed(requests: list[list[Any]]) -> tuple[int, int, int]:
    failed = sum(1 for r in requests if not r[2])
    slow = sum(1 for r in requests if r[2] and r[1] > 0.5)
    return len(requests), failed, slow


def _ready_event(dy: Dockyard, since: float, pod: str) -> float | None:
    """Seconds from ``since`` (wall clock) to ``pod``'s first ``ready`` event after it."""
    out = dy.run("events", "--since", f"{since:.6f}", "--until", f"{time.time():.6f}",
                 "--format", "{{json .}}")  # fmt: skip
    for line in out.splitlines():
        ev = json.loads(line)
        if ev["Type"] == "pod" and ev["Action"] == "ready" and ev["Actor"]["ID"] == pod:
            return float(ev["timeNano"]) / 1e9 - since
    return None


def _restarts(dy: Dockyard, pod: str) -> int:
    for p in _pods(dy):
        if p["metadata"]["name"] == pod:
            return sum(int(c.get("restartCount") or 0)
                       for c in p["status"].get("containerStatuses") or [])  # fmt: skip
    return -1


def _kills(dy: Dockyard, work: Path) -> str:
    holder = dy.holder
    replicas = max(3, int(KILL_SECONDS // KILL_EVERY))
    dy.run("scale", "deploy/web", "--replicas", str(replicas))
    _wait(lambda: _ready(dy) == replicas == len(_pods(dy)), 120, f"{replicas} web pods", 0.2)
    ips = _ips(dy)
    hap = Haproxy(holder, work, sorted(ips.values())) if tool("haproxy") else None
    watch = NftWatch(holder)
    loads = {"dockyard NodePort": Load(holder, work, "dy", [f"127.0.0.1:{NODE_PORT}"])}
    if hap is not None:
        loads["haproxy"] = Load(holder, work, "hap", [f"127.0.0.1:{HAPROXY_PORT}"])
    removal: dict[str, list[float]] = {name: [] for name in loads}
    healed: list[float] = []
    killed: set[str] = set()
    kills = 0
    try:
        time.sleep(1.0)  # both loads running
        t_end = time.monotonic() + KILL_SECONDS
        while time.monotonic() < t_end:
            t_next = time.monotonic() + KILL_EVERY
            ips = _ips(dy)
            victim = sorted(set(ips) - killed)[0]
            killed.add(victim)
            address = ips[victim]
            chain = _ep_chain(holder, address)
            slot = None
            if hap is not None:
                slot = next(s for s, ip in hap.slots.items() if ip == address)
            t0, wall0 = time.monotonic(), time.time()
            os.kill(_pid(dy, victim), signal.SIGKILL)
            kills += 1
            gone = watch.wait(f"delete chain ip dockyard-svc {chain}", t0, 10)
            if gone is not None:
                removal["dockyard NodePort"].append(gone - t0)
            if hap is not None and slot is not None:
                down = hap.wait_down(slot, 10)
                if down is not None:
                    removal["haproxy"].append(down - t0)

            def healed_from(v: str = victim) -> bool:
                return _ready(dy) == replicas and _restarts(dy, v) == 1

            _wait(healed_from, 30, f"{replicas} ready replicas", 0.05)
            ready_at = _ready_event(dy, wall0, victim)
            if ready_at is not None:
                healed.append(ready_at)
            if hap is not None and slot is not None:
                new = _ips(dy)[victim]
                if new != address:
                    hap.repoint(slot, new)
            time.sleep(max(0.0, t_next - time.monotonic()))
        results = {name: load.result() for name, load in loads.items()}
    finally:
        for load in loads.values():
            load.kill()
        watch.close()
        if hap is not None:
            hap.close()
    dy.run("scale", "deploy/web", "--replicas", "3")
    _wait(lambda: _ready(dy) == 3 == len(_pods(dy)), 120, "3 web pods", 0.2)
    lines = [f"== Kills: one replica of {replicas} SIGKILLed every {KILL_EVERY:.0f} s, "
             f"{kills} kills (each a first crash: restarted in place at once), "
             f"{RATE:.0f} req/s open loop per path (new connection each)",
             f"{'path':<20} {'requests':>9} {'failed':>7} {'per kill':>9} "
             f"{'>0.5 s':>7}  kill -> endpoint removed (median / p99)"]  # fmt: skip
    for name, reqs in results.items():
        n, failed, slow = _failed(reqs)
        lines.append(f"{name:<20} {n:>9} {failed:>7} {failed / max(kills, 1):>9.2f} "
                     f"{slow:>7}  {_stats(removal[name])}")  # fmt: skip
    if hap is None:
        lines.append("haproxy: n/a (not installed: apt-get install haproxy)")
    if healed:
        lines.append(f"kill -> the victim ready again (its pod ready event): median "
                     f"{statistics.median(healed):.2f} s, max {max(healed):.2f} s")  # fmt: skip
    lines.append(
        "haproxy: check inter 1s fall 2 rise 1, retries 2, option redispatch, timeout "
        "connect 5s (a request it sent to the dead address waits that long, as long as the "
        "client's 5 s limit); '>0.5 s': answered after a retransmitted SYN"
    )
    return "\n".join(lines)


def _rollouts(dy: Dockyard, work: Path) -> str:
    vip = json.loads(dy.run("get", "svc", "web", "-o", "json"))["spec"]["clusterIP"]
    pod_ip = next(iter(_ips(dy).values()))
    route = subprocess.run(dy.holder.wrap(["ip", "-j", "route", "get", pod_ip]),
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    dev = json.loads(route)[0]["dev"]
    subprocess.run(dy.holder.wrap(["ip", "route", "replace", f"{vip}/32", "dev", dev]),
                   check=True)  # fmt: skip
    load = Load(dy.holder, work, "roll", [f"127.0.0.1:{NODE_PORT}", f"{vip}:80"])
    t0 = time.monotonic()
    try:
        for _ in range(ROLLOUTS):
            for step in (["apply", "-f", "-"], ["rollout", "undo", "deploy/web"]):
                dy.run(*step, input=web("v2") if step[0] == "apply" else None)
                dy.run("rollout", "status", "deploy/web", "--timeout", "120")
                _wait(lambda: _ready(dy) == 3 and len(_pods(dy)) == 3, 60, "old pods gone", 0.1)
        requests = load.result()
    finally:
        load.kill()
    n, failed, _ = _failed(requests)
    took = time.monotonic() - t0
    return (
        f"== Rollouts: {ROLLOUTS} rolling updates + {ROLLOUTS} undos in a row "
        f"({took:.0f} s), NodePort and ClusterIP in turn at {RATE:.0f} req/s\n"
        f"requests {n}, failed {failed} (target 0)"
    )


def main() -> str:
    if os.geteuid() != 0:
        return "== endpoints: n/a (needs root)"
    work = Path(tempfile.mkdtemp(prefix="dye-"))
    holder: NsHolder | None = None
    dy: Dockyard | None = None
    out: list[str] = []
    try:
        holder = NsHolder()
        dy = Dockyard(holder, work / "dy")
        dy.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"))
        dy.run("apply", "-f", "-", input=web("v1"))
        d = dy
        _wait(lambda: d.ready("app=web") == 3, 60, "3 web pods", 0.2)
        for section in (_kills, _rollouts):
            try:
                out.append(section(dy, work))
            except (RuntimeError, subprocess.SubprocessError, OSError, StopIteration) as e:
                out.append(f"== {section.__name__.strip('_')}: failed: {e}")
        return "\n\n".join(out)
    finally:
        if dy is not None:
            dy.close()
        if holder is not None:
            holder.close()
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if str(work) in line]
        for p in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(main())
