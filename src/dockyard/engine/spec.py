"""From an image config and run options to an OCI runtime config (config.json).

A pure function: no disk, no kernel. The result carries dockyard's secure
defaults — Docker's default capabilities, no-new-privileges, the default
seccomp profile, masked and read-only /proc paths, a read-only /sys, the
image's USER — unless the options opt out explicitly (``--privileged``,
``--cap-add``, ``--security-opt``). What the defaults are is owned by
:mod:`dockyard.runtime.defaults`; this module only decides which apply.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument
from dockyard.records import record

TYPE_CHECKING = False  # ``typing`` and ``pathlib`` cost a start-up; mypy honours this
if TYPE_CHECKING:
    from typing import Any

    from dockyard.engine.options import RunOptions
    from dockyard.runtime.users import ExecUser

__all__ = ["SpecInputs", "build_spec", "normalize_cap"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ALL_CAPS = (
    "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP "
    "LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER "
    "SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE "
    "SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP "
    "MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF "
    "CHECKPOINT_RESTORE"
).split()


@record
class SpecInputs:
    """Everything build_spec needs besides the options."""

    container_id: str
    rootfs: str | os.PathLike[str]
    image_config: dict[str, Any]  # the image config's "config" object (may be empty)
    user: ExecUser
    hostname: str
    files_dir: str | os.PathLike[str]  # holds hostname, hosts, resolv.conf for bind mounts
    cgroups_path: str


def normalize_cap(name: str) -> str:
    cap = name.strip().upper()
    if cap == "ALL":
        return cap
    cap = cap if cap.startswith("CAP_") else "CAP_" + cap
    if cap[4:] not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability: {name!r}")
    return cap


def _capabilities(opts: RunOptions) -> list[str]:
    from dockyard.runtime.defaults import DEFAULT_CAPS

    if opts.privileged:
        return ["CAP_" + c for c in ALL_CAPS]
    caps = [normalize_cap(c) for c in DEFAULT_CAPS]
    adds = [normalize_cap(c) for c in opts.cap_add]
    drops = [normalize_cap(c) for c in opts.cap_drop]
    if "ALL" in drops:
        caps = []
    caps = [c for c in caps if c not in drops]
    if "ALL" in adds:
        caps = ["CAP_" + c for c in ALL_CAPS]
    caps += [c for c in adds if c != "ALL" and c not in caps]
    return caps


def _env(opts: RunOptions, inputs: SpecInputs) -> list[str]:
    env: dict[str, str] = {}
    for item in inputs.image_config.get("Env") or []:
        k, _, v = str(item).partition("=")
        env[k] = v
    env.setdefault("PATH", DEFAULT_PATH)
    env["HOSTNAME"] = inputs.hostname
    for item in opts.env:
        k, eq, v = item.partition("=")
        if eq:
            env[k] = v
        else:  # ``NAME`` alone (the API's form of a variable without value): unset, as dockerd
            env.pop(k, None)
    env.setdefault("HOME", inputs.user.home or "/")
    if opts.tty:
        env.setdefault("TERM", "xterm")
    return [f"{k}={v}" for k, v in env.items()]


def _args(opts: RunOptions, cfg: dict[str, Any]) -> list[str]:
    entrypoint = opts.entrypoint if opts.entrypoint is not None else cfg.get("Entrypoint") or []
    if opts.command:
        cmd = opts.command
    elif opts.entrypoint is not None:
        cmd = []  # docker: --entrypoint resets the image's Cmd
    else:
        cmd = cfg.get("Cmd") or []
    args = [str(a) for a in [*entrypoint, *cmd]]
    if not args:
        raise InvalidArgument(f"create {opts.image}: no command specified")
    return args


# ``--init``: docker's docker-init is tini, statically linked (it runs in any image), bound
# read-only at /sbin/docker-init and run as PID 1 with the command as its child: it reaps
# zombies, forwards signals to the child and exits with the child's status.
INIT_IN_CONTAINER = "/sbin/docker-init"
_INIT_CANDIDATES = ("tini-static", "docker-init")


def init_binary() -> str:
    """The host's static tini (``DOCKYARD_INIT_PATH`` overrides); Unavailable if absent."""
    import shutil

    found = os.environ.get("DOCKYARD_INIT_PATH") or next(
        (p for p in map(shutil.which, _INIT_CANDIDATES) if p), None
    )
    if not found or not os.path.isfile(found):
        from dockyard.errors import Unavailable

        raise Unavailable("--init: no tini-static on this host (install the tini package)")
    return os.path.realpath(found)


def _seccomp(opts: RunOptions, caps: list[str]) -> dict[str, Any] | None:
    from dockyard.runtime.defaults import default_seccomp

    if opts.privileged:
        return None
    for so in opts.security_opt:
        key, _, value = so.partition("=")
        if key == "seccomp":
            if value == "unconfined":
                return None
            import json

            try:
                with open(value) as f:
                    profile: dict[str, Any] = json.loads(f.read())
            except (OSError, ValueError) as exc:
                raise InvalidArgument(f"--security-opt seccomp={value}: {exc}") from None
            return profile
    return default_seccomp(caps)  # what a capability allows (Docker's includes.caps)


