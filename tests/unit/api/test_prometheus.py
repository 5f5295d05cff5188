"""The /metrics page (api/prometheus.py): families, labels and values from plain inputs."""

from __future__ import annotations

from types import SimpleNamespace as NS

from dockyard.api.prometheus import exposition


def test_exposition() -> None:
    metrics = {("default", "web-1"): NS(cpu_millicores=250, memory_bytes=1048576),
               ("default", "web-2"): None}  # fmt: skip
    pods = [NS(namespace="default", name="web-1", phase="Running", ready=True),
            NS(namespace="default", name="web-2", phase="Pending", ready=False)]  # fmt: skip
    status = NS(ready_replicas=1, available_replicas=None)
    deployments = [NS(metadata=NS(namespace="default", name="web"),
                      spec=NS(replicas=2), status=status),
                   NS(metadata=NS(namespace="shop", name="api"), spec=NS(replicas=1),
                      status=None)]  # fmt: skip
    text = exposition(metrics, pods, deployments, 3)
    assert text.endswith("\n")
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert samples == [
        'dockyard_pod_cpu_millicores{namespace="default",pod="web-1"} 250',
        'dockyard_pod_memory_working_set_bytes{namespace="default",pod="web-1"} 1048576',
        'dockyard_pod_ready{namespace="default",pod="web-1",phase="Running"} 1',
        'dockyard_pod_ready{namespace="default",pod="web-2",phase="Pending"} 0',
        'dockyard_deployment_replicas{namespace="default",deployment="web",state="desired"} 2',
        'dockyard_deployment_replicas{namespace="default",deployment="web",state="ready"} 1',
        'dockyard_deployment_replicas{namespace="default",deployment="web",state="available"} 0',
        'dockyard_deployment_replicas{namespace="shop",deployment="api",state="desired"} 1',
        'dockyard_deployment_replicas{namespace="shop",deployment="api",state="ready"} 0',
        'dockyard_deployment_replicas{namespace="shop",deployment="api",state="available"} 0',
        "dockyard_controller_errors 3",
    ]
    types = [line.split()[2:] for line in text.splitlines() if line.startswith("# TYPE")]
    assert [t[0] for t in types] == [
        "dockyard_pod_cpu_millicores", "dockyard_pod_memory_working_set_bytes",
        "dockyard_pod_ready", "dockyard_deployment_replicas", "dockyard_controller_errors",
    ]  # fmt: skip
    assert all(t[1] == "gauge" for t in types)
