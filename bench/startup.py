"""Container start-up: ``dockyard run --rm busybox true`` (through dockyardd, which runs
in a private network + mount namespace) and ``dockyard-runtime run`` against ``runc run``,
``crun run``, ``podman run --rm --network none`` and ``docker run --rm --network none``
(a private dockerd, :mod:`bench.refdocker`) on the same busybox image, in one run. The
tools alternate within one loop (each round runs every tool once, in rotating order;
``BENCH_RUNS`` rounds, at least 50), so load on the shared machine falls on all of them
alike. Medians, p10/p90, ratios against targets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench.common import (
    IMAGE_CACHE,
    VENV_BIN,
    NsHolder,
    Result,
    Tool,
    remove_all,
    report,
    start_dockyardd,
    stop_dockyardd,
    time_command,
    time_round_robin,
    tool,
)
from bench.common import run_ok as _run

RUNS = int(os.environ.get("BENCH_RUNS", "50"))
# cgroups = "no-conmon": with cgroupfs, podman otherwise moves conmon into /libpod_parent/conmon
# at the root of every hierarchy, outside the bench's own cgroup (the shared-machine rule);
# the same setting as tests/integration/test_runtime_podman.py.
PODMAN_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
cgroups = "no-conmon"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def _bundle(work: Path, dockyard: list[str]) -> Path:
    """Save busybox as an OCI layout and unpack it with umoci into a runc bundle."""
    archive = work / "busybox-oci.tar"
    _run([*dockyard, "save", "-o", str(archive), "busybox:latest"])
    layout = work / "layout"
    layout.mkdir()
    _run(["tar", "-xf", str(archive), "-C", str(layout)])
    bundle = work / "bundle"
    _run(["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)])
    cfg_path = bundle / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["process"]["args"] = ["/bin/true"]
    cfg["process"]["terminal"] = False
    cfg_path.write_text(json.dumps(cfg))
    return bundle


def _cgroup_parent() -> str:
    """A cgroup parent for podman's containers beneath the bench's own cgroup in every
    hierarchy (the deepest own path: on these hosts the others are ``/``). With cgroupfs,
    podman's default, ``/libpod_parent``, sits at the root of every hierarchy, outside it."""
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        own = [line.split(":", 2)[2].strip() for line in f if line.count(":") >= 2]
    return max(own, key=len).rstrip("/") + "/dockyard-bench-podman"


CGROUP_PARENT = _cgroup_parent()


def _cgroup_dirs(parent: str) -> list[Path]:
    """Every directory on the way to ``parent`` in every mounted hierarchy, deepest first."""
    root = Path("/sys/fs/cgroup")
    mounts = [m for m in root.iterdir() if m.is_dir() and not m.is_symlink()]
    if (root / "cgroup.controllers").exists():
        mounts = [root]
    parts = [p for p in parent.split("/") if p]
    return [m.joinpath(*parts[:n]) for m in mounts for n in range(len(parts), 0, -1)]


def _remove_new_cgroups(existed: set[Path], parent: str) -> None:
    """rmdir what the bench's podman runs made on the way to ``parent`` (deepest first)."""
    for d in _cgroup_dirs(parent):
        if d not in existed and d.is_dir():
            for sub in sorted(d.glob("**/"), key=lambda p: -len(p.parts)):
                if sub != d:
                    subprocess.run(["rmdir", str(sub)], capture_output=True, check=False)
            subprocess.run(["rmdir", str(d)], capture_output=True, check=False)


def _podman(work: Path, dockyard: list[str]) -> tuple[list[str], dict[str, str]] | None:
    if tool("podman") is None:
        return None
    conf = work / "containers.conf"
    conf.write_text(PODMAN_CONF)
    env = {"CONTAINERS_CONF": str(conf)}
    base = ["podman", "--root", str(work / "podman-root"), "--runroot", str(work / "podman-run"),
            "--storage-driver", "overlay"]  # fmt: skip
    archive = work / "busybox-docker.tar"
    _run([*dockyard, "save", "--format", "docker", "-o", str(archive), "busybox:latest"])
    _run([*base, "load", "-i", str(archive)], env={**os.environ, **env})
    # podman's default runtime (crun) refuses hybrid cgroup hosts whose cgroup2 mount has
    # controllers; fall back to runc there, as the tool name then says
    run = ["run", "--rm", "--network", "none", "--cgroup-parent", CGROUP_PARENT,
           "busybox:latest", "true"]  # fmt: skip
    try:
        _run([*base, *run], env={**os.environ, **env})
    except RuntimeError:
        base = [*base, "--runtime", "runc"]
        _run([*base, *run], env={**os.environ, **env})
    return base, env


def _oci_run(runtime: str, root: Path, bundle: Path) -> Callable[[int], list[str]]:
    """``<runtime> --root ROOT run -b BUNDLE <runtime><i>`` for run ``i``."""
    return lambda i: [runtime, "--root", str(root), "run", "-b", str(bundle), f"{runtime}{i}"]


