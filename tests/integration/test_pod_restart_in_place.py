"""A pod's exited container is restarted in place, as the kubelet does (issue 23), also
when it exited while no daemon ran: the next daemon restarts it at its start, in the same
pod. (The restart itself, its timing and CrashLoopBackOff under load:
``test_endpoints_drain.py::test_killed_replicas_leave_the_maps_at_once``.)"""

from __future__ import annotations

import os
import signal

import pytest
from daemon_kit import IMAGE_CACHE, wait_dead
from kube_kit import KubeDaemon, kube, wait_until, web_deployment

pytestmark = [pytest.mark.root, pytest.mark.slow]
__all__ = ["kube"]


def _restarts(kube: KubeDaemon, name: str) -> int:
    statuses = kube.get("pod", name)["status"].get("containerStatuses") or []
    return sum(int(c.get("restartCount") or 0) for c in statuses)


def test_a_container_that_exited_while_no_daemon_ran_is_restarted_at_start(
    kube: KubeDaemon,
) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    assert kube.apply(web_deployment(replicas=1)).returncode == 0
    (name,) = wait_until(lambda: kube.ready_pods("app=web"), 60, "the pod ready")
    pid = int(kube.out("inspect", "-f", "{{.State.Pid}}", name))
    daemon = kube.pid_of("dockyard.pid")
    assert daemon > 0
    os.kill(daemon, signal.SIGKILL)
    wait_dead(daemon)
    if kube.daemon is not None:
        kube.daemon.wait()
    os.kill(pid, signal.SIGKILL)  # no daemon runs: its holder keeps the exit
    (kube.run_root / "dockyard.sock").unlink(missing_ok=True)
    kube.start()

    def back() -> bool:
        pods = kube.pods("app=web")
        return [p["metadata"]["name"] for p in pods] == [name] and bool(kube.ready_pods("app=web"))

    wait_until(back, 60, "the same pod ready again")
    assert _restarts(kube, name) == 1
    assert int(kube.out("inspect", "-f", "{{.State.Pid}}", name)) != pid
