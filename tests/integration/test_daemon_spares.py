"""Containers prepared ahead of their process (docs/decisions/0005-containers-prepared-ahead.md):
a run takes the spare a run like it left, with its own command, environment, name and exit
code; spares never show; nothing of them outlives the daemon, a killed one's are swept."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import Daemonized, daemonized, own_cgroup_children, spare_ids, wait_dead

pytestmark = [pytest.mark.root]


@pytest.fixture
def sp(tmp_path: Path) -> Iterator[Daemonized]:
    """``dyd`` with spares on (the other tests' daemons run without)."""
    with daemonized(tmp_path, {"DOCKYARD_SPARES": "1"}) as d:
        yield d


def _one_spare(d: Daemonized) -> str:
    d.wait_for(lambda: len(spare_ids(d.root)) == 1, 20, "one spare")
    (cid,) = d.settle_spares()
    return cid


@pytest.mark.parametrize("network", ["none", "default"])
def test_a_run_takes_the_spare_with_its_own_process(sp: Daemonized, network: str) -> None:
    p = sp.run("run", "--rm", "--network", network, "busybox", "true")
    assert p.returncode == 0, p.stderr
    spare = _one_spare(sp)
    assert sp.out("ps", "-aq") == ""  # never listed
    assert sp.run("inspect", f".spare-{spare[:12]}").returncode != 0  # nor found by name
    p = sp.run("run", "--network", network, "--name", "second", "-e", "GREETING=hi",
               "busybox", "sh", "-c", 'echo "$GREETING from $(hostname)"; exit 3')  # fmt: skip
    assert p.returncode == 3, p.stderr
    info = json.loads(sp.out("inspect", "second"))[0]
    assert info["Id"] == spare  # the prepared container, renamed
    assert p.stdout == f"hi from {spare[:12]}\n"
    assert info["Name"] in ("second", "/second") and info["State"]["ExitCode"] == 3
    assert sp.out("logs", "second") == f"hi from {spare[:12]}"
    # a restart runs the new process from the bundle (cold)
    p = sp.run("start", "-a", "second")
    assert p.returncode == 3 and p.stdout == f"hi from {spare[:12]}\n"
    sp.out("rm", "second")
    assert _one_spare(sp) != spare  # the next one is ready


def test_other_options_do_not_take_it(sp: Daemonized) -> None:
    sp.out("run", "--rm", "--network", "none", "busybox", "true")
    spare = _one_spare(sp)
    cid = sp.out("run", "-d", "--network", "none", "--memory", "64m", "busybox", "sleep", "30")
    assert not spare.startswith(cid)
    assert spare in spare_ids(sp.root)
    # a detached run with the spare's options takes it and keeps running
    cid2 = sp.out("run", "-d", "--network", "none", "busybox", "sleep", "30")
    assert spare.startswith(cid2)
    # its holder's record says so before the run has answered (a kill -9 now keeps it)
    assert json.loads((sp.run_root / "holders" / f"{spare}.json").read_text())["spare"] is False
    assert sp.out("ps", "--format", "{{.State}}").split() == ["running", "running"]
    sp.out("exec", cid2, "true")
    sp.out("rm", "-f", cid, cid2)


def test_refused_runs_prepare_nothing(sp: Daemonized) -> None:
    sp.out("run", "--rm", "--network", "none", "busybox", "true")
    spares = sp.settle_spares()
    for args in (("--name", ".bad", "busybox", "true"), ("nosuchimage", "true"),
                 ("busybox", "/no/such/command")):  # fmt: skip
        p = sp.run("run", "--rm", "--network", "none", *args)
        assert p.returncode != 0 and "Traceback" not in p.stderr
    assert sp.settle_spares() <= spares  # nothing new (one may have been taken)
    assert sp.out("ps", "-aq") == ""


def test_nothing_outlives_the_daemon_and_a_killed_ones_are_swept(sp: Daemonized) -> None:
    sp.out("run", "--rm", "--network", "none", "busybox", "true")
    sp.out("run", "--rm", "busybox", "true")
    sp.wait_for(lambda: len(spare_ids(sp.root)) == 2, 20, "two spares")
    spares = sp.settle_spares()
    assert spares <= own_cgroup_children()
    # kill -9: the next daemon discards them (records, cgroups, files)
    daemon = sp.pid_of("dockyard.pid")
    os.kill(daemon, signal.SIGKILL)
    wait_dead(daemon)  # its socket closed: the next call starts a new daemon
    assert sp.out("ps", "-aq") == ""
    sp.wait_for(lambda: not (spares & spare_ids(sp.root)), 20, "the old spares swept")
    sp.wait_for(lambda: not (spares & own_cgroup_children()), 20, "their cgroups removed")
    assert not any((sp.root / "containers" / c).exists() for c in spares)
    # a stopped daemon leaves none
    sp.out("run", "--rm", "--network", "none", "busybox", "true")
    sp.wait_for(lambda: spare_ids(sp.root), 20, "a spare")
    os.kill(sp.pid_of("dockyard.pid"), signal.SIGTERM)
    sp.wait_for(lambda: not sp.pid_of("dockyard.pid"), 20, "daemon exit")
    assert spare_ids(sp.root) == set()
    assert not (own_cgroup_children() - set(sp.out("ps", "-aq", "--no-trunc").split()))
    assert str(sp.root / "containers") not in Path("/proc/self/mountinfo").read_text()
