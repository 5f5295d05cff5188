"""Where the daemon's containers get their cgroups, decided once when the daemon starts.

One driver today, **cgroupfs**: containers are directories beneath the daemon's own
(delegated) cgroup. On a pure cgroup v2 host the daemon first moves itself into a leaf of that
subtree (:func:`dockyard.cgroups.delegate.enter_leaf`), so the no-internal-process rule lets
it enable cpu, memory, pids and io for its containers; on a v1 or hybrid host nothing moves
(v1 has no such rule). On a systemd host the daemon is meant to run in a unit with
``Delegate=yes`` (``dockyard system install`` writes one; the CLI's auto-start asks systemd
for a transient one): that unit's cgroup is the delegated subtree. Why no per-container
systemd scope (podman's and runc's systemd driver) yet: ``docs/decisions/0008-cgroup-placement.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

__all__ = ["DRIVERS", "CgroupPlacement", "claim_cgroups"]

DRIVERS = ("cgroupfs",)


@dataclass(frozen=True)
class CgroupPlacement:
    """What ``system info`` shows: driver, cgroup version, the parent containers go beneath
    (v2), the controllers enabled there, and why limits cannot work ("" when they can)."""

    driver: str = "cgroupfs"
    version: str = "1"
    parent: str = ""
    controllers: list[str] = field(default_factory=list)
    problem: str = ""


def claim_cgroups(driver: str = "cgroupfs", root: str = "/sys/fs/cgroup") -> CgroupPlacement:
    """Prepare the daemon's cgroup subtree; call before the daemon forks any process."""
    if driver not in DRIVERS:
        raise InvalidArgument(
            f"cgroup manager {driver!r}: not supported (supported: {', '.join(DRIVERS)}; "
            "on a systemd host run the daemon as the dockyard.service unit, which delegates "
            "its cgroup)"
        )
    from dockyard.cgroups import detect_mode
    from dockyard.errors import Unavailable

    try:
        mode = detect_mode(root)
    except Unavailable as e:
        return CgroupPlacement(driver, "", "", [], str(e))
    if mode != "v2":
        return CgroupPlacement(driver, "1")
    from dockyard.cgroups.delegate import enter_leaf

    d = enter_leaf(root)
    return CgroupPlacement(driver, "2", d.base, d.enabled, d.problem)
