"""Container probes as pure state machines: liveness, readiness, startup.

Vocabulary (the kubelet's prober):

* a *probe* is one handler (exec, httpGet, tcpSocket, grpc) and its timing;
  ``timeoutSeconds`` is the runner's business (a probe that does not answer in time
  is a failure);
* a probe's *result* only changes after ``successThreshold`` successes or
  ``failureThreshold`` failures in a row; liveness starts as success, readiness and
  startup as failure;
* a *container instance* is one run of a container (its start time and restart
  count); a new instance starts with fresh probe state;
* the first attempt of each probe is due ``initialDelaySeconds`` after the instance
  started, the next ``periodSeconds`` after the previous attempt;
* while a startup probe has not succeeded, only it runs; once it has, it never runs
  again for that instance, and liveness and readiness start;
* a liveness (or startup) failure asks for a restart of the container; the machine
  then holds (runs nothing) until a new instance appears.

A container is *started* when it has no startup probe or it succeeded, and *ready*
when started and its readiness result is success (no readiness probe: always).

Example, readiness ``periodSeconds: 5, failureThreshold: 2``, started at t=100::

    s = new_container_probes(container, started_at=100.0)
    due(s, 100.0)                          -> ["readiness"]   (no initial delay)
    s, _ = observe(s, "readiness", True, 100.0)   s.ready -> True
    due(s, 104.0) -> []; due(s, 105.0)     -> ["readiness"]
    s, _ = observe(s, "readiness", False, 105.0)  s.ready -> True (1 failure of 2)
    s, _ = observe(s, "readiness", False, 110.0)  s.ready -> False

:func:`probe_target` resolves what the runner must contact (named ports, the pod IP).
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.records import record, replace

from .objects import Container, Probe

__all__ = [
    "LIVENESS",
    "READINESS",
    "RESTART",
    "STARTUP",
    "ContainerProbes",
    "ProbeState",
    "ProbeTarget",
    "due",
    "new_container_probes",
    "next_due",
    "observe",
    "probe_target",
]

LIVENESS, READINESS, STARTUP = "liveness", "readiness", "startup"
RESTART = "restart"


@record
class ProbeState:
    """One probe of one container instance."""

    probe: Probe
    result: bool  # the current result (success or failure)
    successes: int = 0  # consecutive
    failures: int = 0  # consecutive
    next_at: float = 0.0  # when the next attempt is due


@record
class ContainerProbes:
    """All probes of one container instance, ``instance`` = (started_at, restart_count)."""

    container: str
    instance: tuple[float, int]
    startup: ProbeState | None = None
    liveness: ProbeState | None = None
    readiness: ProbeState | None = None
    held: bool = False  # a restart was asked for: nothing runs until a new instance

    @property
    def started(self) -> bool:
        return self.startup is None or self.startup.result

    @property
    def ready(self) -> bool:
        if self.held or not self.started:
            return False
        return self.readiness is None or self.readiness.result


def _state(probe: Probe | None, initial: bool, started_at: float) -> ProbeState | None:
    if probe is None:
        return None
    return ProbeState(probe, initial, next_at=started_at + probe.initial_delay_seconds)


def new_container_probes(
    container: Container, started_at: float, restart_count: int = 0
) -> ContainerProbes:
    """Fresh state for a container instance that started at ``started_at``."""
    return ContainerProbes(
        container.name,
        (started_at, restart_count),
        startup=_state(container.startup_probe, False, started_at),
        liveness=_state(container.liveness_probe, True, started_at),
        readiness=_state(container.readiness_probe, False, started_at),
    )


def _get(s: ContainerProbes, kind: str) -> ProbeState | None:
    if kind == STARTUP:
        return s.startup
    if kind == LIVENESS:
        return s.liveness
    if kind == READINESS:
        return s.readiness
    raise InvalidArgument(f"probe kind {kind!r}: must be liveness, readiness or startup")


def _running(s: ContainerProbes) -> list[tuple[str, ProbeState]]:
    """The probes that may run now (by the gating rules), with their state."""
    if s.held:
        return []
    if s.startup is not None and not s.startup.result:
        return [(STARTUP, s.startup)]
    pairs = [(LIVENESS, s.liveness), (READINESS, s.readiness)]
    return [(kind, st) for kind, st in pairs if st is not None]


def due(s: ContainerProbes, now: float) -> list[str]:
    """The probes to run at ``now``."""
    return [kind for kind, st in _running(s) if st.next_at <= now]


def next_due(s: ContainerProbes) -> float | None:
    """When the next probe of this instance is due (None: nothing will run)."""
    times = [st.next_at for _, st in _running(s)]
    return min(times) if times else None


def _step(st: ProbeState, success: bool, now: float) -> ProbeState:
    p = st.probe
    if success:
        n = st.successes + 1
        result = st.result or n >= max(p.success_threshold, 1)
        return replace(st, result=result, successes=n, failures=0, next_at=now + p.period_seconds)
    n = st.failures + 1
    result = st.result and n < max(p.failure_threshold, 1)
    return replace(st, result=result, successes=0, failures=n, next_at=now + p.period_seconds)


def observe(
    s: ContainerProbes, kind: str, success: bool, now: float
) -> tuple[ContainerProbes, str | None]:
    """Feed one result; returns the new state and :data:`RESTART` when the container must
    be restarted (liveness or startup reached its failure threshold)."""
    st = _get(s, kind)
    if st is None or s.held:
        return s, None
    new = _step(st, success, now)
    s = replace(s, **{kind: new})
    if kind in (LIVENESS, STARTUP) and new.failures >= max(new.probe.failure_threshold, 1):
        return replace(s, held=True), RESTART
    return s, None


# -- what to contact -------------------------------------------------------------------


@record
class ProbeTarget:
    """A probe resolved against its pod: ``kind`` exec, http, tcp or grpc."""

    kind: str
    timeout: float
    command: tuple[str, ...] = ()
    host: str | None = None
    port: int = 0
    path: str = "/"
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()
    service: str | None = None


def _port(container: Container, port: int | str) -> int:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.ports:
        if p.name == port:
            return p.container_port
    raise InvalidArgument(f"probe of container {container.name}: no port named {port!r}")


def probe_target(container: Container, probe: Probe, pod_ip: str | None) -> ProbeTarget:
    """What the runner contacts: named ports resolved, the host defaulting to the pod IP.
    InvalidArgument when no handler is set or a named port is unknown."""
    timeout = float(max(probe.timeout_seconds, 1))
    if probe.exec_ is not None:
        return ProbeTarget("exec", timeout, command=probe.exec_.command)
    if probe.http_get is not None:
        h = probe.http_get
        return ProbeTarget(
            "http",
            timeout,
            host=h.host or pod_ip,
            port=_port(container, h.port),
            path=h.path or "/",
            scheme=h.scheme,
            headers=tuple((x.name, x.value) for x in h.http_headers),
        )
    if probe.tcp_socket is not None:
        t = probe.tcp_socket
        return ProbeTarget("tcp", timeout, host=t.host or pod_ip, port=_port(container, t.port))
    if probe.grpc is not None:
        return ProbeTarget(
            "grpc", timeout, host=pod_ip, port=probe.grpc.port, service=probe.grpc.service
        )
    raise InvalidArgument(f"probe of container {container.name}: no handler")
