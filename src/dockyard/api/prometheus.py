"""The daemon's ``GET /metrics`` in the Prometheus text exposition format (version 0.0.4).

:func:`exposition` is pure: it formats what the handler gathered from the orchestrator —
each pod's usage (``PodMetrics``: CPU millicores over the sampling window, memory working set),
each pod's readiness, each Deployment's replicas by state, and the count of reconcile keys
currently failing. Families, in order::

    dockyard_pod_cpu_millicores{namespace,pod}                      gauge
    dockyard_pod_memory_working_set_bytes{namespace,pod}            gauge
    dockyard_pod_ready{namespace,pod,phase}                         gauge (0 or 1)
    dockyard_deployment_replicas{namespace,deployment,state}        gauge (desired, ready,
                                                                    available)
    dockyard_controller_errors                                      gauge
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["exposition"]


def _pod_usage(metrics: Mapping[tuple[str, str], Any]) -> list[str]:
    lines = [
        "# HELP dockyard_pod_cpu_millicores CPU used by a pod over the sampling window.",
        "# TYPE dockyard_pod_cpu_millicores gauge",
    ]
    for (ns, name), m in metrics.items():
        if m is not None:
            lines.append(f'dockyard_pod_cpu_millicores{{namespace="{ns}",pod="{name}"}} '
                         f"{m.cpu_millicores}")  # fmt: skip
    lines += [
        "# HELP dockyard_pod_memory_working_set_bytes Memory working set of a pod.",
        "# TYPE dockyard_pod_memory_working_set_bytes gauge",
    ]
    for (ns, name), m in metrics.items():
        if m is not None:
            lines.append(f'dockyard_pod_memory_working_set_bytes{{namespace="{ns}",pod="{name}"}} '
                         f"{m.memory_bytes}")  # fmt: skip
    return lines


def _pods_ready(pods: Iterable[Any]) -> list[str]:
    lines = [
        "# HELP dockyard_pod_ready Whether a pod is ready.",
        "# TYPE dockyard_pod_ready gauge",
    ]
    for p in pods:
        lines.append(f'dockyard_pod_ready{{namespace="{p.namespace}",pod="{p.name}",'
                     f'phase="{p.phase}"}} {int(p.ready)}')  # fmt: skip
    return lines


def _deployments(deployments: Iterable[Any]) -> list[str]:
    lines = ["# HELP dockyard_deployment_replicas Replicas of a Deployment by state.",
             "# TYPE dockyard_deployment_replicas gauge"]  # fmt: skip
    for d in deployments:
        st = d.status
        for what, value in (("desired", d.spec.replicas), ("ready", st.ready_replicas if st else 0),
                            ("available", st.available_replicas if st else 0)):  # fmt: skip
            labels = f'namespace="{d.metadata.namespace}",deployment="{d.metadata.name}"'
            lines.append(f'dockyard_deployment_replicas{{{labels},state="{what}"}} {value or 0}')
    return lines


def exposition(
    metrics: Mapping[tuple[str, str], Any],
    pods: Iterable[Any],
    deployments: Iterable[Any],
    controller_errors: int,
) -> str:
    """The ``/metrics`` page: ``metrics`` maps (namespace, pod) to its usage (None: not
    sampled yet, left out), ``pods`` are ``ObservedPod``s, ``deployments`` Deployments."""
    lines = _pod_usage(metrics) + _pods_ready(pods) + _deployments(deployments)
    lines += ["# HELP dockyard_controller_errors Reconcile keys currently failing.",
              "# TYPE dockyard_controller_errors gauge",
              f"dockyard_controller_errors {controller_errors}"]  # fmt: skip
    return "\n".join(lines) + "\n"
