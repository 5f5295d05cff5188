"""CLI habits of issue 16 item 3, each through a private daemon: ``container SUB`` is the
top-level SUB (never the old foreground engine), ``save``/``load`` on stdout/stdin,
``images -a/--digests/-f``, ``logs --details``, the forwarding warning only where it
matters."""

from __future__ import annotations

import pytest
from daemon_kit import Daemonized, dyd

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]


def test_container_subcommands_go_through_the_daemon(dyd: Daemonized) -> None:
    # before: `container run` was the foreground engine (no -d, invisible to `ps`)
    dyd.out("container", "run", "-d", "--name", "c1", "--label", "tier=a", "busybox",
            "sleep", "60")  # fmt: skip
    assert dyd.out("ps", "--format", "{{.Names}}") == "c1"
    assert dyd.out("container", "ls", "--format", "{{.Names}} {{.State}}") == "c1 running"
    assert dyd.out("container", "inspect", "-f", "{{.State.Status}}", "c1") == "running"
    dyd.out("container", "create", "--name", "c2", "busybox", "true")
    dyd.out("container", "run", "--name", "c3", "busybox", "true")
    p = dyd.run("container", "rm", "c1")
    assert p.returncode != 0 and "running" in p.stderr
    dyd.out("container", "stop", "-t", "1", "c1")
    assert sorted(dyd.out("container", "ps", "-a", "--filter", "status=exited",
                          "--format", "{{.Names}}").split()) == ["c1", "c3"]  # fmt: skip
    p = dyd.run("container", "prune", input="n\n")  # docker's question, declined
    assert p.returncode == 0 and "Are you sure" in p.stdout
    assert sorted(dyd.out("ps", "-a", "--format", "{{.Names}}").split()) == ["c1", "c2", "c3"]
    out = dyd.out("container", "prune", "-f", "--filter", "label=tier=a")
    assert out.startswith("Deleted Containers:") and "Total reclaimed space" in out
    assert sorted(dyd.out("ps", "-a", "--format", "{{.Names}}").split()) == ["c2", "c3"]
    dyd.out("container", "rm", "c2")
    assert dyd.out("ps", "-a", "--format", "{{.Names}}") == "c3"
    p = dyd.run("container", "run", "busybox", "no-such-command")
    assert p.returncode == 127 and "Traceback" not in p.stderr
    p = dyd.run("container", "frobnicate")
    assert p.returncode == 125 and "Traceback" not in p.stderr
