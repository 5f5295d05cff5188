"""Regression (issue 21, 3c): ``--init`` was accepted and ignored. With it, docker's
docker-init (the host's static tini, bound read-only at /sbin/docker-init) is PID 1 with
the command as its child: it forwards SIGTERM (a PID 1 without a handler ignores it, so
``stop`` waited for its timeout), reaps orphans (else they stay zombies) and exits with
the child's status; inspect shows ``HostConfig.Init``."""

from __future__ import annotations

import time

import pytest
from regress_kit import Daemonized, dyd

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]

# an orphan (its parent sh exits at once) that ends after 0.2 s: PID 1 inherits it
ORPHAN = "(sleep 0.2 &); exec sleep 100"
STATES = "for f in /proc/[0-9]*/stat; do read -r _ c s _ < $f; echo $c$s; done 2>/dev/null"


def _states(dyd: Daemonized, name: str) -> list[str]:
    return sorted(dyd.out("exec", name, "sh", "-c", STATES).split())


def test_init_is_pid_1_forwards_stop_and_reaps(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--init", "--name", "ini", "busybox", "sh", "-c", ORPHAN)
    assert dyd.out("inspect", "-f", "{{.HostConfig.Init}}", "ini") == "true"
    cmdline = dyd.out("exec", "ini", "cat", "/proc/1/cmdline").split("\0")
    assert cmdline[:2] == ["/sbin/docker-init", "--"]
    # the orphan is reaped: only the init, the sleep and this exec's shell remain
    dyd.wait_for(lambda: _states(dyd, "ini") == ["(docker-init)S", "(sh)R", "(sleep)S"],
                 10, "the orphan reaped")  # fmt: skip
    t0 = time.monotonic()
    dyd.out("stop", "ini")  # SIGTERM to tini, forwarded to sleep: no 10 s timeout
    assert time.monotonic() - t0 < 5
    assert dyd.out("inspect", "-f", "{{.State.ExitCode}}", "ini") == "143"
    assert dyd.run("run", "--rm", "--init", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_without_init_the_orphan_stays_a_zombie_and_stop_times_out(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "bare", "busybox", "sh", "-c", ORPHAN)
    assert dyd.out("inspect", "-f", "{{.HostConfig.Init}}", "bare") == "false"
    dyd.wait_for(lambda: "(sleep)Z" in _states(dyd, "bare"), 10, "a zombie")
    t0 = time.monotonic()
    dyd.out("stop", "-t", "2", "bare")  # sleep as PID 1 ignores SIGTERM: killed at 2 s
    assert time.monotonic() - t0 >= 2
    assert dyd.out("inspect", "-f", "{{.State.ExitCode}}", "bare") == "137"
