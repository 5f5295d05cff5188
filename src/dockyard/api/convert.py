"""Docker Engine API request bodies → engine options (the edge where JSON is untrusted).

``POST /containers/create`` takes Docker's body (``Image``, ``Cmd``, ``Env``,
``HostConfig`` …); :func:`options_from_create` maps what dockyard supports onto
:class:`~dockyard.engine.options.RunOptions` and
:class:`~dockyard.engine.options.DaemonOptions`, refusing wrong types with
InvalidArgument naming the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.engine.options import DaemonOptions, HealthConfig, RunOptions
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.network import PortSpec

__all__ = ["exec_config_from", "options_from_create"]


def _get(d: dict[str, Any], key: str, typ: type | tuple[type, ...], default: Any = None) -> Any:
    v = d.get(key)
    if v is None:
        return default
    if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
        raise InvalidArgument(f"create: {key}: wrong type {type(v).__name__}")
    return v


def _strs(d: dict[str, Any], key: str) -> list[str]:
    v = _get(d, key, (list, str), [])
    if isinstance(v, str):
        return [v]
    if not all(isinstance(x, str) for x in v):
        raise InvalidArgument(f"create: {key}: expected a list of strings")
    return list(v)


def _health(hc: dict[str, Any]) -> HealthConfig:
    ns = 1e-9
    return HealthConfig(
        test=_strs(hc, "Test"),
        interval=(_get(hc, "Interval", int, 0) or 30_000_000_000) * ns,
        timeout=(_get(hc, "Timeout", int, 0) or 30_000_000_000) * ns,
        retries=_get(hc, "Retries", int, 0) or 3,
        start_period=(_get(hc, "StartPeriod", int, 0) or 0) * ns,
    )


def _ports(hc: dict[str, Any]) -> list[PortSpec]:
    """``HostConfig.PortBindings`` (``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``, what
    ``run -p`` and docker clients send) → parsed mappings: the only place below the CLI where a
    published port is text (docs/decisions/house-container-record.md)."""
    from dockyard.network import parse_publish

    out: list[PortSpec] = []
    bindings = _get(hc, "PortBindings", dict, {})
    for port, binds in bindings.items():
        if binds is not None and not isinstance(binds, list):
            raise InvalidArgument(f"create: HostConfig.PortBindings {port}: expected a list")
        for b in binds or [{}]:
            if b is not None and not isinstance(b, dict):
                raise InvalidArgument(f"create: HostConfig.PortBindings {port}: expected objects")
            ip = str((b or {}).get("HostIp") or "")
            hp = str((b or {}).get("HostPort") or "")
            cport, _, proto = str(port).partition("/")
            spec = f"{ip}:{hp}:{cport}" if ip else (f"{hp}:{cport}" if hp else cport)
            out += parse_publish(spec + (f"/{proto}" if proto and proto != "tcp" else ""))
    return out


def _devices(hc: dict[str, Any]) -> list[str]:
    """``HostConfig.Devices`` (docker's form) and ``DeviceRequests`` (CDI names; GPUs) as
    ``--device`` values (dockyard.engine.devices)."""
    out = []
    for d in _get(hc, "Devices", list, []) or []:
        if not isinstance(d, dict) or not d.get("PathOnHost"):
            raise InvalidArgument("create: HostConfig.Devices: PathOnHost is required")
        host = str(d["PathOnHost"])
        out.append(
            f"{host}:{d.get('PathInContainer') or host}:{d.get('CgroupPermissions') or 'rwm'}"
        )
    for r in _get(hc, "DeviceRequests", list, []) or []:
        if not isinstance(r, dict):
            raise InvalidArgument("create: HostConfig.DeviceRequests: want objects")
        if r.get("Driver") == "cdi":
            out += [str(i) for i in r.get("DeviceIDs") or []]
            continue
        caps = [c for group in r.get("Capabilities") or [] for c in group]
        if "gpu" not in caps and r.get("Driver") not in ("nvidia",):
            raise InvalidArgument(
                f'could not select device driver "{r.get("Driver") or ""}" with capabilities: '
                f"{r.get('Capabilities') or []}"
            )
        from dockyard.engine.devices import GPU_KIND

        ids = r.get("DeviceIDs") or []
        count = int(r.get("Count") or 0)
        if ids:
            out += [f"{GPU_KIND}={i}" for i in ids]
        elif count < 0:
            out.append(f"{GPU_KIND}=all")
        else:
            out += [f"{GPU_KIND}={i}" for i in range(count)]
    return out


def _log_opts(log_cfg: dict[str, Any]) -> dict[str, str]:
    """The ``--log-opt`` keys that pick ``logs --details`` attributes (engine.logattrs)."""
    from dockyard.engine.logattrs import OPTS, check_opts

    opts = {k: str(v) for k, v in log_cfg.items() if k in OPTS}
    check_opts(opts)
    return opts


def options_from_create(body: dict[str, Any], name: str | None) -> tuple[RunOptions, DaemonOptions]:
    if not isinstance(body, dict):
        raise InvalidArgument("create: the body must be a JSON object")
    image = _get(body, "Image", str, "")
    if not image:
        raise InvalidArgument("create: Image is required")
    hc: dict[str, Any] = _get(body, "HostConfig", dict, {})
    ep = body.get("Entrypoint")
    entrypoint = (
        None if ep is None else ([ep] if isinstance(ep, str) else _strs(body, "Entrypoint"))
    )
    rp = _get(hc, "RestartPolicy", dict, {})
    memory = _get(hc, "Memory", int, 0) or None
    swap = _get(hc, "MemorySwap", int, 0) or None
    if memory is not None and memory < 0:
        raise InvalidArgument("create: HostConfig.Memory must not be negative")
    log = _get(hc, "LogConfig", dict, {}) or {}
    log_driver = str(log.get("Type") or "json-file")
    if log_driver not in ("json-file", "none"):  # dockerd's words
        raise InvalidArgument(f"logger: no log driver named '{log_driver}' is registered")
    log_cfg = log.get("Config") or {}
    from dockyard.engine.options import parse_size

    ulimits = [(f"RLIMIT_{str(u['Name']).upper()}", int(u["Soft"]), int(u["Hard"]))
               for u in _get(hc, "Ulimits", list, [])]  # fmt: skip
    tmpfs = [f"{k}:{v}" if v else k for k, v in (_get(hc, "Tmpfs", dict, {}) or {}).items()]
    run = RunOptions(
        image=image,
        command=_strs(body, "Cmd"),
        entrypoint=entrypoint,
        env=_strs(body, "Env"),
        workdir=_get(body, "WorkingDir", str) or None,
        user=_get(body, "User", str) or None,
        hostname=_get(body, "Hostname", str) or None,
        name=name,
        remove=bool(_get(hc, "AutoRemove", bool, False)),
        network=_get(hc, "NetworkMode", str, "") or "default",
        memory=memory,
        memory_swap=swap,
        nano_cpus=_get(hc, "NanoCpus", int, 0) or None,
        cpu_shares=_get(hc, "CpuShares", int, 0) or None,
        cpuset_cpus=_get(hc, "CpusetCpus", str) or None,
        pids_limit=_get(hc, "PidsLimit", int) or None,
        tty=bool(_get(body, "Tty", bool, False)),
        interactive=bool(_get(body, "OpenStdin", bool, False)),
        privileged=bool(_get(hc, "Privileged", bool, False)),
        read_only=bool(_get(hc, "ReadonlyRootfs", bool, False)),
        cap_add=_strs(hc, "CapAdd"),
        cap_drop=_strs(hc, "CapDrop"),
        security_opt=_strs(hc, "SecurityOpt"),
        group_add=_strs(hc, "GroupAdd"),
        ulimits=ulimits,
        tmpfs=tmpfs,
        devices=_devices(hc),
        device_cgroup_rules=_strs(hc, "DeviceCgroupRules"),
        pid_mode=_namespace_mode(hc, "PidMode", ("", "host")),
        uts_mode=_namespace_mode(hc, "UTSMode", ("", "host")),
        userns=_userns_mode(hc),
        sysctls=dict(_get(hc, "Sysctls", dict, {})),
        init=bool(_get(hc, "Init", bool, False)),
        oom_score_adj=_get(hc, "OomScoreAdj", int),
        labels=dict(_get(body, "Labels", dict, {})),
    )
    health = _get(body, "Healthcheck", dict)
    no_health = bool(health and health.get("Test") == ["NONE"])
    net_cfg = (_get(body, "NetworkingConfig", dict, {}) or {}).get("EndpointsConfig") or {}
    if len(net_cfg) > 1:  # API 1.43 (dockerd's words): one network at create, connect the rest
        raise InvalidArgument(
            f"Container cannot be connected to network endpoints: {', '.join(net_cfg)}"
        )
    aliases: list[str] = []
    ip = None
    for _net, cfg in net_cfg.items():
        aliases += list((cfg or {}).get("Aliases") or [])
        ip = ((cfg or {}).get("IPAMConfig") or {}).get("IPv4Address") or ip
    dopts = DaemonOptions(
        restart=str(rp.get("Name") or "no"),
        restart_max=int(rp.get("MaximumRetryCount") or 0),
        health=None if (health is None or no_health) else _health(health),
        no_healthcheck=no_health,
        stop_signal=_get(body, "StopSignal", str),
        stop_timeout=_get(body, "StopTimeout", int),
        volumes=_strs(hc, "Binds") + _anonymous(body, hc),
        mounts=[_mount_str(m) for m in _get(hc, "Mounts", list, [])],
        publish=_ports(hc),
        publish_all=bool(_get(hc, "PublishAllPorts", bool, False)),
        dns=_strs(hc, "Dns"),
        add_hosts=_strs(hc, "ExtraHosts"),
        aliases=aliases,
        ip=ip,
        log_max_size=parse_size(str(log_cfg["max-size"]), "--log-opt max-size")
        if log_cfg.get("max-size") else None,
        log_max_file=int(log_cfg["max-file"]) if log_cfg.get("max-file") else None,
        log_opts=_log_opts(log_cfg),
        isolation=_get(hc, "Isolation", str, ""),
        volume_driver=_get(hc, "VolumeDriver", str, ""),
        log_driver=log_driver,
    )  # fmt: skip
    _namespace_mode(hc, "IpcMode", ("", "private", "shareable"))  # its own, always
    if dopts.isolation not in ("", "default"):  # dockerd's words
        raise InvalidArgument(f'invalid isolation: "{dopts.isolation}" - linux only supports '
                              "'default'")  # fmt: skip
    if dopts.restart not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"create: invalid restart policy {dopts.restart!r}")
    if run.remove and dopts.restart != "no":
        raise InvalidArgument("conflicting options: cannot both remove and restart containers")
    return run, dopts


def _userns_mode(hc: dict[str, Any]) -> str:
    """``HostConfig.UsernsMode``: dockerd's ``host`` or ``""``, podman's ``auto[:size=N]``
    and ``keep-id`` (engine/userns.py parses it; a bad one is a one-line 400)."""
    mode = _get(hc, "UsernsMode", str, "") or ""
    if mode:
        from dockyard.engine.userns import parse_mode

        parse_mode(mode)
    return mode


def _namespace_mode(hc: dict[str, Any], key: str, known: tuple[str, ...]) -> str:
    """``PidMode``/``UTSMode``/``IpcMode``: the modes dockyard gives; any other (another
    container's namespace …) is refused rather than ignored."""
    mode = str(_get(hc, key, str, "") or "")
    if mode not in known:
        raise InvalidArgument(f"create: HostConfig.{key} {mode!r} is not supported")
    return mode


def _anonymous(body: dict[str, Any], hc: dict[str, Any]) -> list[str]:
    """``Config.Volumes`` (``{"/data": {}}``, what ``docker create -v /data`` and docker-py's
    ``volumes=`` send): an anonymous volume at each path no bind or mount already covers."""
    wanted = _get(body, "Volumes", dict, {}) or {}
    covered = {b.split(":")[1] if ":" in b else b for b in _strs(hc, "Binds")}  # (-v /dst)
    covered |= {str(m.get("Target")) for m in _get(hc, "Mounts", list, []) if isinstance(m, dict)}
    return [str(path) for path in wanted if str(path) not in covered]


def _mount_str(m: Any) -> str:
    if isinstance(m, str):
        return m
    if not isinstance(m, dict):
        raise InvalidArgument("create: HostConfig.Mounts: expected objects")
    parts = [f"type={m.get('Type', 'volume')}", f"target={m.get('Target', '')}"]
    if m.get("Source"):
        parts.append(f"source={m['Source']}")
    if m.get("ReadOnly"):
        parts.append("readonly")
    return ",".join(parts)


def exec_config_from(body: dict[str, Any]) -> Any:
    from dockyard.engine.execs import ExecConfig

    if not isinstance(body, dict):
        raise InvalidArgument("exec: the body must be a JSON object")
    # dockerd reads JSON field names case-insensitively (Go's encoding/json): docker-py
    # sends ``detachKeys``
    body = {str(k)[:1].upper() + str(k)[1:]: v for k, v in body.items()}
    return ExecConfig(
        cmd=_strs(body, "Cmd"),
        env=_strs(body, "Env"),
        user=_get(body, "User", str, ""),
        workdir=_get(body, "WorkingDir", str, ""),
        tty=bool(_get(body, "Tty", bool, False)),
        privileged=bool(_get(body, "Privileged", bool, False)),
        attach_stdin=bool(_get(body, "AttachStdin", bool, False)),
        attach_stdout=bool(_get(body, "AttachStdout", bool, True)),
        attach_stderr=bool(_get(body, "AttachStderr", bool, True)),
        detach_keys=_detach_keys(_get(body, "DetachKeys", str, "")),
    )


def _detach_keys(spec: str) -> str:
    """Checked now, as Docker's exec create does (a bad spec is a 400 here)."""
    if spec:
        from dockyard.engine.detachkeys import parse

        parse(spec)
    return spec


def parse_filters(raw: str | None) -> dict[str, list[str]]:
    """Docker's ``filters`` query parameter (JSON: ``{"name": ["web"]}`` or the older
    ``{"name": {"web": true}}``) as lists of values."""
    if not raw:
        return {}
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        raise InvalidArgument("invalid filters: not JSON") from None
    if not isinstance(data, dict):
        raise InvalidArgument("invalid filters: not a JSON object")
    out: dict[str, list[str]] = {}
    for k, v in data.items():
        out[k] = [str(x) for x in v] if isinstance(v, list) else [
            str(x) for x, on in (v or {}).items() if on
        ]  # fmt: skip
    return out
