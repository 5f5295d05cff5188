"""The OCI runtime configuration (``config.json``) as typed data.

Over 800 lines because it holds one typed record per section of the runtime spec with its
strict parser beside it: about fifty short definitions, none long.

:func:`parse_spec` reads untrusted JSON strictly: unknown keys are ignored (the
runtime spec says a runtime must not fail on them), a wrong type or an invalid
value is an :class:`~dockyard.errors.InvalidArgument` whose message names the
JSON path (``process.rlimits[1].type: unknown rlimit 'RLIMIT_FOO'``).
:func:`default_spec` is the configuration ``runc spec`` writes, and
:meth:`Spec.to_dict` turns a spec back into JSON-ready data.

Validation is an ordered list of small named checks (``check_*`` below); each is
pure and runs on the parsed spec, so it is tested alone. Checks that need the
disk (does the rootfs exist?) belong to the runtime, not here.

This module sits on the hot path of every container start, so it imports
nothing heavy: JSON is decoded with the C scanner of the standard library
directly (``json`` itself would pull in ``re`` and ``enum``), and typing
helpers are only imported for the type checker.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci import fastjson
from dockyard.oci._strict import obj as _obj
from dockyard.oci._strict import opt_bool as _opt_bool
from dockyard.oci._strict import opt_int as _int
from dockyard.oci._strict import opt_list as _list
from dockyard.oci._strict import opt_obj as _opt_obj
from dockyard.oci._strict import opt_str as _str
from dockyard.oci._strict import req_int as _req_int
from dockyard.oci._strict import req_str as _req_str
from dockyard.oci._strict import str_map as _str_map
from dockyard.oci._strict import strs as _strs
from dockyard.records import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from dockyard.oci.resources import LinuxResources


__all__ = [
    "CAPABILITIES",
    "NAMESPACE_TYPES",
    "RLIMIT_TYPES",
    "SECCOMP_ACTIONS",
    "Capabilities",
    "Device",
    "Hook",
    "Hooks",
    "IDMapping",
    "Linux",
    "Mount",
    "Namespace",
    "Personality",
    "Process",
    "Rlimit",
    "Root",
    "Seccomp",
    "SeccompArg",
    "SeccompSyscall",
    "Spec",
    "User",
    "default_spec",
    "dumps_json",
    "field",
    "loads_json",
    "parse_process",
    "parse_spec",
    "record",
    "replace",
]

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

RLIMIT_TYPES = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

# capability name -> number (linux/capability.h)
CAPABILITIES = {
    name: i
    for i, name in enumerate(
        [
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_DAC_READ_SEARCH",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETPCAP",
            "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST",
            "CAP_NET_ADMIN",
            "CAP_NET_RAW",
            "CAP_IPC_LOCK",
            "CAP_IPC_OWNER",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT",
            "CAP_SYS_NICE",
            "CAP_SYS_RESOURCE",
            "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG",
            "CAP_MKNOD",
            "CAP_LEASE",
            "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL",
            "CAP_SETFCAP",
            "CAP_MAC_OVERRIDE",
            "CAP_MAC_ADMIN",
            "CAP_SYSLOG",
            "CAP_WAKE_ALARM",
            "CAP_BLOCK_SUSPEND",
            "CAP_AUDIT_READ",
            "CAP_PERFMON",
            "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE",
        ]
    )
}

SECCOMP_ACTIONS = (
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
)
SECCOMP_OPS = (
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
)
SECCOMP_FLAGS = (
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
PROPAGATIONS = ("shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate")


# --------------------------------------------------------------------------- model


@record
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@record
class Capabilities:
    """The five capability sets; each lists what is kept."""

    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record
class Rlimit:
    type: str
    soft: int
    hard: int


@record
class Process:
    args: tuple[str, ...]
    cwd: str = "/"
    env: tuple[str, ...] = ()
    terminal: bool = False
    console_size: tuple[int, int] | None = None  # (height, width)
    user: User = field(default_factory=User)
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    oom_score_adj: int | None = None
    apparmor_profile: str | None = None
    selinux_label: str | None = None

    def env_value(self, name: str) -> str | None:
        """The value of ``name`` in ``env`` (the last one wins), or None."""
        found = None
        prefix = name + "="
        for item in self.env:
            if item.startswith(prefix):
                found = item[len(prefix) :]
        return found


@record
class Root:
    path: str
    readonly: bool = False


@record
class IDMapping:
    container_id: int
    host_id: int
    size: int


@record
class Mount:
    destination: str
    type: str | None = None
    source: str | None = None
    options: tuple[str, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()

    @property
    def is_bind(self) -> bool:
        return "bind" in self.options or "rbind" in self.options or self.type == "bind"


@record
class Hook:
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Hooks:
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@record
class Namespace:
    type: str
    path: str | None = None


@record
class Device:
    type: str  # c, b, u, p
    path: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@record
class SeccompArg:
    index: int
    value: int
    op: str
    value_two: int = 0


@record
class SeccompSyscall:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


@record
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str | None = None
    listener_metadata: str | None = None
    syscalls: tuple[SeccompSyscall, ...] = ()


@record
class Personality:
    domain: str  # LINUX or LINUX32
    flags: tuple[str, ...] = ()


@record
class Linux:
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str | None = None
    resources: LinuxResources | None = None
    sysctl: dict[str, str] = field(default_factory=dict)
    seccomp: Seccomp | None = None
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    rootfs_propagation: str | None = None
    mount_label: str | None = None
    personality: Personality | None = None
    # clock ("monotonic", "boottime") -> (secs, nanosecs), for a new time namespace
    time_offsets: dict[str, tuple[int, int]] = field(default_factory=dict)

    def namespace(self, ns_type: str) -> Namespace | None:
        """The entry for ``ns_type``, or None when it is inherited from the runtime."""
        for ns in self.namespaces:
            if ns.type == ns_type:
                return ns
        return None


@record
class Spec:
    """A parsed ``config.json``."""

    oci_version: str
    root: Root | None = None
    process: Process | None = None
    hostname: str | None = None
    domainname: str | None = None
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks = field(default_factory=Hooks)
    annotations: dict[str, str] = field(default_factory=dict)
    linux: Linux | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data in the runtime-spec's spelling (empty values left out)."""
        out = _to_json(self)
        assert isinstance(out, dict)
        return out


