"""Controllers: reconcile loops that turn stored objects into running pods.

* :mod:`.replicaset`: pods to match ``replicas``, self-healing, RS status;
* :mod:`.deployment`: rollouts through ReplicaSets (RollingUpdate, Recreate, undo,
  pause/resume, history, progress deadline) and ``rollout status``;
* :mod:`.hpa`: the HorizontalPodAutoscaler, every sync period;
* :mod:`.prober`: liveness, readiness and startup probes;
* :mod:`.manager`: the loop, an injected clock, backoff.

They read and write objects through :class:`..store.ObjectStore` and act on pods
through :class:`..backend.PodBackend`, which the daemon implements; see
``docs/controllers.md``.
"""

from __future__ import annotations

from .deployment import (
    DeploymentController,
    RolloutStatus,
    rollout_history,
    rollout_pause,
    rollout_restart,
    rollout_resume,
    rollout_status,
    rollout_undo,
    scale,
)
from .hpa import HPAController
from .manager import Backoff, Clock, Controller, FakeClock, Manager, SystemClock, build_manager
from .prober import ProbeController
from .replicaset import ReplicaSetController

__all__ = [
    "Backoff",
    "Clock",
    "Controller",
    "DeploymentController",
    "FakeClock",
    "HPAController",
    "Manager",
    "ProbeController",
    "ReplicaSetController",
    "RolloutStatus",
    "SystemClock",
    "build_manager",
    "rollout_history",
    "rollout_pause",
    "rollout_restart",
    "rollout_resume",
    "rollout_status",
    "rollout_undo",
    "scale",
]
