"""The engine as the orchestrator's :class:`~dockyard.orchestrator.backend.PodBackend`.

Over 800 lines because it still holds pod mapping, the backend, probes, metrics sampling
and the wiring root; its split is under way (issue #17).

A *pod* is a group of ordinary engine containers, one per ``spec.containers`` entry:

* the first container owns the pod's network namespace (``--network default``: the
  engine's default network, so the pod gets the address networking gives it; a compose
  pod joins its project's networks instead, named by its annotation
  ``dockyard.io/compose-networks``: :func:`pod_networks`); the others join it
  (``container:<first>``), as the pause container does upstream;
* names: the first container of a pod in ``default`` is named like the pod (so
  ``dockyard logs web-x7k2p`` and ``dockyard exec web-x7k2p -- sh`` work); otherwise
  ``k8s_<container>_<pod>_<namespace>``;
* labels ``io.kubernetes.pod.name|namespace|uid``, ``io.kubernetes.container.name`` and
  the pod's own labels; the Pod object itself (owner references, probes, resources) is
  kept in the record (``ContainerConfig.pod``, engine/record.py), so the daemon rebuilds its
  pods after a restart;
* limits become cgroup limits (``limits.cpu`` → CPU quota, ``limits.memory`` → memory
  limit), ``requests.cpu`` → CPU shares; requests are admitted against the node's
  allocatable CPU and memory (a pod that does not fit stays Pending, Unschedulable,
  and is admitted when room frees up);
* the engine never restarts a pod's container by itself (its restart policy is ``no``):
  the backend does, as the kubelet does — an exited container of a pod whose
  ``restartPolicy`` asks for it is started again in place (same pod, ``restartCount`` + 1,
  CrashLoopBackOff when it keeps exiting: :mod:`dockyard.orchestrator.crashloop`); with
  ``Never`` the pod ends ``Failed`` (``Succeeded`` when every one exited 0); a liveness
  failure restarts the container in place too (:meth:`EnginePodBackend.restart_container`).

Probes run from the pod's own network namespace (a socket the engine creates there:
:meth:`EnginePort.net_probe <dockyard.orchestrator.engine_port.EnginePort.net_probe>`):
``httpGet`` and ``tcpSocket`` reach the pod address, or 127.0.0.1 while networking has
given it none; ``exec`` runs through the daemon's exec machinery. CPU and memory of each
container (:meth:`EnginePort.usage`, read by the engine from its cgroup) are sampled every
``sample_interval`` seconds into a :class:`~dockyard.orchestrator.metrics.CpuSampler`
(``pod_metrics``, ``top``, the HPA). The orchestrator itself calls no kernel interface
(``orchestrator/engine_port.py``; ``tests/unit/test_layering.py`` rule 4).

:func:`container_options` and :func:`observe_pod` are the pure halves (unit-tested);
:func:`attach_orchestrator` makes store, backend and controllers for a daemon (``api/server.py``
calls it after ``Daemon.open`` and registers ``api/objects.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from dockyard.engine.options import DaemonOptions, RunOptions
from dockyard.engine.record import NetWish, PodMembership, config_of
from dockyard.errors import AlreadyExists, DockyardError, InvalidArgument, NotFound
from dockyard.orchestrator.events import NORMAL, WARNING, EventLog, involved
from dockyard.orchestrator.imagepull import ImagePullError, credentials_from_secrets, ensure_image
from dockyard.records import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.network import DnsResponder, ResolvConf
    from dockyard.orchestrator.backend import ContainerStatus, ObservedPod
    from dockyard.orchestrator.controllers import Manager
    from dockyard.orchestrator.controllers.networkpolicy import NetworkPolicyController
    from dockyard.orchestrator.controllers.services import ServicesController
    from dockyard.orchestrator.crashloop import CrashLoop
    from dockyard.orchestrator.engine_port import EnginePort
    from dockyard.orchestrator.metrics import CpuSampler, PodMetrics
    from dockyard.orchestrator.objects import Container, Pod, Probe
    from dockyard.orchestrator.selectors import LabelSelector
    from dockyard.orchestrator.sqlite_store import SqliteObjectStore
    from dockyard.orchestrator.store import ObjectStore
    from dockyard.store.db import ContainerRecord

__all__ = [
    "EnginePodBackend",
    "Orchestrator",
    "attach_orchestrator",
    "container_name",
    "container_options",
    "observe_pod",
    "pod_requests",
]

L_POD, L_NS, L_UID, L_CONTAINER = (
    "io.kubernetes.pod.name",
    "io.kubernetes.pod.namespace",
    "io.kubernetes.pod.uid",
    "io.kubernetes.container.name",
)

EnvResolver = Callable[[str, str, str, str], "str | None"]  # (kind, ns, name, key)
DataResolver = Callable[[str, str, str], "dict[str, bytes] | None"]  # (kind, ns, name)


# ---------------------------------------------------------------------- pure mapping


def container_name(pod: Pod, index: int, container: str) -> str:
    """The engine container's name: a compose ``container_name`` (the pod template's
    ``dockyard.io/container-name``) for the first container, else the pod's name in the
    default namespace, else kubelet's ``k8s_<container>_<pod>_<namespace>``."""
    ns = pod.metadata.namespace or "default"
    given = pod.metadata.annotations.get("dockyard.io/container-name")
    if index == 0 and given:
        return given
    if index == 0 and ns == "default":
        return pod.metadata.name
    return f"k8s_{container}_{pod.metadata.name}_{ns}"


def pod_requests(pod: Pod) -> tuple[int, int]:
    """(CPU millicores, memory bytes) the pod requests (limits when no request, as the
    API server defaults them)."""
    cpu = mem = 0
    for c in pod.spec.containers:
        r = c.resources
        q = r.requests.get("cpu") or r.limits.get("cpu")
        if q is not None:
            cpu += q.milli_value()
        q = r.requests.get("memory") or r.limits.get("memory")
        if q is not None:
            mem += (q.milli_value() + 999) // 1000
    return cpu, mem


def _field_ref(pod: Pod, path: str) -> str:
    meta = pod.metadata
    if path == "metadata.name":
        return meta.name
    if path == "metadata.namespace":
        return meta.namespace or "default"
    if path == "metadata.uid":
        return meta.uid or ""
    if path.startswith("metadata.labels['") and path.endswith("']"):
        return meta.labels.get(path[17:-2], "")
    if path.startswith("metadata.annotations['") and path.endswith("']"):
        return meta.annotations.get(path[22:-2], "")
    if path == "spec.nodeName":
        return os.uname().nodename
    if path == "spec.serviceAccountName":
        return pod.spec.service_account_name or "default"
    return ""  # status.podIP & co: not known before the pod runs


