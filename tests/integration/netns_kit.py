"""A network lab per test: network namespaces that one test makes and deletes, helpers to run
things in them, and a dockyard network with "pods" on it.

One namespace plays the host (``<prefix>-<tag>-h``: loopback up, ``ip_forward=1``, dockyard's
links and nft tables); the others play containers.  The real host's namespaces, links and nft
tables are never touched, and :meth:`NetnsLab.teardown` stops only the processes the lab
started (by their Popen handle) and deletes only the namespaces it made.  Used by
``test_network_bridge.py`` (and ``test_network_hardening.py`` through it),
``test_network_policy.py`` and ``test_network_services.py``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import pytest

from dockyard.network import (
    EndpointSpec,
    Ipam,
    MemoryIpamStore,
    NetworkManager,
    NetworkSpec,
    NetworkState,
    plan_network,
)

L = TypeVar("L", bound="NetnsLab")


def run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; a failure (with ``check``) raises with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)}: {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def need_lab(*tools: str) -> None:
    """Skip unless root, ``ip``, ``nft`` (and ``tools``) and pyroute2 are there."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for tool in ("ip", "nft", *tools):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make setup installs it)")
    pytest.importorskip("pyroute2")


class NetnsLab:
    """Namespaces named ``<prefix>-<tag>-<name>``; ``host`` is the one that plays the host."""

    prefix = "dyl"

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.host = self.name("h")
        self.made: list[str] = []
        self.procs: list[subprocess.Popen[str]] = []
        self.addr: dict[str, str] = {}

    def setup(self) -> None:
        self.add_netns(self.host)

    def name(self, short: str) -> str:
        return f"{self.prefix}-{self.tag}-{short}"

    @staticmethod
    def path(ns: str) -> str:
        return f"/run/netns/{ns}"

    def add_netns(self, *names: str) -> None:
        """Make the namespaces (remembered for teardown); the host's gets loopback and
        forwarding."""
        for ns in names:
            run("ip", "netns", "add", ns)
            self.made.append(ns)
        if self.host in names:
            run("ip", "-n", self.host, "link", "set", "lo", "up")
            self.sh(self.host, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def dockyard_network(
        self, name: str, pods: Sequence[str]
    ) -> tuple[NetworkManager, NetworkState]:
        """A dockyard bridge network in the host namespace with each of ``pods`` connected
        (its address in :attr:`addr`)."""
        mgr = NetworkManager(host_netns=self.path(self.host))
        net = plan_network(NetworkSpec(name), [], mgr.routes())
        mgr.create(net)
        ipam = Ipam(MemoryIpamStore())
        for i, ns in enumerate(pods):
            cid = f"{self.tag}{i:02d}" + secrets.token_hex(8)
            addr = ipam.allocate(net, cid)
            mgr.connect(net, EndpointSpec(cid, self.path(ns), addr))
            self.addr[ns] = addr
        return mgr, net

    def sh(self, ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run("ip", "netns", "exec", ns, *cmd, check=check)

    def spawn(self, ns: str, script: str, *args: str) -> subprocess.Popen[str]:
        """Start ``python -c script args`` in ``ns``; it runs until teardown."""
        p = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.procs.append(p)
        return p

    def spawn_ready(self, ns: str, script: str, *args: str) -> subprocess.Popen[str]:
        """:meth:`spawn`, then wait for the script's ``ready`` line."""
        p = self.spawn(ns, script, *args)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready", p.stderr.read() if p.stderr else ""
        return p

    def nft_tables(self) -> list[str]:
        """``family name`` of every nft table in the host namespace."""
        out = self.sh(self.host, "nft", "-j", "list", "tables").stdout
        return sorted(
            f"{t['table']['family']} {t['table']['name']}"
            for t in json.loads(out)["nftables"]
            if "table" in t
        )

    def teardown(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.communicate(timeout=10)  # reaps it and closes its pipes
        for ns in self.made:
            run("ip", "netns", "del", ns, check=False)


@contextmanager
def opened(lab: L) -> Iterator[L]:
    """``lab`` set up (its ``setup()``), torn down afterwards even when setup fails."""
    try:
        lab.setup()
        yield lab
    finally:
        lab.teardown()
