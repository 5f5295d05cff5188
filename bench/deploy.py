"""``python -m bench deploy``: Deployments, Services and the HPA against docker/podman/haproxy.

Everything runs inside private network + mount namespaces (:class:`bench.common.NsHolder`):
dockyardd, its pods, wrk and haproxy share one; podman has its own; the reference dockerd
is :func:`bench.refdocker.docker_daemon` (its own namespaces too). Measured:

1. **50 replicas**: seconds from ``apply`` of a 50-replica busybox Deployment to 50 ready
   pods, against 50 sequential ``docker run -d`` and ``podman run -d --network none`` of the
   same image; rounds alternate the engines (round robin), medians compared. Target
   dockyard ≤ 0.2x docker.
2. **Service throughput** (``wrk``, keep-alive clients): 3 nginx pods (Debian's nginx in an
   image built from ``bench/images/nginx`` on ``debian:bookworm-slim``, cached in
   ``.cache/images``; see :func:`nginx_archive`) behind a NodePort Service. Requests/s straight
   to one pod, through the ClusterIP and the NodePort (kernel DNAT over the 3 pods), and through
   ``haproxy`` (roundrobin over the same pods, ``mode http`` and ``mode tcp``); the targets
   alternate round by round, medians of ``BENCH_WRK_ROUNDS`` rounds with their spread, ratios
   to direct. Targets NodePort ≥ 1.0x haproxy (the better mode) and ≥ 0.9x direct. If the image
   cannot be built the backend is busybox ``httpd`` (it forks per request, so it, not the load
   balancer, is measured), and the report says so. ``BENCH_SERVICE_BACKEND=busybox`` asks for
   it. :mod:`bench.before_after` runs this section and ``run --rm`` against an older commit.
   Last run (2026-12-06, load average 8-10 on 2 CPUs): direct 23,859 req/s, ClusterIP
   1.12x, NodePort 1.03x direct (paired), haproxy http/tcp 0.53x/0.69x; figures and their
   reading in docs/network.md, "Measured: the Service path".
3. **HPA reaction**: a CPU-bound pod (request 100m, limit 500m, target 50 %) starts burning;
   seconds to the scale-up decision (the Deployment's replicas change) and to the new
   replicas being ready, with the daemon's default HPA sync period (15 s, as Kubernetes;
   ``BENCH_HPA_SYNC`` changes it).

Needs root, ``wrk`` and ``haproxy`` (Debian packages; reported as n/a when missing).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    CLI,
    IMAGE_CACHE,
    Dockyard,
    NsHolder,
    _launcher,  # noqa: F401 (tests/unit/test_bench_service.py uses it)
    stop_dockyardd,
    tool,
)
from bench.common import unmount_under as _unmount_under
from bench.common import wait_for as _wait

REPLICAS = int(os.environ.get("BENCH_DEPLOY_REPLICAS", "50"))
ROUNDS = int(os.environ.get("BENCH_DEPLOY_ROUNDS", "2"))
WRK_ROUNDS = int(os.environ.get("BENCH_WRK_ROUNDS", "5"))
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "5"))
WRK_CONNS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "24"))
HPA_SYNC = os.environ.get("BENCH_HPA_SYNC", "15")
NODE_PORT = 30080

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
WEB = """\
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
        image: {image}{command}
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe: {{tcpSocket: {{port: http}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: web}}
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: http, nodePort: {node_port}}}]
"""
BUSYBOX_HTTPD = (
    '\n        command: ["sh", "-c", "mkdir -p /www && echo hello > /www/index.html && '
    'exec httpd -f -p 8080 -h /www"]'
)
NGINX_RECIPE = Path(__file__).resolve().parent / "images" / "nginx"
NGINX_IMAGE = "dybench/nginx:1"
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


@dataclass
class Backend:
    """What the web pods run: an image and the manifest's ``command`` (YAML, or empty)."""

    name: str
    image: str
    command: str = ""
    note: str = ""


BUSYBOX_BACKEND = Backend("busybox httpd", "busybox:latest", BUSYBOX_HTTPD)


def _recipe_digest() -> str:
    h = hashlib.sha256()
    for f in sorted(NGINX_RECIPE.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(NGINX_RECIPE).as_posix().encode() + b"\0")
            h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def nginx_archive(work: Path) -> Path:
    """The nginx backend's OCI archive in ``.cache/images``, built on first use.

    Named after a digest of ``bench/images/nginx``, so an edited recipe gets a new one. Built
    by ``dockyard build`` in a scratch store that holds ``debian:bookworm-slim`` from ``make
    images`` (its RUN step installs Debian's nginx from the mirror the base image's apt
    sources name, through the build's sandbox network), then saved; the scratch store is
    removed. RuntimeError when it cannot be built."""
    archive = IMAGE_CACHE / f"bench-nginx_{_recipe_digest()}.tar"
    if archive.is_file():
        return archive
    base = IMAGE_CACHE / "debian_bookworm-slim.tar"
    if not base.is_file():
        raise RuntimeError(f"{base} is missing (make images)")
    d = Path(tempfile.mkdtemp(prefix="nginx-build-", dir=work))
    cli = [*CLI, "--root", str(d / "root"), "--run-root", str(d / "run")]
    tmp = archive.with_suffix(".tmp")
    steps = [("load", "-i", str(base)),
             ("build", "-q", "-t", NGINX_IMAGE, str(NGINX_RECIPE)),
             ("save", "-o", str(tmp), NGINX_IMAGE)]  # fmt: skip
    try:
        for args in steps:
            p = subprocess.run([*cli, *args], capture_output=True, text=True, check=False,
                               timeout=900)  # fmt: skip
            if p.returncode != 0:
                why = (p.stderr or p.stdout).strip().splitlines()
                raise RuntimeError(f"dockyard {args[0]}: {why[-1] if why else p.returncode}")
        tmp.replace(archive)
    finally:
        tmp.unlink(missing_ok=True)
        stop_dockyardd(d / "run")  # none is started for load/build/save; in case one was
        _unmount_under(d)
        shutil.rmtree(d, ignore_errors=True)
    return archive


