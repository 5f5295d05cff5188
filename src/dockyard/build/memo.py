"""Replaying a build that would hit the cache at every step, without parsing it.

When every layer step of a build hits the cache, its image is a function of
inputs that are known before the Dockerfile is even parsed, plus a few that
can be checked cheaply.  After each build the executor records a *memo*; the
next build with the same memo key checks the memo and, when everything still
holds, writes the same image a full cache hit would write — without importing
the parser, planning, or touching any layer.

Key
---
sha256 of the Dockerfile's name and bytes, the context's absolute path, the
build args, ``--target``, ``--platform``, ``--base-map``, ``SOURCE_DATE_EPOCH``
and the host architecture (everything the step keys are computed from, other
than what the memo checks).

What a replay checks (recorded by :class:`Recorder` while the build ran)
-----------------------------------------------------------------------
* ``images``: every image the build resolved by name (FROM, ``--from``,
  ``RUN --mount=from=``) still resolves to the same image id;
* ``sources``: every context selection (COPY/ADD sources, bind mounts of the
  context) still selects the same paths with the same content checksums
  (:func:`dockyard.build.context.select`, file digests remembered by
  :class:`~dockyard.build.cache.FileSums`);
* ``records``: the cache records of every step key are unchanged (same layer,
  same time), and every layer they name is still in the content store.

A build that ``ADD``\\ s a URL without ``--checksum`` is never replayed (its key
needs the download).  ``--no-cache`` never replays.  ``dockyard builder prune``
forgets the memos with the records.

What a replay writes
--------------------
The recorded image config as it is, its manifest, and the tags; the progress
lines of a full cache hit (every step ``CACHED``) and the build's warnings.  The
image is byte for byte the one the full build made, so it has the same id, as
docker and BuildKit give for a rebuild in which every step is cached (a new
``created`` time here once made a new image at every rebuild, and dangling
``<none>`` images piled up).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.build.cache import FileSums
    from dockyard.build.context import SourceTree
    from dockyard.build.executor import Builder, BuildOptions, BuildResult

__all__ = ["MEMO_VERSION", "Recorder", "memo_key", "replay", "rfc3339", "save",
           "source_date_epoch"]  # fmt: skip

MEMO_VERSION = 1


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, or None when unset or not a number."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(raw) if raw.isdigit() else None


def rfc3339(ts: float) -> str:
    """``ts`` as BuildKit writes times: ``2024-01-02T03:04:05.000000Z``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Recorder:
    """What a build did that a replay must check or repeat (see the module docstring)."""

    def __init__(self) -> None:
        self.lines: list[list[str]] = []  # ["L", text]: a vertex line; ["C"]: it was CACHED
        self.images: list[list[str]] = []  # [name, image id]
        self.sources: list[list[Any]] = []  # [src, excludes, [[path, checksum]...], parents]
        self.keys: list[str] = []  # every layer step's key, in order
        self.now_stamps: set[str] = set()  # history times that were "now"
        self.replayable = True


def memo_key(filename: str, dockerfile: bytes, context: Path, opts: BuildOptions,
             arch: str) -> str:  # fmt: skip
    desc = [
        MEMO_VERSION, filename, hashlib.sha256(dockerfile).hexdigest(),
        os.path.abspath(context), sorted(opts.build_args.items()), opts.target or "",
        opts.platform, sorted(opts.base_map.items()), source_date_epoch(), arch,
        opts.network, sorted(opts.allow),
    ]  # fmt: skip
    data = json.dumps(desc, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode("utf-8", "surrogateescape")).hexdigest()


def _records(builder: Builder, keys: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    db = builder.cache._db()
    unique = sorted(set(keys))
    for i in range(0, len(unique), 500):
        part = unique[i : i + 500]
        marks = ",".join("?" * len(part))
        for key, layer, created in db.execute(
            f"SELECT key, layer, created FROM steps WHERE key IN ({marks})", part
        ):
            out[str(key)] = [layer, created]
    return out


def save(builder: Builder, key: str, rec: Recorder, config: bytes,
         layers: list[list[Any]], warnings: list[str]) -> None:  # fmt: skip
    """Record the memo of a finished build (the config as written, its layers)."""
    if not rec.replayable:
        return
    doc = json.loads(config)
    stamps = [i for i, h in enumerate(doc.get("history") or [])
              if h.get("created") in rec.now_stamps]  # fmt: skip
    value = {
        "lines": rec.lines, "images": rec.images, "sources": rec.sources,
        "records": _records(builder, rec.keys), "steps": len(rec.keys),
        "config": doc, "stamps": stamps, "layers": layers, "warnings": warnings,
    }  # fmt: skip
    builder.cache.put_memo(key, json.dumps(value, separators=(",", ":")))


def _still_holds(builder: Builder, memo: dict[str, Any], opts: BuildOptions,
                 context: SourceTree, sums: FileSums) -> bool:  # fmt: skip
    from dockyard.build.context import select
    from dockyard.errors import DockyardError
    from dockyard.oci.digest import parse_digest

    try:
        for name, image_id in memo["images"]:
            if str(builder.resolve_image(name, opts.base_map).id) != image_id:
                return False
        for src, excludes, rows, *parents in memo["sources"]:
            if parents and parents[0]:  # COPY --parents
                from dockyard.build.parents import select_parents as chosen
            else:
                chosen = select
            now = [row for _m, _e, row in chosen(context, src, excludes, sums)]
            if json.loads(json.dumps(now)) != rows:
                return False
        records = memo["records"]
        if _records(builder, list(records)) != records:
            return False
        for layer, _created in records.values():
            if layer and not builder.store.blobs.has(parse_digest(json.loads(layer)["digest"])):
                return False
        return all(builder.store.blobs.has(parse_digest(d)) for _mt, d, _n in memo["layers"])
    except (DockyardError, OSError, KeyError, ValueError, TypeError):
        return False


def replay(builder: Builder, key: str, opts: BuildOptions, context: SourceTree,
           sums: FileSums) -> BuildResult | None:  # fmt: skip
    """The image a full cache hit of this build would write, or None (build it)."""
    raw = builder.cache.get_memo(key)
    if raw is None:
        return None
    memo = json.loads(raw)
    if not _still_holds(builder, memo, opts, context, sums):
        return None
    from dockyard.build.executor import BuildResult
    from dockyard.oci import mediatypes as mt
    from dockyard.oci.digest import parse_digest, sha256_digest
    from dockyard.oci.image import Descriptor, Manifest

    config = json.dumps(memo["config"], sort_keys=True, separators=(",", ":")).encode()
    manifest = Manifest(
        config=Descriptor(mt.OCI_CONFIG, sha256_digest(config), len(config)),
        layers=tuple(Descriptor(m, parse_digest(d), n) for m, d, n in memo["layers"]),
    )
    vertex = 0
    for line in memo["lines"]:
        if line[0] == "L":
            vertex = builder._line(line[1])
        else:
            builder.progress(f"#{vertex} CACHED")
    builder.cache.touch_many(list(memo["records"]))
    image = builder.store.add_image(manifest.to_json(), config, tags=opts.tags)
    steps = int(memo["steps"])
    return BuildResult(image, steps, steps, list(memo["warnings"]))
