"""v2 pids: the files are those of v1 (``pids.max``, ``pids.current``)."""

from __future__ import annotations

from dockyard.cgroups.v1.pids import CONTROLLER, apply, stats

__all__ = ["CONTROLLER", "apply", "stats"]
