"""dockyard.build — Dockerfile parser, build planner and cache, executor, ``.dockerignore``.

The public entry points (imported lazily, so ``--print-ast`` stays light)::

    from dockyard.build import Builder, BuildOptions, prune_cache
    result = Builder(ImageStore(root), run_root).build(BuildOptions(context=Path(".")))

See ``docs/build.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.build.executor import Builder, BuildOptions, BuildResult
    from dockyard.build.prune import PruneResult, prune_cache

__all__ = ["BuildOptions", "BuildResult", "Builder", "PruneResult", "prune_cache"]

_LAZY = {
    "BuildOptions": "executor",
    "BuildResult": "executor",
    "Builder": "executor",
    "PruneResult": "prune",
    "prune_cache": "prune",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"dockyard.build.{module}"), name)
