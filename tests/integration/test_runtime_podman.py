"""podman drives dockyard-runtime (``--runtime``), on private storage and config.

Every podman here runs with ``--network none`` (podman's default bridge would add netavark
firewall rules and flip ``ip_forward`` in the host's network namespace) and with
``cgroups = "no-conmon"`` (with ``cgroupfs``, podman otherwise moves conmon into
``/libpod_parent/conmon`` at the root of every hierarchy, outside our own cgroup); the
container cgroups dockyard-runtime makes are beneath our own and are checked gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from support import build_rootfs

pytestmark = [pytest.mark.root, pytest.mark.anchors, pytest.mark.slow]
RUNTIME = Path(sys.executable).parent / "dockyard-runtime"
DOCKYARD = [sys.executable, "-m", "dockyard.cli.main"]
CONF = (
    '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
    'cgroups = "no-conmon"\n'
    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
)


def _own_cgroup_dirs() -> list[Path]:
    out = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, own = line.split(":", 2)
        sub = ctrls.replace("name=", "") or "unified"
        out.append(Path("/sys/fs/cgroup") / sub / own.lstrip("/"))
    return out


def _libpod_cgroups() -> list[Path]:
    return [p for d in _own_cgroup_dirs() for p in d.glob("libpod_parent/libpod-*")]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """podman refuses a runroot longer than 50 characters: pytest's tmp_path is too long."""
    d = Path(tempfile.mkdtemp(prefix="dy-pm-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def podman(tmp_path: Path, short_dir: Path) -> Iterator[list[str]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    exe = shutil.which("podman")
    if exe is None:
        pytest.skip("podman is not installed")
    if not RUNTIME.exists():
        pytest.skip("dockyard-runtime is not installed in this environment")
    conf = tmp_path / "containers.conf"
    conf.write_text(CONF)
    saved = os.environ.get("CONTAINERS_CONF")
    os.environ["CONTAINERS_CONF"] = str(conf)
    before = set(_libpod_cgroups())
    # the runtime's state under the test's own directory, not its default
    # /run/dockyard/runtime: through a launcher, since podman 4.3 passes --runtime-flag
    # to create and start but not to the delete of its cleanup (the cgroups stayed)
    launcher = short_dir / "dockyard-runtime"
    launcher.write_text(f'#!/bin/sh\nexec {RUNTIME} --root {short_dir / "rt"} "$@"\n')
    launcher.chmod(0o755)
    argv = [exe, "--root", str(tmp_path / "root"), "--runroot", str(short_dir / "run"),
            "--storage-driver", "vfs", "--runtime", str(launcher)]  # fmt: skip
    try:
        yield argv
    finally:
        subprocess.run([*argv, "rm", "-af", "-t", "0"], capture_output=True, timeout=120,
                       check=False)  # fmt: skip
        if saved is None:
            os.environ.pop("CONTAINERS_CONF", None)
        else:
            os.environ["CONTAINERS_CONF"] = saved
        left = set(_libpod_cgroups()) - before
        for d in _own_cgroup_dirs():  # the parent our runtime made (a shared one stays)
            try:
                (d / "libpod_parent").rmdir()
            except OSError:
                pass
        assert not left, f"cgroups left behind: {sorted(left)}"


def pm(podman: list[str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run podman; output through files, since a detached container's conmon keeps pipes."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run([*podman, *args], stdin=subprocess.DEVNULL, stdout=out,
                              stderr=err, timeout=timeout, check=False)  # fmt: skip
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())


def test_podman_run_rm(podman: list[str], tmp_path: Path) -> None:
    rootfs = build_rootfs(tmp_path / "rootfs")
    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
    imp = subprocess.run([*podman, "import", "-", "localhost/dybox"], input=tar.stdout,
                         capture_output=True, check=False, timeout=120)  # fmt: skip
    assert imp.returncode == 0, imp.stderr.decode()
    done = pm(podman, "run", "--rm", "--network", "none", "localhost/dybox",
              "sh", "-c", "echo pid=$$; hostname; exit 3")  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "pid=1" in done.stdout
    assert pm(podman, "ps", "-aq").stdout.strip() == ""


@pytest.fixture
def saved_image(tmp_path: Path) -> Path:
    """busybox as ``dockyard save`` writes it (the image ``podman load`` takes in)."""
    root = tmp_path / "dy"
    dy = [*DOCKYARD, "--root", str(root / "root"), "--run-root", str(root / "run")]
    cache = Path(__file__).resolve().parents[2] / ".cache" / "images" / "busybox_latest.tar"
    if cache.is_file():
        r = subprocess.run([*dy, "load", "-i", str(cache)], capture_output=True, timeout=300,
                           check=False)  # fmt: skip
    else:
        r = subprocess.run([*dy, "image", "bootstrap", "busybox:latest"], capture_output=True,
                           timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    tar = tmp_path / "busybox.tar"
    r = subprocess.run([*dy, "save", "-o", str(tar), "busybox:latest"], capture_output=True,
                       timeout=300, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    shutil.rmtree(root, ignore_errors=True)
    return tar


def test_podman_detached_exec_stop_rm_on_a_dockyard_saved_image(
    podman: list[str], saved_image: Path
) -> None:
    load = pm(podman, "load", "-i", str(saved_image))
    assert load.returncode == 0, load.stderr
    image = "docker.io/library/busybox:latest"
    loop = "trap 'echo bye; exit 7' TERM; echo up; while :; do sleep 0.1; done"
    run = pm(podman, "run", "-d", "--name", "c1", "--network", "none", image, "sh", "-c", loop)
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    assert len(cid) == 64
    fmt = "{{.State.Status}} {{.State.Pid}}"
    status, pid = pm(podman, "inspect", "--format", fmt, "c1").stdout.split()
    assert status == "running" and int(pid) > 0
    assert [p for p in _libpod_cgroups() if p.name == f"libpod-{cid}"]

    ex = pm(podman, "exec", "c1", "sh", "-c", "echo in=$$; ps -o pid,args; exit 4")
    assert ex.returncode == 4, ex.stderr
    assert "in=" in ex.stdout and "while :" in ex.stdout  # the init is visible: same pid ns
    assert max(int(line.split()[0]) for line in ex.stdout.splitlines()[2:]) < 100

    det = pm(podman, "exec", "-d", "c1", "sh", "-c", "echo detached > /tmp/mark; sleep 30")
    assert det.returncode == 0, det.stderr
    for _ in range(50):
        if pm(podman, "exec", "c1", "cat", "/tmp/mark").stdout == "detached\n":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the detached exec did not run")
    assert pm(podman, "exec", "c1", "false").returncode == 1
    missing = pm(podman, "exec", "c1", "no-such-cmd")
    assert missing.returncode in (126, 127), missing.stderr

    stop = pm(podman, "stop", "-t", "10", "c1")
    assert stop.returncode == 0, stop.stderr
    fmt = "{{.State.Status}} {{.State.ExitCode}}"
    assert pm(podman, "inspect", "--format", fmt, "c1").stdout.split() == ["exited", "7"]
    logs = pm(podman, "logs", "c1").stdout.split()
    assert logs == ["up", "bye"]
    assert not [p for p in _libpod_cgroups() if p.name == f"libpod-{cid}"]

    assert pm(podman, "start", "c1").returncode == 0  # again, through create + start
    assert pm(podman, "inspect", "--format", "{{.State.Status}}", "c1").stdout.strip() == "running"
    assert pm(podman, "stop", "-t", "10", "c1").returncode == 0
    rm = pm(podman, "rm", "c1")
    assert rm.returncode == 0, rm.stderr
    assert pm(podman, "ps", "-aq").stdout.strip() == ""


def test_podman_stop_kills_a_container_ignoring_sigterm_and_rm_force(
    podman: list[str], saved_image: Path
) -> None:
    assert pm(podman, "load", "-i", str(saved_image)).returncode == 0
    image = "docker.io/library/busybox:latest"
    run = pm(podman, "run", "-d", "--name", "stubborn", "--network", "none", image,
             "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done")  # fmt: skip
    assert run.returncode == 0, run.stderr
    t0 = time.monotonic()
    assert pm(podman, "stop", "-t", "1", "stubborn").returncode == 0
    assert time.monotonic() - t0 < 8
    fmt = "{{.State.Status}} {{.State.ExitCode}}"
    assert pm(podman, "inspect", "--format", fmt, "stubborn").stdout.split() == ["exited", "137"]
    run2 = pm(podman, "run", "-d", "--name", "victim", "--network", "none", image, "sleep", "60")
    assert run2.returncode == 0, run2.stderr
    assert pm(podman, "rm", "-f", "-t", "0", "victim", "stubborn").returncode == 0
    assert pm(podman, "ps", "-aq").stdout.strip() == ""


# The host's stock containers.conf (Debian): no CAP_AUDIT_WRITE, so podman's default seccomp
# profile gets its conditional ``socket`` rules, and ping_group_range as a default sysctl.
STOCK = (
    '\n[containers]\ndefault_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", '
    '"KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]\n'
    'default_sysctls = ["net.ipv4.ping_group_range=0 0"]\n'
)


def test_podman_default_seccomp_and_sysctl(podman: list[str], tmp_path: Path) -> None:
    """Regression (issue 21, 3f): ``syscalls[20] socket: File exists`` from the default
    profile, then ``set sysctl net.ipv4.ping_group_range``: read-only file system (it was
    written after /proc/sys was made read-only)."""
    conf = Path(os.environ["CONTAINERS_CONF"])
    conf.write_text(CONF.replace("[containers]\n", STOCK.strip() + "\n", 1))
    rootfs = build_rootfs(tmp_path / "rootfs")
    tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True)
    imp = subprocess.run([*podman, "import", "-", "localhost/dybox"], input=tar.stdout,
                         capture_output=True, check=False, timeout=120)  # fmt: skip
    assert imp.returncode == 0, imp.stderr.decode()
    script = "cat /proc/sys/net/ipv4/ping_group_range; grep Seccomp: /proc/self/status"
    done = pm(podman, "run", "--rm", "--network", "none", "localhost/dybox", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", "0", "Seccomp:", "2"]


def test_podman_info_reads_the_runtime_version(podman: list[str]) -> None:
    """podman probes ``RUNTIME --version`` (issue 16: it failed with "flag provided but not
    defined: -version", and podman info reported no version)."""
    done = pm(podman, "info", "--format", "{{.Host.OCIRuntime.Version}}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dockyard-runtime version "), done.stdout
