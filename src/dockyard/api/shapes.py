"""Container records → the Docker Engine API's JSON (inspect, list, wait, exec)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.engine.record import bindings_json, config_of, ports_json

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.execs import ExecInstance
    from dockyard.engine.options import DaemonOptions, HealthConfig, RunOptions
    from dockyard.engine.record import ContainerConfig
    from dockyard.store.db import ContainerRecord

__all__ = ["config_env", "container_json", "container_summary", "exec_json", "status_text"]

_ZERO = "0001-01-01T00:00:00Z"


def _health(cfg: ContainerConfig) -> dict[str, Any] | None:
    h = cfg.state.health if cfg.state is not None else None
    return dict(h) if h else None


def _state(rec: ContainerRecord, cfg: ContainerConfig) -> dict[str, Any]:
    st = rec.status
    state = {
        "Status": st,
        "Running": st in ("running", "paused"),
        "Paused": st == "paused",
        "Restarting": st == "restarting",
        "OOMKilled": bool(rec.oom_killed),
        "Dead": st == "dead",
        "Pid": int(rec.pid or 0) if st in ("running", "paused") else 0,
        "ExitCode": int(rec.exit_code or 0),
        "Error": str(cfg.state.error or "") if cfg.state is not None else "",
        "StartedAt": rec.started_at or _ZERO,
        "FinishedAt": rec.finished_at or _ZERO,
    }
    h = _health(cfg)
    if h is not None and st in ("running", "paused"):
        state["Health"] = h
    return state


def container_json(d: Daemon, rec: ContainerRecord) -> dict[str, Any]:
    """``GET /containers/{id}/json``."""
    cfg = config_of(rec)
    opts, dopts, image = cfg.options, cfg.daemon, cfg.image_config or {}
    args = cfg.args()
    bundle = d.bundle(rec.id)
    networks = dict(cfg.networks or {}) or _configured_networks(opts)
    first: Any = next(iter(networks.values()), {}) if networks else {}
    return {
        "Id": rec.id,
        "Created": rec.created,
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": _state(rec, cfg),
        "Image": rec.image_id,
        "ResolvConfPath": str(bundle / "resolv.conf"),
        "HostnamePath": str(bundle / "hostname"),
        "HostsPath": str(bundle / "hosts"),
        "LogPath": str(bundle / f"{rec.id}-json.log"),
        "Name": "/" + rec.name,
        "RestartCount": cfg.state.restart_count if cfg.state is not None else 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": {
            "NetworkMode": opts.network or "default",
            "AutoRemove": opts.remove,
            "RestartPolicy": {
                "Name": dopts.restart or "no",
                "MaximumRetryCount": dopts.restart_max,
            },
            "Memory": opts.memory or 0,
            "MemorySwap": opts.memory_swap or 0,
            "NanoCpus": opts.nano_cpus or 0,
            "CpuShares": opts.cpu_shares or 0,
            "CpusetCpus": opts.cpuset_cpus or "",
            "PidsLimit": opts.pids_limit,
            "Privileged": opts.privileged,
            "ReadonlyRootfs": opts.read_only,
            "Init": opts.init,
            "CapAdd": opts.cap_add or None,
            "CapDrop": opts.cap_drop or None,
            "Binds": dopts.volumes or None,
            "PortBindings": bindings_json(cfg.port_bindings or []),
            "PublishAllPorts": dopts.publish_all,
            "Dns": dopts.dns,
            "ExtraHosts": dopts.add_hosts or None,
            "LogConfig": {
                "Type": dopts.log_driver or "json-file",
                "Config": _log_config(dopts),
            },
            **_host_config_rest(opts, dopts),
        },
        "GraphDriver": {"Name": "overlay2", "Data": {"MergedDir": str(bundle / "rootfs")}},
        "Mounts": _mounts(cfg),
        "Config": {
            "Hostname": cfg.hostname(),
            "User": opts.user or "",
            "Tty": opts.tty,
            "OpenStdin": opts.interactive,
            "Env": config_env(_strs(image.get("Env")), opts.env),
            "Cmd": opts.command or image.get("Cmd"),
            "Entrypoint": opts.entrypoint,
            "Image": rec.image_ref,
            "WorkingDir": cfg.process().get("cwd") or "",
            "Labels": dict(rec.labels),
            "StopTimeout": dopts.stop_timeout,
            "StopSignal": dopts.stop_signal or image.get("StopSignal") or "SIGTERM",
            "Healthcheck": _hc_json(dopts.health),
            "ExposedPorts": image.get("ExposedPorts") or None,
        },
        "NetworkSettings": {
            "Ports": ports_json(cfg.ports or {}),
            "IPAddress": first.get("IPAddress", ""),
            "Gateway": first.get("Gateway", ""),
            "MacAddress": first.get("MacAddress", ""),
            "Networks": networks,
        },
    }


def config_env(image_env: list[str], user_env: list[str]) -> list[str]:
    """dockerd's ``Config.Env``: the image's variables with the container's put in place
    (same name: replaced where it was; new: appended), each entry as given (``Foo`` without
    a value stays ``Foo``); not the process's environment (``HOSTNAME``, ``HOME`` …)."""
    out = [str(e) for e in image_env]
    names = [e.partition("=")[0] for e in out]
    for item in user_env:
        name = str(item).partition("=")[0]
        if name in names:
            out[names.index(name)] = str(item)
        else:
            out.append(str(item))
            names.append(name)
    return out


