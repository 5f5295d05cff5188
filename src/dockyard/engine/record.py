"""What the engine keeps per container, typed: the ``config`` column of ``containers``.

``store/db.py`` keeps a container's ``config`` as the JSON object it stores (the store sits
below the engine and knows nothing of run options or ports); this module is the one place
that gives that object its types. Read it with :func:`config_of` (or
:meth:`ContainerConfig.from_json`), change the typed copy, write it back with
:meth:`ContainerConfig.to_json`::

    cfg = config_of(rec)
    cfg.ports = {"80/tcp": [HostBinding("0.0.0.0", "8080")]}
    db.update_container(replace(rec, config=cfg.to_json()))

Vocabulary (one attribute per key of the stored object; the key is the attribute's name):

* ``options`` — the :class:`~dockyard.engine.options.RunOptions` of ``run``/``create``;
* ``daemon`` — the :class:`~dockyard.engine.options.DaemonOptions` (restart, health, volumes,
  published ports as parsed :class:`~dockyard.network.PortSpec` s, DNS, log settings);
* ``spec`` — the OCI runtime config written at create (``config.json``), a JSON object;
* ``bundle`` — the bundle directory;
* ``state`` — :class:`ContainerState`: restart count, stopped by the user, last error, health;
* ``image_config`` — the image's config fields the engine reads later (``StopSignal``,
  ``ExposedPorts``, ``Env``, ``Cmd`` …), a JSON object;
* ``mounts`` — docker's ``Mounts`` entries, JSON objects;
* ``networks`` — docker's ``NetworkSettings.Networks``, a JSON object;
* ``ports`` — docker's ``NetworkSettings.Ports``: ``"80/tcp"`` → the host bindings held now
  (None: exposed, not published);
* ``port_bindings`` — ``HostConfig.PortBindings`` as asked, as parsed :class:`PortSpec` s;
* ``pod`` — :class:`PodMembership` for a container of an orchestrator pod;
* ``net_wanted`` — :class:`NetWish` es: every network the container asked for, first = route;
* ``userns`` — :class:`UserNamespace`: the id range a ``--userns auto`` container holds;
* ``extra`` — keys this version does not know, written back as they came.

Old rows: rows written before this module typed ``daemon.publish`` hold ``-p`` strings
(``"127.0.0.1:8080:80/udp"``); :func:`_publish_of` parses them on load, and
:meth:`ContainerConfig.to_json` writes them back typed. Everything else keeps the JSON shape it
always had, so a daemon of either version reads the other's rows. See
``docs/decisions/house-container-record.md``.
"""

from __future__ import annotations

from dockyard.engine.options import DaemonOptions, HealthConfig, RunOptions
from dockyard.records import asdict, field, fields, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from dockyard.network import PortSpec
    from dockyard.store.db import ContainerRecord

__all__ = [
    "ContainerConfig",
    "ContainerState",
    "HostBinding",
    "NetWish",
    "PodMembership",
    "UserNamespace",
    "bindings_json",
    "config_of",
    "ports_json",
]

JsonObject = dict[str, object]

_KNOWN = (
    "options", "daemon", "spec", "bundle", "state", "image_config", "mounts", "networks",
    "ports", "port_bindings", "pod", "net_wanted", "userns",
)  # fmt: skip


@record(frozen=False)
class ContainerState:
    """``config["state"]``: what the daemon learns while the container lives."""

    restart_count: int = 0
    stopped_by_user: bool | None = None  # None: never said (old rows, never started)
    error: str | None = None
    health: JsonObject | None = None  # docker's State.Health: Status, FailingStreak, Log
    extra: JsonObject = field(default_factory=dict)


@record
class HostBinding:
    """One host address a published port answers on now (docker's ``{"HostIp", "HostPort"}``)."""

    host_ip: str
    host_port: str


@record
class NetWish:
    """One network a container asked for (``--network``, ``network connect``, compose)."""

    name: str
    aliases: tuple[str, ...] = ()
    ip: str = ""


@record(frozen=False)
class PodMembership:
    """The pod a container belongs to (the orchestrator rebuilds its pods from these)."""

    object: JsonObject  # the Pod as Kubernetes JSON (orchestrator's codec)
    container: str
    index: int = 0
    created: float = 0.0  # when the orchestrator made the pod (time.time())
    terminating: bool = False