def _no_new_privs(opts: RunOptions) -> bool:
    nnp = True
    for so in opts.security_opt:
        key, sep, value = so.partition("=") if "=" in so else so.partition(":")
        if key == "no-new-privileges":
            nnp = (not sep) or value.lower() in ("true", "1", "yes")
        elif key not in ("seccomp", "label", "apparmor"):
            raise InvalidArgument(f"invalid --security-opt: {so!r}")
    return nnp


def _mounts(opts: RunOptions, inputs: SpecInputs) -> list[dict[str, Any]]:
    from dockyard.runtime.defaults import default_mounts

    mounts: list[dict[str, Any]] = default_mounts()
    if opts.privileged:
        for m in mounts:
            if m["destination"] in ("/sys", "/sys/fs/cgroup"):
                m["options"] = [o for o in m["options"] if o != "ro"] + ["rw"]
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts.append({
            "destination": f"/etc/{name}", "type": "bind",
            "source": os.path.join(inputs.files_dir, name), "options": ["rbind", "rprivate"],
        })  # fmt: skip
    if opts.init:
        mounts.append({"destination": INIT_IN_CONTAINER, "type": "bind", "source": init_binary(),
                       "options": ["rbind", "ro", "rprivate"]})  # fmt: skip
    for spec in opts.tmpfs:
        dest, _, mopts = spec.partition(":")
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid --tmpfs {spec!r}: destination must be absolute")
        options = ["nosuid", "nodev", "noexec"] + [o for o in mopts.split(",") if o]
        mounts.append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options})
    return mounts


# Docker's default device cgroup: mknod of anything, use of the standard nodes only.
_DEFAULT_DEVICE_RULES = [
    ("c", None, None, "m"), ("b", None, None, "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"),
    ("c", 1, 9, "rwm"), ("c", 5, 0, "rwm"), ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"),
    ("c", 136, None, "rwm"), ("c", 10, 200, "rwm"),
]  # fmt: skip


def parse_device_rule(text: str) -> tuple[str, int | None, int | None, str]:
    """``--device-cgroup-rule`` as docker reads it: ``TYPE MAJOR:MINOR ACCESS`` (type
    ``a``, ``b`` or ``c``; ``*`` for any number; access from ``rwm``) → (type, major, minor,
    access), None for ``*``; InvalidArgument naming the rule otherwise."""
    parts = text.split()
    bad = InvalidArgument(f'invalid device cgroup rule "{text}": want TYPE MAJOR:MINOR ACCESS')
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1]:
        raise bad
    if not parts[2] or set(parts[2]) - set("rwm"):
        raise bad
    numbers: list[int | None] = []
    for n in parts[1].split(":", 1):
        if n != "*" and not n.isdigit():
            raise bad
        numbers.append(None if n == "*" else int(n))
    return parts[0], numbers[0], numbers[1], parts[2]


def _device_rules(opts: RunOptions) -> list[dict[str, Any]]:
    if opts.privileged:
        return [{"allow": True, "access": "rwm"}]
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    extra = [parse_device_rule(r) for r in opts.device_cgroup_rules]
    for typ, major, minor, access in [*_DEFAULT_DEVICE_RULES, *extra]:
        rule: dict[str, Any] = {"allow": True, "type": typ, "access": access}
        if major is not None:
            rule["major"] = major
        if minor is not None:
            rule["minor"] = minor
        rules.append(rule)
    return rules