def _strs(v: object) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _mounts(cfg: ContainerConfig) -> list[dict[str, object]]:
    return [{k: v for k, v in m.items() if k != "Anonymous"} for m in cfg.mounts or []]


def _configured_networks(opts: RunOptions) -> dict[str, object]:
    """A container not started yet is on the network it asked for, with no endpoint yet
    (dockerd lists it so between create and start; the daemon attaches at start)."""
    mode = opts.network or "default"
    if mode in ("none", "host") or mode.startswith("container:"):
        return {}
    name = "bridge" if mode == "default" else mode
    return {name: {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "",
                   "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                   "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                   "MacAddress": "", "DriverOpts": None}}  # fmt: skip


def _log_config(dopts: DaemonOptions) -> dict[str, str]:
    """json-file's options as the client gave them (``--log-opt``/``LogConfig.Config``)."""
    cfg = {str(k): str(v) for k, v in dopts.log_opts.items()}
    if dopts.log_max_size:
        cfg["max-size"] = str(dopts.log_max_size)
    if dopts.log_max_file:
        cfg["max-file"] = str(dopts.log_max_file)
    return cfg


def _devices(specs: list[str]) -> list[dict[str, str]]:
    out = []
    for spec in specs:  # HOST[:CONTAINER[:PERMS]]; CDI names (vendor/class=name) are not paths
        if spec.startswith("/"):
            host, _, rest = spec.partition(":")
            inside, _, perms = rest.partition(":")
            out.append({"PathOnHost": host, "PathInContainer": inside or host,
                        "CgroupPermissions": perms or "rwm"})  # fmt: skip
    return out


