"""Lifecycle commands of issue 5 that test_daemon_lifecycle.py does not cover:
``logs --since/--until``, ``rm -v``, ``start -a -i``, ``ps -a --filter status=``,
``kill -s`` by number, ``inspect --format`` on a stopped container."""

from __future__ import annotations

import itertools
import time

import pytest
from daemon_kit import Daemonized, dyd

from dockyard.engine.logs import parse_time

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]


def test_logs_since_and_until(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "clock", "busybox", "sh", "-c",
            "echo one; sleep 1; echo two; sleep 1; echo three")  # fmt: skip
    dyd.wait_for(lambda: dyd.out("inspect", "-f", "{{.State.Status}}", "clock") == "exited",
                 20, "exit")  # fmt: skip
    stamped = [line.split(" ", 1) for line in dyd.out("logs", "-t", "clock").splitlines()]
    assert [text for _, text in stamped] == ["one", "two", "three"]
    ns = [parse_time(stamp) for stamp, _ in stamped]
    mid1, mid2 = ((a + b) / 2e9 for a, b in itertools.pairwise(ns))
    assert dyd.out("logs", "--since", f"{mid1:.6f}", "clock").splitlines() == ["two", "three"]
    assert dyd.out("logs", "--until", f"{mid1:.6f}", "clock").splitlines() == ["one"]
    assert dyd.out("logs", "--since", f"{mid1:.6f}", "--until", f"{mid2:.6f}",
                   "clock").splitlines() == ["two"]  # fmt: skip
    assert dyd.out("logs", "--since", stamped[2][0], "clock") == "three"  # RFC 3339 too
    assert dyd.out("logs", "--since", "1h", "clock").splitlines() == ["one", "two", "three"]
    assert dyd.out("logs", "--until", "1h", "clock") == ""  # an hour ago: nothing yet
    p = dyd.run("logs", "--since", "yesterday-ish", "clock")
    assert p.returncode != 0 and len(p.stderr.strip().splitlines()) == 1


def test_rm_v_removes_anonymous_volumes_only(dyd: Daemonized) -> None:
    dyd.out("run", "-d", "--name", "vols", "-v", "/anon", "-v", "kept:/named", "busybox",
            "sleep", "60")  # fmt: skip
    names = dyd.out("volume", "ls", "-q").split()
    assert "kept" in names and len(names) == 2
    anon = next(n for n in names if n != "kept")
    p = dyd.run("rm", "vols")
    assert p.returncode != 0 and "running" in p.stderr
    dyd.out("rm", "-f", "-v", "vols")
    assert dyd.out("volume", "ls", "-q").split() == ["kept"]
    assert anon not in dyd.out("volume", "ls", "-q")
    assert dyd.out("ps", "-aq") == ""


def test_start_attach_interactive_and_ps_filters(dyd: Daemonized) -> None:
    dyd.out("create", "-i", "--name", "reader", "busybox", "sh", "-c",
            'read x; echo "got $x"; echo err >&2; exit 2')  # fmt: skip
    p = dyd.run("start", "-a", "-i", "reader", input="hi\n")
    assert (p.returncode, p.stdout, p.stderr) == (2, "got hi\n", "err\n")
    dyd.out("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    assert dyd.out("ps", "-a", "--filter", "status=exited", "--format", "{{.Names}}") == "reader"
    assert dyd.out("ps", "--format", "{{.Names}} {{.State}}") == "sleeper running"
    assert sorted(dyd.out("ps", "-a", "--format", "{{.Names}}").split()) == ["reader", "sleeper"]
    assert dyd.out("inspect", "--format", "{{.State.ExitCode}} {{.Config.OpenStdin}}",
                   "reader") == "2 true"  # fmt: skip
    t0 = time.monotonic()
    dyd.out("kill", "-s", "9", "sleeper")
    dyd.wait_for(lambda: dyd.out("inspect", "-f", "{{.State.ExitCode}}", "sleeper") == "137",
                 10, "SIGKILL")  # fmt: skip
    assert time.monotonic() - t0 < 10
