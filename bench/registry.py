"""Registry transfer: push and pull of a 100 MiB incompressible image.

Contenders, alternated round-robin inside one loop (the starting contender
rotates every iteration) so that load on the shared machine hits all alike:

* ``skopeo copy`` push of an OCI layout to ``dockyard registry serve`` and to
  Debian's ``docker-registry`` (distribution 2.8), each on 127.0.0.1 with its
  own temporary storage;
* ``skopeo copy`` pull (registry → ``dir:``) from each of them;
* ``dockyard pull`` (into a fresh ``--root``) from ``docker-registry`` and,
  for information, from ``dockyard registry serve``.

Every iteration makes a new image (fresh ``os.urandom`` layer), so every push
really uploads and nothing can be mounted or found by a blob-info cache; every
pull goes into a new, empty directory.  The layer is a tar with one 100 MiB
file, gzip-wrapped with stored (level 0) blocks: incompressible data, a valid
``tar+gzip`` layer that skopeo does not recompress, without the seconds that
deflating 100 MiB would cost per iteration.

Targets: dockyard ≤ 1.0x distribution for push and for pull, and
``dockyard pull`` ≤ 1.0x ``skopeo copy`` from the same registry.
``BENCH_REGISTRY_RUNS`` (default 10) sets the number of timed iterations
(plus one warm-up); ``BENCH_REGISTRY_MIB`` the layer size (default 100).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.common import VENV_BIN, Result, report, tool

RUNS = int(os.environ.get("BENCH_REGISTRY_RUNS", "10"))
WARMUP = 1
LAYER_MIB = int(os.environ.get("BENCH_REGISTRY_MIB", "100"))
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}

DISTRIBUTION_CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""

PUSH_DY = "push skopeo -> dockyard"
PUSH_DIST = "push skopeo -> distribution"
PULL_DY = "pull skopeo <- dockyard"
PULL_DIST = "pull skopeo <- distribution"
DYPULL_DIST = "dockyard pull <- distribution"
DYPULL_DY = "dockyard pull <- dockyard"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = _sha256(data)
    (layout / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def make_layout(layout: Path, mib: int = LAYER_MIB) -> None:
    """An OCI layout (tag ``latest``) with one layer holding ``mib`` MiB of random bytes."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    buf = io.BytesIO()
    payload = os.urandom(mib << 20)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("random.bin")
        info.size = len(payload)
        info.mode = 0o644
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(payload))
    del payload
    tar_bytes = buf.getvalue()
    diff_id = _sha256(tar_bytes)
    layer = _blob(layout, gzip.compress(tar_bytes, compresslevel=0, mtime=0))
    del tar_bytes
    arch = _ARCH.get(platform.machine(), platform.machine())
    config = json.dumps({
        "architecture": arch, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   **_blob(layout, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }).encode()  # fmt: skip
    desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(layout, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }
    index = {"schemaVersion": 2, "manifests": [desc]}
    (layout / "index.json").write_text(json.dumps(index))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited: {log.read_text()[-400:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url}: server did not come up: {log.read_text()[-400:]}")


def start_dockyard(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = work / "dockyard-registry.log"
    port = _free_port()
    argv = [str(VENV_BIN / "dockyard"), "registry", "serve", "--addr", f"127.0.0.1:{port}",
            "--root", str(work / "dockyard-registry"), "--access-log", ""]  # fmt: skip
    with log.open("wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
    _wait_http(f"http://127.0.0.1:{port}/v2/", proc, log)
    return proc, port


def start_distribution(work: Path) -> tuple[subprocess.Popen[bytes], int]:
    log = work / "distribution.log"
    port = _free_port()
    root = work / "distribution-storage"
    root.mkdir()
    conf = work / "distribution.yml"
    conf.write_text(DISTRIBUTION_CONFIG.format(root=root, port=port))
    with log.open("wb") as f:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(conf)], stdout=f, stderr=subprocess.STDOUT
        )
    _wait_http(f"http://127.0.0.1:{port}/v2/", proc, log)
    return proc, port


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"exit {proc.returncode}: {msg[-1] if msg else ''}")
    return dt


def main() -> str:
    missing = [t for t in ("skopeo", "docker-registry") if tool(t) is None]
    if missing:
        return f"== registry push/pull\nskipped: {', '.join(missing)} not installed"
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-registry-"))
    # skopeo's blob-info cache and policy stay inside the bench's directory.
    env = {**os.environ, "HOME": str(work / "home"), "XDG_DATA_HOME": str(work / "xdg")}
    (work / "home").mkdir()
    policy = work / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    skopeo = ["skopeo", "--policy", str(policy), "copy", "--quiet"]
    dockyard = str(VENV_BIN / "dockyard")
    dy_proc = dist_proc = None
    results = {n: Result(n, []) for n in
               (PUSH_DY, PUSH_DIST, PULL_DY, PULL_DIST, DYPULL_DIST, DYPULL_DY)}  # fmt: skip
    try:
        dy_proc, dy_port = start_dockyard(work)
        dist_proc, dist_port = start_distribution(work)
        hosts = {"dy": f"127.0.0.1:{dy_port}", "dist": f"127.0.0.1:{dist_port}"}
        for i in range(-WARMUP, RUNS):
            it = work / f"it{i + WARMUP}"
            layout = it / "layout"
            make_layout(layout)
            ref = {k: f"{h}/bench/big{i + WARMUP}:latest" for k, h in hosts.items()}

            def push(key: str, ref: dict[str, str] = ref, layout: Path = layout) -> float:
                return _timed([*skopeo, "--dest-tls-verify=false", f"oci:{layout}:latest",
                               f"docker://{ref[key]}"], env)  # fmt: skip

            def skopeo_pull(key: str, ref: dict[str, str] = ref, it: Path = it) -> float:
                dest = it / f"skopeo-{key}"
                return _timed([*skopeo, "--src-tls-verify=false", f"docker://{ref[key]}",
                               f"dir:{dest}"], env)  # fmt: skip

            def dockyard_pull(key: str, ref: dict[str, str] = ref, it: Path = it) -> float:
                root = it / f"dockyard-{key}"
                return _timed([dockyard, "--root", str(root / "state"), "--run-root",
                               str(root / "run"), "pull", "-q", ref[key]], env)  # fmt: skip

            pushes: list[tuple[str, Callable[[], float]]] = [
                (PUSH_DY, lambda: push("dy")),
                (PUSH_DIST, lambda: push("dist")),
            ]
            pulls: list[tuple[str, Callable[[], float]]] = [
                (PULL_DY, lambda: skopeo_pull("dy")),
                (PULL_DIST, lambda: skopeo_pull("dist")),
                (DYPULL_DIST, lambda: dockyard_pull("dist")),
                (DYPULL_DY, lambda: dockyard_pull("dy")),
            ]
            # Pushes first (the pulls need the image), each group rotated per iteration.
            for group in (pushes, pulls):
                k = (i + WARMUP) % len(group)
                for name, fn in group[k:] + group[:k]:
                    res = results[name]
                    if res.error:
                        continue
                    try:
                        dt = fn()
                    except RuntimeError as e:
                        res.error = str(e)[:200]
                        continue
                    if i >= 0:
                        res.samples.append(dt)
            shutil.rmtree(it, ignore_errors=True)
    except RuntimeError as e:
        return f"== registry push/pull\nfailed: {e}"
    finally:
        _stop(dy_proc)
        _stop(dist_proc)
        shutil.rmtree(work, ignore_errors=True)
    r = results
    mib = f"{LAYER_MIB} MiB incompressible layer"
    return "\n\n".join([
        report(f"registry push ({mib}): skopeo -> dockyard vs distribution 2.8",
               [r[PUSH_DY], r[PUSH_DIST]], PUSH_DY, {PUSH_DIST: 1.0}),
        report(f"registry pull ({mib}): skopeo <- dockyard vs distribution 2.8",
               [r[PULL_DY], r[PULL_DIST]], PULL_DY, {PULL_DIST: 1.0}),
        report(f"dockyard pull vs skopeo copy from distribution 2.8 ({mib})",
               [r[DYPULL_DIST], r[PULL_DIST], r[DYPULL_DY]], DYPULL_DIST, {PULL_DIST: 1.0}),
    ])  # fmt: skip


if __name__ == "__main__":
    print(main())
