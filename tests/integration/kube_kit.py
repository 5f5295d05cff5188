"""A private dockyardd for the orchestrator's integration tests.

The daemon runs inside a private network + mount namespace held by a ``sleep`` under
``unshare`` (as ``test_daemon_network.py`` does), started explicitly so that daemon
settings such as ``--hpa-sync-period`` can be passed; the CLI reaches it through
``nsenter``. Teardown removes the containers, then stops the daemon, the shim and the
holder by PID; the namespaces (bridges, nft tables, mounts) vanish with them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemon_kit import IMAGE_CACHE, TIME_SCALE, Daemonized, teardown

HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 8080 -h /www"


def web_deployment(
    name: str = "web",
    image: str = "busybox:latest",
    text: str = "v1",
    replicas: int = 3,
    extra: str = "",
) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  strategy:
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: {image}
        command: ["sh", "-c", "{HTTPD.format(text=text)}"]
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe:
          httpGet: {{path: /, port: http}}
          periodSeconds: 1
{extra}"""


class KubeDaemon(Daemonized):
    """The CLI inside the holder's namespaces; the daemon started by :meth:`start`."""

    def __init__(self, root: Path, run_root: Path, holder: int) -> None:
        super().__init__(root, run_root)
        self.holder = holder
        self.daemon: subprocess.Popen[bytes] | None = None

    def argv(self, *args: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder), "-n", "-m", "--", *super().argv(*args)]

    def start(self, *settings: str) -> None:
        self.run_root.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "daemon.log", "ab")  # noqa: SIM115 (the daemon's output)
        cmd = [
            sys.executable,
            "-m",
            "dockyard.api.server",
            "--root",
            str(self.root),
            "--run-root",
            str(self.run_root),
            *settings,
        ]
        self.daemon = subprocess.Popen(
            ["nsenter", "-t", str(self.holder), "-n", "-m", "--", *cmd],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self.wait_for((self.run_root / "dockyard.sock").exists, 30, "the daemon")

    def sh(self, script: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", "-t", str(self.holder), "-n", "-m", "--", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=timeout * TIME_SCALE,
            check=False,
        )

    def apply(self, text: str) -> subprocess.CompletedProcess[str]:
        return self.run("apply", "-f", "-", input=text)

    def pods(self, selector: str = "") -> list[dict[str, Any]]:
        args = ["get", "pods", "-o", "json"] + (["-l", selector] if selector else [])
        items: list[dict[str, Any]] = json.loads(self.out(*args))["items"]
        return items

    def ready_pods(self, selector: str = "") -> list[str]:
        return [
            p["metadata"]["name"]
            for p in self.pods(selector)
            if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") == "Running"
            and all(c.get("ready") for c in p["status"].get("containerStatuses") or [{}])
        ]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.out("get", kind, name, "-o", "json"))
        return value


def _holder() -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [
            "unshare",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            "ip link set lo up && echo 1 > /proc/sys/net/ipv4/ip_forward; echo ready; "
            "exec sleep infinity",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None
    if p.stdout.readline().strip() != "ready":
        p.kill()
        p.wait()
        raise AssertionError("namespace holder failed")
    return p


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeDaemon]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    archive = IMAGE_CACHE / "busybox_latest.tar"
    if not archive.is_file():
        pytest.skip(f"busybox is not cached in {IMAGE_CACHE} (make setup builds it)")
    holder = _holder()
    d = KubeDaemon(tmp_path / "root", tmp_path / "run", holder.pid)
    try:
        yield d
    finally:
        if (d.run_root / "dockyard.sock").exists():  # no controller recreates pods meanwhile
            with contextlib.suppress(Exception):
                for name in d.run("get", "deploy", "-o", "name", timeout=10).stdout.split():
                    d.run("delete", name, timeout=10)
        teardown(d)
        if d.daemon is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                d.daemon.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def wait_until(fn: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    timeout *= TIME_SCALE
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
