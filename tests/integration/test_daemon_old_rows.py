"""A container an older dockyardd created (its record holding ``-p`` as text, the shape
before engine/record.py typed it) starts under this daemon with its port published, shows
the same ``inspect``, and its row is written back typed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from daemon_kit import Daemonized, dyd, wait_dead

pytestmark = [pytest.mark.root, pytest.mark.slow]
__all__ = ["dyd"]

WWW = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"


def _config(dyd: Daemonized, name: str) -> dict[str, object]:
    with sqlite3.connect(dyd.root / "state.db") as db:
        row = db.execute("SELECT config FROM containers WHERE name = ?", (name,)).fetchone()
    return dict(json.loads(row[0]))


def _fetch(dyd: Daemonized, url: str, tries: int = 50) -> str:
    """GET ``url`` from the daemon's network namespace, retrying while httpd starts."""
    p = None
    for _ in range(tries):
        p = subprocess.run(["nsenter", "-t", str(dyd.ns_pid), "-n", "-m", "--", "sh", "-c",
                            f"timeout 2 busybox wget -q -O- {url}"],
                           capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        if p.returncode == 0:
            return p.stdout
        time.sleep(0.1)
    diag = subprocess.run(["nsenter", "-t", str(dyd.ns_pid), "-n", "-m", "--", "sh", "-c",
                           "nft list ruleset | grep -i dnat; ss -lntu; ip -o addr"],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    raise AssertionError(
        f"{url}: {p.returncode if p else ''} {p.stderr if p else ''} "
        f"{dyd.run('ps', '-a').stdout} {diag.stdout} {diag.stderr}"
    )


def test_a_row_with_publish_as_text_starts_published(dyd: Daemonized) -> None:
    dyd.out("create", "--name", "web", "-p", "127.0.0.1:8080:80", "-p", "8090-8091:90-91/udp",
            "busybox", "sh", "-c", WWW.format(text="old"))  # fmt: skip
    typed = _config(dyd, "web")["daemon"]
    assert isinstance(typed, dict) and typed["publish"][0] == {  # this daemon's shape
        "container_port": 80, "proto": "tcp", "host_ip": "127.0.0.1", "host_port": 8080,
        "host_port_end": 0,
    }  # fmt: skip
    daemon = dyd.pid_of("dockyard.pid")
    os.kill(daemon, signal.SIGTERM)
    wait_dead(daemon)
    # the row as a daemon before the typed record wrote it: -p values as text
    config = _config(dyd, "web")
    old = dict(config["daemon"])  # type: ignore[call-overload]
    old["publish"] = ["127.0.0.1:8080:80", "8090-8091:90-91/udp"]
    config["daemon"] = old
    with sqlite3.connect(dyd.root / "state.db") as db:
        db.execute("UPDATE containers SET config = ? WHERE name = ?", (json.dumps(config), "web"))
    dyd.out("start", "web")  # a new daemon reads the old row
    assert _fetch(dyd, "http://127.0.0.1:8080/") == "old\n"
    info = json.loads(dyd.out("inspect", "web"))[0]
    assert info["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "90/udp": [{"HostIp": "", "HostPort": "8090"}],
        "91/udp": [{"HostIp": "", "HostPort": "8091"}],
    }
    assert info["NetworkSettings"]["Ports"]["80/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": "8080"}
    ]
    assert {p.split(" -> ")[0] for p in dyd.out("port", "web").splitlines()} == {
        "80/tcp",
        "90/udp",
        "91/udp",
    }
    back = _config(dyd, "web")["daemon"]
    assert isinstance(back, dict) and all(isinstance(p, dict) for p in back["publish"])
