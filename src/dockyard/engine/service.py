"""dockyardd as a systemd service: the unit file, installing it, and starting the daemon
through systemd so that it runs in a delegated cgroup.

On a systemd host every process lives in a unit's cgroup. A daemon forked into a login
session's scope shares that cgroup with the shell, which systemd never delegates, so no
container could be limited (docs/decisions/0008-cgroup-placement.md). Two ways in:

- ``dockyard system install`` writes ``/etc/systemd/system/dockyard.service`` with
  ``Delegate=yes`` (the unit's cgroup subtree is the daemon's to manage) and
  ``KillMode=process`` (a ``systemctl restart`` or ``stop`` ends the daemon only: containers
  and their holders live on and the next daemon takes them back), as ``docker.service`` does;
- the CLI's auto-start, on a systemd host, starts that unit when the default roots are used
  and it is installed, else a transient unit with the same properties (``systemd-run``).
"""

from __future__ import annotations

import os
import subprocess
import sys

__all__ = [
    "UNIT_NAME",
    "UNIT_PATH",
    "install",
    "systemd_booted",
    "start_with_systemd",
    "uninstall",
    "unit_text",
]

UNIT_NAME = "dockyard.service"
UNIT_PATH = "/etc/systemd/system/dockyard.service"
DEFAULT_ROOT = "/var/lib/dockyard"
DEFAULT_RUN_ROOT = "/run/dockyard"


def systemd_booted() -> bool:
    """systemd is PID 1 (sd_booted(3): ``/run/systemd/system`` exists)."""
    return os.path.isdir("/run/systemd/system")


def _daemon_argv(root: str, run_root: str) -> list[str]:
    return [sys.executable, "-m", "dockyard.api.server", "--root", root, "--run-root", run_root]


def unit_text(root: str = DEFAULT_ROOT, run_root: str = DEFAULT_RUN_ROOT) -> str:
    """The ``dockyard.service`` unit for this interpreter and these roots."""
    argv = " ".join(_daemon_argv(root, run_root))
    return f"""[Unit]
Description=dockyard container engine (dockyardd)
After=network-online.target nftables.service
Wants=network-online.target

[Service]
Type=simple
ExecStart={argv}
# the unit's cgroup subtree is the daemon's: containers get cpu, memory, pids, io
Delegate=yes
# restart and stop end the daemon only: containers keep running (live restore)
KillMode=process
Restart=on-failure
TasksMax=infinity
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
"""


def _systemctl(*args: str) -> None:
    from dockyard.errors import Unavailable

    try:
        p = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise Unavailable("systemctl: not found (is systemd installed?)") from None
    if p.returncode != 0:
        line = (p.stderr.strip().splitlines() or [f"exit {p.returncode}"])[-1]
        raise Unavailable(f"systemctl {' '.join(args)}: {line}")


def install(root: str = DEFAULT_ROOT, run_root: str = DEFAULT_RUN_ROOT, start: bool = True) -> str:
    """Write the unit, reload systemd, enable it (and start it): the unit's path."""
    from dockyard.errors import FailedPrecondition

    if not systemd_booted():
        raise FailedPrecondition("install dockyard.service: systemd is not running on this host")
    tmp = UNIT_PATH + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(unit_text(root, run_root))
    os.chmod(tmp, 0o644)
    os.replace(tmp, UNIT_PATH)
    _systemctl("daemon-reload")
    _systemctl("enable", *(["--now"] if start else []), UNIT_NAME)
    return UNIT_PATH


def uninstall() -> None:
    """Disable and stop the unit (containers keep running), remove the file."""
    from dockyard.errors import FailedPrecondition

    if not systemd_booted():
        raise FailedPrecondition("uninstall dockyard.service: systemd is not running on this host")
    if os.path.exists(UNIT_PATH):
        _systemctl("disable", "--now", UNIT_NAME)
        os.unlink(UNIT_PATH)
        _systemctl("daemon-reload")


def _in_leaf() -> bool:
    from dockyard.cgroups import LEAF

    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            return any(line.startswith("0::") and line.rstrip().endswith("/" + LEAF) for line in f)
    except OSError:
        return False


def start_with_systemd(root: str, run_root: str, log: str) -> bool:
    """Start the daemon as a systemd unit; False when this is no place for that.

    Not used when systemd is not PID 1, when ``DOCKYARD_AUTOSTART=fork``, or when the
    caller already runs in a dockyard leaf (a delegated subtree it manages: the test suite,
    or a daemon's own children), where a fork keeps the daemon beneath the caller.
    """
    if os.environ.get("DOCKYARD_AUTOSTART") == "fork" or not systemd_booted() or _in_leaf():
        return False
    if os.environ.get("_DOCKYARD_ROOTLESS"):  # the daemon must stay in the user's namespaces
        return False
    if (root, run_root) == (DEFAULT_ROOT, DEFAULT_RUN_ROOT) and os.path.exists(UNIT_PATH):
        argv = ["systemctl", "start", UNIT_NAME]
    else:
        import hashlib

        tag = hashlib.sha256(f"{root}\0{run_root}".encode()).hexdigest()[:12]
        argv = ["systemd-run", f"--unit=dockyardd-{tag}", "--collect", "--quiet",
                "-p", "Delegate=yes", "-p", "KillMode=process", "-p", "TasksMax=infinity",
                "-p", f"StandardOutput=append:{log}", "-p", f"StandardError=append:{log}",
                "--", *_daemon_argv(root, run_root)]  # fmt: skip
    try:
        p = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0
