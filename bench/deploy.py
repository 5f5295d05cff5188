"""``python -m bench deploy``: Deployments, Services and the HPA against docker/podman/haproxy.

Everything runs inside private network + mount namespaces (:class:`bench.common.NsHolder`):
dockyardd, its pods, wrk and haproxy share one; podman has its own; the reference dockerd
is :func:`bench.refdocker.docker_daemon` (its own namespaces too). Measured:

1. **50 replicas**: seconds from ``apply`` of a 50-replica busybox Deployment to 50 ready
   pods, against 50 sequential ``docker run -d`` and ``podman run -d --network none`` of the
   same image; rounds alternate the engines (round robin), medians compared. Target
   dockyard ≤ 0.2x docker.
2. **Service throughput** (``wrk``, keep-alive clients, busybox ``httpd`` pods): through the
   Service's NodePort (kernel DNAT over 3 pods) vs straight to one pod vs ``haproxy``
   (roundrobin over the same 3 pods, ``mode http`` and ``mode tcp``), alternating. Targets
   NodePort ≥ 1.0x haproxy (the better of the two modes) and ≥ 0.9x direct.
3. **HPA reaction**: a CPU-bound pod (request 100m, limit 500m, target 50 %) starts burning;
   seconds to the scale-up decision (the Deployment's replicas change) and to the new
   replicas being ready, with the daemon's default HPA sync period (15 s, as Kubernetes;
   ``BENCH_HPA_SYNC`` changes it).

Needs root, ``wrk`` and ``haproxy`` (Debian packages; reported as n/a when missing).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import IMAGE_CACHE, VENV_BIN, NsHolder, stop_dockyardd, tool

REPLICAS = int(os.environ.get("BENCH_DEPLOY_REPLICAS", "50"))
ROUNDS = int(os.environ.get("BENCH_DEPLOY_ROUNDS", "2"))
WRK_ROUNDS = int(os.environ.get("BENCH_WRK_ROUNDS", "3"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "5"))
WRK_CONNS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "24"))
HPA_SYNC = os.environ.get("BENCH_HPA_SYNC", "15")
NODE_PORT = 30080
CLI = [str(VENV_BIN / "dockyard")]

SLEEPERS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: sleepers}}
spec:
  replicas: {n}
  selector: {{matchLabels: {{app: sleepers}}}}
  template:
    metadata: {{labels: {{app: sleepers}}}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - {{name: s, image: "busybox:latest", command: ["sleep", "3600"]}}
"""
WEB = f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox:latest
        command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && exec httpd -f -p 8080 -h /www"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{tcpSocket: {{port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, nodePort: {NODE_PORT}}}]
"""  # noqa: E501
BURN = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: burn}
spec:
  replicas: 1
  selector: {matchLabels: {app: burn}}
  template:
    metadata: {labels: {app: burn}}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: burn
        image: busybox:latest
        command: ["sleep", "1000000"]
        resources: {requests: {cpu: 100m}, limits: {cpu: 500m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burn}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burn}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior: {scaleUp: {stabilizationWindowSeconds: 0}}
"""
HAPROXY = """\
global
    maxconn 4096
    nbthread 1
defaults
    mode {mode}
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:{port}
    default_backend be
backend be
    balance roundrobin
{servers}
"""


