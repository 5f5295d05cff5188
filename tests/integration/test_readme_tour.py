"""The README's "A short tour" runs as written.

The tour's ```sh block is taken from README.md and run line by line, in one bash, from a
copy of ``examples/`` (its ``cd examples`` then lands there, and what the tour writes —
``busybox.tar``, ``bundle/rootfs``, ``registry.log`` — stays out of the checkout). Every
line must exit 0; the first that does not fails the test with its output.

What the harness adds around the tour, and nothing else:

* a private state root (``DOCKYARD_ROOT`` / ``DOCKYARD_RUN_ROOT``), and private network and
  mount namespaces (``daemon_kit.ns_holder``) in which bash, the daemon the CLI starts, the
  tour's registry on 127.0.0.1:5000 and its published port live, so nothing clashes with
  the host's;
* ``dockyard-runtime`` and ``podman`` on PATH as wrappers that keep their state private:
  the runtime's root is the run root's ``runtime/`` (the default layout, so the teardown
  finds what it left), podman gets private storage (vfs), run root and tmpdir, and a
  containers.conf with ``netns = "none"`` (no netavark rules), ``cgroups = "no-conmon"``
  with cgroupfs (as test_runtime_podman.py) and a nofile ulimit this host allows (root
  here lacks CAP_SYS_RESOURCE, so podman's default 1048576 cannot be set);
* one substitution: ``dockyard image bootstrap busybox:latest`` builds the image from the
  Debian mirror (minutes, and the network); the test loads make setup's cached build of
  the same image instead (``.cache/images/busybox_latest.tar``);
* after a line that starts a server in the background (``... --addr HOST:PORT &``), its PID
  is recorded (to stop it at the end) and the next line waits until the port accepts a
  connection — a person typing the next command gives it that time.

The teardown (even when the tour fails) stops the background servers by PID, removes the
containers, the daemon and its shims (``daemon_kit.teardown``), podman's containers and
storage, the libpod cgroups podman asked for, and the namespaces.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from daemon_kit import Daemonized, busybox_archive, ns_holder, stop_holder, teardown, wait_dead

from conftest import need_tool

pytestmark = [pytest.mark.root, pytest.mark.slow, pytest.mark.anchors, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = "dockyard image bootstrap busybox:latest"
MARK = "### tour line "
PODMAN_CONF = (
    '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
    'cgroups = "no-conmon"\nnetns = "none"\n'
    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
)


def tour_lines(readme: str) -> list[str]:
    """The commands of the tour's ```sh block: one a line, comments and blanks left out."""
    m = re.search(r"^## A short tour\n.*?^```sh\n(.*?)^```", readme, re.M | re.S)
    assert m, "README.md has no ```sh block under '## A short tour'"
    lines = [ln.strip() for ln in m.group(1).splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _background_addr(line: str) -> tuple[str, int] | None:
    """``(host, port)`` of a line that starts a server in the background, else None."""
    if not re.search(r"(?<!&)&\s*(#.*)?$", line):
        return None
    m = re.search(r"--addr[ =](\S+):(\d+)", line)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


def tour_script(lines: list[str], workdir: Path, cached_busybox: Path, pidfile: Path) -> str:
    """A bash script that runs ``lines`` one by one from ``workdir`` and stops at the first
    that fails (entering a mount namespace moves to its root, so it starts with a cd)."""
    out = [f"cd {_q(str(workdir))} || exit 102"]
    for n, written in enumerate(lines, 1):
        out.append(f"printf '%s\\n' {_q(MARK + str(n) + ': ' + written)}")
        line = written
        if line.startswith(BOOTSTRAP + " "):  # the one substitution (see the module's docstring)
            line = f"dockyard load -i {cached_busybox}"
        out.append(line)
        addr = _background_addr(line)
        if addr is None:
            out.append("rc=$?; if [ $rc -ne 0 ]; then echo 'exit status '$rc; exit 100; fi")
            continue
        out.append(f"echo $! >> {_q(str(pidfile))}")
        host, port = addr
        if port:  # wait (polling, bounded) until the server accepts a connection
            out.append(
                f"for _ in $(seq 600); do (exec 3<>/dev/tcp/{host}/{port}) 2>/dev/null && break;"
                " kill -0 $! || exit 101; sleep 0.05; done"
            )
    return "\n".join(out) + "\n"


def _q(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def sections(log: str) -> dict[str, str]:
    """The tour's output by line (the command as the README writes it, after the mark)."""
    parts: dict[str, str] = {}
    current = ""
    for ln in log.splitlines(keepends=True):
        if ln.startswith(MARK):
            current = ln[len(MARK) :].split(": ", 1)[1].rstrip("\n")
            parts[current] = ""
        elif current:
            parts[current] += ln
    return parts


@dataclass
class Tour:
    returncode: int
    log: str
    lines: list[str]
    output: dict[str, str] = field(default_factory=dict)

    def of(self, prefix: str) -> str:
        """The output of the tour's line that starts with ``prefix``."""
        hits = [out for line, out in self.output.items() if line.startswith(prefix)]
        assert len(hits) == 1, f"{len(hits)} tour lines start with {prefix!r}"
        return hits[0]

    def failure(self) -> str:
        last = list(self.output)[-1] if self.output else "(before the first line)"
        return f"tour stopped at: {last}\n--- output ---\n{self.output.get(last, self.log)}"


def _libpod_cgroups() -> set[Path]:
    """libpod_parent (and its libpod-* children) beneath our own cgroup, per hierarchy."""
    found: set[Path] = set()
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, ctrls, own = line.split(":", 2)
        base = Path("/sys/fs/cgroup") / (ctrls.replace("name=", "") or "unified") / own.lstrip("/")
        parent = base / "libpod_parent"
        if parent.is_dir():
            found |= {parent, *parent.glob("libpod-*")}
    return found


def _wrappers(bindir: Path, run_root: Path, podman: str, pm_dir: Path) -> None:
    runtime = Path(sys.executable).parent / "dockyard-runtime"
    conf = pm_dir / "containers.conf"
    conf.write_text(PODMAN_CONF)
    bindir.mkdir()
    (bindir / "dockyard-runtime").write_text(
        f'#!/bin/sh\nexec {runtime} --root {run_root / "runtime"} "$@"\n'
    )
    (bindir / "podman").write_text(
        f"#!/bin/sh\nCONTAINERS_CONF={conf} exec {podman} --root {pm_dir / 'root'}"
        f" --runroot {pm_dir / 'run'} --tmpdir {pm_dir / 'tmp'} --storage-driver vfs"
        ' "$@"\n'
    )
    for w in bindir.iterdir():
        w.chmod(0o755)


def _stop_background(pidfile: Path) -> None:
    """SIGTERM (then SIGKILL) the servers the tour started in the background."""
    try:
        pids = [int(p) for p in pidfile.read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        try:
            wait_dead(pid, timeout=10)
        except AssertionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_dead(pid, timeout=10)


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tour]:
    cached = busybox_archive()
    podman = need_tool("podman")
    lines = tour_lines((REPO / "README.md").read_text())
    bootstraps = any(ln.startswith(BOOTSTRAP + " ") for ln in lines)
    assert bootstraps, "the tour no longer bootstraps busybox: revisit the substitution"
    base = tmp_path_factory.mktemp("tour")
    shutil.copytree(REPO / "examples", base / "examples")
    for junk in ("busybox.tar", "bundle/rootfs", "registry.log"):  # a copy of a used checkout
        p = base / "examples" / junk
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    d = Daemonized(base / "root", base / "run", 0)
    pidfile = base / "background.pids"
    script = base / "tour.sh"
    script.write_text(tour_script(lines, base, cached, pidfile))
    env = {
        **os.environ,
        "PATH": f"{base / 'bin'}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "DOCKYARD_ROOT": str(d.root),
        "DOCKYARD_RUN_ROOT": str(d.run_root),
    }
    before = _libpod_cgroups()
    pm_dir = Path(tempfile.mkdtemp(prefix="dy-tour-", dir="/tmp"))  # podman: runroot < 50 chars
    try:
        _wrappers(base / "bin", d.run_root, podman, pm_dir)
        holder = ns_holder()
        d.ns_pid = holder.pid
        bash: subprocess.Popen[bytes] | None = None
        try:
            with open(base / "tour.log", "w+") as log:
                bash = subprocess.Popen(
                    ["nsenter", "-t", str(holder.pid), "-n", "-m", "--", "bash", str(script)],
                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
                try:
                    rc = bash.wait(timeout=480)
                except subprocess.TimeoutExpired:
                    rc = -1
                log.seek(0)
                text = log.read()
            yield Tour(rc, text, lines, sections(text))
        finally:
            _teardown(d, holder, bash, pidfile, env)
    finally:
        shutil.rmtree(pm_dir, ignore_errors=True)
        for cg in sorted(_libpod_cgroups() - before, key=lambda p: len(str(p)), reverse=True):
            with contextlib.suppress(OSError):
                cg.rmdir()
    left = _libpod_cgroups() - before
    assert not left, f"cgroups left behind: {sorted(left)}"


def _teardown(
    d: Daemonized,
    holder: subprocess.Popen[str],
    bash: subprocess.Popen[bytes] | None,
    pidfile: Path,
    env: dict[str, str],
) -> None:
    """Background servers by PID, podman's containers, the daemon's containers, daemon and
    shims; then whatever is left of the tour's process group (a line that hung); then the
    namespaces."""
    try:
        _stop_background(pidfile)
        podman = str(Path(env["PATH"].split(":", 1)[0]) / "podman")
        subprocess.run(["nsenter", "-t", str(holder.pid), "-n", "-m", "--", podman,
                        "rm", "-af", "-t", "0"], env=env, capture_output=True, timeout=120,
                       check=False)  # fmt: skip
        teardown(d)
    finally:
        if bash is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(bash.pid, signal.SIGKILL)
            bash.wait()
        stop_holder(holder)


def test_tour_lines_are_one_command_each() -> None:
    """No ``;``-joined lines and no ``-f``/``--follow`` that never returns."""
    lines = tour_lines((REPO / "README.md").read_text())
    assert lines
    for line in lines:
        code = line.split(" #", 1)[0]
        assert ";" not in code.replace("$(", ""), line
        assert not re.search(r"\blogs\b.*(\s-f\b|--follow)", code), line


def test_the_readme_tour_runs_verbatim(tour: Tour) -> None:
    assert tour.returncode == 0, tour.failure()
    assert len(tour.output) == len(tour.lines)
    assert tour.of("dockyard run --rm busybox echo").strip() == "hello"
    assert "uid=1000 gid=1000" in tour.of("dockyard run --rm --memory")
    assert "hello from an image dockyard built" in tour.of("dockyard run --rm app:1")
    assert "response:200" in tour.of("dockyard logs --tail 5 web")  # httpd -v logged the wget
    assert "hello from dockyard-runtime, PID 1" in tour.of("dockyard-runtime run")
    assert tour.of("podman ").rstrip().endswith("hello")


def test_the_compose_client_reaches_the_server_by_name(tour: Tour) -> None:
    assert tour.returncode == 0, tour.failure()
    logs = tour.of("dockyard compose logs client")
    assert "hello from server" in logs, logs  # by name, on the project's default network
