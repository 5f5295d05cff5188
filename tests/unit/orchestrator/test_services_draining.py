"""Issue 23 on fakes: a drained pod waits for its connections even when it already left the
maps, and a dead endpoint leaves them from the exit event, without a reconcile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_services_controller import WEB, make, pod, service

from dockyard.orchestrator.controllers import services as sc


def test_drain_waits_for_open_connections_after_an_earlier_reconcile_dropped_the_pod(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = pod("a", "10.0.0.2", WEB), pod("b", "10.0.0.3", WEB)
    ctrl, store, _proxy, backend = make([a, b])
    ctrl.drain_seconds = 5.0
    store.create(service())
    asyncio.run(ctrl.reconcile())
    # the pod is marked terminating: the loop's reconcile drops it before the drain hook runs
    backend.items = [pod("a", "10.0.0.2", WEB, terminating=True), b]
    asyncio.run(ctrl.reconcile())
    assert ctrl.endpoint_addresses() == {"10.0.0.3"}
    looks: list[str] = []
    answers = iter([2, 1, 0])

    def live(netns: str) -> int:
        looks.append(netns)
        return next(answers)

    monkeypatch.setattr(sc, "open_connections", live)
    backend.pod_netns = lambda ns, name: f"/run/netns/{name}"  # type: ignore[attr-defined]
    # the backend still reports its address (the drain looks it up before the stop)
    backend.items = [pod("a", "10.0.0.2", WEB, terminating=True), b]
    asyncio.run(ctrl.drain("default", "a"))
    assert looks == ["/run/netns/a"] * 3  # asked until no connection was open, then returned


def test_drain_of_a_pod_that_never_served_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    a = pod("a", "10.0.0.2", WEB, ready=False)
    ctrl, store, _proxy, _backend = make([a])
    ctrl.drain_seconds = 5.0
    store.create(service())
    asyncio.run(ctrl.reconcile())

    def live(netns: str) -> int:
        raise AssertionError("no wait for a pod that was no endpoint")

    monkeypatch.setattr(sc, "open_connections", live)
    asyncio.run(ctrl.drain("default", "a"))


def test_a_dead_endpoint_leaves_at_once_and_its_conntrack_entries_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = pod("a", "10.0.0.2", WEB), pod("b", "10.0.0.3", WEB)
    ctrl, store, proxy, backend = make([a, b])
    store.create(service())
    asyncio.run(ctrl.reconcile())
    forgotten: list[str] = []
    monkeypatch.setattr(sc, "forget_address", lambda addr: forgotten.append(addr) or 1)

    async def no_listing(*_: Any, **__: Any) -> list[Any]:
        raise AssertionError("the exit path lists nothing")

    backend.list_pods = no_listing  # type: ignore[method-assign]
    asyncio.run(ctrl.endpoint_died("default", "a", "10.0.0.2"))
    assert ctrl.endpoint_addresses() == {"10.0.0.3"}
    assert [ep.address for ep in proxy.calls[-1][0].endpoints] == ["10.0.0.3"]
    assert forgotten == ["10.0.0.2"]
    # an address that is no endpoint (drained before it died): conntrack only, no sync
    calls = len(proxy.calls)
    asyncio.run(ctrl.endpoint_died("default", "a", "10.0.0.2"))
    assert len(proxy.calls) == calls and forgotten == ["10.0.0.2"] * 2


def test_after_the_exit_a_reconcile_does_not_bring_the_pod_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = pod("a", "10.0.0.2", WEB), pod("b", "10.0.0.3", WEB)
    ctrl, store, _proxy, backend = make([a, b])
    store.create(service())
    asyncio.run(ctrl.reconcile())
    monkeypatch.setattr(sc, "forget_address", lambda addr: 0)
    asyncio.run(ctrl.endpoint_died("default", "a", "10.0.0.2"))
    # the backend reports the pod not ready from the exit event on (EnginePodBackend.exited)
    backend.items = [pod("a", "10.0.0.2", WEB, ready=False), b]
    asyncio.run(ctrl.reconcile())
    assert ctrl.endpoint_addresses() == {"10.0.0.3"}