# --------------------------------------------------------------------------- JSON


def loads_json(data: bytes | str, what: str = "json") -> Any:
    """Decode JSON strictly with the standard library's C scanner, without importing
    ``json`` (:func:`dockyard.oci.fastjson.loads`, which also gives the real message on the
    C scanner's SystemError path)."""
    return fastjson.loads(data, what)


def dumps_json(value: Any) -> str:
    """Encode JSON compactly with the C encoder (no ``json`` import)."""
    return fastjson.dumps(value)


# --------------------------------------------------------------------------- to_dict

_JSON_NAMES = {
    "oci_version": "ociVersion",
    "container_id": "containerID",
    "host_id": "hostID",
    "kernel_tcp": "kernelTCP",
    "class_id": "classID",
    "block_io": "blockIO",
    "throttle_read_iops_device": "throttleReadIOPSDevice",
    "throttle_write_iops_device": "throttleWriteIOPSDevice",
    "disable_oom_killer": "disableOOMKiller",
}


def _camel(name: str) -> str:
    if name in _JSON_NAMES:
        return _JSON_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _field_names(value: Any) -> tuple[str, ...] | None:
    names = getattr(type(value), "__record_fields__", None)
    if names is not None:
        return tuple(names)
    return None


def _to_json(value: Any, key: str = "") -> Any:
    names = _field_names(value)
    if names is not None:
        out: dict[str, Any] = {}
        for name in names:
            v = getattr(value, name)
            if v is None or v in ((), {}):
                continue
            out[_camel(name)] = _to_json(v, name)
        return out
    if key == "console_size":
        return {"height": value[0], "width": value[1]}
    if key == "time_offsets":
        return {k: {"secs": v[0], "nanosecs": v[1]} for k, v in value.items()}
    if key == "priorities":
        return [{"name": n, "priority": p} for n, p in value]
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return dict(value)
    return value


