"""A private Docker daemon for the reference benchmarks (``docker build``, ``docker run``).

``docker_daemon(work)`` starts Debian's ``dockerd`` with a ``containerd`` of its own and
yields a :class:`DockerEnv` (or ``None`` with the reason logged and, when the caller passes
``why=[]``, appended there).  Everything the daemons make stays private to the harness on
this shared machine (see docs/decisions/0004-docker-reference-harness.md):

* one fresh network namespace and one private mount namespace (``unshare --net --mount``),
  shared by containerd and dockerd and by the shims and containers they start: docker0, the
  veths and the iptables (nft) rules live in that netns; the overlay mounts, the tmpfs on
  ``/run`` (containerd's shim sockets are hard-wired to ``/run/containerd/s``) live in that
  mount namespace and vanish with its last process;
* every file under ``work``: data root, exec root, pidfiles, sockets, trust key,
  ``daemon.json``, containerd's root, state and config, the CLI's config directory;
* containers' cgroups under one parent beneath this process's own cgroup in every v1
  hierarchy (``<own memory cgroup>/dybench-<random>``), removed on exit together with the
  intermediate directories that the run created (only those, and only if empty).

On exit: ``docker rm -f`` of every container, SIGTERM (then SIGKILL) to dockerd and
containerd by PID, SIGKILL by PID to what is left in the namespaces or the cgroups, a lazy
unmount of anything still mounted under ``work`` in our namespace, ``rmdir`` of the cgroups,
and removal of ``work``.  ``python -m bench.refdocker`` proves it end to end and prints the
medians of ``docker run --rm busybox true`` with and without networking.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import VENV_BIN

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
START_TIMEOUT = float(os.environ.get("BENCH_DOCKER_START_TIMEOUT", "90"))
STOP_TIMEOUT = 20.0
SOCKET_MAX = 100  # sun_path is 108 bytes; leave room

# What ``unshare`` execs, inside the new network and mount namespaces: $1 = work,
# $2 = containerd binary, then dockerd's argv.  It starts containerd, then dockerd, writes
# their PIDs under work and waits for both (teardown signals each by its PID).
WRAPPER = r"""
set -eu
W=$1; CONTAINERD=$2; shift 2
ip link set lo up
# containerd 1.6 puts shim sockets in /run/containerd/s (not configurable), dockerd and
# iptables use /run too: a tmpfs private to this mount namespace keeps the host's /run clean.
mount -t tmpfs -o mode=0755,size=16m dybench-run /run
# A sysfs that describes this netns (as `ip netns exec` mounts), with the host's cgroup
# hierarchies bound back beneath it (which `ip netns exec` would lose).
mkdir /run/.cgroup
mount --rbind /sys/fs/cgroup /run/.cgroup
mount -t sysfs dybench-sys /sys
mount --rbind /run/.cgroup /sys/fs/cgroup
umount -l /run/.cgroup
# dockerd raises the host-wide root key quota when it is below 1000000: make it read-only.
for f in /proc/sys/kernel/keys/root_maxkeys /proc/sys/kernel/keys/root_maxbytes; do
    mount --bind "$f" "$f" && mount -o remount,bind,ro "$f" "$f" || true
done
"$CONTAINERD" --config "$W/containerd/config.toml" >>"$W/containerd.log" 2>&1 &
echo $! >"$W/containerd.pid"
i=0
while [ ! -S "$W/containerd/containerd.sock" ]; do
    i=$((i + 1))
    if [ "$i" -gt 1200 ] || ! kill -0 "$(cat "$W/containerd.pid")" 2>/dev/null; then
        echo "containerd did not start" >&2; exit 3
    fi
    sleep 0.05
done
"$@" >>"$W/dockerd.log" 2>&1 &
echo $! >"$W/dockerd.wrapper.pid"
# stay the parent of both, so each is reaped here when the harness stops it by PID
wait
"""

CONTAINERD_CONFIG = """\
version = 2
root = "{w}/containerd/root"
state = "{w}/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{w}/containerd/containerd.sock"
[ttrpc]
  address = "{w}/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{w}/containerd/opt"