class Dockyard:
    """dockyardd in ``holder``'s namespaces; the CLI goes in with ``nsenter``."""

    def __init__(self, holder: NsHolder, work: Path, *settings: str) -> None:
        self.holder = holder
        self.root, self.run_root = work / "root", work / "run"
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / "daemon.log", "ab") as log:
            self.proc = subprocess.Popen(
                holder.wrap([str(VENV_BIN / "python"), "-m", "dockyard.api.server",
                             "--root", str(self.root), "--run-root", str(self.run_root),
                             *settings]),
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited (see {self.root / 'daemon.log'})")
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(self.run_root / "dockyard.sock"))
                    return
                except OSError:
                    time.sleep(0.05)
        raise RuntimeError("dockyardd did not answer within 60 s")

    def argv(self, *args: str) -> list[str]:
        return self.holder.wrap(
            [*CLI, "--root", str(self.root), "--run-root", str(self.run_root), *args]
        )

    def run(self, *args: str, input: str | None = None, check: bool = True) -> str:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, input=input,
                              check=False, timeout=300)  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"dockyard {' '.join(args)}: {proc.stderr.strip()[-300:]}")
        return proc.stdout

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = json.loads(
            self.run("get", "pods", "-o", "json", "-l", selector)
        )["items"]
        return items

    def ready(self, selector: str) -> int:
        return sum(
            1
            for p in self.pods(selector)
            if p["status"].get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
            and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
        )

    def api(self, path: str) -> Any:
        """GET ``path`` from the daemon's API socket (cheaper than a CLI process per poll)."""
        import http.client

        sock_path = str(self.run_root / "dockyard.sock")

        class Conn(http.client.HTTPConnection):
            def connect(self) -> None:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(sock_path)

        c = Conn("localhost", timeout=30)
        try:
            c.request("GET", path)
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def ready_replicas(self, name: str) -> int:
        d = self.api(f"/apis/apps/v1/namespaces/default/deployments/{name}")
        return int((d.get("status") or {}).get("readyReplicas") or 0)

    def close(self) -> None:
        ids = self.run("ps", "-aq", check=False).split()
        if ids:
            self.run("rm", "-f", *ids, check=False)
        stop_dockyardd(self.run_root)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


def _wait(fn: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def _seq(argv_for: Callable[[int], Sequence[str]], n: int, env: dict[str, str] | None) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        p = subprocess.run(list(argv_for(i)), capture_output=True, text=True, env=env,
                           check=False)  # fmt: skip
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(argv_for(i))}: {p.stderr.strip()[-300:]}")
    return time.perf_counter() - t0


# --- 1. 50 replicas --------------------------------------------------------------------


def _deploy_once(dy: Dockyard) -> float:
    t0 = time.perf_counter()
    dy.run("apply", "-f", "-", input=SLEEPERS.format(n=REPLICAS))
    _wait(lambda: dy.ready_replicas("sleepers") >= REPLICAS, 300, f"{REPLICAS} ready pods", 0.05)
    took = time.perf_counter() - t0
    dy.run("delete", "deploy", "sleepers")
    pods = "/api/v1/namespaces/default/pods?labelSelector=app%3Dsleepers"
    _wait(lambda: not dy.api(pods)["items"], 120, "the pods gone", 0.2)
    return took


def _replicas_section(dy: Dockyard, work: Path) -> str:
    from bench.daemon import Podman
    from bench.refdocker import docker_daemon

    samples: dict[str, list[float]] = {"dockyard apply": [], "docker run -d": [],
                                       "podman run -d --network none": []}  # fmt: skip
    errors: dict[str, str] = {}
    podman: Podman | None = None
    pm_ns: NsHolder | None = None
    why: list[str] = []
    try:
        if tool("podman"):
            pm_ns = NsHolder()
            try:
                podman = Podman(work, pm_ns, dy.argv())
            except RuntimeError as e:
                errors["podman run -d --network none"] = str(e)
        else:
            errors["podman run -d --network none"] = "podman not installed"
        with docker_daemon(work / "d", why) as denv:
            if denv is None:
                errors["docker run -d"] = f"skipped: {why[-1] if why else '?'}"
            else:
                tar = work / "busybox-docker.tar"
                if not tar.exists():
                    save = dy.argv("save", "--format", "docker", "-o", str(tar), "busybox:latest")
                    subprocess.run(save, check=True, capture_output=True)
                denv.load(tar)

            def docker() -> float:
                assert denv is not None
                took = _seq(lambda i: denv.cli("run", "-d", "busybox", "sleep", "3600"),
                            REPLICAS, None)  # fmt: skip
                ids = denv.run("ps", "-aq").stdout.split()
                if ids:
                    denv.run("rm", "-f", *ids, timeout=300)
                return took

            def pod() -> float:
                assert podman is not None
                pm = podman
                took = _seq(lambda i: pm.argv("run", "-d", "--network", "none",
                                              "busybox:latest", "sleep", "3600"),
                            REPLICAS, pm.env)  # fmt: skip
                pm.run("rm", "-af", "-t", "0", check=False)
                return took

            engines: list[tuple[str, Callable[[], float]]] = [
                ("dockyard apply", lambda: _deploy_once(dy))
            ]
            if denv is not None:
                engines.append(("docker run -d", docker))
            if podman is not None:
                engines.append(("podman run -d --network none", pod))
            for r in range(ROUNDS):
                k = r % len(engines)
                for name, fn in [*engines[k:], *engines[:k]]:
                    if name in errors:
                        continue
                    try:
                        samples[name].append(fn())
                    except (RuntimeError, subprocess.SubprocessError) as e:
                        errors[name] = str(e)[-300:]
    finally:
        if podman is not None:
            podman.cleanup()
        if pm_ns is not None:
            pm_ns.close()
    lines = [f"== {REPLICAS} replicas: apply → all ready vs {REPLICAS} sequential run -d "
             f"(seconds, median of {ROUNDS} alternating rounds)"]  # fmt: skip
    med: dict[str, float] = {}
    for name, s in samples.items():
        if s:
            med[name] = statistics.median(s)
            lines.append(f"{name:<32} {med[name]:7.2f} s  ({', '.join(f'{x:.2f}' for x in s)})")
        else:
            lines.append(f"{name:<32}     n/a  ({errors.get(name, 'no sample')})")
    base = med.get("dockyard apply")
    for other, target in (("docker run -d", 0.2), ("podman run -d --network none", None)):
        if base is not None and other in med:
            ratio = base / med[other]
            tail = "" if target is None else f" (target <= {target}x) " + (
                "ok" if ratio <= target else "MISSED")  # fmt: skip
            lines.append(f"ratio dockyard / {other}: {ratio:.2f}x{tail}")
    return "\n".join(lines)


