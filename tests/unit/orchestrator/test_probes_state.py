"""The probe state machines, table by table (pure: no backend, no clock)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.orchestrator.objects import (
    Container,
    ContainerPort,
    ExecAction,
    HTTPGetAction,
    HTTPHeader,
    Probe,
    TCPSocketAction,
)
from dockyard.orchestrator.probes import (
    LIVENESS,
    READINESS,
    RESTART,
    STARTUP,
    ContainerProbes,
    due,
    new_container_probes,
    next_due,
    observe,
    probe_target,
)

EXEC = ExecAction(("true",))


def probe(period: int = 10, delay: int = 0, failures: int = 3, successes: int = 1) -> Probe:
    return Probe(
        exec_=EXEC,
        period_seconds=period,
        initial_delay_seconds=delay,
        failure_threshold=failures,
        success_threshold=successes,
    )


def run(s: ContainerProbes, kind: str, results: list[bool], start: float, period: float
        ) -> tuple[ContainerProbes, list[str | None]]:  # fmt: skip
    actions = []
    for i, ok in enumerate(results):
        s, action = observe(s, kind, ok, start + i * period)
        actions.append(action)
    return s, actions


def test_no_probes_means_started_and_ready() -> None:
    s = new_container_probes(Container(name="c"), 100.0)
    assert (s.started, s.ready, due(s, 100.0), next_due(s)) == (True, True, [], None)


def test_initial_delay_then_period() -> None:
    s = new_container_probes(Container(name="c", readiness_probe=probe(5, delay=3)), 100.0)
    assert due(s, 102.9) == []
    assert due(s, 103.0) == [READINESS]
    s, _ = observe(s, READINESS, True, 103.0)
    assert due(s, 107.9) == [] and due(s, 108.0) == [READINESS]
    assert next_due(s) == 108.0


@pytest.mark.parametrize(
    ("successes", "failures", "results", "ready_after_each"),
    [
        (1, 3, [True], [True]),
        (1, 3, [True, False, False, False], [True, True, True, False]),
        (1, 3, [True, False, False, True, False], [True, True, True, True, True]),
        (2, 1, [True, True, False, True, True], [False, True, False, False, True]),
        (1, 1, [False, True, False], [False, True, False]),
    ],
)
def test_readiness_toggles_on_thresholds(
    successes: int, failures: int, results: list[bool], ready_after_each: list[bool]
) -> None:
    c = Container(name="c", readiness_probe=probe(failures=failures, successes=successes))
    s = new_container_probes(c, 0.0)
    assert not s.ready
    seen = []
    for i, ok in enumerate(results):
        s, action = observe(s, READINESS, ok, i * 10.0)
        assert action is None  # readiness never restarts
        seen.append(s.ready)
    assert seen == ready_after_each


def test_liveness_restarts_after_failure_threshold_then_holds() -> None:
    s = new_container_probes(Container(name="c", liveness_probe=probe(failures=3)), 0.0)
    assert s.ready  # no readiness probe
    s, actions = run(s, LIVENESS, [False, False, True, False, False, False], 0.0, 10.0)
    assert actions == [None, None, None, None, None, RESTART]
    assert s.held and not s.ready and due(s, 1000.0) == [] and next_due(s) is None
    s2, action = observe(s, LIVENESS, False, 70.0)
    assert (s2, action) == (s, None)


def test_startup_gates_liveness_and_readiness() -> None:
    c = Container(
        name="c",
        startup_probe=probe(period=1, failures=30),
        liveness_probe=probe(period=10, delay=5),
        readiness_probe=probe(period=10),
    )
    s = new_container_probes(c, 0.0)
    assert due(s, 0.0) == [STARTUP]
    assert due(s, 50.0) == [STARTUP]  # liveness/readiness wait however long it takes
    s, _ = run(s, STARTUP, [False] * 5, 0.0, 1.0)
    assert not s.started and not s.ready
    s, _ = observe(s, STARTUP, True, 5.0)
    assert s.started and not s.ready
    assert due(s, 5.0) == [LIVENESS, READINESS]  # both overdue by now
    s, _ = observe(s, READINESS, True, 5.0)
    assert s.ready and STARTUP not in due(s, 100.0)


def test_startup_failure_threshold_restarts() -> None:
    s = new_container_probes(Container(name="c", startup_probe=probe(period=1, failures=2)), 0.0)
    s, actions = run(s, STARTUP, [False, False], 0.0, 1.0)
    assert actions == [None, RESTART]


def test_a_new_instance_starts_fresh() -> None:
    c = Container(name="c", readiness_probe=probe())
    s = new_container_probes(c, 200.0, restart_count=2)
    assert s.instance == (200.0, 2) and not s.ready


def test_unknown_kind_is_invalid() -> None:
    s = new_container_probes(Container(name="c"), 0.0)
    with pytest.raises(InvalidArgument, match="probe kind"):
        observe(s, "sometimes", True, 0.0)


# -- targets ---------------------------------------------------------------------------

WEB = Container(name="web", ports=(ContainerPort(8080, name="http"),))


@pytest.mark.parametrize(
    ("p", "kind", "host", "port", "path"),
    [
        (Probe(http_get=HTTPGetAction(path="/healthz", port="http")), "http", "10.0.0.5", 8080,
         "/healthz"),
        (Probe(http_get=HTTPGetAction(port=9000, host="127.0.0.1")), "http", "127.0.0.1", 9000,
         "/"),
        (Probe(tcp_socket=TCPSocketAction(port="8080")), "tcp", "10.0.0.5", 8080, "/"),
        (Probe(exec_=EXEC), "exec", None, 0, "/"),
    ],
)  # fmt: skip
def test_probe_target_resolves_ports_and_host(
    p: Probe, kind: str, host: str | None, port: int, path: str
) -> None:
    t = probe_target(WEB, p, "10.0.0.5")
    assert (t.kind, t.host, t.port, t.path, t.timeout) == (kind, host, port, path, 1.0)


def test_probe_target_headers_and_errors() -> None:
    p = Probe(http_get=HTTPGetAction(port=80, http_headers=(HTTPHeader("X-A", "1"),)))
    assert probe_target(WEB, p, None).headers == (("X-A", "1"),)
    with pytest.raises(InvalidArgument, match="no port named 'admin'"):
        probe_target(WEB, Probe(tcp_socket=TCPSocketAction(port="admin")), None)
    with pytest.raises(InvalidArgument, match="no handler"):
        probe_target(WEB, Probe(), None)
