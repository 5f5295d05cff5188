"""Layer commits in the background: a step's blob is written while the next steps run.

Terms
-----
*sealed step*: a :class:`~dockyard.build.rootfs.StepRootfs` whose overlay is unmounted and
whose stubs are dropped (:meth:`~dockyard.build.rootfs.StepRootfs.seal`): its upper dir
never changes again.
*pending layer*: the layer that a sealed step becomes.  Its files can be mounted at once,
at ``location`` (the upper dir, later the committed snapshot it is renamed to); its digest,
diff ID and size are known once the blob is written, and reading them waits until then.

Protocol::

    commits = Commits(filename)
    layer = commits.submit(fs, line, on_done=lambda ref: cache.put(key, ref))
    state.layers.append(layer)           # the next step mounts layer.location
    ...
    commits.settle()                     # waits; runs each on_done; raises the first failure

Writing a layer (tar, gzip, two hashes, fsync) takes as long as the step that made it,
and the next step (a container, a copy) mostly waits on something else, so the two
overlap: a cold build spends its time on the steps, not on the blobs.

One worker commits in submission order, so a layer's parents are committed before it
(its chain ID needs their diff IDs).  It writes the blob, then renames the upper dir into
the snapshot of the chain ID under :data:`~dockyard.build.rootfs.MOUNT_LOCK`; whoever reads
a pending ``location`` holds that lock until the mount that names it is made (a rename
afterwards does not disturb a mounted overlay).  An upper dir that is not adopted (the
snapshot existed already) and the step's work dirs are removed by ``settle``, when nothing
mounts them any more; after that ``location`` is None and the layer is an ordinary one.
``on_done`` (the cache record) runs in ``settle``, on the caller's thread, so a record is
written only after its blob is fsynced and committed.

Errors: whatever writing the blob raised (``Dockerfile:N: …`` for the store's errors),
raised by ``settle`` and by any read of the layer's digests; ``settle`` still finishes
every other commit first.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from dockyard.build.rootfs import StepRootfs
from dockyard.build.state import LayerRef
from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from pathlib import Path

    from dockyard.oci.digest import Digest

__all__ = ["Commits", "PendingLayer"]


class PendingLayer:
    """A layer whose blob is being written; see the module docstring."""

    def __init__(self, fs: StepRootfs, line: int) -> None:
        self.fs = fs
        self.line = line
        self._ready = threading.Event()
        self._ref: LayerRef | None = None
        self._error: BaseException | None = None
        self._settled = False

    @property
    def location(self) -> Path | None:
        return None if self._settled else self.fs.upper

    def ref(self) -> LayerRef:
        """The committed layer (waits for its blob)."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._ref is not None
        return self._ref

    @property
    def digest(self) -> Digest:
        return self.ref().digest

    @property
    def diff_id(self) -> Digest:
        return self.ref().diff_id

    @property
    def size(self) -> int:
        return self.ref().size

    @property
    def media_type(self) -> str:
        return self.ref().media_type


class Commits:
    """The background commits of one build."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit")
        self.pending: list[tuple[PendingLayer, Callable[[LayerRef], None]]] = []

    def submit(
        self, fs: StepRootfs, line: int, on_done: Callable[[LayerRef], None]
    ) -> PendingLayer:
        """Commit the sealed step ``fs`` in the background."""
        layer = PendingLayer(fs, line)
        self.pending.append((layer, on_done))
        self.pool.submit(self._commit, layer)
        return layer

    def _commit(self, layer: PendingLayer) -> None:
        try:
            layer._ref = layer.fs.publish()
        except DockyardError as exc:
            from dockyard.build.stages import located

            layer._error = located(self.filename, layer.line, exc)
        except BaseException as exc:
            layer._error = exc
        finally:
            layer._ready.set()

    def settle(self) -> None:
        """Wait for every commit, run their ``on_done``, remove their leftovers."""
        self.pool.shutdown(wait=True)
        first: BaseException | None = None
        for layer, on_done in self.pending:
            layer.fs.discard()
            layer._settled = True
            try:
                on_done(layer.ref())
            except BaseException as exc:
                first = first or exc
        self.pending.clear()
        if first is not None:
            raise first
