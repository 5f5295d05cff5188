"""The case study's driver: `make demo` runs `story.py build` on the host, then
`story.py cluster` inside a private network + mount namespace, then `report.py`.

build    lint the story's original Dockerfile, build the corrected one (v1; again, to show
         the cache), v2 and a broken v3, write the SBOM, scan when a vulnerability database
         is there
cluster  a private dockyardd and registry (htpasswd auth), login, push; the story's exact
         manifest (pods that do not fit: FailedScheduling), export for a real cluster; the
         same manifests sized to this machine, deployed from the registry with an
         imagePullSecret; load → HPA scale out and back; v2 rollout and a broken v3 under
         load, rollout undo

Everything measured goes to demo/out/ (facts.json, timeline.jsonl, requests.csv, logs/).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEMO = Path(__file__).resolve().parent
REPO = DEMO.parent
OUT = DEMO / "out"
LOGS = OUT / "logs"
ROOT = Path(os.environ.get("DEMO_ROOT", OUT / "state"))
RUN_ROOT = Path(os.environ.get("DEMO_RUN_ROOT", "/run/dockyard-demo"))
DY = [str(REPO / ".venv" / "bin" / "dockyard")]
IMAGE = "demo/recommender"
REGISTRY = "127.0.0.1:5000"
T0 = time.time()

# The story's numbers (the Deployment and HPA), kept for export to a real cluster.
STORY = {"cpu_req_m": 1000, "mem_req_mi": 2048, "cpu_lim_m": 2000, "mem_lim_mi": 4096,
         "min": 5, "max": 50}  # fmt: skip
LOADGEN_CPU_M, LOADGEN_MEM_MI = 300, 128
TARGET = 40  # the HPA's CPU target, % of the request


# ------------------------------------------------------------------ output and facts


def say(msg: str) -> None:
    print(f"[{time.time() - T0:6.1f}s] {msg}", flush=True)


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def facts_update(**kv: Any) -> None:
    path = OUT / "facts.json"
    facts = json.loads(path.read_text()) if path.exists() else {}
    facts.update(kv)
    path.write_text(json.dumps(facts, indent=1) + "\n")


def facts() -> dict[str, Any]:
    path = OUT / "facts.json"
    return json.loads(path.read_text()) if path.exists() else {}


_tl_lock = threading.Lock()


def timeline(kind: str, **kv: Any) -> None:
    with _tl_lock, open(OUT / "timeline.jsonl", "a") as f:
        f.write(json.dumps({"t": time.time(), "kind": kind, **kv}) + "\n")


def read_timeline() -> list[dict[str, Any]]:
    with _tl_lock:
        lines = (OUT / "timeline.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x]


def dy(*args: str, check: bool = True, quiet: bool = False, input: str | None = None,
       timeout: float = 600) -> subprocess.CompletedProcess[str]:  # fmt: skip
    p = subprocess.run([*DY, *args], capture_output=True, text=True, input=input,
                       timeout=timeout, check=False)  # fmt: skip
    if not quiet:
        for line in (p.stdout + p.stderr).rstrip().splitlines():
            print("   " + line, flush=True)
    if check and p.returncode != 0:
        raise SystemExit(f"demo: dockyard {' '.join(args)} failed (exit {p.returncode})")
    return p


def dy_stream(*args: str, log: Path) -> tuple[int, float]:
    """Run dockyard showing its progress (steps, downloads, training), and a line every 15 s
    when it has nothing to say, so that no minute is silent; return rc, seconds."""
    start = time.time()
    last = [time.time()]
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(1):
            if time.time() - last[0] >= 15:
                print(f"   ... still working ({time.time() - start:.0f}s)", flush=True)
                last[0] = time.time()

    shown = ("Downloading ", "Successfully installed", '{"version"')
    threading.Thread(target=heartbeat, daemon=True).start()
    with open(log, "w") as f:
        p = subprocess.Popen(
            [*DY, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert p.stdout is not None
        for line in p.stdout:
            f.write(line)
            text = line.strip()
            if (text.startswith("#") and not text.startswith("#- ")) or text.startswith(shown):
                print("   " + text[:150], flush=True)
                last[0] = time.time()
        rc = p.wait()
    done.set()
    return rc, time.time() - start


# ------------------------------------------------------------------ build


def build() -> None:
    OUT.mkdir(exist_ok=True)
    LOGS.mkdir(exist_ok=True)
    for stale in ("facts.json", "timeline.jsonl", "requests.csv"):
        (OUT / stale).unlink(missing_ok=True)
    timeline("phase", name="build")

    step("1/9 lint the story's Dockerfile (demo/Dockerfile.original)")
    p = dy("lint", "--format", "json", str(DEMO / "Dockerfile.original"), check=False, quiet=True)
    findings = json.loads(p.stdout or "[]")
    findings = findings if isinstance(findings, list) else findings.get("findings", [])
    dy("lint", str(DEMO / "Dockerfile.original"), check=False)
    broken_copy = any(f.get("code") == "DY1001" or f.get("rule") == "DY1001" for f in findings)
    say(f"{len(findings)} findings; the broken COPY --from=builder found: {broken_copy}")
    facts_update(lint_findings_original=len(findings), lint_finds_broken_copy=broken_copy,
                 lint_findings=[f.get("code") or f.get("rule") for f in findings])  # fmt: skip

    step("2/9 build the corrected Dockerfile (demo/service/Dockerfile)")
    if dy("image", "inspect", "python:3.11-slim", quiet=True, check=False).returncode != 0:
        archive = REPO / ".cache" / "images" / "python_3.11-slim.tar"  # made by make setup
        dy("load", "-i", str(archive))
    pipconf = OUT / "pip.conf"
    subprocess.run([sys.executable, str(DEMO / "pipconf.py"), str(pipconf)], check=True)
    ca = os.environ.get("DEMO_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    secrets_args = ["--secret", f"id=pipconf,src={pipconf}"]
    if Path(ca).is_file():
        secrets_args += ["--secret", f"id=ca,src={ca}"]
        say(f"the host's CA bundle ({ca}) goes to RUN steps as the build secret 'ca' (no layer)")
    times = {}
    for tag, extra in (("1", []), ("1", []), ("2", ["--build-arg", "MODEL_VERSION=2"]),
                       ("3", ["--build-arg", "MODEL_VERSION=3",
                              "--build-arg", "BREAK_MODEL=1"])):  # fmt: skip
        again = tag in times
        say(
            f"build {IMAGE}:{tag}" + (" again (every step from the content cache)" if again else "")
        )
        rc, secs = dy_stream("build", "-t", f"{IMAGE}:{tag}", *secrets_args, *extra,
                             str(DEMO / "service"), log=LOGS / f"build-{tag}.log")  # fmt: skip
        if rc != 0:
            print((LOGS / f"build-{tag}.log").read_text()[-3000:])
            raise SystemExit(f"demo: build of {IMAGE}:{tag} failed (log: {LOGS}/build-{tag}.log)")
        say(f"built {IMAGE}:{tag} in {secs:.1f}s")
        times[tag + ("-cached" if again else "")] = round(secs, 2)
    facts_update(build_seconds=times)
    info = json.loads(dy("image", "inspect", f"{IMAGE}:1", quiet=True).stdout)
    info = info[0] if isinstance(info, list) else info
    size = int(info.get("Size") or 0)
    facts_update(image_size_bytes=size)
    say(
        f"{IMAGE}:1 is {size / 1e6:.1f} MB; first build {times['1']}s, cached rebuild "
        f"{times['1-cached']}s"
    )

    step("3/9 SBOM and vulnerability scan")
    sbom = OUT / "sbom.cdx.json"
    dy("sbom", f"{IMAGE}:1", "-o", str(sbom), check=False)
    with contextlib.suppress(OSError, ValueError):
        comps = json.loads(sbom.read_text()).get("components", [])
        say(f"SBOM: {len(comps)} components ({sbom.relative_to(REPO)})")
        facts_update(sbom_components=len(comps))
    osv = Path(os.environ.get("DEMO_OSV", REPO / ".cache" / "osv"))
    feeds = osv.exists() and any(osv.iterdir())
    if feeds:
        dy("scan", "db", "import", str(osv), check=False)
        facts_update(scan_database=f"OSV feeds ({osv})")
    else:  # offline: PyPI's safety-db (real advisories, Python packages only), converted
        say(f"no OSV feeds at {osv} (set DEMO_OSV=DIR for PyPI and Debian all.zip): "
            "scanning with PyPI's safety-db, Python packages only")  # fmt: skip
        feeds = dy("scan", "db", "import", "--safety-db", check=False).returncode == 0
        facts_update(scan_database="safety-db (PyPI only)")
    if feeds:
        p = dy("scan", "--format", "json", f"{IMAGE}:1", check=False, quiet=True)
        try:
            rep = json.loads(p.stdout)
            found = list(
                (rep.get("findings") or rep.get("vulnerabilities") or [])
                if isinstance(rep, dict)
                else rep
            )
            facts_update(scan_findings=len(found))
            say(f"scan: {len(found)} findings")
        except ValueError:
            facts_update(scan_findings=None)
        dy("scan", f"{IMAGE}:1", check=False)
    else:
        say("no vulnerability database: scan skipped, scan_findings is null — a scan of an "
            "empty database would be a lie (dockyard refuses it)")  # fmt: skip
        facts_update(scan_findings=None)


# ------------------------------------------------------------------ the daemon's API


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("localhost", timeout=20)
        self.path = str(path)

    def connect(self) -> None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(self.path)
        self.sock = s


def api(path: str) -> tuple[int, str]:
    c = UnixHTTP(RUN_ROOT / "dockyard.sock")
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def api_json(path: str) -> Any:
    """The object at path, or None (also when the daemon is too busy to answer in time)."""
    try:
        status, body = api(path)
    except OSError:
        return None
    return json.loads(body) if status == 200 else None


def prom(text: str) -> list[tuple[str, dict[str, str], float]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            out.append((m.group(1), labels, float(m.group(3))))
    return out


class Sampler(threading.Thread):
    """Once a second: pod CPU and readiness, Deployment replicas, the HPA's status."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.last_desired: int | None = None

    def run(self) -> None:
        while not self.stop.wait(1.0):
            with contextlib.suppress(Exception):
                self.sample()

    def sample(self) -> None:
        status, text = api("/metrics")
        if status != 200:
            return
        cpu: dict[str, float] = {}
        ready = desired = 0
        for name, labels, value in prom(text):
            pod = labels.get("pod", "")
            if name == "dockyard_pod_cpu_millicores" and pod.startswith("recommender-"):
                cpu[pod] = value
            if name == "dockyard_deployment_replicas" and labels.get("deployment") == "recommender":
                if labels.get("state") == "ready":
                    ready = int(value)
                if labels.get("state") == "desired":
                    desired = int(value)
        hpa = api_json(
            "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/recommender"
        )
        hst = (hpa or {}).get("status") or {}
        hdes = hst.get("desiredReplicas")
        util = None
        for m in hst.get("currentMetrics") or []:
            util = ((m.get("resource") or {}).get("current") or {}).get("averageUtilization")
        timeline("sample", ready=ready, desired=desired, cpu=cpu, hpa_desired=hdes,
                 hpa_current=hst.get("currentReplicas"), utilization=util)  # fmt: skip
        if hdes is not None and hdes != self.last_desired:
            if self.last_desired is not None:
                timeline("hpa", frm=self.last_desired, to=hdes, utilization=util)
                say(f"HPA: {self.last_desired} → {hdes} replicas (CPU {util}% of request)")
            self.last_desired = hdes


