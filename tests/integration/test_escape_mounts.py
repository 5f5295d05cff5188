"""Mount destinations through symlinks the container controls (CVE-2021-30465 class).

The image has ``/vol`` as a symlink to a host path (``<tmp>/host``, which also exists in
the image). A bind mount onto ``/vol/x`` must land in the rootfs (``<rootfs><tmp>/host/x``,
the symlink resolved with the rootfs as ``/``), never on the host's ``<tmp>/host/x``.
Where each mount went is read from the container's mount namespace *before* pivot_root,
by a ``createContainer`` hook (it runs there, and writes the init's mountinfo to the host).

With the defence off (the mount done here on a string, as before) the same symlink takes
the mount to the host path, both for a plain string and for a string checked by the old
``secure_join`` and swapped afterwards.

Needs root.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checker"))
from support import REPO, base_config, build_rootfs, leftovers, runtime_cli, write_bundle

pytestmark = [pytest.mark.root]


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    host = tmp_path / "host"  # a host directory the container must never reach
    (host / "x").mkdir(parents=True)
    rootfs = build_rootfs(tmp_path / "rootfs")
    (rootfs / str(host).lstrip("/") / "x").mkdir(parents=True)  # the same path in the image
    (rootfs / "vol").symlink_to(str(host))  # the image's symlink: /vol -> a host path
    src = tmp_path / "src"
    src.mkdir()
    (src / "secret").write_text("from-src\n")
    return {"tmp": tmp_path, "host": host, "rootfs": rootfs, "src": src}


def _config(w: dict[str, Path], report: Path, args: list[str]) -> dict[str, Any]:
    cfg: dict[str, Any] = base_config(w["rootfs"], args)
    cfg["mounts"].append({"destination": "/vol/x", "type": "bind", "source": str(w["src"]),
                          "options": ["rbind", "ro"]})  # fmt: skip
    hook = {"path": "/bin/sh", "args": ["sh", "-c", f"cat /proc/self/mountinfo > {report}"]}
    cfg["hooks"] = {"createContainer": [hook]}
    return cfg


def _points(mountinfo: str) -> list[str]:
    return [line.split()[4] for line in mountinfo.splitlines()]


def _on_host(points: list[str], host: Path) -> list[str]:
    return [p for p in points if p == str(host) or p.startswith(f"{host}/")]


def _run(w: dict[str, Path], args: list[str]) -> tuple[Any, str]:
    """``dockyard-runtime run`` of the bundle; (result, the init's mountinfo before pivot)."""
    report = w["tmp"] / f"mountinfo-{uuid.uuid4().hex[:6]}"
    bundle = write_bundle(w["tmp"] / "b", _config(w, report, args))
    state = w["tmp"] / "state"
    cid = "esc-" + uuid.uuid4().hex[:8]
    try:
        r = runtime_cli(state, "run", "-b", str(bundle), cid)
    finally:
        runtime_cli(state, "delete", "--force", cid)
    assert leftovers(state, cid, w["rootfs"], w["host"]) == []
    text = report.read_text() if report.exists() else ""
    report.unlink(missing_ok=True)
    return r, text


def test_bind_onto_a_symlink_to_a_host_path_lands_in_the_rootfs(world: dict[str, Path]) -> None:
    w = world
    r, mountinfo = _run(w, ["cat", "/vol/x/secret"])
    assert (r.returncode, r.stdout, r.stderr) == (0, "from-src\n", "")
    points = _points(mountinfo)
    assert f"{w['rootfs']}{w['host']}/x" in points  # in the rootfs, where /vol leads there
    assert _on_host(points, w["host"]) == []  # never on the host path
    assert os.listdir(w["host"] / "x") == []


_STRING_MOUNT = """
import os, sys
from dockyard.linux import LibcSyscalls, constants as c
from dockyard.runtime.mounts import secure_join
src, rootfs, host, swap = sys.argv[1:]
if swap == "1":  # the old check: a string resolved while /vol is a directory ...
    target = secure_join(rootfs, "/vol/x")
    assert target == rootfs + "/vol/x", target
    os.rename(rootfs + "/vol", rootfs + "/vol.old")  # ... then the container swaps it
    os.symlink(host, rootfs + "/vol")
else:
    target = rootfs + "/vol/x"
LibcSyscalls().mount(src, target, "bind", c.MS_BIND, None)
print(os.listdir(host + "/x"))
with open("/proc/self/mountinfo") as f:
    sys.stdout.write(f.read())
"""


@pytest.mark.parametrize("swap", [False, True], ids=["string", "secure_join-then-swap"])
def test_defence_off_a_string_mount_lands_on_the_host(world: dict[str, Path], swap: bool) -> None:
    """The same mount on a string, in a private mount namespace of its own: the kernel
    follows /vol to the host path and the source shows up there."""
    w = world
    if swap:
        os.unlink(w["rootfs"] / "vol")
        (w["rootfs"] / "vol/x").mkdir(parents=True)
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-c", _STRING_MOUNT,
         str(w["src"]), str(w["rootfs"]), str(w["host"]), "1" if swap else "0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listing, _, mountinfo = done.stdout.partition("\n")
    assert listing == "['secret']"  # the source, seen at the host path
    assert _on_host(_points(mountinfo), w["host"]) == [f"{w['host']}/x"]
    assert os.listdir(w["host"] / "x") == []  # (only in that namespace, now gone)


def test_racing_symlink_swaps_never_reach_the_host(world: dict[str, Path]) -> None:
    """A racer flips /vol between a directory and a symlink to the host path while
    containers start: each run either works or fails with one line, and no mount of any
    run is ever on the host path."""
    w = world
    vol, parked = w["rootfs"] / "vol", w["rootfs"] / "vol.dir"
    (parked / "x").mkdir(parents=True)
    stop = threading.Event()
    flips = [0]

    def racer() -> None:
        while not stop.is_set():
            try:
                os.unlink(vol)  # the symlink out, the directory in
                os.rename(parked, vol)
                os.rename(vol, parked)  # the directory out, the symlink in
                os.symlink(w["host"], vol)
                flips[0] += 1
            except OSError:
                pass

    t = threading.Thread(target=racer, daemon=True)
    t.start()
    try:
        for _ in range(12):
            r, mountinfo = _run(w, ["cat", "/vol/x/secret"])
            assert _on_host(_points(mountinfo), w["host"]) == []
            if r.returncode != 0:  # a clean refusal, or cat after the racer moved /vol
                assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    finally:
        stop.set()
        t.join()
    assert flips[0] > 0
    assert os.listdir(w["host"] / "x") == []