"""


@dataclass
class DockerEnv:
    """A running private dockerd: ``cli(*args)`` is the argv of one docker command."""

    work: Path
    client: str
    socket: Path
    config_dir: Path
    cgroup_parent: str
    dockerd_pid: int
    containerd_pid: int
    netns: str  # /proc/<dockerd>/ns/net while it runs: `nsenter --net=... ip addr`

    @property
    def env(self) -> dict[str, str]:
        """Environment for the CLI (``cli()`` passes the same things as flags)."""
        return {"DOCKER_CONFIG": str(self.config_dir), "DOCKER_HOST": f"unix://{self.socket}"}

    def cli(self, *args: str) -> list[str]:
        return [self.client, "--config", str(self.config_dir), "-H", f"unix://{self.socket}",
                *args]  # fmt: skip

    def run(self, *args: str, timeout: float = 300, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(
            self.cli(*args), capture_output=True, text=True, timeout=timeout, check=False,
            env={**os.environ, **self.env, **(env or {})},
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)}: exit {proc.returncode}: "
                               f"{proc.stderr.strip()[-500:]}")  # fmt: skip
        return proc

    def load(self, tarball: Path | str) -> list[str]:
        """``docker load -i tarball``; the names (or IDs) it reports as loaded."""
        out = self.run("load", "-i", str(tarball)).stdout
        return [line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith(("Loaded image:", "Loaded image ID:"))]  # fmt: skip


@dataclass
class _State:
    """What teardown needs, filled in as start-up goes."""

    work: Path
    cgroup_parent: str = ""
    created_cgroup_dirs: list[Path] = field(default_factory=list)  # ancestors we may make
    wrapper: subprocess.Popen[bytes] | None = None  # the sh that parents both daemons
    dockerd_pid: int = 0
    containerd_pid: int = 0
    namespaces: set[tuple[str, str]] = field(default_factory=set)  # (kind, link)
    env: DockerEnv | None = None
    problems: list[str] = field(default_factory=list)


def missing_tools() -> str | None:
    """Why the harness cannot run here, or ``None``."""
    if os.geteuid() != 0:
        return "needs root"
    for name in ("dockerd", "containerd", "containerd-shim-runc-v2", "runc", "unshare", "ip",
                 "iptables"):  # fmt: skip
        if shutil.which(name) is None:
            return f"{name} is not installed (apt-get install docker.io)"
    if _client() is None:
        return "no docker client"
    if not (CGROUP_ROOT / "memory").is_dir():
        return "no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory"
    return None


def _client() -> str | None:
    """The CLI of Debian's docker.io (same release as its dockerd), else the one on PATH."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker")


def _own_cgroup_paths() -> dict[str, str]:
    """controller(s) -> path, from /proc/self/cgroup ("" for the v2 entry)."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        paths[ctrls] = path
    return paths


def _cgroup_mounts() -> list[tuple[Path, str]]:
    """(mountpoint, cgroup root of that mount) of every cgroup/cgroup2 mount we see."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, right = line.split(" - ", 1)
        fstype = right.split()[0]
        if fstype in ("cgroup", "cgroup2"):
            parts = left.split()
            out.append((Path(parts[4]), parts[3]))
    return out


def choose_cgroup_parent() -> str:
    """One path beneath our own cgroup in every hierarchy: docker's v1 cgroupfs driver
    takes a single parent for all of them.  Our cgroup is ``/`` in all but (here) memory,
    so the deepest of our paths plus a fresh leaf lies beneath it everywhere -- provided
    the others are its ancestors, which is checked."""
    own = [p for p in _own_cgroup_paths().values() if p]
    deepest = max(own, key=lambda p: len(p.rstrip("/").split("/")))
    base = deepest.rstrip("/")
    for path in own:
        p = path.rstrip("/")
        if p and base != p and not base.startswith(p + "/"):
            raise RuntimeError(f"own cgroups {own} are not nested; no single parent fits")
    return f"{base}/dybench-{secrets.token_hex(4)}"


def _ancestors_to_create(parent: str) -> list[Path]:
    """Directories (in every hierarchy) that the parent needs and that do not exist yet,
    shallowest first: teardown removes exactly these (if empty) and the parent itself."""
    dirs = []
    parts = [p for p in parent.split("/") if p]
    for mnt, _root in _cgroup_mounts():
        if not str(mnt).startswith(str(CGROUP_ROOT) + "/"):
            continue
        for n in range(1, len(parts) + 1):
            d = mnt.joinpath(*parts[:n])
            if not d.exists():
                dirs.append(d)
    return dirs


