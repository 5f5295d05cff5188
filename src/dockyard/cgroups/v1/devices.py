"""v1 devices: OCI device rules written in order to ``devices.allow`` / ``devices.deny``."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import DeviceRule, LinuxResources

__all__ = ["CONTROLLER", "apply", "rule_line"]


def rule_line(rule: DeviceRule) -> str | None:
    """``c 1:3 rwm``; ``a`` for all devices; None for rules v1 cannot express (fifos)."""
    if rule.type == "p":
        return None
    if rule.type == "a":
        return "a"
    kind = "c" if rule.type == "u" else rule.type
    major = "*" if rule.major is None or rule.major < 0 else str(rule.major)
    minor = "*" if rule.minor is None or rule.minor < 0 else str(rule.minor)
    return f"{kind} {major}:{minor} {rule.access}"


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    for rule in r.devices:
        line = rule_line(rule)
        if line is not None:
            fs.write(d / ("devices.allow" if rule.allow else "devices.deny"), line)


CONTROLLER = Controller("devices", apply)