# --- 2. Service throughput ---------------------------------------------------------------


def _wrk(holder: NsHolder, url: str) -> float:
    p = subprocess.run(
        holder.wrap(["wrk", "-t", "2", "-c", str(WRK_CONNS), "-d", f"{WRK_SECONDS}s", url]),
        capture_output=True, text=True, check=False, timeout=WRK_SECONDS + 60,
    )  # fmt: skip
    m = re.search(r"Requests/sec:\s*([\d.]+)", p.stdout)
    if p.returncode != 0 or m is None:
        raise RuntimeError(f"wrk {url}: {(p.stderr or p.stdout).strip()[-200:]}")
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                     p.stdout)  # fmt: skip
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    if (errs and any(int(x) for x in errs.groups()[:1])) or non2xx:
        raise RuntimeError(f"wrk {url}: errors: {p.stdout.strip()[-300:]}")
    return float(m.group(1))


def _throughput_section(dy: Dockyard, work: Path) -> str:
    if not tool("wrk"):
        return "== Service throughput: n/a (wrk is not installed: apt-get install wrk)"
    dy.run("apply", "-f", "-", input=WEB)
    _wait(lambda: dy.ready("app=web") == 3, 60, "3 web pods", 0.2)
    ips = sorted(p["status"]["podIP"] for p in dy.pods("app=web"))
    targets: dict[str, str] = {
        "NodePort 127.0.0.1 (3 pods, nft DNAT)": f"http://127.0.0.1:{NODE_PORT}/",
        "direct to one pod": f"http://{ips[0]}:8080/",
    }
    procs: list[subprocess.Popen[bytes]] = []
    notes: list[str] = []
    try:
        if tool("haproxy"):
            servers = "\n".join(f"    server p{i} {ip}:8080" for i, ip in enumerate(ips))
            for mode, port in (("http", 18080), ("tcp", 18081)):
                cfg = work / f"haproxy-{mode}.cfg"
                cfg.write_text(HAPROXY.format(mode=mode, port=port, servers=servers))
                procs.append(subprocess.Popen(
                    dy.holder.wrap(["haproxy", "-db", "-f", str(cfg)]),
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True,
                ))  # fmt: skip
                targets[f"haproxy mode {mode} (3 pods)"] = f"http://127.0.0.1:{port}/"
            time.sleep(0.5)
        else:
            notes.append("haproxy: n/a (not installed: apt-get install haproxy)")
        names = list(targets)
        rates: dict[str, list[float]] = {n: [] for n in names}
        errors: dict[str, str] = {}
        for n in names:  # warm-up
            with contextlib.suppress(RuntimeError):
                _wrk_short(dy.holder, targets[n])
        for rnd in range(WRK_ROUNDS):
            k = rnd % len(names)
            for n in [*names[k:], *names[:k]]:
                if n in errors:
                    continue
                try:
                    rates[n].append(_wrk(dy.holder, targets[n]))
                except (RuntimeError, subprocess.SubprocessError) as e:
                    errors[n] = str(e)
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        dy.run("delete", "deploy", "web", check=False)
        dy.run("delete", "svc", "web", check=False)
    lines = [f"== Service throughput: wrk -t2 -c{WRK_CONNS} -d{WRK_SECONDS}s, busybox httpd "
             f"(requests/s, median of {WRK_ROUNDS} alternating rounds)"]  # fmt: skip
    med: dict[str, float] = {}
    for n in names:
        if rates[n]:
            med[n] = statistics.median(rates[n])
            lines.append(f"{n:<40} {med[n]:10.0f}  ({', '.join(f'{x:.0f}' for x in rates[n])})")
        else:
            lines.append(f"{n:<40}        n/a  ({errors.get(n, '')})")
    np_ = med.get(names[0])
    hap = [v for k, v in med.items() if k.startswith("haproxy")]
    if np_ is not None and hap:
        ratio = np_ / max(hap)
        lines.append(f"ratio NodePort / best haproxy: {ratio:.2f}x (target >= 1.0x) "
                     f"{'ok' if ratio >= 1.0 else 'MISSED'}")  # fmt: skip
    if np_ is not None and names[1] in med:
        ratio = np_ / med[names[1]]
        lines.append(f"ratio NodePort / direct: {ratio:.2f}x (target >= 0.9x) "
                     f"{'ok' if ratio >= 0.9 else 'MISSED'}")  # fmt: skip
    return "\n".join(lines + notes)


