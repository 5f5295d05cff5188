"""What a user asks for when creating a container, parsed from flags into types.

Every parser raises InvalidArgument with the flag named, so ``--memory lots``
gives ``invalid --memory "lots": expected a size like 64m``.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

    from dockyard.network import PortSpec

__all__ = ["RunOptions", "parse_cpus", "parse_env", "parse_size", "parse_ulimit"]

# Patterns are compiled on first use: ``re`` costs a start-up, and a plain ``dockyard run``
# parses no size or duration.
_SIZE = r"(?i)^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$"
_COMPILED: dict[str, re.Pattern[str]] = {}


def _re(pattern: str) -> re.Pattern[str]:
    c = _COMPILED.get(pattern)
    if c is None:
        import re

        c = _COMPILED[pattern] = re.compile(pattern)
    return c


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str, flag: str) -> int:
    """Docker's RAMInBytes: ``64m`` → 67108864; units b, k, m, g, t (binary)."""
    m = _re(_SIZE).match(value.strip())
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


def read_env_file(path: str, host_env: dict[str, str]) -> list[str]:
    """``--env-file PATH`` as docker reads it: one ``KEY=VALUE`` a line, taken as is (no
    quotes, no expansion); ``KEY`` alone takes the caller's value (left out when unset);
    blank lines and lines starting with ``#`` are skipped, leading blanks trimmed."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        from dockyard.linux.syscalls import why

        raise InvalidArgument(f"--env-file {path}: {why(e)}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise InvalidArgument(f"--env-file {path}: invalid utf8 bytes") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key:
            raise InvalidArgument(f"--env-file {path}: line {n}: no variable name")
        if any(ch.isspace() for ch in key):
            raise InvalidArgument(
                f"--env-file {path}: line {n}: variable '{key}' contains whitespaces"
            )
        if sep:
            out.append(f"{key}={value}")
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
    device_cgroup_rules: list[str] = field(default_factory=list)  # "c 7:128 rwm" (docker's)
    pid_mode: str = ""  # "" (its own pid namespace) or "host" (--pid host)
    uts_mode: str = ""  # "" (its own uts namespace) or "host" (--uts host: the host's name)
    # --userns: "" (the daemon's default, --userns-remap), "host" (no user namespace),
    # "auto" or "auto:size=N" (a fresh subordinate range), "keep-id" (the caller's uid maps
    # to itself); see engine/userns.py and docs/decisions/userns.md
    userns: str = ""
    sysctls: dict[str, str] = field(default_factory=dict)
    init: bool = False
    oom_score_adj: int | None = None
    labels: dict[str, str] = field(default_factory=dict)


def parse_restart(value: str) -> tuple[str, int]:
    """``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` → (name, max retries)."""
    name, sep, count = value.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(
            f'invalid --restart "{value}": expected no, always, unless-stopped or on-failure[:N]'
        )
    if sep and name != "on-failure":
        raise InvalidArgument(f'invalid --restart "{value}": only on-failure takes a count')
    try:
        n = int(count) if count else 0
    except ValueError:
        raise InvalidArgument(
            f'invalid --restart "{value}": the count must be an integer'
        ) from None
    if n < 0:
        raise InvalidArgument(f'invalid --restart "{value}": the count must not be negative')
    return name, n


_DURATION = r"^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$"
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str, flag: str) -> float:
    """Go durations as docker takes them (``30s``, ``1m30s``, ``500ms``) → seconds."""
    text = value.strip()
    if text == "0":
        return 0.0
    total = 0.0
    rest = text
    pieces = _re(r"\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)").findall(text)
    if not pieces or "".join(pieces) != rest:
        raise InvalidArgument(f'invalid {flag} "{value}": expected a duration like 30s or 1m')
    for piece in pieces:
        m = _re(_DURATION).match(piece)
        assert m is not None
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
    return total


@record(frozen=False)
class HealthConfig:
    """HEALTHCHECK / ``--health-*``: ``test`` as docker's (``["CMD-SHELL", "cmd"]``,
    ``["CMD", ...]``, ``["NONE"]``); times in seconds."""

    test: list[str] = field(default_factory=list)
    interval: float = 30.0
    timeout: float = 30.0
    retries: int = 3
    start_period: float = 0.0


@record(frozen=False)
class DaemonOptions:
    """What ``run``/``create`` ask of the daemon beyond the OCI config."""

    restart: str = "no"
    restart_max: int = 0
    health: HealthConfig | None = None
    no_healthcheck: bool = False
    stop_signal: str | None = None
    stop_timeout: int | None = None
    volumes: list[str] = field(default_factory=list)  # -v SRC:DST[:OPTS]
    mounts: list[str] = field(default_factory=list)  # --mount k=v,...
    # -p / PortBindings, parsed once at the edge (api/convert.py) and carried typed to the
    # nft rule (engine/netplumb.py → network/_manager.py → network/_nftrules.py)
    publish: list[PortSpec] = field(default_factory=list)
    publish_all: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)  # replace the host's search list
    dns_options: list[str] = field(default_factory=list)  # replace the host's options
    add_hosts: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    ip: str | None = None
    log_max_size: int | None = None
    log_max_file: int | None = None
    log_opts: dict[str, str] = field(default_factory=dict)  # labels=, env=, ... (logattrs)
    isolation: str = ""  # "" or "default": the only technology on Linux (echoed by inspect)
    volume_driver: str = ""  # for the volumes this container creates: only "local" exists
    log_driver: str = "json-file"  # or "none": no log kept (the output still reaches clients)
