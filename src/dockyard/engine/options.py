"""What a user asks for when creating a container, parsed from flags into types.

Every parser raises InvalidArgument with the flag named, so ``--memory lots``
gives ``invalid --memory "lots": expected a size like 64m``.
"""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument
from dockyard.records import field, record

__all__ = ["RunOptions", "parse_cpus", "parse_env", "parse_size", "parse_ulimit"]

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str, flag: str) -> int:
    """Docker's RAMInBytes: ``64m`` → 67108864; units b, k, m, g, t (binary)."""
    m = _SIZE.match(value.strip())
    if not m:
        raise InvalidArgument(f'invalid {flag} "{value}": expected a size like 64m or 1g')
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n <= 0:
        raise InvalidArgument(f'invalid {flag} "{value}": must be positive')
    return n


def parse_cpus(value: str, flag: str = "--cpus") -> int:
    """``--cpus 0.5`` → nano-CPUs (500000000), as docker's NanoCPUs."""
    try:
        cpus = float(value)
    except ValueError:
        raise InvalidArgument(f'invalid {flag} "{value}": expected a number of CPUs') from None
    if not 0 < cpus <= 4096:
        raise InvalidArgument(f'invalid {flag} "{value}": must be between 0 and the host CPUs')
    return round(cpus * 1e9)


def parse_env(items: list[str], host_env: dict[str, str]) -> list[str]:
    """``-e K=V`` as given; ``-e K`` takes K from the caller's environment if set."""
    out = []
    for item in items:
        key, sep, _value = item.partition("=")
        if not key:
            raise InvalidArgument(f'invalid -e "{item}": variable name is empty')
        if sep:
            out.append(item)
        elif key in host_env:
            out.append(f"{key}={host_env[key]}")
    return out


_RLIMITS = {
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
    "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", "as",
}  # fmt: skip


def parse_ulimit(value: str) -> tuple[str, int, int]:
    """``nofile=1024:2048`` → ("RLIMIT_NOFILE", 1024, 2048); one number sets both."""
    name, sep, limits = value.partition("=")
    if not sep or name not in _RLIMITS:
        raise InvalidArgument(f'invalid --ulimit "{value}": expected NAME=SOFT[:HARD]')
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if hard_s else soft
    except ValueError:
        raise InvalidArgument(f'invalid --ulimit "{value}": limits must be integers') from None
    if soft > hard:
        raise InvalidArgument(f'invalid --ulimit "{value}": soft limit exceeds hard limit')
    return f"RLIMIT_{name.upper()}", soft, hard


@record(frozen=False)
class RunOptions:
    """A container as ``dockyard run`` / ``create`` describe it."""

    image: str
    command: list[str] = field(default_factory=list)
    entrypoint: list[str] | None = None
    env: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    name: str | None = None
    remove: bool = False
    network: str = "none"
    memory: int | None = None
    memory_swap: int | None = None
    nano_cpus: int | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    tty: bool = False
    interactive: bool = False
    privileged: bool = False
    read_only: bool = False
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    security_opt: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    ulimits: list[tuple[str, int, int]] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    init: bool = False
    oom_score_adj: int | None = None
    labels: dict[str, str] = field(default_factory=dict)
