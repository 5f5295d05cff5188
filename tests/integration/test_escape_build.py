"""Escapes through a build's network: what a Dockerfile's RUN can reach on the builder's host.

Each test drives ``dockyard build`` in the private network namespace of the ``dy_fresh``
fixture (the "host" here), runs its servers there, and checks what a RUN step sees with the
default sandbox network, then shows the same Dockerfile reaching them with
``--network host --allow network.host`` (the attack works with the defence off).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Dockyard, need_tool

pytestmark = pytest.mark.root

SECRET = "host-secret-" + uuid.uuid4().hex[:8]
_SERVER = r"""
import socket, sys
kind, where, secret = sys.argv[1:4]
if kind == "unix":
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0" + where)
else:
    s = socket.socket()
    s.bind((where, 0))
s.listen(16)
print(s.getsockname()[1] if kind == "tcp" else "ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(secret.encode() + b"\n")
    c.close()
"""


def in_netns(dy: Dockyard, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the test's network namespace (the builder's "host")."""
    return subprocess.run(["nsenter", "-t", str(dy.netns_pid()), "-n", "--", *argv],
                          capture_output=True, text=True, check=True, timeout=30)  # fmt: skip


@pytest.fixture
def servers(dy_fresh: Dockyard) -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()
        if p.stdout is not None:
            p.stdout.close()


def serve(dy: Dockyard, procs: list[subprocess.Popen[str]], kind: str, where: str) -> str:
    """A server in the test's namespace that answers SECRET; its port (tcp) or "ready"."""
    p = subprocess.Popen(["nsenter", "-t", str(dy.netns_pid()), "-n", "--", sys.executable,
                          "-c", _SERVER, kind, where, SECRET],
                         stdout=subprocess.PIPE, text=True)  # fmt: skip
    procs.append(p)
    assert p.stdout is not None
    return p.stdout.readline().strip()


def build(dy: Dockyard, tmp: Path, dockerfile: str, *flags: str,
          ok: bool = True) -> subprocess.CompletedProcess[str]:  # fmt: skip
    ctx = tmp / ("ctx-" + uuid.uuid4().hex[:6])
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    proc = dy.run("build", "--progress", "plain", "--no-cache", *flags, str(ctx), timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def results(log: str) -> dict[str, str]:
    """``R:<name>:<what the step saw>`` lines printed by the RUN steps."""
    return dict(re.findall(r"^R:([^:]+):(.*)$", log, re.M))


def stacks_in(dy: Dockyard) -> list[int]:
    """slirp4netns processes whose host side is the test's namespace."""
    mine = os.stat(f"/proc/{dy.netns_pid()}/ns/net").st_ino
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            if comm == "slirp4netns" and os.stat(f"/proc/{pid}/ns/net").st_ino == mine:
                out.append(int(pid))
        except OSError:
            continue
    return out


HOST = ("--network", "host", "--allow", "network.host")


def test_run_cannot_reach_host_loopback_tcp(
    dy_fresh: Dockyard, tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    dy_fresh.ensure("busybox:latest")
    port = serve(dy_fresh, servers, "tcp", "127.0.0.1")
    df = ("FROM busybox\nRUN for a in 127.0.0.1 10.0.2.2; do "
          f'echo "R:$a:$(nc -w 3 $a {port} </dev/null 2>&1)"; done\n')  # fmt: skip
    seen = results(build(dy_fresh, tmp_path, df).stderr)
    # the sandbox's own loopback, and the stack's gateway (which would be the host's
    # 127.0.0.1 without --disable-host-loopback): nothing answers
    assert SECRET not in seen["127.0.0.1"] and SECRET not in seen["10.0.2.2"], seen
    assert stacks_in(dy_fresh) == []  # the build's stack ended with it
    # the attack, with the defence off
    assert SECRET in results(build(dy_fresh, tmp_path, df, *HOST).stderr)["127.0.0.1"]


def test_run_cannot_reach_host_abstract_socket(
    dy_fresh: Dockyard, tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    dy_fresh.ensure("python:3.11-slim")
    name = "dockyard-test-" + uuid.uuid4().hex[:8]
    assert serve(dy_fresh, servers, "unix", name) == "ready"
    df = ("FROM python:3.11-slim\nRUN python3 -c \"import socket; s = socket.socket("
          f"socket.AF_UNIX); r = s.connect_ex('\\0{name}'); "
          "print('R:abstract:', r, s.recv(64) if r == 0 else b'')\"\n")  # fmt: skip
    seen = results(build(dy_fresh, tmp_path, df).stderr)
    assert SECRET not in seen["abstract"] and " 111 " in seen["abstract"], seen  # ECONNREFUSED
    assert SECRET in results(build(dy_fresh, tmp_path, df, *HOST).stderr)["abstract"]


def test_run_sees_only_lo_and_the_sandbox_interface(dy_fresh: Dockyard, tmp_path: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    in_netns(dy_fresh, "ip", "link", "add", "dyb-host0", "type", "veth", "peer", "dyb-host1")
    df = 'FROM busybox\nRUN --network=default echo "R:net:$(ls /sys/class/net | tr "\\n" " ")"\n'
    assert results(build(dy_fresh, tmp_path, df).stderr)["net"].split() == ["eth0", "lo"]
    # RUN --network=default is the build's --network
    assert results(build(dy_fresh, tmp_path, df, "--network", "none").stderr)["net"] == "lo "
    # with the host's network the step lists the host's links
    assert "dyb-host0" in results(build(dy_fresh, tmp_path, df, *HOST).stderr)["net"].split()


def test_host_network_without_entitlement_is_refused(dy_fresh: Dockyard, tmp_path: Path) -> None:
    dy_fresh.ensure("busybox:latest")
    df = "FROM busybox\nRUN echo should-not-run\n"
    proc = build(dy_fresh, tmp_path, df, "--network", "host", "-t", "bad:1", ok=False)
    assert proc.returncode != 0
    lines = proc.stderr.splitlines()
    assert lines == ["dockyard: --network=host: network.host is not allowed "
                     "(grant it with --allow network.host)"]  # fmt: skip
    # RUN --network=host in the Dockerfile: refused before any step runs
    df = "FROM busybox\nRUN echo R:first:ran\nRUN --network=host true\n"
    proc = build(dy_fresh, tmp_path, df, "-t", "bad:2", ok=False)
    assert proc.returncode != 0 and "R:first" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "dockyard: Dockerfile:3: RUN --network=host: network.host is not allowed "
        "(grant it with --allow network.host)"
    )
    assert "Traceback" not in proc.stderr
    # nothing left behind: no tag, no step directory, no stack
    assert dy_fresh.run("image", "inspect", "bad:1").returncode != 0
    assert dy_fresh.run("image", "inspect", "bad:2").returncode != 0
    work = dy_fresh.root / "buildcache" / "work"
    assert not work.exists() or list(work.iterdir()) == []
    assert stacks_in(dy_fresh) == []
    # granted, the same Dockerfile builds
    assert "R:first:ran" in build(dy_fresh, tmp_path, df, "--allow", "network.host").stderr
    bad = build(dy_fresh, tmp_path, df, "--allow", "network.hots", ok=False)
    assert bad.returncode != 0 and bad.stderr.splitlines() == [
        "dockyard: --allow network.hots: unknown entitlement (known: network.host, "
        "security.insecure)"
    ]


def test_egress_reaches_a_non_loopback_address(
    dy_fresh: Dockyard, tmp_path: Path, servers: list[subprocess.Popen[str]]
) -> None:
    need_tool("slirp4netns")
    dy_fresh.ensure("busybox:latest")
    # a veth pair inside the test's namespace (this kernel has no dummy links)
    in_netns(dy_fresh, "ip", "link", "add", "dyb-egress0", "type", "veth", "peer", "dyb-egress1")
    in_netns(dy_fresh, "ip", "addr", "add", "198.18.7.1/24", "dev", "dyb-egress0")
    for link in ("dyb-egress0", "dyb-egress1"):
        in_netns(dy_fresh, "ip", "link", "set", link, "up")
    forward = "/proc/sys/net/ipv4/ip_forward"
    before = in_netns(dy_fresh, "cat", forward).stdout
    port = serve(dy_fresh, servers, "tcp", "198.18.7.1")
    df = ("FROM busybox\n"
          f'RUN echo "R:egress:$(nc -w 5 198.18.7.1 {port} </dev/null 2>&1)"; '
          'echo "R:dns:$(grep nameserver /etc/resolv.conf | tr "\\n" " ")"; '
          'echo "R:ca:$SSL_CERT_FILE $(test -s "$SSL_CERT_FILE" && echo present)"\n')  # fmt: skip
    seen = results(build(dy_fresh, tmp_path, df, "-t", "egress:1").stderr)
    assert SECRET in seen["egress"], seen
    assert seen["dns"].split() == ["nameserver", "10.0.2.3"]
    assert seen["ca"] == "/run/dockyard/ca-certificates.crt present"
    # not switched on by the build (a new netns starts with the host's value, whatever it is)
    assert in_netns(dy_fresh, "cat", forward).stdout == before
    # the CA bundle's mount point (and /run/dockyard) left no layer behind
    layers = [
        json.loads(dy_fresh.run("image", "inspect", ref, check=True).stdout)[0]["RootFS"]["Layers"]
        for ref in ("egress:1", "busybox:latest")
    ]
    assert layers[0] == layers[1]


_GATEWAY_PROBE = r"""
import socket, subprocess, sys, threading
from dockyard.build.sandboxnet import SandboxNetwork
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4)
port = srv.getsockname()[1]
def answer():
    while True:
        c, _ = srv.accept()
        c.sendall(sys.argv[2].encode())
        c.close()
threading.Thread(target=answer, daemon=True).start()
net = SandboxNetwork(host_loopback=sys.argv[1] == "on")
try:
    client = ("import socket\ntry:\n s = socket.create_connection(('10.0.2.2', %d), 3)\n"
              " print(s.recv(64).decode())\nexcept OSError as e:\n print(e)" % port)
    out = subprocess.run(["nsenter", "--net=" + net.netns_path(), "--", sys.executable, "-c",
                          client], capture_output=True, text=True, check=True, timeout=30)
    print(out.stdout.strip())
finally:
    net.close()
"""


@pytest.mark.parametrize("host_loopback", ["off", "on"])
def test_gateway_is_not_the_host_loopback(host_loopback: str) -> None:
    """``--disable-host-loopback`` is what closes 10.0.2.2 → the host's 127.0.0.1: the same
    probe, run in a namespace of its own, reaches the server when the flag is left out."""
    need_tool("slirp4netns")
    proc = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", _GATEWAY_PROBE, host_loopback, SECRET],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    if host_loopback == "off":
        assert SECRET not in proc.stdout, proc.stdout
    else:
        assert SECRET in proc.stdout  # the attack, with the defence off