# --------------------------------------------------------------------------- parse helpers
# the strict field readers are shared with resources.py (oci/_strict.py); a spec's absent
# boolean is false


def _bool(d: dict[str, Any], key: str, path: str) -> bool:
    return _opt_bool(d, key, path) is True


# --------------------------------------------------------------------------- parse sections


def _user(d: dict[str, Any], p: str) -> User:
    gids = _list(d, "additionalGids", p)
    for i, g in enumerate(gids):
        if isinstance(g, bool) or not isinstance(g, int) or g < 0:
            raise InvalidArgument(f"{p}additionalGids[{i}]: expected a non-negative integer")
    return User(
        uid=_req_int(d, "uid", p, minimum=0),
        gid=_req_int(d, "gid", p, minimum=0),
        umask=_int(d, "umask", p, minimum=0),
        additional_gids=tuple(gids),
    )


def _capabilities(d: dict[str, Any], p: str) -> Capabilities:
    return Capabilities(
        bounding=_strs(d, "bounding", p),
        effective=_strs(d, "effective", p),
        inheritable=_strs(d, "inheritable", p),
        permitted=_strs(d, "permitted", p),
        ambient=_strs(d, "ambient", p),
    )


def _rlimits(d: dict[str, Any], p: str) -> tuple[Rlimit, ...]:
    out = []
    for i, raw in enumerate(_list(d, "rlimits", p)):
        q = f"{p}rlimits[{i}]."
        r = _obj(raw, q[:-1])
        out.append(
            Rlimit(
                type=_req_str(r, "type", q),
                soft=_req_int(r, "soft", q, minimum=0),
                hard=_req_int(r, "hard", q, minimum=0),
            )
        )
    return tuple(out)


def parse_process(raw: Any, p: str = "process.") -> Process:
    """Parse a ``process`` object (also what ``exec --process`` reads)."""
    d = _obj(raw, p[:-1] or "process")
    size = _opt_obj(d, "consoleSize", p)
    user = _opt_obj(d, "user", p)
    caps = _opt_obj(d, "capabilities", p)
    cwd = _str(d, "cwd", p) or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"{p}cwd: must be an absolute path, got {cwd!r}")
    proc = Process(
        args=_strs(d, "args", p),
        cwd=cwd,
        env=_strs(d, "env", p),
        terminal=_bool(d, "terminal", p),
        console_size=(
            (
                _req_int(size, "height", f"{p}consoleSize.", minimum=0),
                _req_int(size, "width", f"{p}consoleSize.", minimum=0),
            )
            if size is not None
            else None
        ),
        user=_user(user, f"{p}user.") if user is not None else User(),
        capabilities=_capabilities(caps, f"{p}capabilities.") if caps is not None else None,
        rlimits=_rlimits(d, p),
        no_new_privileges=_bool(d, "noNewPrivileges", p),
        oom_score_adj=_int(d, "oomScoreAdj", p),
        apparmor_profile=_str(d, "apparmorProfile", p),
        selinux_label=_str(d, "selinuxLabel", p),
    )
    for check in PROCESS_CHECKS:
        check(proc, p)
    return proc


def _mappings(d: dict[str, Any], key: str, p: str) -> tuple[IDMapping, ...]:
    out = []
    for i, raw in enumerate(_list(d, key, p)):
        q = f"{p}{key}[{i}]."
        m = _obj(raw, q[:-1])
        out.append(
            IDMapping(
                container_id=_req_int(m, "containerID", q, minimum=0),
                host_id=_req_int(m, "hostID", q, minimum=0),
                size=_req_int(m, "size", q, minimum=1),
            )
        )
    return tuple(out)


def _mounts(d: dict[str, Any]) -> tuple[Mount, ...]:
    out = []
    for i, raw in enumerate(_list(d, "mounts", "")):
        q = f"mounts[{i}]."
        m = _obj(raw, q[:-1])
        dest = _req_str(m, "destination", q)
        if not dest.startswith("/"):
            dest = "/" + dest  # relative destinations are taken relative to /
        out.append(
            Mount(
                destination=dest,
                type=_str(m, "type", q),
                source=_str(m, "source", q),
                options=_strs(m, "options", q),
                uid_mappings=_mappings(m, "uidMappings", q),
                gid_mappings=_mappings(m, "gidMappings", q),
            )
        )
    return tuple(out)


