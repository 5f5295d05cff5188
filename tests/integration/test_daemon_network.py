"""dockyardd's networking end to end through the CLI (issue 5's networking acceptance).

Every test runs its daemon (and so its bridges, veths, nft tables, published ports and
containers' netns files) inside a private network + mount namespace held by a ``sleep``
started under ``unshare``; the CLI reaches it through ``nsenter``. A third namespace plays
"the internet", linked to the daemon's by a veth (172.17.0.1/16 ↔ 172.17.0.2/16, which also
makes the default bridge avoid 172.17.0.0/16). Nothing touches the real host's namespace;
the namespaces vanish with their processes, which the teardown stops by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import Daemonized, busybox_archive, ns_holder, stop_holder, teardown, wait_dead

pytestmark = [pytest.mark.root]

UPLINK = "172.17.0.1"
INTERNET = "172.17.0.2"
WWW = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


class NsDaemon(Daemonized):
    """The CLI (and so the daemon it starts) inside the private namespaces of ``holder``."""

    def __init__(self, root: Path, run_root: Path, holder: int, internet: int) -> None:
        super().__init__(root, run_root, holder)
        self.internet = internet

    def sh(self, script: str, *, where: int = 0) -> subprocess.CompletedProcess[str]:
        """``sh -c script`` in the daemon's namespaces (or those of ``where``)."""
        return subprocess.run(["nsenter", "-t", str(where or self.ns_pid), "-n", "-m", "--",
                               "sh", "-c", script], capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip

    def links(self) -> list[str]:
        """The namespace's links but the daemon's spare veths (``dys…``: plumbed ahead of
        time for the next default-network start, see docs/network.md)."""
        out = self.sh("ip -o link show").stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [n for n in names if not n.startswith("dys")]

    def netns_files(self) -> list[str]:
        """Container netns files (the spare endpoints' ``.spare-…`` files left out)."""
        d = self.run_root / "netns"
        return sorted(n for n in os.listdir(d) if not n.startswith(".spare-")) if d.is_dir() else []

    def nft_owners(self) -> list[str]:
        out = self.sh("nft -j list ruleset").stdout
        owners = []
        for item in json.loads(out or '{"nftables": []}')["nftables"]:
            rule = item.get("rule")
            if rule and str(rule.get("comment", "")).startswith("dockyard:endpoint"):
                owners.append(rule["comment"])
        return owners

    def fetch(self, url: str, tries: int = 50) -> str:
        """GET ``url`` from the daemon's namespace (the "host"), retrying while it starts."""
        last = ""
        for _ in range(tries):
            p = self.sh(f"timeout 2 busybox wget -q -O- {url}")
            if p.returncode == 0:
                return p.stdout
            last = p.stderr
            time.sleep(0.1)
        raise AssertionError(f"GET {url}: {last}")


@pytest.fixture
def nsd(tmp_path: Path) -> Iterator[NsDaemon]:
    archive = busybox_archive()
    # the daemon's namespace: loopback up, forwarding on (here only, never on the host)
    host = ns_holder()  # loopback up, forwarding on: in this namespace only
    internet = ns_holder("ip link set lo up", "--net")
    www = tmp_path / "internet"
    www.mkdir()
    (www / "index.html").write_text("from the internet\n")
    d = NsDaemon(tmp_path / "root", tmp_path / "run", host.pid, internet.pid)
    server: subprocess.Popen[bytes] | None = None
    try:
        up = d.sh(f"ip link add dyup0 type veth peer name inet0 netns {internet.pid} && "
                  f"ip addr add {UPLINK}/16 dev dyup0 && ip link set dyup0 up")  # fmt: skip
        assert up.returncode == 0, up.stderr
        inet = d.sh(f"ip addr add {INTERNET}/16 dev inet0 && ip link set inet0 up",
                    where=internet.pid)  # fmt: skip
        assert inet.returncode == 0, inet.stderr
        server = subprocess.Popen(["nsenter", "-t", str(internet.pid), "-n", "--", "busybox",
                                   "httpd", "-f", "-p", f"{INTERNET}:8000",
                                   "-h", str(www)])  # fmt: skip
        d.run("load", "-i", str(archive), check=True)
        yield d
    finally:
        try:
            teardown(d)
        finally:
            if server is not None:
                server.kill()
                server.wait()
            stop_holder(internet)
            stop_holder(host)


def _one_line(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    return lines[0]


def test_default_bridge_nat_published_ports_and_bad_input(nsd: NsDaemon) -> None:
    bridge = json.loads(nsd.out("network", "inspect", "bridge"))[0]
    subnet = bridge["IPAM"]["Config"][0]["Subnet"]
    assert subnet == "172.18.0.0/16"  # 172.17.0.0/16 is a route of this "host"
    gateway = bridge["IPAM"]["Config"][0]["Gateway"]
    assert "dockyard0" in nsd.links()
    # outbound NAT: "the internet" has no route back to 172.18.0.0/16
    out = nsd.out("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O-",
                  f"http://{INTERNET}:8000/")  # fmt: skip
    assert out == "from the internet"
    # a published port answers on 127.0.0.1 and, for another container, on a host address
    nsd.out("run", "-d", "--name", "web", "-p", "127.0.0.1:8080:80", "-p", "8081:80",
            "busybox", "sh", "-c", WWW.format(text="hello"))  # fmt: skip
    assert nsd.fetch("http://127.0.0.1:8080/") == "hello\n"
    out = nsd.out("run", "--rm", "busybox", "timeout", "5", "wget", "-q", "-O-",
                  f"http://{gateway}:8081/")  # fmt: skip
    assert out == "hello"
    info = json.loads(nsd.out("inspect", "web"))[0]
    ns = info["NetworkSettings"]
    assert ns["IPAddress"].startswith("172.18.") and ns["Gateway"] == gateway
    assert ns["Ports"]["80/tcp"][0] == {"HostIp": "127.0.0.1", "HostPort": "8080"}
    assert "127.0.0.1:8080" in nsd.out("port", "web")
    links, files, owners = nsd.links(), nsd.netns_files(), nsd.nft_owners()
    assert len([x for x in links if x.startswith("dy") and x != "dyup0"]) == 1
    # bad input: one line, nothing made
    p = nsd.run("run", "-d", "--name", "clash", "-p", "127.0.0.1:8080:80", "busybox", "sleep", "9")
    assert "port is already allocated" in _one_line(p)
    assert "clash" in _one_line(p)
    p = nsd.run("run", "--rm", "-p", "8080:", "busybox", "true")
    assert "invalid -p" in _one_line(p)
    p = nsd.run("run", "--rm", "--network", "nosuch", "busybox", "true")
    assert _one_line(p).endswith("network nosuch not found")
    p = nsd.run("run", "--rm", "--ip", "172.18.0.77", "busybox", "true")
    assert "user defined networks" in _one_line(p)
    assert nsd.out("ps", "-a", "--format", "{{.Names}}") == "web"
    assert nsd.links() == links and nsd.netns_files() == files and nsd.nft_owners() == owners
    # kill -9 of the daemon: the port stays published and held
    daemon = nsd.pid_of("dockyard.pid")
    os.kill(daemon, signal.SIGKILL)
    wait_dead(daemon)  # its socket closed: the next call starts a new daemon
    assert nsd.out("ps", "--format", "{{.Names}} {{.State}}") == "web running"
    assert nsd.fetch("http://127.0.0.1:8080/") == "hello\n"
    p = nsd.run("run", "-d", "-p", "127.0.0.1:8080:80", "busybox", "sleep", "9")
    assert "port is already allocated" in _one_line(p)
    # removal takes the veth, the rules, the netns file
    nsd.out("rm", "-f", "web")
    assert [x for x in nsd.links() if x.startswith("dy") and x != "dyup0"] == []
    assert nsd.netns_files() == [] and nsd.nft_owners() == []
    # ip_forward off (in this namespace only): reported on a bridged run and in info
    nsd.sh("echo 0 > /proc/sys/net/ipv4/ip_forward")
    p = nsd.run("run", "--rm", "busybox", "true")
    assert p.returncode == 0 and "ip_forward" in p.stderr
    assert "ip_forward" in nsd.out("info")
    assert "ip_forward" not in nsd.run("run", "--rm", "--network", "none", "busybox",
                                       "true").stderr  # fmt: skip


def test_user_network_dns_aliases_connect_and_rm(nsd: NsDaemon) -> None:
    nsd.out("network", "create", "--subnet", "10.55.0.0/24", "front")
    assert "front" in nsd.out("network", "ls", "--format", "{{.Name}}").split()
    nsd.out("run", "-d", "--name", "other", "--network", "front", "--network-alias", "db",
            "busybox", "sh", "-c", WWW.format(text="hi"))  # fmt: skip
    p = nsd.run("run", "--rm", "--network", "front", "busybox", "ping", "-c1", "-W2", "other")
    assert p.returncode == 0, p.stdout + p.stderr
    for name in ("other", "db"):
        out = ""
        for _ in range(30):  # the httpd may still be starting
            p = nsd.run("run", "--rm", "--network", "front", "busybox", "timeout", "3", "wget",
                        "-q", "-O-", f"http://{name}/")  # fmt: skip
            out = p.stdout.strip()
            if p.returncode == 0:
                break
            time.sleep(0.2)
        assert out == "hi", (name, p.stderr)
    # --ip, resolv.conf on the gateway, --add-host, --dns kept for relaying
    nsd.out("run", "-d", "--name", "fixed", "--network", "front", "--ip", "10.55.0.50",
            "--add-host", "gw:host-gateway", "--add-host", "db.example:10.9.9.9",
            "--dns", "172.17.0.2", "busybox", "sleep", "300")  # fmt: skip
    info = json.loads(nsd.out("inspect", "fixed"))[0]
    assert info["NetworkSettings"]["Networks"]["front"]["IPAddress"] == "10.55.0.50"
    assert nsd.out("exec", "fixed", "cat", "/etc/resolv.conf").splitlines()[0] == (
        "nameserver 10.55.0.1"
    )
    hosts = nsd.out("exec", "fixed", "cat", "/etc/hosts")
    assert "10.55.0.1\tgw" in hosts and "10.9.9.9\tdb.example" in hosts
    assert "10.55.0.50\t" in hosts
    p = nsd.run("run", "--rm", "--network", "front", "--ip", "10.55.0.50", "busybox", "true")
    assert "already in use" in _one_line(p)
    # container:NAME shares the other's namespace
    out = nsd.out("run", "--rm", "--network", "container:other", "busybox", "wget", "-q", "-O-",
                  "http://127.0.0.1/")  # fmt: skip
    assert out == "hi"
    # connect / disconnect a running container
    nsd.out("network", "create", "back")
    nsd.out("network", "connect", "--alias", "fx", "back", "fixed")
    addrs = nsd.out("exec", "fixed", "ip", "-o", "-4", "addr", "show")
    assert " eth1 " in addrs
    net = json.loads(nsd.out("network", "inspect", "back"))[0]
    assert [c["Name"] for c in net["Containers"].values()] == ["fixed"]
    out = nsd.out("run", "--rm", "--network", "back", "busybox", "ping", "-c1", "-W2", "fx")
    assert "1 packets received" in out
    nsd.out("network", "disconnect", "back", "fixed")
    assert " eth1 " not in nsd.out("exec", "fixed", "ip", "-o", "-4", "addr", "show")
    # a network in use is refused; restart keeps DNS working
    p = nsd.run("network", "rm", "front")
    assert "in use" in _one_line(p)
    os.kill(nsd.pid_of("dockyard.pid"), signal.SIGTERM)
    nsd.wait_for(lambda: not nsd.pid_of("dockyard.pid"), 10, "daemon exit")
    out = nsd.out("run", "--rm", "--network", "front", "busybox", "timeout", "3", "wget", "-q",
                  "-O-", "http://db/")  # fmt: skip
    assert out == "hi"
    nsd.out("rm", "-f", "other", "fixed")
    nsd.out("network", "rm", "front")
    assert nsd.out("network", "prune", "-f") == "Deleted Networks:\nback"
    assert nsd.out("network", "ls", "--format", "{{.Name}}") == "bridge"
    p = nsd.run("network", "rm", "bridge")
    assert "pre-defined" in _one_line(p)
    assert [x for x in nsd.links() if x.startswith("dy") and x != "dyup0"] == []
    assert nsd.netns_files() == []


def test_spare_endpoint_is_taken_renamed_refilled_and_swept(nsd: NsDaemon) -> None:
    """A default-network start takes the endpoint plumbed ahead of time (its veth renamed
    ``dy<id>``, its address now the container's), the pool refills, and a daemon killed
    with a spare ready leaves nothing the next daemon does not sweep."""

    def spares() -> tuple[list[str], list[str]]:
        out = nsd.sh("ip -o link show").stdout
        names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        d = nsd.run_root / "netns"
        files = sorted(n for n in os.listdir(d) if n.startswith(".spare-")) if d.is_dir() else []
        return [n for n in names if n.startswith("dys")], files

    nsd.out("info")  # starts the daemon, which plumbs a spare in the background
    nsd.wait_for(lambda: spares()[0] and spares()[1], 10, "a spare endpoint")
    first, _ = spares()
    cid = nsd.out("run", "-d", "busybox", "sleep", "60")
    info = json.loads(nsd.out("inspect", cid))[0]
    assert first[0] not in nsd.links()  # renamed: the container's veth is dy<id>
    assert f"dy{cid[:12]}" in nsd.links()
    assert info["NetworkSettings"]["IPAddress"].startswith("172.18.")
    inside = nsd.out("exec", cid, "ip", "-o", "-4", "addr", "show", "eth0")
    assert info["NetworkSettings"]["IPAddress"] + "/16" in inside
    assert nsd.out("exec", cid, "ip", "route").startswith("default via 172.18.0.1")
    nsd.wait_for(lambda: spares()[0] and spares()[0] != first, 10, "the pool refilled")
    # kill -9 with a spare ready: the next daemon removes it and plumbs a new one
    left, _ = spares()
    daemon = nsd.pid_of("dockyard.pid")
    os.kill(daemon, signal.SIGKILL)
    wait_dead(daemon)
    assert nsd.out("ps", "-q") == cid[:12]
    nsd.wait_for(lambda: spares()[0] and spares()[0] != left, 10, "a fresh spare")
    assert len(spares()[0]) == 1 and len(spares()[1]) == 1
    nsd.out("rm", "-f", cid)