def main() -> str:
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    root, run_root = work / "root", work / "run"
    dockyard = [str(VENV_BIN / "dockyard"), "--root", str(root), "--run-root", str(run_root)]
    podman = None
    existed: set[Path] = set()
    holder: NsHolder | None = None
    try:
        # ``dockyard run`` goes through dockyardd: start it in a private network + mount
        # namespace, so that nothing it sets up (bridge, nft rules) lands in the host's
        holder = NsHolder()
        start_dockyardd(holder, root, run_root)
        _run([*dockyard, "load", "-i", str(IMAGE_CACHE / "busybox_latest.tar")])
        bundle = _bundle(work, dockyard)
        runtime = str(VENV_BIN / "dockyard-runtime")
        tools = [
            Tool("dockyard run --rm busybox true",
                 lambda i: [*dockyard, "run", "--rm", "busybox", "true"]),
            Tool("dockyard-runtime run (bundle)",
                 lambda i: [runtime, "--root", str(work / "dyrt"), "run", "-b", str(bundle),
                            f"dy{i}"]),
        ]  # fmt: skip
        missing: list[Result] = []
        for name in ("runc", "crun"):
            if tool(name):
                tools.append(Tool(f"{name} run (bundle)", _oci_run(name, work / name, bundle)))
            else:
                missing.append(Result(f"{name} run (bundle)", [], "not installed"))
        existed = {d for d in _cgroup_dirs(CGROUP_PARENT) if d.is_dir()}
        podman = _podman(work, dockyard)
        podman_name = "podman run --rm --network none"
        if podman is not None:
            base, env = podman
            podman_name += " (runc)" if "runc" in base else ""
            tools.append(Tool(
                podman_name,
                lambda i: [*base, "run", "--rm", "--network", "none", "--cgroup-parent",
                           CGROUP_PARENT, "busybox:latest", "true"],
                env))  # fmt: skip
        docker_cli = tool("docker")
        via_name = "docker CLI -> dockyardd: run --rm --network none"
        if docker_cli:  # the stock docker client against dockyardd's Engine API
            via_env = {"DOCKER_HOST": f"unix://{run_root / 'dockyard.sock'}"}
            via = [docker_cli, "run", "--rm", "--network", "none", "busybox", "true"]
            tools.append(Tool(via_name, lambda i: via, via_env))
        else:
            missing.append(Result(via_name, [], "no docker client installed"))
        from bench.refdocker import docker_daemon

        why: list[str] = []
        docker_name = "docker run --rm --network none"
        with docker_daemon(work / "d", why) as denv:  # a private dockerd, torn down after
            if denv is not None:
                tar = work / "busybox-docker.tar"
                if not tar.exists():
                    _run([*dockyard, "save", "--format", "docker", "-o", str(tar),
                          "busybox:latest"])  # fmt: skip
                denv.load(tar)
                cli = denv.cli
                tools.append(Tool(docker_name, lambda i: cli("run", "--rm", "--network", "none",
                                                             "busybox", "true")))  # fmt: skip
            else:
                missing.append(Result(docker_name, [], f"skipped: {why[-1] if why else '?'}"))
            # one alternating loop: every tool once per round, in rotating order
            results = time_round_robin(tools, max(RUNS, 50)) + missing
            # back to back: each tool's runs one right after the other, as scripts and CI
            # run them (no other tool's run in between to hide a preparation or clean-up)
            tight = [
                Tool("dockyard run --rm (default network)",
                     lambda i: [*dockyard, "run", "--rm", "busybox", "true"]),
                Tool("dockyard run --rm --network none",
                     lambda i: [*dockyard, "run", "--rm", "--network", "none", "busybox",
                                "true"]),
                *[t for t in tools if t.name.startswith(("runc", "crun", "podman", "docker"))],
            ]  # fmt: skip
            back = [time_command(t.name, t.argv_for, max(RUNS, 30), t.env) for t in tight]
        out = [
            report("dockyard run (through dockyardd) vs references", results,
                   "dockyard run --rm busybox true",
                   {"runc run (bundle)": 1.0, podman_name: 0.3, docker_name: 0.2}),
            report("the docker CLI: against dockyardd vs against dockerd", results,
                   via_name, {docker_name: 1.0}),
            report("dockyard-runtime run vs runc / crun", results,
                   "dockyard-runtime run (bundle)",
                   {"runc run (bundle)": 0.7, "crun run (bundle)": 1.5}),
            report("back to back (each tool's runs in a row, no idle gap)", back,
                   "dockyard run --rm (default network)",
                   {"dockyard run --rm --network none": 1.0, "runc run (bundle)": 1.0,
                    podman_name: 0.3, docker_name: 0.2}),
        ]  # fmt: skip
        return "\n\n".join(out)
    finally:
        if holder is not None:
            remove_all(holder, dockyard, run_root)
            stop_dockyardd(run_root)
            import time

            time.sleep(1.0)
            holder.close()
        if podman is not None:
            base, env = podman
            subprocess.run([*base, "rm", "-af"], capture_output=True, check=False,
                           env={**os.environ, **env})  # fmt: skip
            subprocess.run([*base, "system", "reset", "-f"], capture_output=True, check=False,
                           env={**os.environ, **env})  # fmt: skip
        subprocess.run(
            ["umount", "-R", str(work / "podman-root")], capture_output=True, check=False
        )
        if podman is not None:
            _remove_new_cgroups(existed, CGROUP_PARENT)
        shutil.rmtree(work, ignore_errors=True)