def _wrk_short(holder: NsHolder, url: str) -> None:
    subprocess.run(holder.wrap(["wrk", "-t", "1", "-c", "4", "-d", "1s", url]),
                   capture_output=True, check=False, timeout=30)  # fmt: skip


# --- 3. HPA ----------------------------------------------------------------------------------


def _hpa_section(dy: Dockyard) -> str:
    dy.run("apply", "-f", "-", input=BURN)
    _wait(lambda: dy.ready("app=burn") == 1, 60, "the first pod", 0.2)
    _wait(lambda: "cpu: 0%/50%" in dy.run("get", "hpa"), 90, "a first metric", 0.5)
    pod = dy.pods("app=burn")[0]["metadata"]["name"]
    burn = "end=$(($(date +%s)+120)); while [ $(date +%s) -lt $end ]; do :; done"
    try:
        dy.run("exec", "-d", pod, "sh", "-c", burn)
        t0 = time.monotonic()
        _wait(lambda: _replicas(dy) > 1, 120, "the scale-up decision", 0.2)
        decided = time.monotonic() - t0
        want = _replicas(dy)
        _wait(lambda: dy.ready("app=burn") >= want, 60, "the new replicas ready", 0.1)
        ready = time.monotonic() - t0
    finally:
        dy.run("delete", "hpa", "burn", check=False)
        dy.run("delete", "deploy", "burn", check=False)
    return "\n".join([
        f"== HPA reaction (sync period {HPA_SYNC} s, CPU target 50 % of 100m, load 500m)",
        f"load start → scale-up decision (1 → {want}):  {decided:6.1f} s",
        f"load start → new replicas ready:        {ready:6.1f} s",
    ])  # fmt: skip


def _replicas(dy: Dockyard) -> int:
    return int(json.loads(dy.run("get", "deploy", "burn", "-o", "json"))["spec"]["replicas"])


# --- main ------------------------------------------------------------------------------------


def main() -> str:
    if os.geteuid() != 0:
        return "== deploy: n/a (needs root)"
    work = Path(tempfile.mkdtemp(prefix="dyd-"))
    holder: NsHolder | None = None
    dy: Dockyard | None = None
    out: list[str] = []
    try:
        holder = NsHolder()
        dy = Dockyard(holder, work / "dy", "--hpa-sync-period", HPA_SYNC)
        dy.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"))
        d = dy
        sections: list[Callable[[], str]] = [
            lambda: _replicas_section(d, work),
            lambda: _throughput_section(d, work),
            lambda: _hpa_section(d),
        ]
        for section in sections:
            try:
                out.append(section())
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                out.append(f"== section failed: {e}")
        return "\n\n".join(out)
    finally:
        if dy is not None:
            dy.close()
        time.sleep(1.0)
        if holder is not None:
            holder.close()
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if str(work) in line]
        for p in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(main())
