"""Where the daemon's containers get their cgroups, decided once when the daemon starts.

Two drivers, chosen as docker, podman and runc choose: **systemd** where systemd is PID 1 on
a cgroup v2 host (each container in a transient scope, ``dockyard.cgroups.systemd``), else
**cgroupfs**: containers are directories beneath the daemon's own
(delegated) cgroup. On a pure cgroup v2 host the daemon first moves itself into a leaf of that
subtree (:func:`dockyard.cgroups.delegate.enter_leaf`), so the no-internal-process rule lets
it enable cpu, memory, pids and io for its containers; on a v1 or hybrid host nothing moves
(v1 has no such rule). On a systemd host the daemon is meant to run in a unit with
``Delegate=yes`` (``dockyard system install`` writes one; the CLI's auto-start asks systemd
for a transient one): that unit's cgroup is the delegated subtree. See
``docs/decisions/0008-cgroup-placement.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

__all__ = ["DRIVERS", "CgroupPlacement", "cgroup_path", "claim_cgroups", "default_driver"]

DRIVERS = ("cgroupfs", "systemd")


@dataclass(frozen=True)
class CgroupPlacement:
    """What ``system info`` shows: driver, cgroup version, the parent containers go beneath
    (v2), the controllers enabled there, and why limits cannot work ("" when they can)."""

    driver: str = "cgroupfs"
    version: str = "1"
    parent: str = ""
    controllers: list[str] = field(default_factory=list)
    problem: str = ""


_CURRENT = [CgroupPlacement()]  # the daemon's choice, set once by claim_cgroups


def cgroup_path(cid: str) -> str:
    """The cgroup path a new container gets under the daemon's driver: ``dockyard/<id>``
    beneath the daemon's subtree, or ``system.slice:dockyard:<id>`` (a transient scope)."""
    if _CURRENT[0].driver == "systemd":
        return f"system.slice:dockyard:{cid}"
    return f"dockyard/{cid}"


def default_driver(root: str = "/sys/fs/cgroup") -> str:
    """``systemd`` where systemd is PID 1 on a cgroup v2 host (as docker, podman and runc
    choose there), else ``cgroupfs``."""
    import os

    v2 = os.path.exists(os.path.join(root, "cgroup.controllers"))
    return "systemd" if v2 and os.path.isdir("/run/systemd/system") else "cgroupfs"


def _keep(p: CgroupPlacement) -> CgroupPlacement:
    _CURRENT[0] = p
    return p


def claim_cgroups(driver: str = "", root: str = "/sys/fs/cgroup") -> CgroupPlacement:
    """Prepare the daemon's cgroup placement; call before the daemon forks any process.

    ``driver`` "" chooses :func:`default_driver`. The choice is kept for
    :func:`cgroup_path`.
    """
    driver = driver or default_driver(root)
    if driver not in DRIVERS:
        raise InvalidArgument(
            f"cgroup manager {driver!r}: not supported (supported: {', '.join(DRIVERS)})"
        )
    import os

    from dockyard.cgroups import detect_mode
    from dockyard.errors import Unavailable

    try:
        mode = detect_mode(root)
    except Unavailable as e:
        return _keep(CgroupPlacement(driver, "", "", [], str(e)))
    if os.environ.get("DOCKYARD_CGROUPS") == "disabled":  # rootless without delegation
        why = "resource limits are not enforced: no cgroup is delegated to this user"
        return _keep(CgroupPlacement(driver, "2" if mode == "v2" else "1", "", [], why))
    if mode != "v2":
        if driver == "systemd":
            raise InvalidArgument("cgroup manager 'systemd': needs a cgroup v2 host")
        return _keep(CgroupPlacement(driver, "1"))
    if driver == "systemd":
        return _keep(CgroupPlacement(driver, "2", "/system.slice", ["cpu", "io", "memory", "pids"]))
    from dockyard.cgroups.delegate import enter_leaf

    d = enter_leaf(root)
    return _keep(CgroupPlacement(driver, "2", d.base, d.enabled, d.problem))