def _ping(sock: Path, timeout: float = 2.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        return data.startswith(b"HTTP/1.") and data.rstrip().endswith(b"OK")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie of ours counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _tail(path: Path, n: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-n:])
    except OSError:
        return ""


def _start(st: _State) -> DockerEnv:
    w = st.work
    client = _client()
    assert client is not None
    for sub in ("data", "exec", "config", "containerd/root", "containerd/state",
                "containerd/opt"):  # fmt: skip
        (w / sub).mkdir(parents=True, exist_ok=True)
    (w / "containerd").chmod(0o711)
    (w / "config" / "config.json").write_text("{}\n")
    # 20.10 writes a trust key, by default to /etc/docker/key.json: keep it under work
    (w / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(w / "key.json")}))
    (w / "containerd" / "config.toml").write_text(CONTAINERD_CONFIG.format(w=w))
    sock = w / "docker.sock"
    st.cgroup_parent = choose_cgroup_parent()
    st.created_cgroup_dirs = _ancestors_to_create(st.cgroup_parent)
    dockerd = [
        shutil.which("dockerd") or "dockerd",
        "--config-file", str(w / "daemon.json"),
        "--data-root", str(w / "data"),
        "--exec-root", str(w / "exec"),
        "--pidfile", str(w / "docker.pid"),
        "-H", f"unix://{sock}",
        "--containerd", str(w / "containerd" / "containerd.sock"),
        "--storage-driver", "overlay2",
        "--log-level", "warn",
        "--cgroup-parent", st.cgroup_parent,
        "--exec-opt", "native.cgroupdriver=cgroupfs",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    with open(w / "wrapper.log", "wb") as wrapper_log:
        st.wrapper = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "private", "--",
             "sh", "-c", WRAPPER, "dybench-wrapper", str(w),
             shutil.which("containerd") or "containerd", *dockerd],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=wrapper_log,
            env=env, start_new_session=True,
        )  # fmt: skip
    pid = st.wrapper.pid
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if not st.namespaces:
            # after unshare: the wrapper's namespaces differ from ours
            with contextlib.suppress(OSError):
                links = {k: os.readlink(f"/proc/{pid}/ns/{k}") for k in ("net", "mnt")}
                if all(links[k] != os.readlink(f"/proc/self/ns/{k}") for k in links):
                    st.namespaces = {(k, v) for k, v in links.items()}
        _read_pids(st)
        if st.wrapper.poll() is not None or (st.dockerd_pid and not _alive(st.dockerd_pid)):
            raise RuntimeError(
                f"dockerd or containerd exited: {_tail(w / 'wrapper.log')} "
                f"{_tail(w / 'dockerd.log')} {_tail(w / 'containerd.log', 2)}"
            )
        if st.dockerd_pid and sock.exists() and _ping(sock):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd not ready after {START_TIMEOUT:.0f}s: "
                               f"{_tail(w / 'dockerd.log')}")  # fmt: skip
        time.sleep(0.1)
    return DockerEnv(
        work=w, client=client, socket=sock, config_dir=w / "config",
        cgroup_parent=st.cgroup_parent, dockerd_pid=st.dockerd_pid,
        containerd_pid=st.containerd_pid, netns=f"/proc/{st.dockerd_pid}/ns/net",
    )  # fmt: skip


def _read_pids(st: _State) -> None:
    """The daemons' PIDs from the files the wrapper writes, each checked to be a process
    in our namespaces (so a stale file or a reused PID is never signalled)."""
    for attr, name in (("containerd_pid", "containerd.pid"), ("dockerd_pid",
                                                               "dockerd.wrapper.pid")):  # fmt: skip
        if getattr(st, attr):
            continue
        with contextlib.suppress(ValueError, OSError):
            pid = int((st.work / name).read_text().strip() or 0)
            if pid > 0 and _ours(st, pid):
                setattr(st, attr, pid)


