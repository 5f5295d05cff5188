"""``dockyard builder prune``: forget the build cache and free what only it kept.

Steps:

1. delete every cache record (``buildcache/cache.db``);
2. delete the ``RUN --mount=type=cache`` directories, and the step work dirs
   that a killed build left behind (a dir with a mount below it belongs to a
   running build and is kept);
3. garbage-collect the store (:func:`dockyard.store.gc.prune`, under the
   store's exclusive lock): the layer blobs and snapshots that no image
   references — those only the cache kept — go.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.store.images import ImageStore

__all__ = ["PruneResult", "prune_cache"]


@dataclass
class PruneResult:
    records: int
    reclaimed: int


def _size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            continue
    return total


def _mounted_below(under: Path) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4].startswith(str(under) + "/") for line in f)
    except OSError:
        return True


def prune_cache(store: ImageStore) -> PruneResult:
    """Empty the build cache of ``store``'s root; see the module docstring."""
    from dockyard.build.cache import BuildCache
    from dockyard.store.gc import prune

    cache = BuildCache(store.root)
    try:
        records = cache.prune() if (cache.dir / "cache.db").exists() else 0
    finally:
        cache.close()
    reclaimed = 0
    dirs = [cache.dir / "mounts"]
    if (cache.dir / "work").is_dir():
        dirs += sorted((cache.dir / "work").iterdir())
    for d in dirs:
        if d.is_dir() and not _mounted_below(d):
            reclaimed += _size(d)
            shutil.rmtree(d, ignore_errors=True)
    report = prune(store)
    return PruneResult(records, reclaimed + report.reclaimed)