@record
class UserNamespace:
    """The user namespace a container runs in (``--userns``, engine/userns.py)."""

    mode: str  # "auto" or "keep-id"
    range: tuple[int, int, int] | None = None  # (uid base, gid base, size)
    rootfs: str | None = None  # how the root was mounted shifted ("idmap", "copy")
    # -v SRC:DST:idmap: (host source, where its idmapped mount goes) each
    idmapped: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> UserNamespace:
        return _userns(_obj(raw))

    def pairs(self) -> list[list[str]]:
        """``idmapped`` as engine/userns.py takes it (``[source, point]`` each)."""
        return [list(p) for p in self.idmapped]


@record(frozen=False)
class ContainerConfig:
    """A container's stored ``config``, typed; see the module docstring."""

    options: RunOptions = field(default_factory=lambda: RunOptions(image=""))
    daemon: DaemonOptions = field(default_factory=DaemonOptions)
    spec: JsonObject = field(default_factory=dict)
    bundle: str = ""
    state: ContainerState | None = None
    image_config: JsonObject | None = None
    mounts: list[JsonObject] | None = None
    networks: JsonObject | None = None
    ports: dict[str, list[HostBinding] | None] | None = None
    port_bindings: list[PortSpec] | None = None
    pod: PodMembership | None = None
    net_wanted: list[NetWish] | None = None
    userns: UserNamespace | None = None
    extra: JsonObject = field(default_factory=dict)

    # --- reading the OCI spec kept at create ------------------------------------------------

    def process(self) -> JsonObject:
        p = self.spec.get("process")
        return dict(p) if isinstance(p, dict) else {}

    def args(self) -> list[str]:
        """The process's argv (entrypoint + command, resolved at create)."""
        return _strs(self.process().get("args"))

    def env(self) -> list[str]:
        return _strs(self.process().get("env"))

    def hostname(self) -> str:
        return str(self.spec.get("hostname") or "")

    def spec_mounts(self) -> list[JsonObject]:
        """The OCI ``mounts`` (``destination``, ``type``, ``source``, ``options``)."""
        return [_obj(m) for m in _list(self.spec.get("mounts")) if isinstance(m, dict)]

    # --- JSON ---------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> ContainerConfig:
        """The stored object (this version's shape or an older one's) → a typed config."""
        return cls(
            options=_run_options(_obj(raw.get("options"))),
            daemon=_daemon_options(_obj(raw.get("daemon"))),
            spec=_obj(raw.get("spec")),
            bundle=str(raw.get("bundle") or ""),
            state=_state(raw["state"]) if isinstance(raw.get("state"), dict) else None,
            image_config=_obj(raw["image_config"]) if "image_config" in raw else None,
            mounts=[_obj(m) for m in _list(raw["mounts"])] if "mounts" in raw else None,
            networks=_obj(raw["networks"]) if "networks" in raw else None,
            ports=_ports(_obj(raw["ports"])) if "ports" in raw else None,
            port_bindings=_bindings(_obj(raw["port_bindings"])) if "port_bindings" in raw else None,
            pod=_pod(_obj(raw["pod"])) if isinstance(raw.get("pod"), dict) else None,
            net_wanted=[_wish(_obj(w)) for w in _list(raw["net_wanted"])]
            if raw.get("net_wanted") is not None
            else None,
            userns=_userns(_obj(raw["userns"])) if raw.get("userns") else None,
            extra={k: v for k, v in raw.items() if k not in _KNOWN},
        )

    def to_json(self) -> JsonObject:
        """The object ``store/db.py`` writes (keys left unset are left out, as before)."""
        out: JsonObject = dict(self.extra)
        out["options"] = _options_json(self.options)
        out["spec"] = self.spec
        if self.bundle:
            out["bundle"] = self.bundle
        out["daemon"] = _daemon_json(self.daemon)
        if self.state is not None:
            out["state"] = _state_json(self.state)
        if self.image_config is not None:
            out["image_config"] = self.image_config
        if self.mounts is not None:
            out["mounts"] = list(self.mounts)
        if self.networks is not None:
            out["networks"] = self.networks
        if self.ports is not None:
            out["ports"] = ports_json(self.ports)
        if self.port_bindings is not None:
            out["port_bindings"] = bindings_json(self.port_bindings)
        if self.pod is not None:
            out["pod"] = _pod_json(self.pod)
        if self.net_wanted is not None:
            out["net_wanted"] = [_wish_json(w) for w in self.net_wanted]
        if self.userns is not None:
            out["userns"] = _userns_json(self.userns)
        return out