def _resources(opts: RunOptions) -> dict[str, Any]:
    res: dict[str, Any] = {"devices": _device_rules(opts)}
    mem: dict[str, Any] = {}
    if opts.memory is not None:
        mem["limit"] = opts.memory
        if opts.memory_swap is None:
            mem["swap"] = opts.memory * 2  # docker: as much swap as memory
    if opts.memory_swap is not None:
        if opts.memory is None:
            raise InvalidArgument("--memory-swap needs --memory")
        if 0 < opts.memory_swap < opts.memory:
            raise InvalidArgument("--memory-swap must be at least --memory")
        mem["swap"] = opts.memory_swap
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    if opts.nano_cpus is not None:
        cpu["period"] = 100000
        cpu["quota"] = max(1000, opts.nano_cpus * 100000 // 1_000_000_000)
    if opts.cpu_shares is not None:
        cpu["shares"] = opts.cpu_shares
    if opts.cpuset_cpus is not None:
        cpu["cpus"] = opts.cpuset_cpus
    if cpu:
        res["cpu"] = cpu
    if opts.pids_limit is not None:
        res["pids"] = {"limit": opts.pids_limit}
    return res


def resources_for(opts: RunOptions) -> dict[str, Any]:
    """The OCI ``linux.resources`` that ``opts`` ask for (also for ``update``)."""
    return _resources(opts)


def build_spec(opts: RunOptions, inputs: SpecInputs) -> dict[str, Any]:
    """The OCI runtime config for a container made from ``opts`` and an image."""
    from dockyard.runtime.defaults import DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS

    cfg = inputs.image_config
    caps = _capabilities(opts)
    process: dict[str, Any] = {
        "terminal": opts.tty,
        "user": {"uid": inputs.user.uid, "gid": inputs.user.gid},
        "args": [INIT_IN_CONTAINER, "--", *_args(opts, cfg)] if opts.init else _args(opts, cfg),
        "env": _env(opts, inputs),
        "cwd": opts.workdir or cfg.get("WorkingDir") or "/",
        "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        "rlimits": [{"type": t, "soft": s, "hard": h} for t, s, h in opts.ulimits],
        "noNewPrivileges": _no_new_privs(opts),
    }
    if inputs.user.additional_gids:
        process["user"]["additionalGids"] = list(inputs.user.additional_gids)
    if opts.oom_score_adj is not None:
        process["oomScoreAdj"] = opts.oom_score_adj
    # --pid host / --uts host: the host's namespace (no new one); a hostname needs a uts
    # namespace of its own (the runtime refuses one without: it would rename the host)
    shared = {"pid"} if opts.pid_mode == "host" else set()
    shared |= {"uts"} if opts.uts_mode == "host" else set()
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup") if t not in shared]
    if opts.network != "host":
        namespaces.append({"type": "network"})
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": inputs.cgroups_path,
        "resources": _resources(opts),
        "maskedPaths": [] if opts.privileged else list(DEFAULT_MASKED_PATHS),
        "readonlyPaths": [] if opts.privileged else list(DEFAULT_READONLY_PATHS),
        "sysctl": dict(opts.sysctls),
        "rootfsPropagation": "rprivate",
    }
    seccomp = _seccomp(opts, caps)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    spec: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": os.fspath(inputs.rootfs), "readonly": opts.read_only},
        "mounts": _mounts(opts, inputs),
        "linux": linux,
        "annotations": {"org.opencontainers.image.ref.name": opts.image},
    }
    if "uts" not in shared:
        spec["hostname"] = inputs.hostname
    if opts.devices:
        _add_devices(spec, opts)
    return spec


def _add_devices(spec: dict[str, Any], opts: RunOptions) -> None:
    """``--device`` and ``--gpus`` (dockyard.engine.devices): nodes, cgroup rules (after the
    deny-all one; privileged containers allow every device already), env, mounts, hooks."""
    from dockyard.engine.devices import resolve_devices

    edits = resolve_devices(opts.devices)
    linux = spec["linux"]
    linux["devices"] = edits.devices
    if not opts.privileged:
        linux["resources"]["devices"] += edits.rules
    env = spec["process"]["env"]
    names = {e.split("=", 1)[0] for e in edits.env}
    spec["process"]["env"] = [e for e in env if e.split("=", 1)[0] not in names] + edits.env
    spec["mounts"] += edits.mounts
    for name, hooks in edits.hooks.items():
        spec.setdefault("hooks", {}).setdefault(name, []).extend(hooks)


def check_userns(opts: RunOptions, mode: str) -> None:
    """What a user namespace cannot be combined with (dockerd refuses the same under
    ``--userns-remap`` unless the container asks for ``--userns host``)."""
    if mode == "host":
        return
    for flag, on in (("--privileged", opts.privileged), ("--pid host", opts.pid_mode == "host"),
                     ("--network host", opts.network == "host"),
                     ("--uts host", opts.uts_mode == "host")):  # fmt: skip
        if on:
            raise InvalidArgument(f"--userns {mode}: cannot be combined with {flag} "
                                  "(use --userns host)")  # fmt: skip


def with_user_namespace(
    spec: dict[str, Any], uid_maps: list[tuple[int, int, int]],
    gid_maps: list[tuple[int, int, int]], *, sys_source: str | None,
) -> dict[str, Any]:  # fmt: skip
    """``spec`` with a user namespace of its own and these ``(inside, host, size)`` maps.

    ``sys_source``: None where the runtime makes the network namespace (``--network
    none``), which then belongs to the new user namespace and gets a sysfs of its own.
    Otherwise the daemon makes it, it belongs to the host's user namespace, where the
    container's root holds no rights, and the kernel refuses to mount a sysfs for it
    (EPERM): the host's ``/sys`` (bound without submounts at ``sys_source``, see
    engine/userns.py ``host_sys``) is bound read-only instead, as runc does for rootless
    containers (it shows the host's network devices under ``/sys/class/net``;
    docs/decisions/userns.md)."""
    linux = spec["linux"]
    linux["namespaces"] = [*linux["namespaces"], {"type": "user"}]
    linux["uidMappings"] = [{"containerID": a, "hostID": b, "size": n} for a, b, n in uid_maps]
    linux["gidMappings"] = [{"containerID": a, "hostID": b, "size": n} for a, b, n in gid_maps]
    if sys_source is not None:
        for m in spec["mounts"]:
            if m.get("type") == "sysfs" and m.get("destination") == "/sys":
                m.update(type="bind", source=sys_source,
                         options=["rbind", "nosuid", "noexec", "nodev", "ro"])  # fmt: skip
    return spec
