"""Live restore: ``kill -9`` of dockyardd loses no container, log line or exit code."""

from __future__ import annotations

import os
import signal

import pytest
from daemon_kit import Daemonized, dyd, wait_dead

pytestmark = [pytest.mark.root, pytest.mark.slow]
__all__ = ["dyd"]


def _holders(dyd: Daemonized) -> set[int]:
    """The live holders the records of ``dyd`` name (see dockyard.engine.holder)."""
    import json

    from dockyard.engine.holder import start_time

    out = set()
    for path in (dyd.run_root / "holders").glob("*.json"):
        rec = json.loads(path.read_text())
        if start_time(int(rec["holder"])) == rec["holder_start"]:
            out.add(int(rec["holder"]))
    return out


# each counter also leaves its last number in /tmp/n (read through /proc/<pid>/root), so
# that the test sees it write while no daemon runs
COUNTER = "i=0; while true; do echo line $i; echo $i > /tmp/n; i=$((i+1)); sleep 0.05; done"
# exits 42 once the test lets it (after the kill), however long the runs before took
QUITTER = "until [ -e /tmp/go ]; do sleep 0.05; done; exit 42"


def _counted(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/root/tmp/n") as f:
            return int(f.read() or -1)
    except (OSError, ValueError):
        return -1


def test_kill_9_of_the_daemon_with_ten_running_containers(dyd: Daemonized) -> None:
    for i in range(10):
        dyd.out("run", "-d", "--name", f"c{i}", "busybox", "sh", "-c", COUNTER)
    dyd.out("run", "-d", "--name", "quitter", "busybox", "sh", "-c", QUITTER)
    pids = {n: int(dyd.out("inspect", "-f", "{{.State.Pid}}", n))
            for n in [*(f"c{i}" for i in range(10)), "quitter"]}  # fmt: skip
    daemon = dyd.pid_of("dockyard.pid")
    holders = _holders(dyd)
    assert len(holders) == 11  # one per container, none left by the finished runs
    os.kill(daemon, signal.SIGKILL)
    wait_dead(daemon)
    # while no daemon runs: the quitter exits, and every counter writes 20 more lines
    at_kill = {n: _counted(pid) for n, pid in pids.items()}
    with open(f"/proc/{pids['quitter']}/root/tmp/go", "w"):
        pass
    wait_dead(pids["quitter"])  # a zombie its holder keeps, with the exit status
    dyd.wait_for(lambda: all(_counted(pids[f"c{i}"]) >= at_kill[f"c{i}"] + 20 for i in range(10)),
                 30, "the counters to write while no daemon runs")  # fmt: skip
    written = {n: _counted(pid) for n, pid in pids.items()}
    out = dyd.out("ps", "--format", "{{.Names}} {{.State}}")  # starts a new daemon
    assert dyd.pid_of("dockyard.pid") not in (0, daemon)
    after = _holders(dyd)  # the same holders, less the quitter's (released at its exit)
    assert len(after) == 10 and after <= holders
    running = sorted(line.split()[0] for line in out.splitlines() if line.endswith("running"))
    assert running == sorted(f"c{i}" for i in range(10))
    assert dyd.out("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "quitter") == (
        "exited 42"
    )
    for i in range(10):
        lines = dyd.out("logs", f"c{i}").splitlines()
        numbers = [int(line.split()[1]) for line in lines]
        assert numbers == list(range(len(numbers))), f"gap in c{i}"
        assert numbers[-1] >= written[f"c{i}"]  # what it wrote while no daemon ran is kept
    # the restored daemon still supervises them: a stop records the real exit
    dyd.out("stop", "-t", "1", "c0")
    assert dyd.out("inspect", "-f", "{{.State.ExitCode}}", "c0") == "137"
    assert dyd.run("run", "--rm", "busybox", "sh", "-c", "exit 9").returncode == 9