def config_of(rec: ContainerRecord) -> ContainerConfig:
    """A container record's ``config``, typed."""
    return ContainerConfig.from_json(rec.config)


def bindings_json(specs: list[PortSpec]) -> dict[str, list[dict[str, str]]]:
    """``HostConfig.PortBindings`` as docker shows it (``{"80/tcp": [{"HostIp": "",
    "HostPort": "8080"}]}``; a host port 0 — any free one — is ``""``)."""
    out: dict[str, list[dict[str, str]]] = {}
    for p in specs:
        hp = str(p.host_port) if p.host_port else ""
        out.setdefault(f"{p.container_port}/{p.proto}", []).append(
            {"HostIp": p.host_ip, "HostPort": hp}
        )
    return out


# --- writers: what ``records.asdict`` gives, without its generic recursion (a fifth of the
# cost; the daemon writes a record several times per start) --------------------------------


def _copy(v: object) -> object:  # lists and dicts of JSON values: not shared with the record
    return list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v


def _options_json(o: RunOptions) -> JsonObject:
    out: JsonObject = {n: _copy(getattr(o, n)) for n in fields(o)}
    out["ulimits"] = [tuple(u) for u in o.ulimits]
    return out


def _daemon_json(d: DaemonOptions) -> JsonObject:
    out: JsonObject = {n: _copy(getattr(d, n)) for n in fields(d)}
    out["health"] = None if d.health is None else asdict(d.health)
    out["publish"] = [
        {"container_port": p.container_port, "proto": p.proto, "host_ip": p.host_ip,
         "host_port": p.host_port, "host_port_end": p.host_port_end}
        for p in d.publish
    ]  # fmt: skip
    return out


# --- readers (lenient: a row this daemon wrote, maybe an older version of it) -----------------


def _obj(v: object) -> JsonObject:
    return {str(k): x for k, x in v.items()} if isinstance(v, dict) else {}


def _list(v: object) -> list[object]:
    return list(v) if isinstance(v, list) else []


def _strs(v: object) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _int(v: object, default: int = 0) -> int:
    return int(v) if isinstance(v, (int, float, str)) and str(v).lstrip("-").isdigit() else default


def _run_options(raw: JsonObject) -> RunOptions:
    known = set(fields(RunOptions))
    kw: dict[str, object] = {k: v for k, v in raw.items() if k in known}
    kw["image"] = str(raw.get("image") or "")
    kw["ulimits"] = [(str(u[0]), int(u[1]), int(u[2])) for u in _list(raw.get("ulimits"))
                     if isinstance(u, (list, tuple)) and len(u) == 3]  # fmt: skip
    return RunOptions(**kw)  # type: ignore[arg-type]  # (the row's own values, by name)


def _daemon_options(raw: JsonObject) -> DaemonOptions:
    known = set(fields(DaemonOptions))
    kw: dict[str, object] = {k: v for k, v in raw.items() if k in known}
    h = raw.get("health")
    if isinstance(h, dict):
        hk = set(fields(HealthConfig))
        kw["health"] = HealthConfig(**{k: v for k, v in h.items() if k in hk})
    kw["publish"] = _publish_of(raw.get("publish"))
    return DaemonOptions(**kw)  # type: ignore[arg-type]  # (the row's own values, by name)


def _publish_of(raw: object) -> list[PortSpec]:
    """``daemon.publish``: PortSpec objects (this version) or ``-p`` strings (older rows)."""
    from dockyard.network import parse_publish

    out: list[PortSpec] = []
    for p in _list(raw):
        if isinstance(p, str):
            out += parse_publish(p)
        elif isinstance(p, dict):
            out.append(_port_spec(p))
    return out


