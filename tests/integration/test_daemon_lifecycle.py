"""dockyardd end to end through the CLI: run, logs, exec, stats, restart policies,
health checks, volumes, bad input (issue 5's acceptance list)."""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import IO

import pytest
from daemon_kit import Daemonized, dyd, own_cgroup_children

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]


def test_run_rm_gives_output_and_exit_code_and_leaves_nothing(dyd: Daemonized) -> None:
    p = dyd.run("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 7")
    assert p.returncode == 7
    assert p.stdout == "out\n"
    assert p.stderr == "err\n"
    assert dyd.out("ps", "-aq") == ""
    assert dyd.pid_of("dockyard.pid") > 0
    assert not list((dyd.run_root / "holders").glob("*.json"))  # its holder is released


def test_detached_container_logs_follow_streams(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
            "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done")  # fmt: skip
    follow = dyd.popen("logs", "-f", "ticker")
    try:
        assert follow.stdout is not None
        first = follow.stdout.readline()
        assert first.startswith("line "), first
        # the log's last line now, while -f already answers: the lines after it are written
        # later, so -f hands them over as they come (however many it had to catch up on)
        last = int(dyd.out("logs", "ticker").splitlines()[-1].split()[1])
        numbers = [int(first.split()[1])]
        while numbers[-1] < last + 2:
            line = follow.stdout.readline()
            assert line.startswith("line "), line
            numbers.append(int(line.split()[1]))
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no gap, no repeat
    finally:
        follow.kill()
        follow.communicate()
    tail = dyd.out("logs", "--tail", "2", "-t", "ticker").splitlines()
    assert len(tail) == 2 and tail[0].split()[0].endswith("Z")
    dyd.out("stop", "-t", "1", "ticker")
    # after the container ended, -f returns
    p = dyd.run("logs", "-f", "ticker", timeout=10)
    assert p.returncode == 0 and "line 0" in p.stdout


def test_exec_joins_the_same_namespaces(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "box", "busybox", "sleep", "60")
    script = (
        "for n in net mnt pid uts ipc cgroup; do "
        '[ "$(readlink /proc/1/ns/$n)" = "$(readlink /proc/$$/ns/$n)" ] || echo DIFF $n; '
        "done; readlink /proc/$$/ns/net"
    )
    out = dyd.out("exec", "box", "sh", "-c", script).splitlines()
    assert not [line for line in out if line.startswith("DIFF")], out
    assert out[-1] != os.readlink("/proc/self/ns/net")  # not the host's
    assert dyd.out("exec", "-e", "X=1", "-w", "/tmp", "box", "sh", "-c", "echo $X $PWD") == "1 /tmp"
    assert dyd.out("exec", "-u", "nobody", "box", "id", "-u") == "65534"
    assert dyd.run("exec", "box", "sh", "-c", "exit 5").returncode == 5
    dyd.out("exec", "-d", "box", "sh", "-c", "echo bg > /tmp/bg")
    dyd.wait_for(lambda: dyd.run("exec", "box", "cat", "/tmp/bg").stdout == "bg\n", 5, "exec -d")


def _cgroup_cpu_seconds(pid: int) -> float:
    """CPU time used so far by the cgroup of ``pid`` (v1 cpuacct, else v2 cpu.stat)."""
    with open(f"/proc/{pid}/cgroup") as f:
        entries = [line.rstrip("\n").split(":", 2) for line in f]
    for _, ctrls, path in entries:
        if "cpuacct" in ctrls.split(","):
            usage = Path("/sys/fs/cgroup", ctrls, path.lstrip("/"), "cpuacct.usage")
            return int(usage.read_text()) / 1e9
    for _, ctrls, path in entries:
        if ctrls == "":
            stat = Path("/sys/fs/cgroup", path.lstrip("/"), "cpu.stat").read_text()
            for line in stat.splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) / 1e6
    raise AssertionError(f"no cpu accounting for {pid}")