def _hook_list(d: dict[str, Any], key: str) -> tuple[Hook, ...]:
    out = []
    for i, raw in enumerate(_list(d, key, "hooks.")):
        q = f"hooks.{key}[{i}]."
        h = _obj(raw, q[:-1])
        path = _req_str(h, "path", q)
        if not path.startswith("/"):
            raise InvalidArgument(f"{q}path: must be an absolute path, got {path!r}")
        out.append(
            Hook(
                path=path,
                args=_strs(h, "args", q),
                env=_strs(h, "env", q),
                timeout=_int(h, "timeout", q, minimum=1),
            )
        )
    return tuple(out)


def _hooks(d: dict[str, Any] | None) -> Hooks:
    if d is None:
        return Hooks()
    return Hooks(
        prestart=_hook_list(d, "prestart"),
        create_runtime=_hook_list(d, "createRuntime"),
        create_container=_hook_list(d, "createContainer"),
        start_container=_hook_list(d, "startContainer"),
        poststart=_hook_list(d, "poststart"),
        poststop=_hook_list(d, "poststop"),
    )


def _namespaces(d: dict[str, Any], p: str) -> tuple[Namespace, ...]:
    out = []
    for i, raw in enumerate(_list(d, "namespaces", p)):
        q = f"{p}namespaces[{i}]."
        n = _obj(raw, q[:-1])
        out.append(Namespace(type=_req_str(n, "type", q), path=_str(n, "path", q) or None))
    return tuple(out)


def _devices(d: dict[str, Any], p: str) -> tuple[Device, ...]:
    out = []
    for i, raw in enumerate(_list(d, "devices", p)):
        q = f"{p}devices[{i}]."
        v = _obj(raw, q[:-1])
        typ = _req_str(v, "type", q)
        if typ not in ("c", "b", "u", "p"):
            raise InvalidArgument(f"{q}type: unknown device type {typ!r}")
        path = _req_str(v, "path", q)
        if not path.startswith("/"):
            raise InvalidArgument(f"{q}path: must be an absolute path, got {path!r}")
        out.append(
            Device(
                type=typ,
                path=path,
                major=_int(v, "major", q, minimum=0) or 0,
                minor=_int(v, "minor", q, minimum=0) or 0,
                file_mode=_int(v, "fileMode", q, minimum=0),
                uid=_int(v, "uid", q, minimum=0),
                gid=_int(v, "gid", q, minimum=0),
            )
        )
    return tuple(out)


def _seccomp(s: dict[str, Any], p: str) -> Seccomp:
    default = _req_str(s, "defaultAction", p)
    if default not in SECCOMP_ACTIONS:
        raise InvalidArgument(f"{p}defaultAction: unknown action {default!r}")
    syscalls = []
    for i, raw in enumerate(_list(s, "syscalls", p)):
        q = f"{p}syscalls[{i}]."
        sc = _obj(raw, q[:-1])
        names = _strs(sc, "names", q)
        if not names:
            raise InvalidArgument(f"{q}names: at least one name is required")
        action = _req_str(sc, "action", q)
        if action not in SECCOMP_ACTIONS:
            raise InvalidArgument(f"{q}action: unknown action {action!r}")
        args = []
        for j, araw in enumerate(_list(sc, "args", q)):
            r = f"{q}args[{j}]."
            a = _obj(araw, r[:-1])
            op = _req_str(a, "op", r)
            if op not in SECCOMP_OPS:
                raise InvalidArgument(f"{r}op: unknown operator {op!r}")
            index = _req_int(a, "index", r, minimum=0)
            if index > 5:
                raise InvalidArgument(f"{r}index: must be at most 5")
            args.append(
                SeccompArg(
                    index=index,
                    value=_req_int(a, "value", r, minimum=0),
                    op=op,
                    value_two=_int(a, "valueTwo", r, minimum=0) or 0,
                )
            )
        syscalls.append(
            SeccompSyscall(
                names=names,
                action=action,
                errno_ret=_int(sc, "errnoRet", q, minimum=0),
                args=tuple(args),
            )
        )
    flags = _strs(s, "flags", p)
    for i, f in enumerate(flags):
        if f not in SECCOMP_FLAGS:
            raise InvalidArgument(f"{p}flags[{i}]: unknown flag {f!r}")
    return Seccomp(
        default_action=default,
        default_errno_ret=_int(s, "defaultErrnoRet", p, minimum=0),
        architectures=_strs(s, "architectures", p),
        flags=flags,
        listener_path=_str(s, "listenerPath", p),
        listener_metadata=_str(s, "listenerMetadata", p),
        syscalls=tuple(syscalls),
    )


