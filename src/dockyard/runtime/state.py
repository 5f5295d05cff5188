"""Container state on disk and the lifecycle rules.

State directory layout (``<state_root>/<id>/``, mode 0700)::

    state.json    what create wrote: id, init pid and its start time, bundle,
                  rootfs, created, annotations, cgroup path and the creator's
                  own cgroups (where that path is placed), owner
    config.json   the parsed config.json as given (exec and delete read it back)
    exec.fifo     present while the container is *created*: the init blocks
                  opening it until ``start`` reads it

Status is never stored; it is observed (runc does the same):

    init pid gone, a zombie, or a different process now  → stopped
    exec.fifo exists                                      → created
    the freezer says frozen                               → paused
    otherwise                                             → running

Lifecycle rules (``can_*``): start needs created; kill needs created, running
or paused; pause needs running; resume needs paused; exec needs running;
delete needs stopped unless forced. A refused operation raises
FailedPrecondition naming the container and its status.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound
from dockyard.oci.runtime_spec import dumps_json, loads_json
from dockyard.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CREATED",
    "PAUSED",
    "RUNNING",
    "STOPPED",
    "State",
    "check_id",
    "pid_start_time",
    "proc_stat",
    "read_state",
    "require",
    "write_state",
]

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"

ALLOWED = {
    "start": (CREATED,),
    "kill": (CREATED, RUNNING, PAUSED),
    "pause": (RUNNING,),
    "resume": (PAUSED,),
    "exec": (RUNNING,),
    "update": (CREATED, RUNNING, PAUSED),
    "delete": (STOPPED,),
    "ps": (CREATED, RUNNING, PAUSED),
}


@record(frozen=False)
class State:
    """runc's state JSON, plus what the runtime needs to find the container again."""

    id: str
    pid: int
    bundle: str
    rootfs: str
    created: str
    status: str = STOPPED
    oci_version: str = "1.2.0"
    owner: str = ""
    annotations: dict[str, str] = field(default_factory=dict)
    cgroup_path: str = ""
    pid_start: int = 0
    # the creator's own cgroups (controller → path, as /proc/self/cgroup): the container's
    # cgroup is beneath them, wherever later callers (podman vs conmon) run
    cgroup_own: dict[str, str] = field(default_factory=dict)

    def to_oci(self) -> dict[str, Any]:
        """The state as ``runc state`` prints it."""
        return {
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": self.pid if self.status != STOPPED else 0,
            "status": self.status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            "annotations": dict(self.annotations),
        }


def require(state: State, op: str) -> None:
    """Raise FailedPrecondition unless ``op`` is allowed in ``state.status``."""
    if state.status not in ALLOWED[op]:
        raise FailedPrecondition(f"{op} container {state.id}: container is {state.status}")


def check_id(cid: str) -> None:
    """Ids are what runc accepts: letters, digits, ``_ + - .``, not ``.``/``..``."""
    ok = cid and cid not in (".", "..") and len(cid) <= 1024
    if ok and all(ch.isascii() and (ch.isalnum() or ch in "_+-.") for ch in cid):
        return
    raise InvalidArgument(f"container id {cid!r}: invalid (use letters, digits, _ + - .)")


def now_rfc3339() -> str:
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` from the third (the state letter) on, or None
    when the process is gone: ``[i]`` is proc(5)'s field ``i + 3``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rfind(b")") + 2 :].split()


def pid_start_time(pid: int) -> tuple[int, str] | None:
    """(start time, state letter) of ``pid`` from /proc, or None when it is gone."""
    rest = proc_stat(pid)
    if not rest:
        return None
    return int(rest[19]), rest[0].decode()


def write_state(directory: str, state: State) -> None:
    data = {
        "id": state.id,
        "pid": state.pid,
        "pidStart": state.pid_start,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
        "annotations": state.annotations,
        "cgroupPath": state.cgroup_path,
        "cgroupOwn": state.cgroup_own,
        "ociVersion": state.oci_version,
    }
    tmp = os.path.join(directory, "state.json.tmp")
    with open(tmp, "w") as f:
        f.write(dumps_json(data))
    os.replace(tmp, os.path.join(directory, "state.json"))


def read_state(directory: str, cid: str) -> State:
    """The stored state of ``cid`` with its observed status (frozen is the caller's job)."""
    try:
        with open(os.path.join(directory, "state.json"), "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"container {cid}: does not exist") from None
    d = loads_json(raw, f"state of {cid}")
    st = State(
        id=d["id"],
        pid=int(d["pid"]),
        bundle=d["bundle"],
        rootfs=d["rootfs"],
        created=d["created"],
        owner=d.get("owner", ""),
        annotations=dict(d.get("annotations") or {}),
        cgroup_path=d.get("cgroupPath", ""),
        pid_start=int(d.get("pidStart", 0)),
        cgroup_own=dict(d.get("cgroupOwn") or {}),
        oci_version=d.get("ociVersion", "1.2.0"),
    )
    st.status = observe_status(directory, st)
    return st


def init_alive(st: State) -> bool:
    info = pid_start_time(st.pid) if st.pid > 0 else None
    return info is not None and info[1] != "Z" and (st.pid_start in (0, info[0]))


def observe_status(directory: str, st: State) -> str:
    if not init_alive(st):
        return STOPPED
    if os.path.exists(os.path.join(directory, "exec.fifo")):
        return CREATED
    return RUNNING