def test_stats_shows_a_busy_container_near_its_cpu_limit(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "busy", "--cpus", "0.5", "busybox", "sh", "-c",
            "while true; do :; done")  # fmt: skip
    pid = int(dyd.out("inspect", "-f", "{{.State.Pid}}", "busy"))
    # the loop is spinning, throttled: 0.3 s of CPU takes it at least 0.6 s
    dyd.wait_for(lambda: _cgroup_cpu_seconds(pid) >= 0.3, 30, "the loop to spin")
    samples = []
    for _ in range(3):
        out = dyd.out("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.PIDs}}", "busy")
        cpu, pids = out.split()
        samples.append(float(cpu.rstrip("%")))
        assert int(pids) >= 1
    best = sorted(samples)[1]
    assert 35.0 <= best <= 65.0, samples


def test_restart_on_failure_3_restarts_exactly_three_times(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c",
            "echo run; exit 3")  # fmt: skip
    # a witness started after it with one restart more: its fourth restart (after the same
    # backoff) and the run after it end later than a fourth restart of flaky's would have
    dyd.out("run", "-d", "--name", "witness", "--restart", "on-failure:4", "busybox", "sh",
            "-c", "echo run; exit 3")  # fmt: skip

    def settled(name: str, count: int) -> bool:
        out = dyd.out("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", name)
        return out == f"exited {count}"

    dyd.wait_for(lambda: settled("flaky", 3), 30, "three restarts")
    t0 = time.monotonic()
    dyd.wait_for(lambda: settled("witness", 4), 30, "the witness's fourth restart and exit")
    time.sleep(max(0.0, 1.5 - (time.monotonic() - t0)))  # no fourth, not even late
    assert dyd.out("logs", "witness").splitlines() == ["run"] * 5
    assert dyd.out("inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}",
                   "flaky") == "exited 3 3"  # fmt: skip
    assert dyd.out("logs", "flaky").splitlines() == ["run"] * 4


def test_failing_health_check_turns_unhealthy(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "sick", "--health-cmd", "exit 1", "--health-interval", "200ms",
            "--health-retries", "2", "busybox", "sleep", "60")  # fmt: skip
    dyd.out("run", "-d", "--name", "fine", "--health-cmd", "true", "--health-interval", "200ms",
            "busybox", "sleep", "60")  # fmt: skip

    def status(name: str) -> str:
        return dyd.out("inspect", "-f", "{{.State.Health.Status}}", name)

    dyd.wait_for(lambda: status("sick") == "unhealthy", 20, "unhealthy")
    dyd.wait_for(lambda: status("fine") == "healthy", 20, "healthy")
    ps = dyd.out("ps", "--format", "{{.Names}} {{.Status}}")
    assert "(unhealthy)" in ps and "(healthy)" in ps
    log = json.loads(dyd.out("inspect", "-f", "{{json .State.Health}}", "sick"))
    assert log["FailingStreak"] >= 2 and log["Log"][-1]["ExitCode"] == 1
    events = dyd.out("events", "--since", "0", "--until", f"{time.time():.3f}",
                     "--filter", "container=sick")  # fmt: skip
    assert "health_status: unhealthy" in events