def _ours(st: _State, pid: int) -> bool:
    for kind, link in st.namespaces:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/{kind}") == link:
                return True
    return False


def _stop_pid(pid: int, what: str, st: _State, child: subprocess.Popen[bytes] | None = None,
              timeout: float = STOP_TIMEOUT) -> None:  # fmt: skip
    if pid <= 0 or not _alive(pid) or (child is None and not _ours(st, pid)):
        if child is not None:
            child.poll()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return
        if not _alive(pid):
            return
        time.sleep(0.1)
    st.problems.append(f"{what} (pid {pid}) ignored SIGTERM for {timeout:.0f}s; SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)


def _cgroup_procs(parent: str) -> set[int]:
    pids: set[int] = set()
    rel = parent.strip("/")
    for mnt, _root in _cgroup_mounts():
        base = mnt / rel
        if not base.is_dir():
            continue
        for f in base.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(x) for x in f.read_text().split())
    return pids


def _leftover_pids(st: _State) -> set[int]:
    """Processes in our namespaces or in our cgroups: started by the daemons."""
    pids: set[int] = set()
    me = os.getpid()
    if st.namespaces:
        for d in Path("/proc").iterdir():
            if not d.name.isdigit() or int(d.name) == me:
                continue
            for kind, link in st.namespaces:
                with contextlib.suppress(OSError):
                    if os.readlink(d / "ns" / kind) == link:
                        pids.add(int(d.name))
                        break
    if st.cgroup_parent:
        pids |= _cgroup_procs(st.cgroup_parent)
    pids.discard(me)
    return {p for p in pids if _alive(p)}


def _unmount_under(work: Path, st: _State) -> None:
    prefix = str(work.resolve()).rstrip("/") + "/"
    for _ in range(3):
        targets = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            mp = line.split()[4].replace("\\040", " ")
            if (mp + "/").startswith(prefix):
                targets.append(mp)
        if not targets:
            return
        for mp in sorted(targets, key=len, reverse=True):
            proc = subprocess.run(["umount", "-l", mp], capture_output=True, text=True,
                                  check=False)  # fmt: skip
            if proc.returncode != 0:
                st.problems.append(f"umount -l {mp}: {proc.stderr.strip()}")


def _remove_cgroups(st: _State) -> None:
    if not st.cgroup_parent:
        return
    rel = st.cgroup_parent.strip("/")
    for mnt, _root in _cgroup_mounts():
        base = mnt / rel
        if not base.is_dir():
            continue
        # deepest first; cgroupfs directories go with rmdir only
        dirs = sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                      reverse=True)  # fmt: skip
        for d in [*dirs, base]:
            for _ in range(20):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                st.problems.append(f"cgroup {d} not removed (busy)")
    # the intermediate directories this run made, if nobody else uses them now
    for d in sorted(st.created_cgroup_dirs, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()


def _teardown(st: _State) -> None:
    env = st.env
    if env is not None and st.dockerd_pid and _alive(st.dockerd_pid):
        with contextlib.suppress(Exception):
            ids = env.run("ps", "-aq", timeout=30, check=False).stdout.split()
            if ids:
                env.run("rm", "-f", *ids, timeout=120, check=False)
    _read_pids(st)
    _stop_pid(st.dockerd_pid, "dockerd", st)
    _stop_pid(st.containerd_pid, "containerd", st)
    if st.wrapper is not None:  # exits (and has reaped both) once both are gone
        _stop_pid(st.wrapper.pid, "wrapper sh", st, child=st.wrapper, timeout=5)
    # shims and containers the daemons left: only processes in our namespaces or cgroups
    for _ in range(3):
        left = _leftover_pids(st)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.3)
    else:
        st.problems.append(f"processes left: {sorted(_leftover_pids(st))}")
    _unmount_under(st.work, st)
    _remove_cgroups(st)
    if any((line.split()[4] + "/").startswith(str(st.work.resolve()) + "/")
           for line in Path("/proc/self/mountinfo").read_text().splitlines()):  # fmt: skip
        st.problems.append(f"mounts left under {st.work}; not removing it")
    else:
        shutil.rmtree(st.work, ignore_errors=True)
    for p in st.problems:
        log.warning("refdocker teardown: %s", p)