def load_backend(dy: Dockyard, work: Path) -> Backend:
    """The nginx backend loaded into ``dy``; busybox httpd, with a note saying why, when the
    image cannot be built (or ``BENCH_SERVICE_BACKEND=busybox``)."""
    if os.environ.get("BENCH_SERVICE_BACKEND", "nginx") == "busybox":
        return BUSYBOX_BACKEND
    try:
        dy.run("load", "-i", str(nginx_archive(work)))
    except (RuntimeError, subprocess.SubprocessError, OSError) as e:
        return Backend(
            BUSYBOX_BACKEND.name, BUSYBOX_BACKEND.image, BUSYBOX_BACKEND.command,
            f"backend: busybox httpd, not nginx (the nginx image could not be built: {e}); "
            "it forks per request, so these figures measure it, not the load balancer",
        )  # fmt: skip
    return Backend("nginx", NGINX_IMAGE)


def deploy_web(dy: Dockyard, backend: Backend) -> tuple[list[str], dict[str, str]]:
    """3 ``backend`` pods behind a NodePort Service: the pods' addresses and the URLs of
    one pod, the ClusterIP and the NodePort on 127.0.0.1."""
    dy.run("apply", "-f", "-", input=WEB.format(image=backend.image, command=backend.command,
                                                node_port=NODE_PORT))  # fmt: skip
    _wait(lambda: dy.ready("app=web") == 3, 120, "3 web pods", 0.2)
    _default_route(dy.holder)
    ips = sorted(p["status"]["podIP"] for p in dy.pods("app=web"))
    vip = json.loads(dy.run("get", "svc", "web", "-o", "json"))["spec"]["clusterIP"]
    return ips, {
        DIRECT: f"http://{ips[0]}:8080/",
        "ClusterIP (3 pods, nft DNAT)": f"http://{vip}:80/",
        NODEPORT: f"http://127.0.0.1:{NODE_PORT}/",
    }