def _resources(raw: Any) -> LinuxResources | None:
    if raw is None:
        return None
    from dockyard.oci.resources import parse_resources

    return parse_resources(raw, "linux.resources")


def _linux(d: dict[str, Any]) -> Linux:
    p = "linux."
    check_net_devices(d)
    seccomp = _opt_obj(d, "seccomp", p)
    pers = _opt_obj(d, "personality", p)
    propagation = _str(d, "rootfsPropagation", p) or None
    if propagation is not None and propagation not in PROPAGATIONS:
        raise InvalidArgument(f"{p}rootfsPropagation: unknown propagation {propagation!r}")
    personality = None
    if pers is not None:
        domain = _req_str(pers, "domain", f"{p}personality.")
        if domain not in ("LINUX", "LINUX32"):
            raise InvalidArgument(f"{p}personality.domain: unknown domain {domain!r}")
        personality = Personality(domain, _strs(pers, "flags", f"{p}personality."))
    return Linux(
        namespaces=_namespaces(d, p),
        uid_mappings=_mappings(d, "uidMappings", p),
        gid_mappings=_mappings(d, "gidMappings", p),
        devices=_devices(d, p),
        cgroups_path=_str(d, "cgroupsPath", p) or None,
        resources=_resources(d.get("resources")),
        sysctl=_str_map(d, "sysctl", p),
        seccomp=_seccomp(seccomp, f"{p}seccomp.") if seccomp is not None else None,
        masked_paths=_strs(d, "maskedPaths", p),
        readonly_paths=_strs(d, "readonlyPaths", p),
        rootfs_propagation=propagation,
        mount_label=_str(d, "mountLabel", p),
        personality=personality,
        time_offsets=_time_offsets(d, p),
    )


def _time_offsets(d: dict[str, Any], p: str) -> dict[str, tuple[int, int]]:
    raw = _opt_obj(d, "timeOffsets", p)
    out: dict[str, tuple[int, int]] = {}
    for clock, v in (raw or {}).items():
        q = f"{p}timeOffsets.{clock}."
        if clock not in ("monotonic", "boottime"):
            raise InvalidArgument(f"{p}timeOffsets: unknown clock {clock!r}")
        o = _obj(v, q.rstrip("."))
        out[clock] = (_int(o, "secs", q) or 0, _int(o, "nanosecs", q, minimum=0) or 0)
        if out[clock][1] >= 1_000_000_000:
            raise InvalidArgument(f"{q}nanosecs: must be below 1000000000")
    return out


# --------------------------------------------------------------------------- checks


def check_rlimits(proc: Process, p: str) -> None:
    """Every rlimit type is known, appears once, and soft <= hard."""
    seen: set[str] = set()
    for i, r in enumerate(proc.rlimits):
        if r.type not in RLIMIT_TYPES:
            raise InvalidArgument(f"{p}rlimits[{i}].type: unknown rlimit {r.type!r}")
        if r.type in seen:
            raise InvalidArgument(f"{p}rlimits[{i}].type: duplicate rlimit {r.type!r}")
        if r.soft > r.hard:
            raise InvalidArgument(f"{p}rlimits[{i}]: soft limit {r.soft} exceeds hard {r.hard}")
        seen.add(r.type)


def check_args(proc: Process, p: str) -> None:
    """``args`` is not empty."""
    if not proc.args:
        raise InvalidArgument(f"{p}args: at least one argument is required")


PROCESS_CHECKS: tuple[Callable[[Process, str], None], ...] = (check_args, check_rlimits)


