"""CLI habits of issue 16 item 3, each through a private daemon: ``container SUB`` is the
top-level SUB (never the old foreground engine), ``save``/``load`` on stdout/stdin,
``images -a/--digests/-f``, ``logs --details``, the forwarding warning only where it
matters."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from daemon_kit import (
    Daemonized,
    busybox_archive,
    dyd,
    ns_holder,
    stop_holder,
    teardown,
)

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
    out = dyd.out("container", "prune", "-f", "--filter", "until=1h")  # all younger: kept
    assert out == "Total reclaimed space: 0B"
    out = dyd.out("container", "prune", "-f", "--filter", "label=tier=a")
    assert out.startswith("Deleted Containers:") and "Total reclaimed space" in out
    assert sorted(dyd.out("ps", "-a", "--format", "{{.Names}}").split()) == ["c2", "c3"]
    dyd.out("container", "rm", "c2")
    assert dyd.out("ps", "-a", "--format", "{{.Names}}") == "c3"
    out = dyd.out("container", "prune", "-f", "--filter", "until=2100-01-01T00:00:00Z")
    assert out.startswith("Deleted Containers:") and dyd.out("ps", "-aq") == ""
    p = dyd.run("container", "run", "busybox", "no-such-command")
    assert p.returncode == 127 and "Traceback" not in p.stderr
    p = dyd.run("container", "frobnicate")
    assert p.returncode == 125 and "Traceback" not in p.stderr


def _pty_run(dyd: Daemonized, *args: str, stdin_tty: bool) -> subprocess.CompletedProcess[bytes]:
    """``args`` with stdout (or stdin) on a terminal: a pty this test opens and closes."""
    primary, secondary = os.openpty()
    try:
        fds = {"stdin": secondary} if stdin_tty else {"stdout": secondary}
        return subprocess.run(dyd.argv(*args), stderr=subprocess.PIPE, timeout=60, check=False,
                              **fds)  # type: ignore[call-overload,no-any-return]  # fmt: skip
    finally:
        os.close(primary)
        os.close(secondary)


def test_save_to_stdout_and_load_from_stdin(dyd: Daemonized, tmp_path: Path) -> None:
    # before: save needed -o and load needed -i (argparse refused both, exit 125)
    saved = subprocess.run(dyd.argv("save", "busybox"), capture_output=True, timeout=60,
                           check=True).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(saved)) as tf:
        assert "index.json" in tf.getnames()
    other = Daemonized(tmp_path / "root2", tmp_path / "run2", dyd.ns_pid)
    try:
        p = subprocess.run(other.argv("load"), input=saved, capture_output=True, timeout=60,
                           check=False)  # fmt: skip
        assert p.returncode == 0, p.stderr
        assert p.stdout.decode().strip() == "Loaded image: busybox:latest"
        assert other.out("images", "--format", "{{.Repository}}:{{.Tag}}") == "busybox:latest"
    finally:
        teardown(other)
    p = _pty_run(dyd, "save", "busybox", stdin_tty=False)
    assert p.returncode != 0
    assert p.stderr.decode().strip() == (
        "dockyard: cowardly refusing to save to a terminal. Use the -o flag or redirect"
    )
    p = _pty_run(dyd, "load", stdin_tty=True)
    assert p.returncode != 0
    assert p.stderr.decode().strip() == "dockyard: requested load from stdin, but stdin is empty"
    p = subprocess.run(dyd.argv("load"), input=b"not a tar", capture_output=True, timeout=60,
                       check=False)  # fmt: skip
    assert p.returncode != 0 and len(p.stderr.decode().strip().splitlines()) == 1


def test_logs_details(dyd: Daemonized) -> None:
    # before: "unrecognized arguments: --details"
    dyd.out("run", "--name", "plain", "busybox", "echo", "hi")
    assert dyd.run("logs", "--details", "plain", check=True).stdout == " hi\n"
    dyd.out("run", "--name", "tagged", "--label", "tier=web", "--label", "other=x", "-e",
            "REGION=eu west", "--log-opt", "labels=tier,absent", "--log-opt", "env=REGION",
            "busybox", "echo", "hi")  # fmt: skip
    assert dyd.run("logs", "--details", "tagged", check=True).stdout == (
        "REGION=eu+west,tier=web hi\n")  # fmt: skip
    assert dyd.out("logs", "tagged") == "hi"  # without --details: the line alone
    stamped = dyd.out("logs", "-t", "--details", "tagged")
    assert stamped.split(" ", 1)[1] == "REGION=eu+west,tier=web hi"  # time first, as docker
    p = dyd.run("run", "--log-opt", "env-regex=(", "busybox", "true")
    assert p.returncode == 125 and "env-regex" in p.stderr and "Traceback" not in p.stderr


FWD = "IPv4 forwarding is disabled"


def test_forwarding_warning_only_where_it_matters_and_once(tmp_path: Path) -> None:
    # a "host" whose net.ipv4.ip_forward is 0 (a fresh network namespace's default)
    holder = ns_holder("ip link set lo up && echo 0 > /proc/sys/net/ipv4/ip_forward")
    d = Daemonized(tmp_path / "root", tmp_path / "run", holder.pid)
    try:
        d.run("load", "-i", str(busybox_archive()), check=True)
        for net in ("none", "host"):  # no bridge: forwarding cannot matter
            p = d.run("run", "--rm", "--network", net, "busybox", "true", check=True)
            assert FWD not in p.stderr, net
        d.out("network", "create", "--internal", "island")
        p = d.run("run", "--rm", "--network", "island", "busybox", "true", check=True)
        assert FWD not in p.stderr  # internal: no way out to forward to
        p = d.run("run", "--rm", "busybox", "true", check=True)  # bridged, outbound possible
        assert p.stderr.count(FWD) == 1
        p = d.run("run", "--rm", "-p", "8080:80", "busybox", "true", check=True)
        assert FWD not in p.stderr  # once per daemon, not in every script's output
        p = d.run("create", "busybox", "true", check=True)
        assert FWD not in p.stderr
        assert FWD in d.out("info")  # still reported where one looks for it
    finally:
        try:
            teardown(d)
        finally:
            stop_holder(holder)
