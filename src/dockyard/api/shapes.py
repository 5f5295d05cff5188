"""Container records → the Docker Engine API's JSON (inspect, list, wait, exec)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.execs import ExecInstance
    from dockyard.store.db import ContainerRecord

__all__ = ["config_env", "container_json", "container_summary", "exec_json", "status_text"]

_ZERO = "0001-01-01T00:00:00Z"


def _health(rec: ContainerRecord) -> dict[str, Any] | None:
    h = (rec.config.get("state") or {}).get("health")
    return dict(h) if h else None


def _state(rec: ContainerRecord) -> dict[str, Any]:
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
        "Error": str((rec.config.get("state") or {}).get("error") or ""),
        "StartedAt": rec.started_at or _ZERO,
        "FinishedAt": rec.finished_at or _ZERO,
    }
    h = _health(rec)
    if h is not None and st in ("running", "paused"):
        state["Health"] = h
    return state


def container_json(d: Daemon, rec: ContainerRecord) -> dict[str, Any]:
    """``GET /containers/{id}/json``."""
    opts = dict(rec.config.get("options") or {})
    dopts = dict(rec.config.get("daemon") or {})
    spec = dict(rec.config.get("spec") or {})
    proc = dict(spec.get("process") or {})
    args = list(proc.get("args") or [])
    state = dict(rec.config.get("state") or {})
    bundle = d.bundle(rec.id)
    ports = dict(rec.config.get("ports") or {})
    networks = dict(rec.config.get("networks") or {}) or _configured_networks(opts)
    first: dict[str, Any] = next(iter(networks.values()), {}) if networks else {}
    return {
        "Id": rec.id,
        "Created": rec.created,
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": _state(rec),
        "Image": rec.image_id,
        "ResolvConfPath": str(bundle / "resolv.conf"),
        "HostnamePath": str(bundle / "hostname"),
        "HostsPath": str(bundle / "hosts"),
        "LogPath": str(bundle / f"{rec.id}-json.log"),
        "Name": "/" + rec.name,
        "RestartCount": int(state.get("restart_count") or 0),
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "HostConfig": {
            "NetworkMode": opts.get("network") or "default",
            "AutoRemove": bool(opts.get("remove")),
            "RestartPolicy": {
                "Name": dopts.get("restart") or "no",
                "MaximumRetryCount": int(dopts.get("restart_max") or 0),
            },
            "Memory": int(opts.get("memory") or 0),
            "MemorySwap": int(opts.get("memory_swap") or 0),
            "NanoCpus": int(opts.get("nano_cpus") or 0),
            "CpuShares": int(opts.get("cpu_shares") or 0),
            "CpusetCpus": opts.get("cpuset_cpus") or "",
            "PidsLimit": opts.get("pids_limit"),
            "Privileged": bool(opts.get("privileged")),
            "ReadonlyRootfs": bool(opts.get("read_only")),
            "Init": bool(opts.get("init")),
            "CapAdd": opts.get("cap_add") or None,
            "CapDrop": opts.get("cap_drop") or None,
            "Binds": dopts.get("volumes") or None,
            "PortBindings": rec.config.get("port_bindings") or {},
            "PublishAllPorts": bool(dopts.get("publish_all")),
            "Dns": dopts.get("dns") or [],
            "ExtraHosts": dopts.get("add_hosts") or None,
            "LogConfig": {
                "Type": dopts.get("log_driver") or "json-file",
                "Config": _log_config(dopts),
            },
            **_host_config_rest(opts, dopts),
        },
        "GraphDriver": {"Name": "overlay2", "Data": {"MergedDir": str(bundle / "rootfs")}},
        "Mounts": [
            {k: v for k, v in m.items() if k != "Anonymous"} for m in rec.config.get("mounts") or []
        ],
        "Config": {
            "Hostname": spec.get("hostname") or "",
            "User": opts.get("user") or "",
            "Tty": bool(opts.get("tty")),
            "OpenStdin": bool(opts.get("interactive")),
            "Env": config_env(
                (rec.config.get("image_config") or {}).get("Env") or [], opts.get("env") or []
            ),
            "Cmd": opts.get("command") or (rec.config.get("image_config") or {}).get("Cmd"),
            "Entrypoint": opts.get("entrypoint"),
            "Image": rec.image_ref,
            "WorkingDir": proc.get("cwd") or "",
            "Labels": dict(rec.labels),
            "StopTimeout": dopts.get("stop_timeout"),
            "StopSignal": dopts.get("stop_signal")
            or (rec.config.get("image_config") or {}).get("StopSignal")
            or "SIGTERM",
            "Healthcheck": _hc_json(dopts.get("health")),
            "ExposedPorts": (rec.config.get("image_config") or {}).get("ExposedPorts") or None,
        },
        "NetworkSettings": {
            "Ports": ports,
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


def _configured_networks(opts: dict[str, Any]) -> dict[str, Any]:
    """A container not started yet is on the network it asked for, with no endpoint yet
    (dockerd lists it so between create and start; the daemon attaches at start)."""
    mode = str(opts.get("network") or "default")
    if mode in ("none", "host") or mode.startswith("container:"):
        return {}
    name = "bridge" if mode == "default" else mode
    return {name: {"IPAMConfig": None, "Links": None, "Aliases": None, "NetworkID": "",
                   "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                   "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                   "MacAddress": "", "DriverOpts": None}}  # fmt: skip


def _log_config(dopts: dict[str, Any]) -> dict[str, str]:
    """json-file's options as the client gave them (``--log-opt``/``LogConfig.Config``)."""
    cfg = {str(k): str(v) for k, v in dict(dopts.get("log_opts") or {}).items()}
    if dopts.get("log_max_size"):
        cfg["max-size"] = str(dopts["log_max_size"])
    if dopts.get("log_max_file"):
        cfg["max-file"] = str(dopts["log_max_file"])
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


