"""``python -m bench inference``: the case study's TensorFlow/LiteRT service (``make demo``).

1. **N inference replicas to serving**: seconds from ``dockyard apply`` of an N-replica
   Deployment of ``demo/recommender:1`` until every pod answers ``GET /healthz`` with 200,
   against N sequential ``docker run -d`` of the same image plus each container's first
   successful ``/healthz``. Both are polled the same way (every 20 ms, a socket made in the
   engine's network namespace), so readiness-probe periods do not count; rounds alternate,
   medians compared. ``BENCH_INFER_REPLICAS`` (8, the demo's maximum on 2 CPUs) and
   ``BENCH_INFER_ROUNDS`` (3).
2. **HPA reaction** for this service — load start → first scale-up decision → first new
   replica serving — as the last ``make demo`` measured it (``demo/out/summary.json``:
   HPA sync period 2 s, open-loop load of 180 req/s).

The image comes from ``make demo``'s state root (``demo/out/state``); without it the
section says so (run ``make demo`` first: the image needs PyPI to build).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import VENV_BIN, Dockyard, NsHolder, remove_work, wait_for

REPO = Path(__file__).resolve().parents[1]
DEMO_ROOT = REPO / "demo" / "out" / "state"
IMAGE = "demo/recommender:1"
REPLICAS = int(os.environ.get("BENCH_INFER_REPLICAS", "8"))
ROUNDS = int(os.environ.get("BENCH_INFER_ROUNDS", "3"))

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: infer}}
spec:
  replicas: {n}
  selector: {{matchLabels: {{app: infer}}}}
  template:
    metadata: {{labels: {{app: infer}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: server
        image: demo/recommender:1
        imagePullPolicy: Never
"""


def healthy(netns: str, ip: str) -> bool:
    """``GET http://ip:8080/healthz`` from the network namespace ``netns`` answers 200."""
    from dockyard.network._netns import in_netns

    s = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        s.settimeout(0.5)
        s.connect((ip, 8080))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def _all_healthy(netns: str, ips: Callable[[], list[str]], n: int, timeout: float) -> None:
    ok: set[str] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ip in ips():
            if ip not in ok and healthy(netns, ip):
                ok.add(ip)
        if len(ok) >= n:
            return
        time.sleep(0.02)
    raise RuntimeError(f"{len(ok)} of {n} replicas answered /healthz within {timeout:.0f} s")


def _dockyard_round(dy: Dockyard, netns: str) -> float:
    pods = "/api/v1/namespaces/default/pods?labelSelector=app%3Dinfer"

    def ips() -> list[str]:
        return [ip for p in dy.api(pods)["items"] if (ip := (p.get("status") or {}).get("podIP"))]

    t0 = time.perf_counter()
    dy.run("apply", "-f", "-", input=DEPLOYMENT.format(n=REPLICAS))
    _all_healthy(netns, ips, REPLICAS, 180)
    took = time.perf_counter() - t0
    dy.run("delete", "deploy", "infer")
    wait_for(lambda: not dy.api(pods)["items"], 120, "the pods gone", 0.2)
    return took


def _docker_round(denv: object) -> float:
    from bench.refdocker import DockerEnv

    assert isinstance(denv, DockerEnv)
    t0 = time.perf_counter()
    ids = [denv.run("run", "-d", IMAGE).stdout.strip() for _ in range(REPLICAS)]
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    addrs = denv.run("inspect", "-f", fmt, *ids).stdout.split()
    _all_healthy(denv.netns, lambda: addrs, REPLICAS, 180)
    took = time.perf_counter() - t0
    denv.run("rm", "-f", *ids, timeout=300)
    return took


def _replicas_section(work: Path) -> str:
    from bench.refdocker import docker_daemon

    oci, dock = work / "infer-oci.tar", work / "infer-docker.tar"
    for fmt, out in (("oci", oci), ("docker", dock)):
        subprocess.run([str(VENV_BIN / "dockyard"), "--root", str(DEMO_ROOT), "save", "--format",
                        fmt, "-o", str(out), IMAGE], check=True, capture_output=True)  # fmt: skip
    samples: dict[str, list[float]] = {"dockyard apply": [], "docker run -d": []}
    errors: dict[str, str] = {}
    holder = NsHolder()
    dy = Dockyard(holder, work / "dy")
    why: list[str] = []
    try:
        dy.run("load", "-i", str(oci))
        netns = f"/proc/{holder.pid}/ns/net"
        with docker_daemon(work / "d", why) as denv:
            engines: list[tuple[str, Callable[[], float]]] = [
                ("dockyard apply", lambda: _dockyard_round(dy, netns))
            ]
            if denv is None:
                errors["docker run -d"] = f"skipped: {why[-1] if why else '?'}"
            else:
                denv.load(dock)
                engines.append(("docker run -d", lambda: _docker_round(denv)))
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
        dy.close()
        holder.close()
    lines = [f"== {REPLICAS} inference replicas ({IMAGE}): apply → all answer /healthz vs "
             f"{REPLICAS} sequential docker run -d + first /healthz (seconds, median of "
             f"{ROUNDS} alternating rounds)"]  # fmt: skip
    med: dict[str, float] = {}
    for name, s in samples.items():
        if s:
            med[name] = statistics.median(s)
            lines.append(f"{name:<18} {med[name]:7.2f} s  ({', '.join(f'{x:.2f}' for x in s)})")
        else:
            lines.append(f"{name:<18}     n/a  ({errors.get(name, 'no sample')})")
    if len(med) == 2:
        lines.append(
            f"ratio dockyard / docker: {med['dockyard apply'] / med['docker run -d']:.2f}x"
        )
    return "\n".join(lines)


def _hpa_section() -> str:
    path = REPO / "demo" / "out" / "summary.json"
    if not path.exists():
        return "== HPA reaction (inference service): n/a (run make demo first)"
    s = json.loads(path.read_text())
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(path.stat().st_mtime))
    return "\n".join([
        f"== HPA reaction, inference service (make demo of {when}: sync period 2 s, "
        "open-loop 180 req/s, target 40 % of 210m)",
        f"load start → first scale-up decision:   {s.get('seconds_load_to_first_hpa_decision')} s",
        f"load start → first new replica ready:   "
        f"{s.get('seconds_load_to_first_new_replica_ready')} s",
        f"replicas at most: {s.get('max_ready_replicas')}; back to the minimum: "
        f"{s.get('scaled_down_to_min')}",
    ])  # fmt: skip


def main() -> str:
    if os.geteuid() != 0:
        return "== inference: n/a (needs root)"
    probe = subprocess.run([str(VENV_BIN / "dockyard"), "--root", str(DEMO_ROOT), "image",
                            "inspect", IMAGE], capture_output=True, check=False)  # fmt: skip
    if not DEMO_ROOT.is_dir() or probe.returncode != 0:
        return (f"== inference: n/a ({IMAGE} is not in {DEMO_ROOT}: run make demo first)\n\n"
                + _hpa_section())  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="dyi-"))
    try:
        try:
            first = _replicas_section(work)
        except (RuntimeError, subprocess.SubprocessError, OSError) as e:
            first = f"== inference replicas: section failed: {e}"
        return first + "\n\n" + _hpa_section()
    finally:
        remove_work(work)


if __name__ == "__main__":
    print(main())
