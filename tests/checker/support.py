"""Test support for the runtime: a busybox rootfs, bundles, and the checker's report.

Imported by the runtime's integration tests (``sys.path`` gets this directory).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHECKER = HERE / "checker.sh"
BUSYBOX = Path("/bin/busybox")


def build_rootfs(root: Path) -> Path:
    """A minimal rootfs: static busybox, its applet symlinks, the checker, /etc basics."""
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, bin_dir / "busybox")
    import subprocess

    applets = subprocess.run(
        [str(bin_dir / "busybox"), "--list"], check=True, capture_output=True, text=True
    ).stdout.split()
    for a in applets:
        link = bin_dir / a
        if not link.exists():
            link.symlink_to("busybox")
    for d in ("proc", "sys", "dev", "etc", "tmp", "root", "usr/bin", "sbin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root, 0o755)
    (root / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n"
    )
    (root / "etc/group").write_text("root:x:0:\nnobody:x:65534:\n")
    shutil.copy2(CHECKER, root / "checker.sh")
    os.chmod(root / "checker.sh", 0o755)
    return root


def base_config(rootfs: Path, args: list[str], **process: Any) -> dict[str, Any]:
    """runc-spec-like config for ``rootfs`` running ``args`` (non-terminal)."""
    from dockyard.oci.runtime_spec import default_spec_dict

    cfg = default_spec_dict()
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["process"].update(process)
    return cfg


def write_bundle(directory: Path, cfg: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg))
    return directory


def parse_report(text: str) -> dict[str, Any]:
    """checker output → dict; ``mount`` lines are gathered into a list."""
    out: dict[str, Any] = {"mount": []}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        if key == "mount":
            out["mount"].append(value)
        else:
            out[key] = value
    return out


def mount_opts(report: dict[str, Any], point: str) -> list[str] | None:
    """The per-mount options of the last mount on ``point`` in a checker report."""
    found = None
    for m in report["mount"]:
        parts = m.split(" ")
        if parts[0] == point:
            found = parts[1].split(",")
    return found


REPO = HERE.parents[1]


def runtime_cli(
    root: Path, *args: str, stdin: Any = None, timeout: float = 60
) -> Any:  # subprocess.CompletedProcess[str]
    """Run ``dockyard-runtime --root ROOT ARGS``; output goes through files, since a
    created init keeps its stdio open."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        done = subprocess.run(
            [sys.executable, "-m", "dockyard.cli.runtime_main", "--root", str(root), *args],
            stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=out, stderr=err,
            timeout=timeout, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())


def cgroup_dirs(cid: str) -> list[str]:
    """The container's cgroup directories (``dockyard/<cid>`` beneath this process's own
    cgroup, in every hierarchy) that exist."""
    out = []
    with open("/proc/self/cgroup") as f:
        lines = f.read().splitlines()
    for line in lines:
        _, ctrls, own = line.split(":", 2)
        sub = ctrls.replace("name=", "") or "unified"
        d = Path("/sys/fs/cgroup") / sub / own.lstrip("/") / "dockyard" / cid
        if d.exists():
            out.append(str(d))
    return out


def leftovers(root: Path, cid: str, *paths: Path) -> list[str]:
    """What a container left behind: its state directory, cgroup directories, and host
    mounts at or below any of ``paths`` (its bundle, rootfs)."""
    found = [str(root / cid)] if (root / cid).exists() else []
    found += cgroup_dirs(cid)
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for p in paths:
        found += [m for m in points if m == str(p) or m.startswith(str(p) + "/")]
    return found