def test_named_volume_outlives_its_container(dyd: Daemonized) -> None:
    dyd.out("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert "data" in dyd.out("volume", "ls", "-q").split()
    assert dyd.out("run", "--rm", "-v", "data:/data:ro", "busybox", "cat", "/data/f") == "kept"
    p = dyd.run("run", "--rm", "-v", "data:/data:ro", "busybox", "sh", "-c", "echo x > /data/g")
    assert p.returncode != 0
    info = json.loads(dyd.out("volume", "inspect", "data"))[0]
    assert info["Mountpoint"].endswith("/volumes/data/_data")
    dyd.out("volume", "rm", "data")
    assert dyd.out("volume", "ls", "-q") == ""


def test_bind_mount_and_cp(dyd: Daemonized, tmp_path: Path) -> None:
    host = tmp_path / "share"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    assert dyd.out("run", "--rm", "-v", f"{host}:/mnt", "busybox", "cat", "/mnt/in.txt") == (
        "from host"
    )
    dyd.out("run", "-d", "--name", "cpbox", "busybox", "sleep", "60")
    dyd.out("cp", str(host / "in.txt"), "cpbox:/tmp/")
    assert dyd.out("exec", "cpbox", "cat", "/tmp/in.txt") == "from host"
    dyd.out("cp", "cpbox:/etc/hostname", str(host / "hn"))
    assert (host / "hn").read_text().strip() == dyd.out("inspect", "-f", "{{.Config.Hostname}}",
                                                        "cpbox")  # fmt: skip


def test_lifecycle_commands(dyd: Daemonized) -> None:
    cid = dyd.out("create", "--name", "c1", "busybox", "sleep", "60")
    assert dyd.out("inspect", "-f", "{{.State.Status}}", "c1") == "created"
    dyd.out("start", "c1")
    dyd.out("pause", "c1")
    assert dyd.out("inspect", "-f", "{{.State.Status}}", "c1") == "paused"
    dyd.out("unpause", "c1")
    dyd.out("rename", "c1", "c2")
    assert dyd.out("ps", "-q", "--no-trunc", "--filter", "name=c2") == cid
    assert "sleep 60" in dyd.out("top", "c2")
    p = dyd.run("rm", "c2")
    assert p.returncode != 0 and "running" in p.stderr
    t0 = time.monotonic()
    dyd.out("stop", "-t", "1", "c2")  # busybox sleep as PID 1 ignores SIGTERM: SIGKILL after 1 s
    assert 0.9 < time.monotonic() - t0 < 10
    assert dyd.out("inspect", "-f", "{{.State.ExitCode}}", "c2") == "137"
    dyd.out("restart", "-t", "0", "c2")
    assert dyd.out("inspect", "-f", "{{.State.Status}}", "c2") == "running"
    w = dyd.popen("wait", "c2")
    time.sleep(0.3)
    dyd.out("kill", "-s", "TERM", "c2")  # PID 1 ignores TERM
    dyd.out("kill", "c2")
    assert w.communicate(timeout=10)[0].strip() == "137"
    dyd.out("rm", "c2")
    assert dyd.out("ps", "-aq") == ""


def test_bad_input_is_one_line_and_leaves_nothing(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "taken", "busybox", "sleep", "60")
    before_rows = dyd.out("ps", "-aq")
    # containers prepared ahead of the next run (docs/decisions/0005) hold cgroups and
    # mounts between runs; --rm containers of earlier tests release theirs just after exit
    spares = dyd.settle_spares()
    running = set(dyd.out("ps", "-aq", "--no-trunc").split()) | spares
    dyd.wait_for(lambda: own_cgroup_children() <= running, 10, "earlier cgroups released")
    before_cg = own_cgroup_children()
    before_vols = dyd.out("volume", "ls", "-q")
    mounts_before = Path("/proc/self/mountinfo").read_text().count(str(dyd.root))
    cases = [
        # (--pull never: a missing image is pulled on demand otherwise, from the network)
        ("run", "--rm", "--pull", "never", "nosuchimage", "true"),
        ("run", "--rm", "-v", "data:relative", "busybox", "true"),
        ("run", "--rm", "-v", "::", "busybox", "true"),
        ("run", "--rm", "--name", "taken", "busybox", "true"),
        ("run", "--rm", "--memory", "lots", "busybox", "true"),
        ("run", "--rm", "-p", "80:", "busybox", "true"),
        ("run", "--rm", "--restart", "sometimes", "busybox", "true"),
    ]
    for args in cases:
        p = dyd.run(*args)
        assert p.returncode != 0, args
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
        assert "Traceback" not in p.stderr
    assert dyd.out("ps", "-aq") == before_rows
    assert own_cgroup_children() == before_cg
    assert dyd.settle_spares() == spares  # a refused run prepares nothing
    assert dyd.out("volume", "ls", "-q") == before_vols
    assert Path("/proc/self/mountinfo").read_text().count(str(dyd.root)) == mounts_before


def _line_queue(stream: IO[str]) -> queue.Queue[str]:
    """The lines of a child's pipe, read by a thread (a pipe's reader may hold several
    lines in its buffer, so select() on it is no guide); "" at the end."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_events_stream(dyd: Daemonized) -> None:
    dyd.out("create", "--name", "probe0", "busybox", "true")  # the daemon is up, a probe made
    ev = dyd.popen("events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    renames = [0]

    def subscribed() -> bool:
        """Rename the probe; True once its event came on the stream (which then carries
        every event after it, so the run below starts only when the stream is live)."""
        n = renames[0]
        dyd.out("rename", f"probe{n}", f"probe{n + 1}")
        renames[0] = n + 1
        deadline = time.monotonic() + 2
        while (left := deadline - time.monotonic()) > 0:
            try:
                if lines.get(timeout=left).strip() == f"container rename probe{n + 1}":
                    return True
            except queue.Empty:
                break
        return False

    try:
        assert ev.stdout is not None
        lines = _line_queue(ev.stdout)
        dyd.wait_for(subscribed, 30, "the event stream to carry events")
        dyd.out("run", "--rm", "--name", "evt", "busybox", "true")
        seen = [lines.get(timeout=20).strip() for _ in range(4)]
    finally:
        ev.kill()
        ev.communicate()
    assert seen == ["container create evt", "container start evt", "container die evt",
                    "container destroy evt"]  # fmt: skip


def test_system_info_and_df(dyd: Daemonized) -> None:
    info = json.loads(dyd.out("system", "info", "--format", "{{json .}}"))
    assert info["Images"] == 1 and info["LiveRestoreEnabled"] is True
    assert "Images" in dyd.out("system", "df")
    assert (dyd.run_root / "dockyard.sock").is_socket()


def test_rm_force_of_a_running_rm_container(dyd: Daemonized) -> None:
    """``rm -f`` of a running ``--rm`` container: its exit removes it meanwhile; the rm
    still succeeds and the name is free at once."""
    dyd.out("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "60")
    p = dyd.run("rm", "-f", "gone")
    assert p.returncode == 0, p.stderr
    assert dyd.out("ps", "-aq", "--filter", "name=gone") == ""
    dyd.out("run", "-d", "--rm", "--name", "gone", "busybox", "sleep", "60")
    dyd.out("rm", "-f", "gone")


def test_a_killed_launcher_is_started_again(dyd: Daemonized) -> None:
    """The launcher (engine/launcher.py) only forks holders: killing it loses nothing, and
    the next start makes a new one."""
    dyd.out("run", "-d", "--name", "keeper", "busybox", "sleep", "60")
    daemon = dyd.pid_of("dockyard.pid")
    kids = [
        int(k)
        for task in os.listdir(f"/proc/{daemon}/task")
        for k in Path(f"/proc/{daemon}/task/{task}/children").read_text().split()
    ]
    launchers = [
        k for k in kids if b"dockyard.engine.launcher" in Path(f"/proc/{k}/cmdline").read_bytes()
    ]
    assert len(launchers) == 1
    os.kill(launchers[0], signal.SIGKILL)
    p = dyd.run("run", "--rm", "busybox", "sh", "-c", "echo again; exit 4")
    assert (p.returncode, p.stdout) == (4, "again\n"), p.stderr
    assert dyd.out("inspect", "-f", "{{.State.Status}}", "keeper") == "running"
    dyd.out("rm", "-f", "keeper")