def _port_spec(d: Mapping[str, object]) -> PortSpec:
    from dockyard.network import PortSpec

    return PortSpec(
        _int(d.get("container_port")),
        str(d.get("proto") or "tcp"),
        str(d.get("host_ip") or ""),
        _int(d.get("host_port")),
        _int(d.get("host_port_end")),
    )


def _state(raw: object) -> ContainerState:
    d = _obj(raw)
    sbu, err, health = d.get("stopped_by_user"), d.get("error"), d.get("health")
    return ContainerState(
        restart_count=_int(d.get("restart_count")),
        stopped_by_user=bool(sbu) if sbu is not None else None,
        error=str(err) if err is not None else None,
        health=_obj(health) if isinstance(health, dict) else None,
        extra={k: v for k, v in d.items()
               if k not in ("restart_count", "stopped_by_user", "error", "health")},
    )  # fmt: skip


def _state_json(s: ContainerState) -> JsonObject:
    out: JsonObject = {**s.extra, "restart_count": s.restart_count}
    if s.stopped_by_user is not None:
        out["stopped_by_user"] = s.stopped_by_user
    if s.error is not None:
        out["error"] = s.error
    if s.health is not None:
        out["health"] = s.health
    return out


def _ports(raw: JsonObject) -> dict[str, list[HostBinding] | None]:
    out: dict[str, list[HostBinding] | None] = {}
    for key, binds in raw.items():
        out[key] = None if binds is None else [
            HostBinding(str(b.get("HostIp") or ""), str(b.get("HostPort") or ""))
            for b in _list(binds) if isinstance(b, dict)
        ]  # fmt: skip
    return out


def ports_json(ports: dict[str, list[HostBinding] | None]) -> JsonObject:
    """``NetworkSettings.Ports`` as docker shows it (``{"80/tcp": [{"HostIp": "0.0.0.0",
    "HostPort": "8080"}], "443/tcp": None}``)."""
    return {k: None if v is None else [{"HostIp": b.host_ip, "HostPort": b.host_port} for b in v]
            for k, v in ports.items()}  # fmt: skip


def _bindings(raw: JsonObject) -> list[PortSpec]:
    from dockyard.network import PortSpec

    out: list[PortSpec] = []
    for key, binds in raw.items():
        port, _, proto = key.partition("/")
        for b in _list(binds):
            if isinstance(b, dict):
                hp = str(b.get("HostPort") or "")
                out.append(PortSpec(_int(port), proto or "tcp", str(b.get("HostIp") or ""),
                                    _int(hp)))  # fmt: skip
    return out


def _pod(d: JsonObject) -> PodMembership:
    created = d.get("created")
    return PodMembership(
        object=_obj(d.get("object")),
        container=str(d.get("container") or ""),
        index=_int(d.get("index")),
        created=float(created) if isinstance(created, (int, float)) else 0.0,
        terminating=bool(d.get("terminating")),
    )


def _pod_json(p: PodMembership) -> JsonObject:
    out: JsonObject = {"object": p.object, "container": p.container, "index": p.index,
                       "created": p.created}  # fmt: skip
    if p.terminating:
        out["terminating"] = True
    return out


def _wish(d: JsonObject) -> NetWish:
    return NetWish(str(d.get("name") or ""), tuple(_strs(d.get("aliases"))), str(d.get("ip") or ""))


def _wish_json(w: NetWish) -> JsonObject:
    return {"name": w.name, "aliases": list(w.aliases), "ip": w.ip}


def _userns(d: JsonObject) -> UserNamespace:
    rng = _list(d.get("range"))
    rootfs = d.get("rootfs")
    return UserNamespace(
        mode=str(d.get("mode") or ""),
        range=(_int(rng[0]), _int(rng[1]), _int(rng[2])) if len(rng) == 3 else None,
        rootfs=str(rootfs) if rootfs is not None else None,
        idmapped=[
            (str(p[0]), str(p[1])) for p in map(_list, _list(d.get("idmapped"))) if len(p) == 2
        ],
    )


def _userns_json(u: UserNamespace) -> JsonObject:
    out: JsonObject = {"mode": u.mode}
    if u.range is not None:
        out["range"] = list(u.range)
    if u.rootfs is not None:
        out["rootfs"] = u.rootfs
    if u.idmapped:
        out["idmapped"] = [list(p) for p in u.idmapped]
    return out
