"""A bridge keeps the MAC it was created with when its ports come and go (real kernel, in a
private network namespace made with ``unshare --net`` that dies with the process).

Without the pin the kernel gives a bridge the lowest MAC of its ports; when that port goes
(a pod, a spare endpoint) the gateway's MAC changes under the containers' ARP caches and
their packets to the gateway — the cluster DNS — vanish for up to a minute."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.root]

SCRIPT = r"""
import sys
from pyroute2 import IPRoute
from dockyard.network._links import ensure_bridge

def mac(ipr, index):
    return ipr.get_links(index)[0].get_attr("IFLA_ADDRESS")

with IPRoute() as ipr:
    if sys.argv[1] == "pinned":
        ensure_bridge(ipr, "dyt-br", "10.9.0.1", 24)
    else:  # the attack's control: a bridge as the kernel makes it
        ipr.link("add", ifname="dyt-br", kind="bridge")
    br = ipr.link_lookup(ifname="dyt-br")[0]
    ipr.link("set", index=br, state="up")
    before = mac(ipr, br)
    for i in range(2):  # two ports with MACs below any random one the kernel picks
        ipr.link("add", ifname=f"dyt-a{i}", kind="veth", peer=f"dyt-b{i}")
        a = ipr.link_lookup(ifname=f"dyt-a{i}")[0]
        ipr.link("set", index=a, address=f"00:00:5e:00:53:0{i + 1}", master=br, state="up")
    with_ports = mac(ipr, br)
    ipr.link("del", index=ipr.link_lookup(ifname="dyt-a0")[0])  # the lowest port goes
    print(before, with_ports, mac(ipr, br))
"""


def macs(mode: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "../../src")}
    argv = ["unshare", "--net", "--", sys.executable, "-c", SCRIPT, mode]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_bridge_mac_is_pinned_while_ports_come_and_go() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before, with_ports, after = macs("pinned")
    assert before == with_ports == after


def test_without_the_pin_the_bridge_mac_follows_its_lowest_port() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    before, with_ports, after = macs("kernel")
    assert with_ports == "00:00:5e:00:53:01" != before
    assert after == "00:00:5e:00:53:02"  # changed again: ARP caches now point nowhere