@contextlib.contextmanager
def docker_daemon(work: Path, why: list[str] | None = None) -> Iterator[DockerEnv | None]:
    """A private dockerd (see the module's doc), or ``None`` when it cannot run here: the
    reason is logged and appended to ``why``.  ``work`` must be absent or empty and short
    (unix socket paths live under it); it is removed on exit."""

    def skip(reason: str) -> None:
        log.warning("docker reference skipped: %s", reason)
        if why is not None:
            why.append(reason)

    reason = missing_tools()
    work = Path(work).absolute()
    if reason is None and len(str(work / "containerd" / "containerd.sock.ttrpc")) > SOCKET_MAX:
        reason = f"work path {work} is too long for unix sockets beneath it"
    if reason is None and work.exists() and any(work.iterdir()):
        reason = f"work directory {work} is not empty"
    if reason is not None:
        skip(reason)
        yield None
        return
    st = _State(work=work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        try:
            st.env = _start(st)
        except (RuntimeError, OSError) as exc:
            skip(f"dockerd did not start: {exc}")
            yield None
            return
        yield st.env
    finally:
        _teardown(st)


# --- python -m bench.refdocker: the proof, end to end ---------------------------------


def _busybox_tar(dest: Path) -> Path:
    dockyard = str(VENV_BIN / "dockyard")
    tar = dest / "busybox-docker.tar"
    save = [dockyard, "save", "--format", "docker", "-o", str(tar), "busybox:latest"]
    proc = subprocess.run(save, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        subprocess.run([dockyard, "image", "bootstrap", "busybox:latest"], check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run(save, check=True, capture_output=True)
    return tar


def _time(env: DockerEnv, args: list[str], runs: int, warmup: int = 2) -> list[float]:
    samples = []
    argv = env.cli(*args)
    for i in range(-warmup, runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        if i >= 0:
            samples.append(time.perf_counter() - t0)
    return samples


def main() -> str:
    logging.basicConfig(level=logging.INFO)
    runs = int(os.environ.get("BENCH_RUNS", "15"))
    tmp = Path(tempfile.mkdtemp(prefix="dybench-"))
    work = tmp / "d"
    out: list[str] = []
    why: list[str] = []
    try:
        tar = _busybox_tar(tmp)
        with docker_daemon(work, why) as env:
            if env is None:
                return f"docker reference: skipped ({why[-1]})"
            out.append(f"loaded: {env.load(tar)}; cgroup parent {env.cgroup_parent}")
            env.run("run", "--rm", "busybox", "true")
            env.run("run", "--rm", "--network", "none", "busybox", "true")
            ctx = tmp / "ctx"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /hi\n")
            env.run("build", "-q", "-t", "dybench:1", str(ctx), env={"DOCKER_BUILDKIT": "0"})
            out.append("docker build (legacy builder): ok")
            bk = env.run("build", "-q", "-t", "dybench:2", str(ctx), check=False,
                         env={"DOCKER_BUILDKIT": "1"})  # fmt: skip
            out.append("docker build (BuildKit): " + ("ok" if bk.returncode == 0 else
                       f"failed: {bk.stderr.strip()[-200:]}"))  # fmt: skip
            # alternate the two so load on the shared CPUs falls on both alike
            bridge: list[float] = []
            none: list[float] = []
            for _ in range(runs):
                bridge += _time(env, ["run", "--rm", "busybox", "true"], 1, warmup=0)
                none += _time(env, ["run", "--rm", "--network", "none", "busybox", "true"], 1,
                              warmup=0)  # fmt: skip
            for name, s in (("bridge", bridge), ("none", none)):
                out.append(f"docker run --rm busybox true ({name}): median "
                           f"{statistics.median(s) * 1000:.0f} ms over {len(s)} runs "
                           f"(min {min(s) * 1000:.0f}, max {max(s) * 1000:.0f})")  # fmt: skip
            t0 = time.perf_counter()
            for i in range(50):
                env.run("run", "-d", "--name", f"sleep{i}", "busybox", "sleep", "600")
            out.append(f"50 x docker run -d sleep: {time.perf_counter() - t0:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return "\n".join(out)


if __name__ == "__main__":
    print(main())
    sys.exit(0)