def check_version(spec: Spec) -> None:
    """``ociVersion`` is a SemVer string (``1.0.2-dev``)."""
    core = spec.oci_version.split("-", 1)[0].split("+", 1)[0].split(".")
    if len(core) != 3 or not all(p.isdigit() for p in core):
        raise InvalidArgument(f"ociVersion: not a semantic version: {spec.oci_version!r}")


def check_namespaces(spec: Spec) -> None:
    """Namespace types are known and unique."""
    if spec.linux is None:
        return
    seen: set[str] = set()
    for i, ns in enumerate(spec.linux.namespaces):
        if ns.type not in NAMESPACE_TYPES:
            raise InvalidArgument(f"linux.namespaces[{i}].type: unknown namespace {ns.type!r}")
        if ns.type in seen:
            raise InvalidArgument(f"linux.namespaces[{i}].type: duplicate namespace {ns.type!r}")
        seen.add(ns.type)


def check_mappings(spec: Spec) -> None:
    """ID mappings need a new user namespace, and a new user namespace needs both."""
    lx = spec.linux
    if lx is None:
        return
    user = lx.namespace("user")
    if (lx.uid_mappings or lx.gid_mappings) and user is None:
        raise InvalidArgument("linux.uidMappings: user namespace mappings need a user namespace")
    if user is not None and user.path is None and not (lx.uid_mappings and lx.gid_mappings):
        raise InvalidArgument("linux.uidMappings: a new user namespace needs uid and gid mappings")


def check_hostname(spec: Spec) -> None:
    """A hostname needs a UTS namespace of its own."""
    lx = spec.linux
    if spec.hostname and (lx is None or lx.namespace("uts") is None):
        raise InvalidArgument("hostname: setting the hostname needs a new uts namespace")


def check_net_devices(raw: dict[str, Any]) -> None:
    """``linux.netDevices`` maps interface names to objects with an optional string name."""
    nd = raw.get("netDevices")
    if nd is None:
        return
    for name, dev in _obj(nd, "linux.netDevices").items():
        d = _obj(dev, f"linux.netDevices.{name}")
        _str(d, "name", f"linux.netDevices.{name}.")


def check_sysctl(spec: Spec) -> None:
    """sysctl keys are plain dotted names (no path tricks)."""
    if spec.linux is None:
        return
    for key in spec.linux.sysctl:
        if not key or "/" in key.replace(".", "") or ".." in key or key.startswith("."):
            raise InvalidArgument(f"linux.sysctl.{key}: invalid sysctl name")


SPEC_CHECKS: tuple[Callable[[Spec], None], ...] = (
    check_version,
    check_namespaces,
    check_mappings,
    check_sysctl,
)


# --------------------------------------------------------------------------- entry points


def parse_spec(data: bytes | str | dict[str, Any]) -> Spec:
    """Parse and validate ``config.json``; raises InvalidArgument naming the JSON path."""
    raw = data if isinstance(data, dict) else loads_json(data, "config.json")
    d = _obj(raw, "config.json")
    root = _opt_obj(d, "root", "")
    proc = d.get("process")
    lx = _opt_obj(d, "linux", "")
    spec = Spec(
        oci_version=_req_str(d, "ociVersion", ""),
        root=(
            Root(_req_str(root, "path", "root."), _bool(root, "readonly", "root."))
            if root
            else None
        ),
        process=parse_process(proc) if proc is not None else None,
        hostname=_str(d, "hostname", ""),
        domainname=_str(d, "domainname", ""),
        mounts=_mounts(d),
        hooks=_hooks(_opt_obj(d, "hooks", "")),
        annotations=_str_map(d, "annotations", ""),
        linux=_linux(lx) if lx is not None else None,
    )
    for check in SPEC_CHECKS:
        check(spec)
    return spec


_DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec_dict() -> dict[str, Any]:
    """The configuration ``runc spec`` writes, as JSON data."""
    caps = list(_DEFAULT_CAPS)
    return {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "dockyard",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": [
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
            },
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }


def default_spec() -> Spec:
    """The configuration ``runc spec`` writes, parsed."""
    return parse_spec(default_spec_dict())
