"""State on disk is not a way in (issue 13 item 6): an unprivileged host user can neither
run a container's setuid-root binary through the state root (CVE-2021-41091) nor read a
Secret from ``state.db``, a bundle's ``config.json`` or a Secret volume; and each attack is
shown to work with the old modes (0755 directories, 0644 files).

The daemon is a real ``dockyardd`` in a private network and mount namespace (kube_kit);
its state root lies below a 0711 directory of /tmp (not pytest's 0700 one), so that only
dockyard's own modes stand between ``nobody`` and the state. The attacker is
``setpriv --reuid=65534 --regid=65534 --clear-groups``, run in the daemon's mount namespace
(where the container's root filesystem is mounted).
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube, wait_until
from test_escape_suite import _euid_elf

pytestmark = pytest.mark.root

__all__ = ["kube"]

NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups --"


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A base that ``nobody`` may walk through (0711): pytest's own is 0700."""
    base = Path(tempfile.mkdtemp(prefix="dy-state-", dir="/tmp"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _start(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)


def _restart(kube: KubeDaemon) -> None:
    assert kube.daemon is not None
    kube.daemon.send_signal(signal.SIGTERM)
    kube.daemon.wait(30)
    (kube.run_root / "dockyard.sock").unlink(missing_ok=True)
    kube.start()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _as_nobody(kube: KubeDaemon, command: str) -> tuple[int, str]:
    p = kube.sh(f"{NOBODY} sh -c '{command}'")
    return p.returncode, p.stdout + p.stderr


def test_state_modes_are_root_only_and_tightened_on_start(kube: KubeDaemon) -> None:
    _start(kube)
    r = kube.root
    want = {r: 0o710, r / "containers": 0o710, r / "snapshots": 0o710, r / "pods": 0o700,
            r / "state.db": 0o600, kube.run_root: 0o700}  # fmt: skip
    assert {p: _mode(p) for p in want} == want
    # a root left by an earlier version (everything 0755/0644) is tightened on start
    for p in want:
        p.chmod(0o755 if p.is_dir() else 0o644)
    _restart(kube)
    assert {p: _mode(p) for p in want} == want


def _suid_image(kube: KubeDaemon, base: Path) -> str:
    ctx = base / "suid-ctx"
    ctx.mkdir()
    (ctx / "euid").write_bytes(_euid_elf())
    (ctx / "Dockerfile").write_text(
        "FROM busybox:latest\nCOPY euid /euid\nRUN chown 0:0 /euid && chmod 4755 /euid\n"
    )
    kube.run("build", "-q", "-t", "dy-state-suid:1", str(ctx), timeout=300, check=True)
    return "dy-state-suid:1"


def test_a_containers_setuid_binary_cannot_be_run_from_the_host(
    kube: KubeDaemon, tmp_path: Path
) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the setuid probe is x86-64 machine code")
    _start(kube)
    image = _suid_image(kube, tmp_path)
    cid = kube.out("run", "-d", image, "sleep", "300")
    euid = kube.root / "containers" / cid / "rootfs" / "euid"
    assert kube.sh(f"stat -c %a:%u {euid}").stdout.strip() == "4755:0"  # the bit is there
    rc, out = _as_nobody(kube, str(euid))
    assert rc != 0 and "Permission denied" in out, (rc, out)
    # the old modes: nobody walks in and the binary runs with euid 0 (exit status 0); the
    # bundle is 0710 too since issue 18 (a --userns auto container makes the parents
    # searchable), so it is opened as well
    bundle = kube.root / "containers" / cid
    for p in (kube.root, kube.root / "containers", bundle):
        p.chmod(0o755)
    try:
        rc, out = _as_nobody(kube, str(euid))
        assert rc == 0, (rc, out)
    finally:
        for p in (kube.root, kube.root / "containers", bundle):
            p.chmod(0o710)


def test_non_root_container_users_still_reach_their_root(kube: KubeDaemon, tmp_path: Path) -> None:
    _start(kube)
    out = kube.out("run", "--rm", "-u", "1000:1000", "busybox", "sh", "-c", "id -u; ls /")
    assert out.splitlines()[0] == "1000" and "bin" in out.split(), out
    ctx = tmp_path / "user-ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox:latest\nUSER 1000:1000\n")
    kube.run("build", "-q", "-t", "dy-state-user:1", str(ctx), timeout=300, check=True)
    out = kube.out("run", "--rm", "dy-state-user:1", "sh", "-c", "id -u; ls /; head -1 /etc/passwd")
    assert out.splitlines()[0] == "1000" and "etc" in out.split() and "root:" in out, out


SECRET = """\
apiVersion: v1
kind: Secret
metadata: {{name: sec}}
type: Opaque
data: {{password: {password}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg}}
data: {{app.conf: key=value}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: consumer}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: consumer}}}}
  template:
    metadata: {{labels: {{app: consumer}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: busybox:latest
        command: [sleep, "300"]
        env:
        - name: PASSWORD
          valueFrom: {{secretKeyRef: {{name: sec, key: password}}}}
        volumeMounts:
        - {{name: secvol, mountPath: /etc/sec}}
        - {{name: cfgvol, mountPath: /etc/cfg}}
      volumes:
      - name: secvol
        secret: {{secretName: sec, defaultMode: 0400}}
      - name: cfgvol
        configMap: {{name: cfg, defaultMode: 0440}}
"""
VALUE = "s3cret-value-4c1d"


def test_a_secret_cannot_be_read_by_nobody(kube: KubeDaemon) -> None:
    _start(kube)
    r = kube.apply(SECRET.format(password=base64.b64encode(VALUE.encode()).decode()))
    assert r.returncode == 0, r.stderr
    pod = wait_until(lambda: kube.ready_pods("app=consumer"), 60, "the consumer pod")[0]
    inside = kube.out("exec", pod, "--", "sh", "-c",
                      "cat /etc/sec/password; echo; stat -c %a /etc/sec/password "
                      "/etc/cfg/app.conf; grep ' /etc/sec ' /proc/self/mountinfo")  # fmt: skip
    lines = inside.splitlines()
    assert lines[:3] == [VALUE, "400", "440"], inside  # defaultMode honoured
    # where the value is on the host: state.db and the bundle (as env), the volume
    [config] = list((kube.root / "containers").glob("*/config.json"))
    [volume] = list((kube.root / "pods").glob("*/volumes/secvol"))
    db = kube.root / "state.db"
    assert VALUE in config.read_text()
    assert kube.sh(f"grep -c {VALUE} {volume}/password").stdout.strip() == "1"
    mounts = kube.sh("cat /proc/self/mountinfo").stdout
    assert f" {volume} " in mounts and " - tmpfs " in next(
        line for line in mounts.splitlines() if f" {volume} " in line
    )  # in memory, never on disk
    for path in (db, config, volume / "password"):
        rc, out = _as_nobody(kube, f"cat {path}")
        assert rc != 0 and "Permission denied" in out and VALUE not in out, (path, out)
    # the old modes: 0755 directories, 0644 files; nobody reads the value
    old = [(kube.root, 0o710), (kube.root / "containers", 0o710), (config.parent, 0o710),
           (config, 0o600)]  # fmt: skip
    for p, _ in old:
        p.chmod(0o755 if p.is_dir() else 0o644)
    try:
        rc, out = _as_nobody(kube, f"cat {config}")
        assert rc == 0 and VALUE in out, out
    finally:
        for p, mode in old:
            p.chmod(mode)