def _host_config_rest(opts: dict[str, Any], dopts: dict[str, Any]) -> dict[str, Any]:
    """The rest of dockerd's ``HostConfig``, each value what dockyard does: the namespace
    modes are docker's defaults because every container gets its own pid, ipc, uts and
    cgroup namespaces; the settings dockyard has no knob for are their unset values."""
    tmpfs = {}
    for item in opts.get("tmpfs") or []:
        dest, _, mount_opts = str(item).partition(":")
        tmpfs[dest] = mount_opts
    ulimits = [{"Name": str(n).removeprefix("RLIMIT_").lower(), "Soft": soft, "Hard": hard}
               for n, soft, hard in opts.get("ulimits") or []]  # fmt: skip
    return {
        "ContainerIDFile": "", "VolumeDriver": dopts.get("volume_driver") or "",
        "VolumesFrom": None, "ConsoleSize": [0, 0],
        "CgroupnsMode": "private", "IpcMode": "private",
        "PidMode": opts.get("pid_mode") or "", "UTSMode": opts.get("uts_mode") or "",
        "UsernsMode": opts.get("userns") or "", "Cgroup": "", "Links": None,
        "Runtime": "dockyard-runtime",
        "Isolation": dopts.get("isolation") or "", "ShmSize": 67108864, "CgroupParent": "",
        "DnsOptions": dopts.get("dns_options") or [], "DnsSearch": dopts.get("dns_search") or [],
        "GroupAdd": opts.get("group_add") or None, "OomScoreAdj": opts.get("oom_score_adj") or 0,
        "SecurityOpt": opts.get("security_opt") or None, "Tmpfs": tmpfs or None,
        "Sysctls": opts.get("sysctls") or None, "Ulimits": ulimits or None,
        "Devices": _devices(opts.get("devices") or []), "DeviceRequests": None,
        "DeviceCgroupRules": opts.get("device_cgroup_rules") or None,
        "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0,
        "CpusetMems": "", "MemoryReservation": 0, "MemorySwappiness": None,
        "OomKillDisable": False, "KernelMemoryTCP": 0, "CpuCount": 0, "CpuPercent": 0,
        "IOMaximumIOps": 0, "IOMaximumBandwidth": 0,
    }  # fmt: skip


def _hc_json(h: dict[str, Any] | None) -> dict[str, Any] | None:
    if not h:
        return None
    return {"Test": h["test"], "Interval": int(h["interval"] * 1e9),
            "Timeout": int(h["timeout"] * 1e9), "Retries": h["retries"],
            "StartPeriod": int(h["start_period"] * 1e9)}  # fmt: skip


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
        h = _health(rec)
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

    spec = dict(rec.config.get("spec") or {})
    args = list((spec.get("process") or {}).get("args") or [])
    ports = []
    for cport, binds in dict(rec.config.get("ports") or {}).items():
        num, _, proto = cport.partition("/")
        for b in binds or []:
            ports.append(
                {
                    "IP": b.get("HostIp", ""),
                    "PrivatePort": int(num),
                    "PublicPort": int(b.get("HostPort") or 0),
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
        "Mounts": [
            {k: v for k, v in m.items() if k != "Anonymous"} for m in rec.config.get("mounts") or []
        ],
        "NetworkSettings": {"Networks": dict(rec.config.get("networks") or {})},
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