# ------------------------------------------------------------------ manifests


def sizing() -> dict[str, Any]:
    """The story's manifest scaled to this machine's allocatable CPU and memory."""
    cpus = len(os.sched_getaffinity(0))
    with open("/proc/meminfo") as f:
        mem_mi = next(int(x.split()[1]) for x in f if x.startswith("MemTotal")) // 1024
    alloc_m = cpus * 1000
    left = alloc_m - LOADGEN_CPU_M
    mx = max(2, min(STORY["max"], left // 200))
    req = (left // mx) // 10 * 10
    scale = req / STORY["cpu_req_m"]
    mem_req = int(STORY["mem_req_mi"] * scale)
    s: dict[str, Any] = {"cpus": cpus, "memory_mi": mem_mi, "cpu_req_m": req, "cpu_lim_m": 2 * req,
         "mem_req_mi": mem_req, "mem_lim_mi": 2 * mem_req, "max": mx,
         "min": max(2, round(STORY["min"] * mx / STORY["max"])), "scale": round(scale, 3),
         "target": TARGET}  # fmt: skip
    rule = (
        f"this machine: {cpus} CPUs = {alloc_m}m allocatable, {mem_mi} Mi. The load generator "
        f"asks {LOADGEN_CPU_M}m; maxReplicas = min(story 50, ({alloc_m}m - {LOADGEN_CPU_M}m) "
        f"÷ 200m) = {mx}; CPU request = {left}m ÷ {mx} = {req}m (story 1000m: x {scale:.3f}); "
        f"memory request = 2Gi x {scale:.3f} = {mem_req}Mi; limits keep the story's 2x "
        f"({2 * req}m, {2 * mem_req}Mi); minReplicas keeps the story's 5:50 ratio, at least 2 "
        f"= {s['min']}. {mx} pods ask {mx * req}m CPU and {mx * mem_req}Mi memory."
    )
    s["rule"] = rule
    return s


def deployment(image: str, s: dict[str, Any], replicas: int, story: bool = False) -> str:
    pull = (
        ""
        if story
        else """
      imagePullSecrets: [{name: regcred}]"""
    )
    # the story's own manifest goes to real clusters as it is: no demo knob in it
    work = os.environ.get("DEMO_CPU_WORK", "500")
    env = "" if story else f'        env: [{{name: CPU_WORK, value: "{work}"}}]\n'
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {"story-recommender" if story else "recommender"}
  labels: {{app: {"story-recommender" if story else "recommender"}}}
spec:
  replicas: {replicas}
  progressDeadlineSeconds: 30
  selector:
    matchLabels: {{app: {"story-recommender" if story else "recommender"}}}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: {"story-recommender" if story else "recommender"}}}
    spec:
      terminationGracePeriodSeconds: 5{pull}
      containers:
      - name: server
        image: {image}
        imagePullPolicy: {"IfNotPresent" if story else "Always"}
{env}        ports: [{{containerPort: 8080, name: http}}]
        resources:
          requests: {{cpu: "{s["cpu_req_m"]}m", memory: "{s["mem_req_mi"]}Mi"}}
          limits: {{cpu: "{s["cpu_lim_m"]}m", memory: "{s["mem_lim_mi"]}Mi"}}
        readinessProbe:
          httpGet: {{path: /healthz, port: http}}
          periodSeconds: 1
          failureThreshold: 2
        livenessProbe:
          tcpSocket: {{port: http}}
          periodSeconds: 5
          failureThreshold: 6
"""


def hpa(s: dict[str, Any], story: bool = False) -> str:
    behavior = (
        ""
        if story
        else """
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 10
      policies: [{type: Percent, value: 100, periodSeconds: 5}]
    scaleUp:
      stabilizationWindowSeconds: 0
      policies:
      - {type: Percent, value: 100, periodSeconds: 5}
      - {type: Pods, value: 4, periodSeconds: 5}
      selectPolicy: Max"""
    )
    name = "story-recommender" if story else "recommender"
    return f"""\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {name}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: {s["min"]}
  maxReplicas: {s["max"]}
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {{type: Utilization, averageUtilization: {TARGET}}}{behavior}
"""


SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: recommender
spec:
  selector: {app: recommender}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: recommender-only-from-loadgen
spec:
  podSelector: {matchLabels: {app: recommender}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: loadgen}}}]
    ports: [{protocol: TCP, port: 8080}]
"""


def pull_secret(user: str, password: str) -> str:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    cfg = json.dumps({"auths": {REGISTRY: {"auth": auth}}})
    return f"""\
apiVersion: v1
kind: Secret
metadata:
  name: regcred
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: {base64.b64encode(cfg.encode()).decode()}
"""


def loadgen(target: str) -> str:
    script = (DEMO / "loadgen.py").read_text()
    indented = "\n".join("    " + line for line in script.splitlines())
    return f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: loadgen
data:
  loadgen.py: |
{indented}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: loadgen
spec:
  replicas: 1
  selector:
    matchLabels: {{app: loadgen}}
  template:
    metadata:
      labels: {{app: loadgen}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: loadgen
        image: python:3.11-slim
        imagePullPolicy: IfNotPresent
        command: ["python", "-u", "/opt/loadgen/loadgen.py"]
        env:
        - {{name: TARGET_HOST, value: "{target}"}}
        - {{name: TARGET_PORT, value: "80"}}
        resources:
          requests: {{cpu: "{LOADGEN_CPU_M}m", memory: "{LOADGEN_MEM_MI}Mi"}}
        volumeMounts:
        - {{name: script, mountPath: /opt/loadgen}}
        - {{name: data, mountPath: /data}}
      volumes:
      - name: script
        configMap: {{name: loadgen}}
      - name: data
        hostPath: {{path: "{OUT / "loadgen"}", type: DirectoryOrCreate}}
"""


# ------------------------------------------------------------------ cluster


class Cluster:
    """The daemon and the registry of this run (in the namespace story.py was started in)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sampler = Sampler()

    def start(self) -> None:
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        RUN_ROOT.mkdir(parents=True, exist_ok=True)
        log = open(LOGS / "daemon.log", "ab")  # noqa: SIM115
        d = subprocess.Popen(
            [sys.executable, "-m", "dockyard.api.server", "--root", str(ROOT), "--run-root",
             str(RUN_ROOT), "--hpa-sync-period", "2"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # fmt: skip
        self.procs.append(d)
        wait_for(lambda: (RUN_ROOT / "dockyard.sock").exists() and api("/metrics")[0] == 200,
                 60, "the daemon")  # fmt: skip
        say(f"dockyardd is up (pid {d.pid}, HPA sync period 2 s)")

    def registry(self) -> tuple[str, str]:
        user, password = "demo", secrets.token_urlsafe(18)
        import bcrypt  # a dependency of dockyard (the registry checks bcrypt htpasswd entries)

        digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
        htpasswd = OUT / "htpasswd"
        htpasswd.write_text(f"{user}:{digest}\n")
        htpasswd.chmod(0o600)
        reg_root = OUT / "registry"
        shutil.rmtree(reg_root, ignore_errors=True)
        log = open(LOGS / "registry.log", "ab")  # noqa: SIM115
        r = subprocess.Popen([*DY, "registry", "serve", "--addr", REGISTRY, "--root", str(reg_root),
                              "--auth", f"htpasswd:{htpasswd}", "--access-log", ""],
                             stdout=log, stderr=log, stdin=subprocess.DEVNULL)  # fmt: skip
        self.procs.append(r)
        wait_for(lambda: port_open(REGISTRY) or r.poll() is not None, 30, "the registry")
        if r.poll() is not None:
            raise SystemExit("demo: the registry exited: " + (LOGS / "registry.log").read_text()
                             .strip().splitlines()[-1])  # fmt: skip
        say(f"registry on {REGISTRY} (htpasswd auth, user {user}, a fresh random password)")
        return user, password

    def stop(self) -> None:
        self.sampler.stop.set()
        with contextlib.suppress(Exception):
            for kind in ("deploy", "hpa", "svc", "networkpolicy", "configmap", "secret"):
                for name in dy(
                    "get", kind, "-o", "name", quiet=True, check=False, timeout=30
                ).stdout.split():
                    dy("delete", name, quiet=True, check=False, timeout=60)
            # deletion is asynchronous: a pod still terminating when the daemon stops keeps its
            # holder (live restore), so wait for the pods to go before removing containers
            with contextlib.suppress(SystemExit):
                wait_for(lambda: pods("") == [], 60, "the demo's pods to go")
            ids = dy("ps", "-aq", "--no-trunc", quiet=True, check=False, timeout=30).stdout.split()
            if ids:
                dy("rm", "-f", *ids, quiet=True, check=False, timeout=120)
        for p in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with contextlib.suppress(Exception):
            from dockyard.errors import DockyardError
            from dockyard.runtime import Runtime

            rt = Runtime(RUN_ROOT / "runtime")
            for st in rt.list():
                with contextlib.suppress(DockyardError):
                    rt.delete(st.id, force=True)
        release_holders(RUN_ROOT)


def release_holders(run_root: Path) -> None:
    """Kill the holders this demo's daemon recorded and left (a container that ended while the
    daemon stopped): each is checked against its recorded start time, never found by name."""
    from dockyard.engine import holder

    for rec in holder.read_records(str(run_root)):
        pid = int(rec["holder"])
        if holder.start_time(pid) == int(rec.get("holder_start") or -1):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        holder.remove_record(str(run_root), str(rec["key"]))


def leftovers(manifests: Path) -> None:
    """Objects an interrupted run left in the state root (the daemon restores them)."""
    for path in sorted(manifests.glob("*.yaml")) if manifests.is_dir() else []:
        dy("delete", "-f", str(path), "--ignore-not-found", quiet=True, check=False)
    with contextlib.suppress(SystemExit):
        wait_for(lambda: pods("") == [], 60, "pods of an earlier run to go")


def port_open(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


def wait_for(fn: Any, timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise SystemExit(f"demo: timed out after {timeout:.0f}s waiting for {what}")


def apply(text: str, name: str) -> None:
    path = OUT / "manifests" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    dy("apply", "-f", str(path))


def deploy_status(name: str = "recommender") -> dict[str, Any]:
    d = api_json(f"/apis/apps/v1/namespaces/default/deployments/{name}") or {}
    return d.get("status") or {}


def pods(selector: str) -> list[dict[str, Any]] | None:
    """The pods that match, or None when the daemon did not answer in time."""
    doc = api_json(f"/api/v1/namespaces/default/pods?labelSelector={selector}")
    return None if doc is None else list(doc.get("items") or [])


def ready_count(selector: str = "app=recommender") -> int | None:
    found = pods(selector)
    if found is None:
        return None
    n = 0
    for p in found:
        st = p.get("status") or {}
        if p["metadata"].get("deletionTimestamp") or st.get("phase") != "Running":
            continue
        if all(c.get("ready") for c in st.get("containerStatuses") or [{}]):
            n += 1
    return n


def set_rate(rate: float | str) -> None:
    ctl = OUT / "loadgen" / "rate"
    ctl.write_text(f"{rate}\n")
    timeline("rate", rate=rate)


def requests_since(t: float, until: float | None = None) -> tuple[int, int, dict[str, int]]:
    total = failed = 0
    versions: dict[str, int] = {}
    path = OUT / "loadgen" / "requests.csv"
    if not path.exists():
        return 0, 0, {}
    for line in path.read_text().splitlines():
        due, _lat, status, version = line.split(",")
        if float(due) < t or (until is not None and float(due) > until):
            continue
        total += 1
        if status != "200":
            failed += 1
        versions[version or "-"] = versions.get(version or "-", 0) + 1
    return total, failed, versions


def story_manifest(cl: Cluster) -> None:
    step("5/9 the story's exact manifest (1 CPU / 2Gi requests, 2 CPU / 4Gi limits, 5 → 50)")
    s = dict(STORY)
    apply(deployment(f"{IMAGE}:1", {"cpu_req_m": 1000, "mem_req_mi": 2048, "cpu_lim_m": 2000,
                                    "mem_lim_mi": 4096}, 5, story=True)
          + "---\n" + hpa(s, story=True), "story")  # fmt: skip
    wait_for(lambda: len(pods("app=story-recommender") or []) >= 5, 30, "the story's 5 pods")
    time.sleep(2)
    pending = [p for p in pods("app=story-recommender") or []
               if (p.get("status") or {}).get("phase") == "Pending"]  # fmt: skip
    dy("get", "pods", "-l", "app=story-recommender")
    if pending:
        name = pending[0]["metadata"]["name"]
        out = dy("describe", "pod", name, quiet=True, check=False).stdout
        shown = [ln for ln in out.splitlines()
                 if re.search(r"Insufficient|Unschedulable|^Status|^Events", ln)]  # fmt: skip
        print("   dockyard describe pod " + name + " (excerpt):")
        for ln in shown[:8]:
            print("     " + ln)
        ev = dy("get", "events", quiet=True, check=False).stdout
        for ln in [x for x in ev.splitlines() if "FailedScheduling" in x][:3]:
            print("     event: " + ln.strip())
    fits = 5 - len(pending)
    why = (
        ((pending[0].get("status") or {}).get("conditions") or [{}])[0].get("message")
        if pending
        else ""
    )
    say(
        f"{fits} of 5 pods fit on this machine; {len(pending)} stay Pending, unschedulable, "
        f"as Kubernetes reports it: {why or '?'}"
    )
    facts_update(story_pods_pending=len(pending), story_pods_fit=fits)
    export = OUT / "kubernetes" / "story.yaml"
    export.parent.mkdir(exist_ok=True)
    p = dy("export", "kubernetes", quiet=True, check=False)
    export.write_text(p.stdout)
    say(
        f"dockyard export kubernetes → {export.relative_to(REPO)} (the story's exact numbers, for "
        "a real cluster: dockyard apply --kubeconfig FILE -f that file)"
    )
    dy("delete", "-f", str(OUT / "manifests" / "story.yaml"), quiet=True)
    wait_for(lambda: pods("app=story-recommender") == [], 60, "the story's pods to go")


def push(tag: str) -> None:
    ref = f"{REGISTRY}/{IMAGE}:{tag}"
    dy("tag", f"{IMAGE}:{tag}", ref, quiet=True)
    t = time.time()
    dy("push", ref, quiet=True)
    say(f"pushed {ref} in {time.time() - t:.1f}s")
    timeline("push", tag=tag)
    # pods must pull it from the registry, not find it in the local store
    dy("rmi", ref, quiet=True, check=False)


def cluster() -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(OUT / "loadgen", ignore_errors=True)
    (OUT / "loadgen").mkdir()
    set_rate(0)
    cl = Cluster()
    try:
        run_cluster(cl)
    finally:
        step("cleaning up (deployments, pods, daemon, registry)")
        cl.stop()
        src = OUT / "loadgen" / "requests.csv"
        if src.exists():
            shutil.copy(src, OUT / "requests.csv")


def run_cluster(cl: Cluster) -> None:
    s = sizing()
    high = float(os.environ.get("DEMO_RATE_HIGH", "180"))
    low = float(os.environ.get("DEMO_RATE_LOW", "15"))
    step("4/9 registry with authentication, login, push")
    timeline("phase", name="cluster")
    cl.start()
    leftovers(OUT / "manifests")
    user, password = cl.registry()
    dy("login", "-u", user, "--password-stdin", REGISTRY, input=password + "\n")
    for tag in ("1", "2", "3"):
        push(tag)

    story_manifest(cl)

    step("6/9 the same manifests sized to this machine, deployed from the registry")
    say("sizing rule: " + s["rule"])
    facts_update(sizing=s)
    apply(pull_secret(user, password), "regcred")
    apply(SERVICE, "service-netpol")
    t = time.time()
    apply(deployment(f"{REGISTRY}/{IMAGE}:1", s, s["min"]), "deployment-v1")
    wait_for(lambda: (ready_count() or 0) >= s["min"], 120, f"{s['min']} ready replicas")
    say(
        f"{s['min']} replicas pulled from {REGISTRY} with the imagePullSecret and ready in "
        f"{time.time() - t:.1f}s"
    )
    timeline("event", what="v1 deployed")
    cl.sampler.start()
    svc = api_json("/api/v1/namespaces/default/services/recommender") or {}
    vip = str((svc.get("spec") or {}).get("clusterIP"))
    say(f"Service recommender: ClusterIP {vip}:80 (kernel load balancing over the ready pods)")
    apply(hpa(s), "hpa")
    say(
        f"HPA recommender: {s['min']} → {s['max']} on CPU (target {TARGET}% of the request); "
        "the demo "
        "shortens the scale-down stabilization window from the default 300 s to 10 s through "
        "the HPA's behavior field, so that scaling back is seen within the demo"
    )
    apply(loadgen(vip), "loadgen")
    wait_for(lambda: (ready_count("app=loadgen") or 0) >= 1, 60, "the load generator")
    check_policy(vip)

    step(f"7/9 load: {high:.0f} requests/s, open loop → the HPA scales out, then back")
    set_rate(high)
    t_load = time.time()
    timeline("event", what=f"load {high:.0f} req/s")
    base = ready_count() or s["min"]
    first = wait_for(lambda: (ready_count() or 0) > base and time.time(), 90, "a new replica")
    say(f"first new replica ready {first - t_load:.1f}s after the load started")
    facts_update(seconds_load_to_first_new_replica_ready=round(first - t_load, 2))
    timeline("event", what="first new replica ready")
    best = base
    deadline = time.time() + float(os.environ.get("DEMO_SCALE_SECONDS", "45"))
    while time.time() < deadline:
        best = max(best, ready_count() or 0)
        if best >= s["max"]:
            break
        time.sleep(1)
    hold = time.time() + 10  # the load stays on a little, at the most replicas
    while time.time() < hold:
        best = max(best, ready_count() or 0)
        time.sleep(1)
    say(f"at most {best} replicas ready (machine's maximum: {s['max']})")
    decided = [e["t"] for e in read_timeline() if e["kind"] == "hpa" and e["t"] >= t_load]
    facts_update(max_ready_replicas=best, seconds_load_to_first_hpa_decision=round(
        decided[0] - t_load, 2) if decided else None)  # fmt: skip
    set_rate(low)
    t_drop = time.time()
    timeline("event", what=f"load down to {low:.0f} req/s")
    say(f"load down to {low:.0f} req/s; waiting for the HPA to scale back to {s['min']}")
    try:
        wait_for(lambda: ready_count() in range(1, s["min"] + 1)
                 and deploy_status().get("replicas") in range(1, s["min"] + 1), 90,
                 "scale-down")  # fmt: skip
        down = True
        say(f"back to {s['min']} replicas {time.time() - t_drop:.1f}s after the load dropped")
    except SystemExit as e:
        down = False
        say(str(e))
    facts_update(scaled_down_to_min=down)
    timeline("event", what="back to minimum" if down else "no scale-down")

    step("8/9 rollout v2 under constant load, a broken v3, rollout undo")
    t = time.time()
    timeline("rollout", what="v2 start")
    apply(deployment(f"{REGISTRY}/{IMAGE}:2", s, s["min"]).replace(
        f"replicas: {s['min']}", f"replicas: {deploy_status().get('replicas') or s['min']}"),
          "deployment-v2")  # fmt: skip
    done = dy("rollout", "status", "deployment/recommender", "--timeout", "90", check=False)
    time.sleep(2)
    tot, bad, vers = requests_since(t)
    say(f"rollout v2: {tot} requests during it, {bad} failed; answered by {vers}")
    timeline("rollout", what="v2 complete")
    facts_update(failed_requests_rollout=bad, requests_rollout=tot,
                 rollout_v2_complete=done.returncode == 0)  # fmt: skip

    t3 = time.time()
    timeline("rollout", what="v3 (broken) start")
    apply(deployment(f"{REGISTRY}/{IMAGE}:3", s, s["min"]), "deployment-v3")
    p = dy("rollout", "status", "deployment/recommender", "--timeout", "12", check=False)
    stalled = p.returncode != 0
    tot3, bad3, vers3 = requests_since(t3)
    say(
        f"v3 stalls (readiness fails, no traffic): rollout status exit {p.returncode}; "
        f"{tot3} requests meanwhile, {bad3} failed, answered by {vers3}"
    )
    facts_update(v3_stalled=stalled, failed_requests_v3=bad3, v3_answered=vers3.get("3", 0))
    tu = time.time()
    timeline("rollout", what="undo")
    dy("rollout", "undo", "deployment/recommender")
    undone = dy("rollout", "status", "deployment/recommender", "--timeout", "60", check=False)
    time.sleep(2)
    totu, badu, versu = requests_since(tu)
    say(f"undo back to v2: {totu} requests during it, {badu} failed; answered by {versu}")
    timeline("rollout", what="undo complete")
    facts_update(failed_requests_undo=badu, requests_undo=totu,
                 undo_complete=undone.returncode == 0)  # fmt: skip
    set_rate("stop")
    time.sleep(1.5)
    total, failed, _ = requests_since(0)
    facts_update(requests_total=total, failed_requests_total=failed)
    say(f"{total} requests in all, {failed} failed")


def check_policy(vip: str) -> None:
    """The NetworkPolicy: a pod without app=loadgen cannot reach the service's pods."""
    ip = next(((p.get("status") or {}).get("podIP") for p in pods("app=recommender") or []),
              None)  # fmt: skip
    if not ip:
        return
    script = (f"import socket;s=socket.socket();s.settimeout(2);"
              f"print('REACHED' if s.connect_ex(('{ip}',8080))==0 else 'BLOCKED')")  # fmt: skip
    p = dy("run", "--rm", "--label", "app=intruder", "python:3.11-slim", "python", "-c", script,
           quiet=True, check=False, timeout=60)  # fmt: skip
    verdict = "BLOCKED" if "BLOCKED" in p.stdout else ("REACHED" if "REACHED" in p.stdout else "?")
    say(f"NetworkPolicy: a container without app=loadgen connecting to {ip}:8080 → {verdict}")
    facts_update(netpol_intruder=verdict)


def main() -> None:
    os.environ["DOCKYARD_ROOT"] = str(ROOT)
    os.environ["DOCKYARD_RUN_ROOT"] = str(RUN_ROOT)
    os.environ["DOCKER_CONFIG"] = str(OUT / "docker")  # login writes here, not to ~/.docker
    OUT.mkdir(exist_ok=True)
    ROOT.mkdir(parents=True, exist_ok=True)
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "build":
        build()
    elif what == "cluster":
        cluster()
    else:
        raise SystemExit("usage: story.py build|cluster")


if __name__ == "__main__":
    main()