def _env(
    pod: Pod, c: Container, resolve: EnvResolver | None, data: DataResolver | None
) -> list[str]:
    ns = pod.metadata.namespace or "default"
    out: dict[str, str] = {}
    for src in c.env_from:
        ref = src.config_map_ref or src.secret_ref
        if ref is None or data is None:
            continue
        kind = "ConfigMap" if src.config_map_ref is not None else "Secret"
        values = data(kind, ns, ref.name)
        if values is None:
            if ref.optional:
                continue
            raise InvalidArgument(f'{kind.lower()} "{ref.name}" not found')
        for k, v in values.items():
            out[(src.prefix or "") + k] = v.decode(errors="replace")
    for e in c.env:
        if e.value_from is None:
            out[e.name] = _expand(e.value or "", out)
            continue
        vf = e.value_from
        if vf.field_ref is not None:
            out[e.name] = _field_ref(pod, vf.field_ref.field_path)
        elif vf.resource_field_ref is not None:
            out[e.name] = _resource_field(c, vf.resource_field_ref.resource)
        else:
            sel = vf.config_map_key_ref or vf.secret_key_ref
            assert sel is not None
            kind = "ConfigMap" if vf.config_map_key_ref is not None else "Secret"
            value = resolve(kind, ns, sel.name, sel.key) if resolve is not None else None
            if value is None:
                if sel.optional:
                    continue
                raise InvalidArgument(f"couldn't find key {sel.key} in {kind} {ns}/{sel.name}")
            out[e.name] = value
    return [f"{k}={v}" for k, v in out.items()]


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` references to earlier variables; ``$$`` escapes."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and (j := value.find(")", i)) > 0:
            name = value[i + 2 : j]
            out.append(env.get(name, value[i : j + 1]))
            i = j + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _resource_field(c: Container, resource: str) -> str:
    kind, _, res = resource.partition(".")
    q = (c.resources.limits if kind == "limits" else c.resources.requests).get(res)
    if q is None:
        return "0"
    if res == "cpu":
        return str(max(1, -(-q.milli_value() // 1000)))
    return str((q.milli_value() + 999) // 1000)


def pod_networks(pod: Pod) -> list[NetWish]:
    """The engine networks a compose pod asks for (annotation
    ``dockyard.io/compose-networks``: ``[{"name", "aliases", "ip"}]``); [] for any other
    pod, which joins the default network."""
    raw = pod.metadata.annotations.get("dockyard.io/compose-networks")
    if not raw:
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"pod {pod.metadata.name}: bad compose networks") from None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) and i["name"] for i in items
    ):
        raise InvalidArgument(f"pod {pod.metadata.name}: bad compose networks")
    return [
        NetWish(i["name"], tuple(str(a) for a in i.get("aliases") or []), str(i.get("ip") or ""))
        for i in items
    ]


def container_options(
    pod: Pod,
    index: int,
    *,
    first_id: str | None = None,
    volume_dir: Callable[[str], str] | None = None,
    resolve: EnvResolver | None = None,
    data: DataResolver | None = None,
    resolv: ResolvConf | None = None,
    image_user: str = "",
    seccomp_dir: str = "/var/lib/dockyard/seccomp",
) -> tuple[RunOptions, DaemonOptions]:
    """The engine's options for container ``index`` of ``pod``.

    ``first_id`` is the id of the pod's first container (the others join its network
    namespace); ``volume_dir(volume)`` is the host directory of a ConfigMap/Secret
    volume, written by the caller; ``resolve``/``data`` read ConfigMaps and Secrets;
    ``resolv`` is the pod's resolv.conf (``clusterdns.pod_resolv``; None: the host's);
    ``image_user`` the image's USER and ``seccomp_dir`` where ``Localhost`` seccomp
    profiles live, for the securityContext (:mod:`~dockyard.orchestrator.security_context`)."""
    c = pod.spec.containers[index]
    meta = pod.metadata
    ns = meta.namespace or "default"
    labels = {**meta.labels, L_POD: meta.name, L_NS: ns, L_UID: meta.uid or "", L_CONTAINER: c.name}
    opts = RunOptions(image=c.image, name=container_name(pod, index, c.name), labels=labels)
    if c.command:
        opts.entrypoint = list(c.command)
    opts.command = list(c.args)
    opts.env = _env(pod, c, resolve, data)
    opts.workdir = c.working_dir
    opts.hostname = pod.spec.hostname or meta.name if index == 0 else None
    opts.tty, opts.interactive = bool(c.tty), bool(c.stdin)
    if pod.spec.host_network:
        opts.network = "host"
    elif index == 0 or first_id is None:
        opts.network = "default"
    else:
        opts.network = f"container:{first_id}"
        opts.hostname = None
    limits, requests = c.resources.limits, c.resources.requests
    if (q := limits.get("memory")) is not None:
        opts.memory = (q.milli_value() + 999) // 1000
    if (q := limits.get("cpu")) is not None:
        opts.nano_cpus = q.milli_value() * 1_000_000
    if (q := requests.get("cpu") or limits.get("cpu")) is not None:
        opts.cpu_shares = max(2, q.milli_value() * 1024 // 1000)
    _apply_security(opts, pod, c, image_user, seccomp_dir)
    dopts = DaemonOptions(
        restart="no",
        no_healthcheck=True,  # probes replace HEALTHCHECK, as the kubelet ignores it
        stop_timeout=pod.spec.termination_grace_period_seconds,
    )
    if resolv is not None and opts.network != f"container:{first_id}":
        dopts.dns = list(resolv.nameservers)
        dopts.dns_search = list(resolv.search) or ["."]  # "." writes no search line
        dopts.dns_options = list(resolv.options)
    wanted = pod_networks(pod) if opts.network == "default" else []
    if wanted:  # a compose service: its first network here, all of them in net_wanted
        opts.network = wanted[0].name
        dopts.aliases = list(wanted[0].aliases)
        dopts.ip = wanted[0].ip or None
    for p in c.ports:
        if p.host_port:
            from dockyard.network import port_spec

            dopts.publish.append(
                port_spec(p.container_port, p.protocol, p.host_ip or "", p.host_port)
            )
    volumes = {v.name: v for v in pod.spec.volumes}
    for m in c.volume_mounts:
        v = volumes.get(m.name)
        if v is None:
            raise InvalidArgument(f'volume mount "{m.name}" of container {c.name}: no such volume')
        ro = ":ro" if m.read_only else ""
        sub = f"/{m.sub_path}" if m.sub_path else ""
        if v.empty_dir is not None:
            if v.empty_dir.medium == "Memory" and not sub:
                opts.tmpfs.append(m.mount_path)
                continue
            # a Kubernetes emptyDir starts empty (no copy-up of the image's files); a
            # compose anonymous volume keeps docker's copy-up
            nocopy = "" if _is_compose(pod) else ("," if ro else ":") + "nocopy"
            dopts.volumes.append(f"{_empty_dir_volume(pod, v.name)}:{m.mount_path}{ro}{nocopy}")
        elif v.host_path is not None:
            dopts.volumes.append(f"{os.path.normpath(v.host_path.path + sub)}:{m.mount_path}{ro}")
        elif v.persistent_volume_claim is not None:
            claim = v.persistent_volume_claim
            ro = ":ro" if m.read_only or claim.read_only else ""
            dopts.volumes.append(f"{claim.claim_name}:{m.mount_path}{ro}")
        elif v.config_map is not None or v.secret is not None:
            if volume_dir is None:
                raise InvalidArgument(f"volume {v.name}: no place for its files")
            dopts.volumes.append(f"{volume_dir(v.name)}{sub}:{m.mount_path}:ro")
        else:
            raise InvalidArgument(f"volume {v.name}: unsupported source")
    return opts, dopts


def _apply_security(
    opts: RunOptions, pod: Pod, c: Container, image_user: str, seccomp_dir: str
) -> None:
    """The effective securityContext of ``c`` onto ``opts`` (security_context.py's table)."""
    from dockyard.orchestrator.security_context import engine_security, pod_sysctls

    sec = engine_security(
        pod.spec.security_context, c.security_context, host_users=pod.spec.host_users,
        image_user=image_user, seccomp_dir=seccomp_dir,
    )  # fmt: skip
    opts.privileged, opts.read_only = sec.privileged, sec.read_only
    if sec.user is not None:
        opts.user = sec.user
    opts.group_add = list(sec.group_add)
    opts.cap_add, opts.cap_drop = list(sec.cap_add), list(sec.cap_drop)
    opts.security_opt = list(sec.security_opt)
    opts.userns = sec.userns
    opts.sysctls = pod_sysctls(
        pod.spec.security_context, joins_network=opts.network.startswith("container:")
    )


def config_error(
    pod: Pod, c: Container, image_user: str, seccomp_dir: str
) -> tuple[str, str] | None:
    """(reason, message) when container ``c`` must not be created, as the kubelet refuses
    it: a sysctl outside the safe set (``SysctlForbidden``: the kubelet rejects the
    whole pod), ``runAsNonRoot`` against a root user (``CreateContainerConfigError``), a
    ``Localhost`` seccomp profile that cannot be loaded (``CreateContainerError``, the
    runtime's refusal on a node); None when it may be created."""
    from dockyard.orchestrator.security_context import (
        effective,
        seccomp_profile_error,
        sysctl_error,
        verify_run_as_non_root,
    )

    why = sysctl_error(pod.spec.security_context, host_network=bool(pod.spec.host_network),
                       host_ipc=bool(pod.spec.host_ipc))  # fmt: skip
    if why is not None:
        return "SysctlForbidden", why
    sc = effective(pod.spec.security_context, c.security_context)
    meta = pod.metadata
    ref = (meta.name, meta.namespace or "default", meta.uid or "")
    why = verify_run_as_non_root(sc, image_user, pod=ref, container=c.name)
    if why is not None:
        return "CreateContainerConfigError", why
    why = seccomp_profile_error(sc, seccomp_dir)
    if why is not None:
        return "CreateContainerError", why
    if sc.proc_mount == "Unmasked":  # rather than a /proc masked behind the pod's back
        return "CreateContainerConfigError", "procMount Unmasked is not supported by dockyard"
    return None


def config_retry_delay(attempt: int) -> float:
    """Seconds before refused containers are checked again: the kubelet's back-off,
    10 s doubling to 5 min."""
    return float(min(10 * 2 ** min(attempt, 5), 300))


def _is_compose(pod: Pod) -> bool:
    return "dockyard.io/compose-project" in pod.metadata.labels


def empty_dir_access(pod: Pod, id_range: tuple[int, int, int] | None) -> tuple[int, int | None]:
    """(mode, host gid or None) of a Kubernetes pod's emptyDir directory, as the kubelet
    leaves it: world-writable (0777); with ``fsGroup``, owned by that group with the
    setgid bit, so what the pod writes there stays the group's (``id_range``: the pod's
    user namespace, (uid base, gid base, size), whose gid ``fsGroup`` is on the host).
    Compose pods keep docker's volume (the image's mode and owner): (0, None)."""
    if _is_compose(pod):
        return 0, None
    sc = pod.spec.security_context
    gid = sc.fs_group if sc is not None else None
    if gid is None:
        return 0o777, None
    if id_range is not None and gid < id_range[2]:
        gid += id_range[1]
    return 0o2777, gid


def _empty_dir_volume(pod: Pod, volume: str) -> str:
    return f"pod-{(pod.metadata.uid or pod.metadata.name)[:13]}-{volume}"


def _iso_seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return None


def observe_pod(
    pod: Pod,
    records: Mapping[str, ContainerRecord | None],
    *,
    created: float,
    flags: Mapping[str, tuple[bool, bool]] | None = None,
    restarts: Mapping[str, int] | None = None,
    restarting: frozenset[str] = frozenset(),
    scheduled: bool = True,
    reason: str | None = None,
    message: str | None = None,
    start_time: float | None = None,
    ready_since: float | None = None,
    terminating: bool = False,
    pod_ip: str | None = None,
    waiting: Mapping[str, tuple[str, str]] | None = None,
    last_exit: Mapping[str, int] | None = None,
) -> ObservedPod:
    """The orchestrator's view of a pod from its containers' records (``records`` maps
    container name → record, None while not created yet). ``flags`` are the probe
    runner's (started, ready) per container; ``waiting`` the (reason, message) of each
    container that was refused before it was created (``config_error``)."""
    from dockyard.orchestrator.backend import ContainerStatus, ObservedPod

    flags = flags or {}
    restarts = restarts or {}
    statuses: list[ContainerStatus] = []
    for c in pod.spec.containers:
        rec = records.get(c.name)
        started, ready = flags.get(c.name, (False, False))
        count = restarts.get(c.name, 0)
        if waiting and c.name in waiting and (rec is None or rec.status == "created"):
            why, text = waiting[c.name]
            statuses.append(ContainerStatus(c.name, "waiting", why, message=text))
        elif c.name in restarting or rec is None or rec.status == "created":
            backoff = waiting[c.name][0] if waiting and c.name in waiting else None
            why = backoff or reason or "ContainerCreating"  # (CrashLoopBackOff: restarting)
            last = (last_exit or {}).get(c.name)
            statuses.append(ContainerStatus(c.name, "waiting", why, restart_count=count,
                                            last_exit_code=last))  # fmt: skip
        elif rec.status in ("running", "paused"):
            statuses.append(ContainerStatus(
                c.name, "running", None, None, _iso_seconds(rec.started_at), count,
                started, ready,
            ))  # fmt: skip
        else:
            code = int(rec.exit_code if rec.exit_code is not None else 255)
            why = "OOMKilled" if rec.oom_killed else ("Completed" if code == 0 else "Error")
            statuses.append(ContainerStatus(c.name, "terminated", why, code, restart_count=count))
    states = {s.state for s in statuses}
    if not scheduled or not statuses or "waiting" in states:
        phase = "Pending"
    elif states == {"running"}:
        phase = "Running"
    elif "running" in states:
        # a container exited: with restartPolicy Always the pod is replaced
        phase = "Failed" if pod.spec.restart_policy == "Always" else "Running"
    elif all(s.exit_code == 0 for s in statuses):
        phase = "Succeeded"
    else:
        phase = "Failed"
    return ObservedPod(
        pod=pod,
        phase=phase,
        containers=tuple(statuses),
        pod_ip=pod_ip if phase == "Running" else None,
        created=created,
        start_time=start_time,
        scheduled=scheduled,
        reason=reason if not scheduled or phase != "Running" else None,
        message=message if not scheduled else None,
        ready_since=ready_since,
        terminating=terminating,
    )


# ---------------------------------------------------------------------- the backend


@record(frozen=False)
class _Pod:
    pod: Pod
    created: float
    ids: dict[str, str] = field(default_factory=dict)  # container name -> id
    scheduled: bool = True
    reason: str | None = None
    message: str | None = None
    start_time: float | None = None
    terminating: bool = False
    flags: dict[str, tuple[bool, bool]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    restarting: set[str] = field(default_factory=set)
    exited: set[str] = field(default_factory=set)  # seen by the exit listener, not yet restarted
    last_exit: dict[str, int] = field(default_factory=dict)  # restarted in place: lastState
    ready_since: float | None = None
    was_ready: bool = False
    starter: asyncio.Task[None] | None = None
    # container name -> (reason, message): refused before creation (config_error)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)


def _key(namespace: str | None, name: str) -> tuple[str, str]:
    return (namespace or "default", name)


class EnginePodBackend:
    """Pods as engine containers (see the module docstring)."""

    def __init__(
        self,
        daemon: Daemon,
        store: ObjectStore | None = None,
        *,
        engine: EnginePort | None = None,
        clock: Callable[[], float] = time.time,
        sample_interval: float = 1.0,
        metrics_window: float = 15.0,
        allocatable: tuple[int, int] | None = None,
    ) -> None:
        from dockyard.orchestrator.metrics import CpuSampler

        if engine is None:
            from dockyard.engine.podsupport import PodSupport

            engine = PodSupport(daemon)
        self.d = daemon
        self.engine: EnginePort = engine  # stats, netns, probes, records: engine_port.py
        self.store = store
        self.clock = clock
        self.sample_interval = sample_interval
        self.sampler: CpuSampler = CpuSampler(metrics_window)
        self.memory: dict[str, int] = {}
        self.allocatable = allocatable or _node_allocatable()
        self.on_change: Callable[[], None] = lambda: None
        # awaited with (namespace, name) before a pod's preStop and stop (Services drain)
        self.drain_hooks: list[Callable[[str, str], Awaitable[None]]] = []
        # awaited with (namespace, name, address) the instant a pod's container exits
        # (the engine's exit listener: Services drop the address, conntrack forgets it)
        self.exit_hooks: list[Callable[[str, str, str], Awaitable[None]]] = []
        self.cluster_dns = ""  # the cluster DNS address pods are given (ClusterFirst)
        self.events = EventLog(clock)  # kubectl get events; the Orchestrator shares its own
        self._pods: dict[tuple[str, str], _Pod] = {}
        # (namespace, pod, container) -> its CrashLoopBackOff entry (crashloop.py)
        self._crashloops: dict[tuple[str, str, str], CrashLoop] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sampler_task: asyncio.Task[None] | None = None

    # -- start-up / shutdown -----------------------------------------------------------

    def restore(self) -> None:
        """Rebuild the pods from the container records (daemon start)."""
        from dockyard.orchestrator.loader import from_dict

        for rec in self.engine.containers():
            meta = config_of(rec).pod
            if meta is None:
                continue
            try:
                pod = from_dict(meta.object)
            except DockyardError:
                continue
            key = _key(pod.metadata.namespace, pod.metadata.name)
            p = self._pods.get(key)
            if p is None:
                p = self._pods[key] = _Pod(pod, meta.created)  # type: ignore[arg-type]
                p.start_time = p.created
            p.ids[meta.container] = rec.id
            if meta.terminating:
                p.terminating = True
        for p in self._pods.values():
            if p.terminating:
                self._spawn(self._stop_pod(p, 0))
            else:
                self._restart_exited(p)

    def _restart_exited(self, p: _Pod) -> None:
        """A container that exited while no daemon ran is restarted as its policy says."""
        if p.pod.spec.restart_policy == "Never":
            return
        for name, cid in p.ids.items():
            with contextlib.suppress(DockyardError):
                if self.d.get(cid).status == "exited" and name not in p.exited:
                    p.exited.add(name)
                    if p.pod.spec.restart_policy == "Always":
                        p.restarting.add(name)
                    self._spawn(self._restart_in_place(p, name, cid))

    def start(self) -> None:
        self._sampler_task = asyncio.ensure_future(self._sample_forever())

    def close(self) -> None:
        if self._sampler_task is not None:
            self._sampler_task.cancel()
        for t in list(self._tasks):
            t.cancel()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def owns(self, cid: str) -> bool:
        return any(cid in p.ids.values() for p in self._pods.values())

    def container_exited(self, cid: str) -> None:
        """The engine's exit listener: a container of a pod ended (crash, OOM, a kill from
        outside, or the stop of a deleted pod). Called before the engine records the exit
        or releases the network, so the pod's address is still known here: the pod stops
        being ready at once and :attr:`exit_hooks` run with that address."""
        for p in self._pods.values():
            name = next((n for n, i in p.ids.items() if i == cid), None)
            if name is not None:
                break
        else:
            return
        first = p.ids.get(p.pod.spec.containers[0].name) if p.pod.spec.containers else None
        rec = None
        if first is not None:
            with contextlib.suppress(DockyardError):
                rec = self.d.get(first)
        addr = _pod_ip(self.d, rec)
        seen = name in p.exited  # (its restart is already on its way: a daemon start)
        p.exited.add(name)
        if not (p.terminating or seen or name in p.restarting):  # (restarting: liveness)
            if p.pod.spec.restart_policy == "Always":
                p.restarting.add(name)  # never Failed meanwhile: the ReplicaSet keeps it
            self._spawn(self._restart_in_place(p, name, cid))
        self._update_ready(p)
        ns, pod = _key(p.pod.metadata.namespace, p.pod.metadata.name)
        if addr is not None:
            for hook in list(self.exit_hooks):
                self._spawn(hook(ns, pod, addr))
        self.on_change()

    async def _restart_in_place(self, p: _Pod, name: str, cid: str) -> None:
        """The kubelet's answer to an exited container (``restartPolicy`` Always, or
        OnFailure after a failure): the same container started again in the same pod,
        at once the first time, after the CrashLoopBackOff delay when it exits again
        (:mod:`dockyard.orchestrator.crashloop`). The first container holds the pod's
        network namespace: when it restarts, the others restart after it, to join the
        new one (as the kubelet restarts every container of a pod whose sandbox died)."""
        from dockyard.orchestrator.crashloop import after_restart, restart_delay

        try:
            code = await self.d.wait(cid, "not-running")
        except DockyardError:
            code = 255
        policy = p.pod.spec.restart_policy
        p.last_exit[name] = code
        if p.terminating or policy == "Never" or (policy == "OnFailure" and code == 0):
            p.restarting.discard(name)
            self.on_change()
            return
        key = (*_key(p.pod.metadata.namespace, p.pod.metadata.name), name)
        finished = self.clock()
        entry = self._crashloops.get(key)
        delay = restart_delay(entry, finished, finished)
        p.restarting.add(name)
        if delay > 0:
            p.waiting[name] = ("CrashLoopBackOff", f"back-off {delay:.0f}s restarting failed "
                               f"container={name} pod={key[1]}")  # fmt: skip
            self._event(p, WARNING, "BackOff", "Back-off restarting failed container "
                        f"{name} in pod {key[1]}", container=name)  # fmt: skip
            self.on_change()
            await asyncio.sleep(delay)
            p.waiting.pop(name, None)
        if p.terminating or self._pods.get(key[:2]) is not p:
            return
        self._crashloops[key] = after_restart(entry, finished, self.clock())
        names = [name]
        if p.pod.spec.containers and name == p.pod.spec.containers[0].name:
            names += [c.name for c in p.pod.spec.containers[1:] if c.name in p.ids]
        try:
            for other in names[1:]:
                p.restarting.add(other)
                await self._stop_one(p.ids[other], 0)
            for n in names:
                if self.d.get(p.ids[n]).status in ("running", "paused"):
                    continue  # (restarted by the first container's restart)
                p.restarts[n] = p.restarts.get(n, 0) + 1
                p.flags[n] = (False, False)  # not ready until its first probe passes
                p.exited.discard(n)
                await self.d.start(p.ids[n])
                self._event(p, NORMAL, "Started", f"Started container {n}", container=n)
        except DockyardError as e:
            p.reason = _reason_of(e)
        finally:
            p.restarting.difference_update(names)
            self.on_change()

    # -- the interface -----------------------------------------------------------------

    async def create_pod(self, pod: Pod) -> None:
        ns = pod.metadata.namespace or "default"
        key = _key(ns, pod.metadata.name)
        if key in self._pods:
            raise AlreadyExists(f'create pod "{pod.metadata.name}": already exists')
        meta = replace(pod.metadata, namespace=ns, uid=pod.metadata.uid or _uid())
        if not meta.creation_timestamp:
            from dockyard.orchestrator.store import format_time

            meta = replace(meta, creation_timestamp=format_time(self.clock()))
        pod = replace(pod, metadata=meta)
        p = _Pod(pod, self.clock())
        self._pods[key] = p
        self._admit(p)

    def _admit(self, p: _Pod) -> None:
        cpu, mem = pod_requests(p.pod)
        used_cpu = used_mem = 0
        for other in self._pods.values():
            if other is not p and other.scheduled and other.start_time is not None:
                c, m = pod_requests(other.pod)
                used_cpu, used_mem = used_cpu + c, used_mem + m
        alloc_cpu, alloc_mem = self.allocatable
        short = []
        if cpu and used_cpu + cpu > alloc_cpu:
            short.append("Insufficient cpu")
        if mem and used_mem + mem > alloc_mem:
            short.append("Insufficient memory")
        if short:
            p.scheduled, p.reason = False, "Unschedulable"
            p.message = f"0/1 nodes are available: 1 {', 1 '.join(short)}."
            p.start_time = None
            self._event(p, WARNING, "FailedScheduling", p.message, "default-scheduler")
            return
        p.scheduled, p.reason, p.message = True, None, None
        ns, name = _key(p.pod.metadata.namespace, p.pod.metadata.name)
        self._event(p, NORMAL, "Scheduled",
                    f"Successfully assigned {ns}/{name} to {os.uname().nodename}",
                    "default-scheduler")  # fmt: skip
        p.start_time = self.clock()
        p.starter = self._spawn(self._start_pod(p))

    async def _start_pod(self, p: _Pod) -> None:
        from dockyard.orchestrator.export import to_dict

        pod = p.pod
        try:
            await self._pull_images(p)
        except ImagePullError as e:
            p.reason, p.message = e.reason, str(e)
            self.d.events.emit("pod", "failed", pod.metadata.name, {"error": str(e)})
            self.on_change()
            return
        attempt = 0
        while self._refuse(p, self._image_users(pod)):
            # the kubelet's back-off (10 s, 20 s, ... 5 min) before it checks again: a
            # profile put in place or an image rebuilt with a USER lets the pod start;
            # delete_pod cancels the wait
            await asyncio.sleep(config_retry_delay(attempt))
            attempt += 1
            if p.terminating:
                return
        users = self._image_users(pod)
        warmer = self.d.warm_cgroups()  # starts follow: see dockyard.cgroups.warm
        try:
            for i, c in enumerate(pod.spec.containers):
                if p.terminating:
                    return
                opts, dopts = container_options(
                    pod, i, first_id=p.ids.get(pod.spec.containers[0].name),
                    volume_dir=lambda v: self._volume_dir(p, v),
                    resolve=self._resolve_key, data=self._resolve_data,
                    resolv=self._pod_resolv(pod) if i == 0 else None,
                    image_user=users[c.name], seccomp_dir=self.seccomp_dir,
                )  # fmt: skip
                rec = await self.d.create(opts, dopts)
                cfg = config_of(rec)
                cfg.pod = PodMembership(to_dict(pod), c.name, i, p.created)
                if i == 0 and (wanted := pod_networks(pod)):
                    # every compose network, first = the default route
                    cfg.net_wanted = wanted
                self.d.update(rec.id, config=cfg.to_json())
                p.ids[c.name] = rec.id
                self._event(p, NORMAL, "Created", f"Created container {c.name}", container=c.name)
            self._empty_dirs(p)
            for c in pod.spec.containers:
                if p.terminating:
                    return
                p.exited.discard(c.name)
                await self.d.start(p.ids[c.name])
                self._event(p, NORMAL, "Started", f"Started container {c.name}", container=c.name)
        except DockyardError as e:
            p.reason = _reason_of(e)
            p.waiting[c.name] = (p.reason, str(e))  # the one that failed says why (status)
            self.d.events.emit("pod", "failed", pod.metadata.name, {"error": str(e)})
        except Exception as e:
            p.reason = "CreateContainerError"
            error = f"{type(e).__name__}: {e}"
            self.d.events.emit("pod", "failed", pod.metadata.name, {"error": error})
        finally:
            if warmer is not None:
                warmer.stop()
            self.on_change()

    @property
    def seccomp_dir(self) -> str:
        """Where ``Localhost`` seccomp profiles live: ``<root>/seccomp`` (the kubelet's
        ``<root-dir>/seccomp``)."""
        return str(self.d.root / "seccomp")

    def _image_users(self, pod: Pod) -> dict[str, str]:
        """Each container's image USER ("" when none, or the image is not there: the
        engine's create then says what is wrong)."""
        out = {}
        for c in pod.spec.containers:
            try:
                out[c.name] = self.d.engine.images.resolve(c.image).config.config.user or ""
            except DockyardError:
                out[c.name] = ""
        return out

    def _refuse(self, p: _Pod, users: Mapping[str, str]) -> bool:
        """Check every container before any is created (``config_error``): a refused pod
        stays Pending with its containers waiting, no container made."""
        p.waiting.clear()
        for c in p.pod.spec.containers:
            bad = config_error(p.pod, c, users[c.name], self.seccomp_dir)
            if bad is not None:
                p.waiting[c.name] = bad
                self.d.events.emit("pod", "failed", p.pod.metadata.name,
                                   {"container": c.name, "reason": bad[0],
                                    "error": f"Error: {bad[1]}"})  # fmt: skip
                self._event(p, WARNING, "Failed", f"Error: {bad[1]}", container=c.name)
        if p.waiting:
            self.on_change()
        return bool(p.waiting)

    async def _pull_images(self, p: _Pod) -> None:
        """Each container's image present as its ``imagePullPolicy`` says, with the pod's
        ``imagePullSecrets`` (:mod:`dockyard.orchestrator.imagepull`)."""
        pod = p.pod
        ns = pod.metadata.namespace or "default"
        secrets = []
        for ref in pod.spec.image_pull_secrets:
            data = self._resolve_data("Secret", ns, ref.name) if ref.name else None
            if data is not None:  # a missing one is skipped, as the kubelet does
                secrets.append(data)
        creds = credentials_from_secrets(secrets)

        def note(reason: str, message: str) -> None:
            self.d.events.emit("pod", reason.lower(), pod.metadata.name, {"message": message})
            failed = reason.endswith("Failed")
            self._event(p, WARNING if failed else NORMAL, "Failed" if failed else reason, message)

        for c in pod.spec.containers:
            if p.terminating:
                return
            policy = c.defaulted().image_pull_policy or "IfNotPresent"
            await asyncio.to_thread(
                ensure_image, self.d.engine.images, c.image, policy, creds, note
            )

    async def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> None:
        p = self._pods.get(_key(namespace, name))
        if p is None:
            raise NotFound(f'pod "{name}": not found')
        if p.terminating:
            return
        p.terminating = True
        if p.waiting and not p.ids and p.starter is not None:
            p.starter.cancel()  # refused (config_error), waiting to check again
        self._update_ready(p)
        for cid in p.ids.values():
            with contextlib.suppress(DockyardError):
                rec = self.d.get(cid)
                cfg = config_of(rec)
                if cfg.pod is not None:
                    cfg.pod.terminating = True
                    self.d.update(cid, config=cfg.to_json())
        if grace is None:
            grace = p.pod.spec.termination_grace_period_seconds
        self.on_change()  # services drop it before it stops
        self._spawn(self._stop_pod(p, grace))

    async def _stop_pod(self, p: _Pod, grace: int) -> None:
        key = _key(p.pod.metadata.namespace, p.pod.metadata.name)
        try:
            if p.starter is not None and not p.starter.done():
                with contextlib.suppress(BaseException):
                    await p.starter
            for hook in list(self.drain_hooks):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(hook(key[0], key[1]), 5.0)
            for name in p.ids:
                self._event(p, NORMAL, "Killing", f"Stopping container {name}", container=name)
            await self._pre_stop(p, grace)
            await asyncio.gather(
                *(self._stop_one(cid, grace) for cid in p.ids.values()), return_exceptions=True
            )
            for cid in reversed(list(p.ids.values())):
                with contextlib.suppress(DockyardError):
                    await self.d.remove(cid, force=True)
                self.sampler.forget(cid)
                self.memory.pop(cid, None)
            self._cleanup_volumes(p)
        finally:
            if self._pods.get(key) is p:
                del self._pods[key]
            self._admit_pending()
            self.on_change()

    def _event(
        self, p: _Pod, type_: str, reason: str, message: str, component: str = "kubelet",
        container: str = "",
    ) -> None:  # fmt: skip
        """A Kubernetes Event about pod ``p`` (or one of its containers)."""
        path = f"spec.containers{{{container}}}" if container else ""
        self.events.record(involved(p.pod, path), type_, reason, message, component)

    async def _stop_one(self, cid: str, grace: int) -> None:
        with contextlib.suppress(DockyardError):
            await self.d.stop(cid, float(grace))

    async def _pre_stop(self, p: _Pod, grace: int) -> None:
        jobs: list[Any] = []
        for c in p.pod.spec.containers:
            hook = c.lifecycle.pre_stop if c.lifecycle is not None else None
            cid = p.ids.get(c.name)
            if hook is None or cid is None:
                continue
            if hook.exec_ is not None:
                jobs.append(self._exec(cid, list(hook.exec_.command), float(max(grace, 1))))
            elif hook.sleep is not None:
                seconds = float(hook.sleep.get("seconds") or 0)
                jobs.append(asyncio.sleep(min(seconds, float(grace))))
        if jobs:
            await asyncio.gather(*jobs, return_exceptions=True)

    async def list_pods(
        self, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> list[ObservedPod]:
        from dockyard.orchestrator.selectors import matches

        out = []
        for key in sorted(self._pods):
            p = self._pods[key]
            if namespace is not None and key[0] != namespace:
                continue
            if selector is not None and not matches(selector, p.pod.metadata.labels):
                continue
            out.append(self._observe(p))
        return out

    def pods(self) -> list[ObservedPod]:
        """Synchronous snapshot (for the API)."""
        return [self._observe(self._pods[k]) for k in sorted(self._pods)]

    def pod_netns(self, namespace: str, name: str) -> str | None:
        """The path of the pod's network namespace (None when it has none running)."""
        p = self._pods.get(_key(namespace, name))
        if p is None or not p.pod.spec.containers:
            return None
        cid = p.ids.get(p.pod.spec.containers[0].name)
        try:
            rec = self.d.get(cid) if cid is not None else None
        except DockyardError:
            return None
        if rec is None or rec.status not in ("running", "paused") or not rec.pid:
            return None
        return self.engine.netns_path(rec)

    def container_ids(self, namespace: str, name: str) -> dict[str, str]:
        p = self._pods.get(_key(namespace, name))
        if p is None:
            raise NotFound(f'pods "{name}" not found')
        return dict(p.ids)

    def _records(self, p: _Pod) -> dict[str, ContainerRecord | None]:
        out: dict[str, ContainerRecord | None] = {}
        for c in p.pod.spec.containers:
            cid = p.ids.get(c.name)
            rec = None
            if cid is not None:
                with contextlib.suppress(NotFound):
                    rec = self.d.get(cid)
            out[c.name] = rec
        return out

    def _observe(self, p: _Pod) -> ObservedPod:
        records = self._records(p)
        first = records.get(p.pod.spec.containers[0].name) if p.pod.spec.containers else None
        flags = p.flags
        if p.exited:  # the record may still say running: the exit event came first
            flags = {**flags, **{c: (flags.get(c, (False, False))[0], False) for c in p.exited}}
        return observe_pod(
            p.pod, records, created=p.created, flags=flags, restarts=p.restarts,
            restarting=frozenset(p.restarting), scheduled=p.scheduled, reason=p.reason,
            message=p.message, start_time=p.start_time, ready_since=p.ready_since,
            terminating=p.terminating,
            pod_ip=_pod_ip(self.d, first), waiting=p.waiting, last_exit=p.last_exit,
        )  # fmt: skip

    async def restart_container(self, namespace: str, name: str, container: str) -> None:
        p = self._pods.get(_key(namespace, name))
        if p is None:
            raise NotFound(f'pod "{name}": not found')
        cid = p.ids.get(container)
        if cid is None:
            raise NotFound(f'pod "{name}": no container {container}')
        p.restarting.add(container)
        self._event(p, NORMAL, "Killing",
                    f"Container {container} failed liveness probe, will be restarted",
                    container=container)  # fmt: skip
        p.flags[container] = (False, False)
        p.restarts[container] = p.restarts.get(container, 0) + 1
        self._update_ready(p)

        async def again() -> None:
            try:
                await self._stop_one(cid, p.pod.spec.termination_grace_period_seconds)
                if not p.terminating:
                    p.exited.discard(container)
                    await self.d.start(cid)
            except DockyardError as e:
                p.reason = _reason_of(e)
            finally:
                p.restarting.discard(container)
                self.on_change()

        self._spawn(again())

    async def set_container_status(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        started: bool | None = None,
        ready: bool | None = None,
    ) -> None:
        p = self._pods.get(_key(namespace, name))
        if p is None:
            raise NotFound(f'pod "{name}": not found')
        old = p.flags.get(container, (False, False))
        p.flags[container] = (
            old[0] if started is None else started,
            old[1] if ready is None else ready,
        )
        if self._update_ready(p):
            self.on_change()

    def _update_ready(self, p: _Pod) -> bool:
        ready = self._observe(p).ready
        if ready != p.was_ready:
            p.was_ready = ready
            p.ready_since = self.clock()
            # the pod's readiness as an event (``dockyard events``: what the drain tests and
            # the bench time a kill's recovery with)
            self.d.events.emit("pod", "ready" if ready else "unready", p.pod.metadata.name,
                               {"namespace": p.pod.metadata.namespace or "default"})  # fmt: skip
            return True
        return False

    # -- probes ------------------------------------------------------------------------

    async def probe(self, pod: ObservedPod, container: str, kind: str, probe: Probe) -> bool:
        from dockyard.orchestrator.probes import probe_target

        p = self._pods.get(_key(pod.namespace, pod.name))
        if p is None:
            return False
        c = next((x for x in p.pod.spec.containers if x.name == container), None)
        cid = p.ids.get(container)
        if c is None or cid is None:
            return False
        try:
            target = probe_target(c, probe, pod.pod_ip)
        except InvalidArgument:
            return False
        if target.kind == "exec":
            code = await self._exec(cid, list(target.command), target.timeout)
            return code == 0
        first = p.ids.get(p.pod.spec.containers[0].name, cid)
        try:
            rec = self.d.get(first)
        except NotFound:
            return False
        if not rec.pid:
            return False
        from dockyard.orchestrator.engine_port import NetProbe

        netns = None if p.pod.spec.host_network else self.engine.netns_path(rec)
        request = NetProbe(target.kind, target.host or "127.0.0.1", target.port, target.path,
                           target.scheme, target.headers)  # fmt: skip
        try:
            return await asyncio.wait_for(self.engine.net_probe(netns, request), target.timeout)
        except (TimeoutError, OSError, DockyardError):
            return False

    async def _exec(self, cid: str, cmd: list[str], timeout: float) -> int:
        try:
            code, _out = await self.d.execs.run_captured(cid, cmd, timeout)
        except DockyardError:
            return -1
        return code

    # -- metrics -----------------------------------------------------------------------

    async def pod_metrics(self, namespace: str, name: str) -> PodMetrics | None:
        from dockyard.orchestrator.metrics import ContainerMetrics, PodMetrics

        p = self._pods.get(_key(namespace, name))
        if p is None:
            raise NotFound(f'pod "{name}": not found')
        per: dict[str, ContainerMetrics] = {}
        window, stamp = 0.0, 0.0
        for cname, cid in p.ids.items():
            rate = self.sampler.rate(cid)
            if rate is None:
                return None
            per[cname] = ContainerMetrics(rate[0], self.memory.get(cid, 0))
            window, stamp = max(window, rate[1]), max(stamp, rate[2])
        if not per or len(per) < len(p.pod.spec.containers):
            return None
        return PodMetrics(
            sum(m.cpu_millicores for m in per.values()),
            sum(m.memory_bytes for m in per.values()),
            stamp,
            window,
            per,
        )

    def metrics_now(self) -> dict[tuple[str, str], PodMetrics | None]:
        """Every pod's metrics, synchronously (``top``, ``/metrics``)."""
        out: dict[tuple[str, str], PodMetrics | None] = {}
        for key in sorted(self._pods):
            try:
                out[key] = _sync(self.pod_metrics(*key))
            except NotFound:
                continue
        return out

    async def _sample_forever(self) -> None:
        while True:
            try:
                await self._sample_once()
                self._admit_pending()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # sampling must never stop
                print(f"dockyardd: pod metrics: {type(e).__name__}: {e}", flush=True)
            await asyncio.sleep(self.sample_interval)

    async def _sample_once(self) -> None:
        running = []
        for p in self._pods.values():
            for cid in p.ids.values():
                try:
                    rec = self.d.get(cid)
                except NotFound:
                    continue
                if rec.status == "running":
                    running.append(cid)
        if not running:
            return
        for cid, u in (await self.engine.usage(running)).items():
            self.sampler.add(cid, u.stamp, u.cpu_ns)
            self.memory[cid] = u.working_set

    def _admit_pending(self) -> None:
        for key in sorted(self._pods, key=lambda k: self._pods[k].created):
            p = self._pods[key]
            if not p.scheduled and not p.terminating:
                self._admit(p)
                if p.scheduled:
                    self.on_change()

    # -- config maps, secrets, volumes -------------------------------------------------

    def _pod_resolv(self, pod: Pod) -> ResolvConf | None:
        from dockyard.network import parse_resolv_conf
        from dockyard.orchestrator.clusterdns import pod_resolv

        try:
            with open("/etc/resolv.conf") as f:
                host = parse_resolv_conf(f.read())
        except OSError:
            host = parse_resolv_conf("")
        return pod_resolv(pod, self.cluster_dns, host)

    def _resolve_data(self, kind: str, ns: str, name: str) -> dict[str, bytes] | None:
        import base64

        from dockyard.orchestrator.objects import ConfigMap, Secret

        if self.store is None:
            return None
        try:
            if kind == "ConfigMap":
                cm = self.store.get(ConfigMap, ns, name)
                data = {k: v.encode() for k, v in (cm.data or {}).items()}
                data.update({k: base64.b64decode(v) for k, v in (cm.binary_data or {}).items()})
                return data
            s = self.store.get(Secret, ns, name)
            return {k: base64.b64decode(v) for k, v in (s.data or {}).items()}
        except NotFound:
            return None

    def _resolve_key(self, kind: str, ns: str, name: str, key: str) -> str | None:
        data = self._resolve_data(kind, ns, name)
        if data is None or key not in data:
            return None
        return data[key].decode(errors="replace")

    def _pod_dir(self, p: _Pod) -> Path:
        return self.d.root / "pods" / (p.pod.metadata.uid or p.pod.metadata.name)

    def _volume_dir(self, p: _Pod, volume: str) -> str:
        v = next(x for x in p.pod.spec.volumes if x.name == volume)
        if v.config_map is not None:
            kind, name, items = "ConfigMap", v.config_map.name, v.config_map.items
            optional, mode = v.config_map.optional, v.config_map.default_mode
        else:
            assert v.secret is not None
            kind, name, items = "Secret", v.secret.secret_name, v.secret.items
            optional, mode = v.secret.optional, v.secret.default_mode
        data = self._resolve_data(kind, p.pod.metadata.namespace or "default", name)
        if data is None:
            if not optional:
                raise InvalidArgument(f'volume "{volume}": {kind.lower()} "{name}" not found')
            data = {}
        from dockyard.engine.volumes import write_object_volume

        target = self._pod_dir(p) / "volumes" / volume
        files = (
            {i.path: (data.get(i.key, b""), mode if i.mode is None else i.mode) for i in items}
            if items
            else {k: (v, mode) for k, v in data.items()}
        )
        # a Secret's files on a tmpfs (never on disk), as the kubelet's
        write_object_volume(target, files, memory=kind == "Secret", where=f'volume "{volume}"')
        return str(target)

    def _empty_dirs(self, p: _Pod) -> None:
        """Each emptyDir's mode and group (``empty_dir_access``), once its containers are
        created (the engine made the directory, shifted into the pod's user namespace)."""
        first = p.ids.get(p.pod.spec.containers[0].name) if p.pod.spec.containers else None
        rng = None
        with contextlib.suppress(DockyardError):
            u = config_of(self.d.get(first)).userns if first else None
            rng = u.range if u is not None else None
        mode, gid = empty_dir_access(p.pod, rng)
        if not mode:
            return
        for v in p.pod.spec.volumes:
            if v.empty_dir is None:
                continue
            with contextlib.suppress(DockyardError, OSError):  # (a tmpfs one has no volume)
                path = self.d.volumes.get(_empty_dir_volume(p.pod, v.name)).path
                if gid is not None:
                    os.chown(path, -1, gid)
                os.chmod(path, mode)

    def _cleanup_volumes(self, p: _Pod) -> None:
        import shutil

        from dockyard.engine.volumes import release_object_volume

        for v in p.pod.spec.volumes:
            if v.secret is not None:
                with contextlib.suppress(Exception):
                    release_object_volume(self._pod_dir(p) / "volumes" / v.name)
        shutil.rmtree(self._pod_dir(p), ignore_errors=True)
        for v in p.pod.spec.volumes:
            if v.empty_dir is not None:
                with contextlib.suppress(Exception):
                    self.d.volumes.remove(_empty_dir_volume(p.pod, v.name), force=True)


# ---------------------------------------------------------------------- helpers


def _uid() -> str:
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _reason_of(e: DockyardError) -> str:
    text = str(e)
    if isinstance(e, NotFound) and "image" in text.lower():
        return "ErrImageNeverPull"
    return "CreateContainerError"


def _node_allocatable() -> tuple[int, int]:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return (cpus or 1) * 1000, int(mem)


def _pod_ip(d: Daemon, rec: ContainerRecord | None) -> str | None:
    """The address networking gave the pod's first container, if any."""
    if rec is None or d.net is None or rec.status not in ("running", "paused"):
        return None
    try:
        eps = d.net.endpoints(container_id=rec.id)
    except DockyardError:
        return None
    for ep in eps:
        addr = getattr(ep, "address", "")
        if addr:
            return str(addr).split("/")[0]
    return None


def _sync(coro: Any) -> Any:
    """Run a coroutine that never awaits anything (pod_metrics) to completion."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("coroutine suspended")


# ---------------------------------------------------------------------- daemon wiring


class Orchestrator:
    """What :func:`attach_orchestrator` adds to a daemon: store, backend, manager."""

    def __init__(self, daemon: Daemon, hpa_sync_period: float = 15.0) -> None:
        from dockyard.engine.podsupport import PodSupport
        from dockyard.orchestrator.controllers import build_manager
        from dockyard.orchestrator.sqlite_store import SqliteObjectStore

        self.daemon = daemon
        # the engine's side of engine_port.py (EnginePort and ServiceNetworking)
        self.support = PodSupport(daemon)
        self.store: SqliteObjectStore = SqliteObjectStore(self.support.state_db())
        self.backend = EnginePodBackend(
            daemon, self.store, engine=self.support,
            metrics_window=max(2.0, min(15.0, hpa_sync_period * 2)),
        )  # fmt: skip
        self.events = self.backend.events  # one log: the pods' and the controllers' events
        self.manager: Manager = build_manager(
            self.store, self.backend, hpa_sync_period=hpa_sync_period, events=self.events
        )
        self.backend.on_change = self._changed
        self.listeners: list[Callable[[], None]] = []  # also told of every pod change
        self.services: ServicesController | None = None  # controllers/services.py, by start()
        self.cluster_dns: DnsResponder | None = None  # for cluster.local, started by start()
        self.netpol: NetworkPolicyController | None = None  # controllers/networkpolicy.py
        self.hpa_sync_period = hpa_sync_period
        self.errors: list[str] = []
        self.manager.on_error = self._on_error
        self._tasks: list[asyncio.Task[Any]] = []

    def _on_error(self, controller: str, key: tuple[str, str], error: DockyardError) -> None:
        line = f"{controller} {key[0]}/{key[1]}: {error}"
        if not self.errors or self.errors[-1] != line:
            self.errors.append(line)
            del self.errors[:-50]
            print(f"dockyardd: reconcile {line}", flush=True)

    async def start(self) -> None:
        from dockyard.orchestrator.controllers import SystemClock
        from dockyard.orchestrator.controllers.services import start_cluster_dns

        self.store.list(_deployment_cls())  # load (and create) the tables now
        self.cluster_dns = await start_cluster_dns(self.support)
        if self.cluster_dns is not None:
            self.backend.cluster_dns = self.cluster_dns.address[0]
        self.backend.restore()
        self.backend.start()
        self._tasks.append(asyncio.ensure_future(self.manager.run_forever(SystemClock())))
        self._tasks.append(asyncio.ensure_future(self._watch_events()))
        self._start_network_controllers()

    def _changed(self) -> None:
        self.manager.notify()
        for listener in self.listeners:
            listener()

    def _service_event(self, action: str, name: str, attributes: Mapping[str, str]) -> None:
        """A Service's endpoints changed (``service endpoints``, name ``ns/svc:port/proto``)
        or a pod was drained (``pod drained``: connections still ``open`` at the end)."""
        typ = "pod" if action == "drained" else "service"
        self.daemon.events.emit(typ, action, name, dict(attributes))

    def _start_network_controllers(self) -> None:
        from dockyard.orchestrator.controllers.networkpolicy import attach_netpol
        from dockyard.orchestrator.controllers.services import attach_services

        try:
            self.services = attach_services(self.support, self.store, self.backend,
                                            self.cluster_dns)  # fmt: skip
        except DockyardError as e:
            print(f"dockyardd: services controller unavailable: {e}", flush=True)
        if self.services is not None:  # endpoint changes and drains in `dockyard events`
            self.services.on_event = self._service_event
        try:
            self.netpol = attach_netpol(self.support, self.store, self.backend)
        except DockyardError as e:
            print(f"dockyardd: netpol controller unavailable: {e}", flush=True)
        for ctrl in (self.services, self.netpol):
            if ctrl is None:
                continue
            self.listeners.append(ctrl.notify)
            self.store.watch(ctrl.notify)
            self._tasks.append(asyncio.ensure_future(ctrl.run_forever()))
        if self.services is not None:
            self.backend.drain_hooks.append(self.services.drain)
            self.backend.exit_hooks.append(self.services.endpoint_died)
        self.daemon.exit_listeners.append(self.backend.container_exited)

    async def _watch_events(self) -> None:
        q = self.daemon.events.subscribe()
        try:
            while True:
                ev = await q.get()
                wanted = ev.get("Action") in ("start", "die", "destroy")
                if (
                    wanted
                    and ev.get("Type") == "container"
                    and self.backend.owns(str(ev.get("id")))
                ):
                    self._changed()
        finally:
            self.daemon.events.unsubscribe(q)

    def close(self) -> None:
        self.manager.stop()
        for ctrl in (self.services, self.netpol):
            if ctrl is not None:
                ctrl.stop()
        for t in self._tasks:
            t.cancel()
        if self.cluster_dns is not None:
            self.cluster_dns.shutdown()
        self.backend.close()
        if self.services is not None:  # keep serving the rules; free the node port sockets
            with contextlib.suppress(Exception):
                self.services.proxy.release()


def _deployment_cls() -> type[Any]:
    from dockyard.orchestrator.objects import Deployment

    return Deployment


def attach_orchestrator(daemon: Daemon, hpa_sync_period: float = 15.0) -> Orchestrator:
    """Create the orchestrator of an opened ``daemon``; the caller registers its API
    routes (``api/objects.py``) and awaits :meth:`Orchestrator.start`."""
    orch = Orchestrator(daemon, hpa_sync_period)
    daemon.orchestrator = orch
    return orch
