"""``info``, ``system df``, ``top`` and volume views for the daemon's API."""

from __future__ import annotations

import contextlib
import os
import subprocess
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import config_of
from dockyard.errors import FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.volumes import Volume

__all__ = [
    "container_size",
    "disk_usage",
    "info",
    "prune_volumes",
    "top",
    "volume_json",
    "volume_matches",
    "volume_users",
]


def info(d: Daemon) -> dict[str, Any]:
    from dockyard import __version__

    recs = d.engine.db.list_containers()
    uname = os.uname()
    return {
        "ID": "dockyard",
        "Containers": len(recs),
        "ContainersRunning": sum(r.status == "running" for r in recs),
        "ContainersPaused": sum(r.status == "paused" for r in recs),
        "ContainersStopped": sum(r.status not in ("running", "paused") for r in recs),
        "Images": len(d.engine.db.list_images()),
        "Driver": "overlay2",
        "DockerRootDir": str(d.root),
        "ExecutionDriver": "dockyard-runtime",
        "LoggingDriver": "json-file",
        "CgroupDriver": d.cgroups.driver,
        "CgroupVersion": "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1",
        "CgroupParent": d.cgroups.parent,
        "CgroupControllers": d.cgroups.controllers,
        "KernelVersion": uname.release,
        "OperatingSystem": "Linux",
        "OSType": "linux",
        "Architecture": uname.machine,
        "NCPU": os.cpu_count() or 1,
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "ServerVersion": __version__,
        "LiveRestoreEnabled": True,
        "DefaultRuntime": "dockyard-runtime",
        "Name": uname.nodename,
        "Debug": False,
        "ExperimentalBuild": False,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "none"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "Runtimes": {"dockyard-runtime": {"path": "dockyard-runtime"}},
        "SecurityOptions": ["name=seccomp,profile=builtin"]
        + (["name=rootless"] if os.environ.get("_DOCKYARD_ROOTLESS") else []),  # as dockerd
        "Warnings": (d.net.warnings() if d.net is not None else [])
        + ([d.spare_error] if d.spare_error else [])
        + ([d.cgroups.problem] if d.cgroups.problem else []),
    }


def _du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, f)).st_size
    return total


def container_size(d: Daemon, cid: str) -> int:
    """Bytes in the container's writable layer (``SizeRw``; what removing it reclaims)."""
    return _du(str(d.root / "snapshots" / cid / "upper"))


def disk_usage(d: Daemon) -> dict[str, Any]:
    images = []
    for img in d.engine.db.list_images():
        images.append({"Id": img.id, "Size": img.size, "RepoTags": [],
                       "Containers": len(d.engine.db.containers_using(img.id))})  # fmt: skip
    containers = []
    snaps = d.root / "snapshots"
    for r in d.engine.db.list_containers():
        containers.append(
            {
                "Id": r.id,
                "Names": ["/" + r.name],
                "Image": r.image_ref,
                "SizeRw": _du(str(snaps / r.id / "upper")),
                "State": r.status,
            }
        )
    volumes = [volume_json(d, v, size=True) for v in d.volumes.list()]
    return {"LayersSize": sum(i["Size"] for i in images), "Images": images,
            "Containers": containers, "Volumes": volumes, "BuildCache": []}  # fmt: skip


def volume_users(d: Daemon, name: str) -> list[str]:
    return [
        r.id[:12]
        for r in d.engine.db.list_containers()
        if any(m.get("Name") == name for m in config_of(r).mounts or [])
    ]


def volume_json(d: Daemon, v: Volume, size: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Name": v.name, "Driver": "local", "Mountpoint": str(v.path), "CreatedAt": v.created,
        "Labels": v.labels or None, "Options": v.options or None, "Scope": "local",
    }  # fmt: skip
    if size:
        out["UsageData"] = {
            "Size": d.volumes.size(v.name),
            "RefCount": len(volume_users(d, v.name)),
        }
    return out


def volume_matches(d: Daemon, v: Volume, filters: dict[str, list[str]]) -> bool:
    """``GET /volumes?filters=``: dockerd's keys (``name`` a substring, ``label`` KEY or
    KEY=VALUE, ``dangling``, ``driver``); all keys must match, any value within one."""
    from collections.abc import Callable

    checks: dict[str, Callable[[str], bool]] = {
        "name": lambda w: w in v.name,
        "driver": lambda w: w == "local",
        "label": lambda w: (v.labels or {}).get(w.partition("=")[0]) == w.partition("=")[2]
        if "=" in w else w in (v.labels or {}),
        "dangling": lambda w: (not volume_users(d, v.name)) == (w.lower() in ("1", "true")),
    }  # fmt: skip
    for key, wanted in filters.items():
        check = checks.get(key)
        if check is None:
            raise InvalidArgument(f"invalid filter '{key}'")
        if wanted and not any(check(w) for w in wanted):
            return False
    return True


def prune_volumes(d: Daemon, all_: bool = False) -> tuple[list[str], int]:
    """Remove volumes no container uses (anonymous ones only, unless ``all_``: docker 23+)."""
    gone, space = [], 0
    for v in d.volumes.list():
        if volume_users(d, v.name) or not (all_ or v.anonymous):
            continue
        space += d.volumes.size(v.name)
        d.volumes.remove(v.name)
        d.events.emit("volume", "destroy", v.name)
        gone.append(v.name)
    return gone, space


def top(d: Daemon, ref: str, ps_args: str = "") -> dict[str, Any]:
    rec = d.get(ref)
    if rec.status not in ("running", "paused"):
        raise FailedPrecondition(f"top {rec.name}: container {rec.id[:12]} is not running")
    pids = d.runtime.ps(rec.id)
    args = ps_args.split() if ps_args else ["-ef"]
    if any(not a.startswith("-") and not a.isalnum() for a in args):
        raise InvalidArgument(f"top: invalid ps arguments {ps_args!r}")
    out = subprocess.run(["ps", *args], capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    if not lines:
        return {"Titles": [], "Processes": []}
    titles = lines[0].split()
    try:
        pid_col = titles.index("PID")
    except ValueError:
        raise InvalidArgument("top: ps output has no PID column") from None
    procs = []
    for line in lines[1:]:
        cols = line.split(None, len(titles) - 1)
        if len(cols) > pid_col and cols[pid_col].isdigit() and int(cols[pid_col]) in pids:
            procs.append(cols)
    return {"Titles": titles, "Processes": procs}