def _host_config_rest(opts: RunOptions, dopts: DaemonOptions) -> dict[str, Any]:
    """The rest of dockerd's ``HostConfig``, each value what dockyard does: the namespace
    modes are docker's defaults because every container gets its own pid, ipc, uts and
    cgroup namespaces; the settings dockyard has no knob for are their unset values."""
    tmpfs = {}
    for item in opts.tmpfs:
        dest, _, mount_opts = str(item).partition(":")
        tmpfs[dest] = mount_opts
    ulimits = [{"Name": str(n).removeprefix("RLIMIT_").lower(), "Soft": soft, "Hard": hard}
               for n, soft, hard in opts.ulimits]  # fmt: skip
    return {
        "ContainerIDFile": "", "VolumeDriver": dopts.volume_driver or "",
        "VolumesFrom": None, "ConsoleSize": [0, 0],
        "CgroupnsMode": "private", "IpcMode": "private",
        "PidMode": opts.pid_mode or "", "UTSMode": opts.uts_mode or "",
        "UsernsMode": opts.userns or "", "Cgroup": "", "Links": None,
        "Runtime": "dockyard-runtime",
        "Isolation": dopts.isolation or "", "ShmSize": 67108864, "CgroupParent": "",
        "DnsOptions": dopts.dns_options, "DnsSearch": dopts.dns_search,
        "GroupAdd": opts.group_add or None, "OomScoreAdj": opts.oom_score_adj or 0,
        "SecurityOpt": opts.security_opt or None, "Tmpfs": tmpfs or None,
        "Sysctls": opts.sysctls or None, "Ulimits": ulimits or None,
        "Devices": _devices(opts.devices), "DeviceRequests": None,
        "DeviceCgroupRules": opts.device_cgroup_rules or None,
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetMems": "", "MemoryReservation": 0, "MemorySwappiness": None,
        "OomKillDisable": False, "KernelMemoryTCP": 0, "CpuCount": 0, "CpuPercent": 0,
        "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    }  # fmt: skip


def _hc_json(h: HealthConfig | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {"Test": h.test, "Interval": int(h.interval * 1e9),
            "Timeout": int(h.timeout * 1e9), "Retries": h.retries,
            "StartPeriod": int(h.start_period * 1e9)}  # fmt: skip


def _ago(iso: str | None) -> str:
    from dockyard.engine.logs import parse_time

    if not iso:
        return ""
    import time

    secs = max(0.0, time.time() - parse_time(iso) / 1e9)
    if secs < 1:
        return "Less than a second"
    if secs < 60:
        return f"{int(secs)} second{'s' if int(secs) != 1 else ''}"
    if secs < 3600:
        m = int(secs // 60)
        return "About a minute" if m == 1 else f"{m} minutes"
    h = int(secs // 3600)
    return "About an hour" if h == 1 else f"{h} hours"


def status_text(rec: ContainerRecord) -> str:
    """The ``STATUS`` column of ``ps``: ``Up 3 seconds (healthy)``, ``Exited (1) 2 minutes ago``."""
    st = rec.status
    if st in ("running", "paused"):
        h = _health(config_of(rec))
        text = f"Up {_ago(rec.started_at)}"
        if st == "paused":
            text += " (Paused)"
        if h is not None:
            hs = h.get("Status")
            text += " (health: starting)" if hs == "starting" else f" ({hs})"
        return text
    if st == "restarting":
        return f"Restarting ({int(rec.exit_code or 0)}) {_ago(rec.finished_at)} ago"
    if st == "exited":
        return f"Exited ({int(rec.exit_code or 0)}) {_ago(rec.finished_at)} ago"
    return st.capitalize()


def container_summary(rec: ContainerRecord) -> dict[str, Any]:
    """One entry of ``GET /containers/json``."""
    from dockyard.engine.logs import parse_time

    cfg = config_of(rec)
    args = cfg.args()
    ports = []
    for cport, binds in (cfg.ports or {}).items():
        num, _, proto = cport.partition("/")
        for b in binds or []:
            ports.append(
                {
                    "IP": b.host_ip,
                    "PrivatePort": int(num),
                    "PublicPort": int(b.host_port or 0),
                    "Type": proto or "tcp",
                }
            )
    return {
        "Id": rec.id,
        "Names": ["/" + rec.name],
        "Image": rec.image_ref,
        "ImageID": rec.image_id,
        "Command": " ".join(args),
        "Created": parse_time(rec.created) // 1_000_000_000 if rec.created else 0,
        "State": rec.status,
        "Status": status_text(rec),
        "Ports": ports,
        "Labels": dict(rec.labels),
        "Mounts": _mounts(cfg),
        "NetworkSettings": {"Networks": dict(cfg.networks or {})},
    }


def exec_json(inst: ExecInstance) -> dict[str, Any]:
    return {
        "ID": inst.id,
        "Running": inst.running,
        "ExitCode": inst.exit_code,
        "ContainerID": inst.container_id,
        "Pid": inst.pid,
        "OpenStdin": inst.config.attach_stdin,
        "OpenStdout": inst.config.attach_stdout,
        "OpenStderr": inst.config.attach_stderr,
        "DetachKeys": inst.config.detach_keys,
        "ProcessConfig": {
            "entrypoint": inst.config.cmd[0] if inst.config.cmd else "",
            "arguments": inst.config.cmd[1:],
            "tty": inst.config.tty,
            "user": inst.config.user,
            "privileged": inst.config.privileged,
        },
    }