def _default_route(holder: NsHolder) -> None:
    """A default route in ``holder``'s namespace (a veth pair), as a host has one: a
    ClusterIP is routed before the output hook rewrites it, so with only ``lo`` and the
    bridge the client gets "network is unreachable". Goes with the namespace."""
    if subprocess.run(holder.wrap(["ip", "route", "show", "default"]), capture_output=True,
                      text=True, check=False).stdout.strip():  # fmt: skip
        return
    for cmd in (["ip", "link", "add", "dybench-up", "type", "veth", "peer", "dybench-up1"],
                ["ip", "link", "set", "dybench-up1", "up"],
                ["ip", "link", "set", "dybench-up", "up"],
                ["ip", "route", "add", "default", "dev", "dybench-up"]):  # fmt: skip
        p = subprocess.run(holder.wrap(cmd), capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {p.stderr.strip()}")


def remove_web(dy: Dockyard) -> None:
    dy.run("delete", "deploy", "web", check=False)
    dy.run("delete", "svc", "web", check=False)


DIRECT = "direct to one pod"
NODEPORT = "NodePort 127.0.0.1 (3 pods, nft DNAT)"


def _start_haproxy(holder: NsHolder, work: Path, ips: list[str],
                   procs: list[subprocess.Popen[bytes]]) -> dict[str, str]:  # fmt: skip
    """haproxy (``mode http`` and ``mode tcp``) over ``ips`` in ``holder``; appends to
    ``procs`` as it starts them; their URLs once each listens."""
    servers = "\n".join(f"    server p{i} {ip}:8080" for i, ip in enumerate(ips))
    targets: dict[str, str] = {}
    for mode, port in (("http", 18080), ("tcp", 18081)):
        cfg = work / f"haproxy-{mode}.cfg"
        cfg.write_text(HAPROXY.format(mode=mode, port=port, servers=servers))
        procs.append(subprocess.Popen(
            holder.wrap(["haproxy", "-db", "-f", str(cfg)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        ))  # fmt: skip
        targets[f"haproxy mode {mode} (3 pods)"] = f"http://127.0.0.1:{port}/"
    for url in targets.values():
        _wait(functools.partial(_answers, holder, url), 10, f"haproxy on {url}", 0.05)
    return targets


def _answers(holder: NsHolder, url: str) -> bool:
    p = subprocess.run(holder.wrap(["wrk", "-t", "1", "-c", "1", "-d", "1s", url]),
                       capture_output=True, text=True, check=False, timeout=30)  # fmt: skip
    return p.returncode == 0 and "Requests/sec" in p.stdout and "Socket errors" not in p.stdout


@dataclass
class Point:
    """One thing wrk measures: a name, the namespaces wrk runs in, a URL."""

    name: str
    holder: NsHolder
    url: str


def measure_rates(points: Sequence[Point], rounds: int) -> tuple[dict[str, list[float]],
                                                                 dict[str, str]]:  # fmt: skip
    """``rounds`` wrk runs per point, alternating: each round runs every point once, the
    order rotating by one each round (a change in the shared machine's load falls on all
    alike). A point that fails is dropped from later rounds and its error kept."""
    rates: dict[str, list[float]] = {pt.name: [] for pt in points}
    errors: dict[str, str] = {}
    for pt in points:  # warm-up: connections, conntrack, the pods' workers
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            _wrk_short(pt.holder, pt.url)
    for rnd in range(rounds):
        k = rnd % len(points)
        for pt in [*points[k:], *points[:k]]:
            if pt.name in errors:
                continue
            try:
                rates[pt.name].append(_wrk(pt.holder, pt.url))
            except (RuntimeError, subprocess.SubprocessError) as e:
                errors[pt.name] = str(e)
    return rates, errors


def rate_lines(rates: dict[str, list[float]], errors: dict[str, str]) -> list[str]:
    """One line per point: median, spread (min-max; half of it in % of the median), samples."""
    lines = [f"{'':<44} {'median':>8} {'spread':>16}  samples"]
    for n, xs in rates.items():
        if not xs:
            lines.append(f"{n:<44} {'n/a':>8}  ({errors.get(n, 'no sample')})")
            continue
        m = statistics.median(xs)
        spread = f"{min(xs):.0f}-{max(xs):.0f}"
        pct = f"±{(max(xs) - min(xs)) / 2 / m * 100:.0f}%" if m else ""
        lines.append(f"{n:<44} {m:8.0f} {spread:>11} {pct:>4}  "
                     f"({', '.join(f'{x:.0f}' for x in xs)})")  # fmt: skip
    return lines


def paired_ratios(before: list[float], after: list[float]) -> list[float]:
    """``after[i] / before[i]``: round by round (a failed point's list is shorter)."""
    return [a / b for b, a in zip(before, after, strict=False) if b]


def paired(before: list[float], after: list[float]) -> str:
    """``after[i] / before[i]`` for each round: their median and quartiles."""
    ratios = paired_ratios(before, after)
    if len(ratios) < 2:
        return f"{ratios[0]:.2f}x" if ratios else "n/a"
    q = statistics.quantiles(ratios, n=4, method="inclusive")
    return f"{statistics.median(ratios):.2f}x ({q[0]:.2f}-{q[2]:.2f})"


def median_of(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


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
    backend = load_backend(dy, work)
    procs: list[subprocess.Popen[bytes]] = []
    notes: list[str] = [backend.note] if backend.note else []
    try:
        ips, targets = deploy_web(dy, backend)
        if tool("haproxy"):
            targets.update(_start_haproxy(dy.holder, work, ips, procs))
        else:
            notes.append("haproxy: n/a (not installed: apt-get install haproxy)")
        rates, errors = measure_rates(
            [Point(n, dy.holder, u) for n, u in targets.items()], WRK_ROUNDS
        )
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        remove_web(dy)
    lines = [f"== Service throughput: wrk -t2 -c{WRK_CONNS} -d{WRK_SECONDS}s, {backend.name} "
             f"(requests/s, {WRK_ROUNDS} alternating rounds)",
             *rate_lines(rates, errors)]  # fmt: skip
    med = {n: m for n, xs in rates.items() if (m := median_of(xs)) is not None}
    direct = med.get(DIRECT)
    lines.append("ratio to direct: the median of the rounds' paired ratios (p25-p75; the "
                 "load drifts within a run), then the ratio of the medians")  # fmt: skip
    for n, m in med.items():
        if direct and n != DIRECT:
            pr = paired_ratios(rates[DIRECT], rates[n])
            target = ""
            if n == NODEPORT and pr:
                ok = statistics.median(pr) >= 0.9
                target = f"  (target >= 0.9x) {'ok' if ok else 'MISSED'}"
            lines.append(f"  {n:<42} {paired(rates[DIRECT], rates[n])}, "
                         f"{m / direct:.2f}x{target}")  # fmt: skip
    hap = [v for k, v in med.items() if k.startswith("haproxy")]
    if NODEPORT in med and hap:
        ratio = med[NODEPORT] / max(hap)
        lines.append(f"ratio NodePort / best haproxy: {ratio:.2f}x (target >= 1.0x) "
                     f"{'ok' if ratio >= 1.0 else 'MISSED'}")  # fmt: skip
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
        _unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(main())
