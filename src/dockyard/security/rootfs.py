"""Reading chosen files out of an image's layers without unpacking it.

Terms
-----
*wanted file*: a path (relative, no leading ``/``) that a predicate selects — the dpkg
database, ``os-release``, Python distribution metadata.  *Change*: what one layer did to
a wanted path: new contents (``bytes``), or removal (``None``; a whiteout, an opaque
directory, or a later non-file entry at that path or above it).

Walk
----
``walk_layers(layers, want)`` reads the layer streams bottom first, applies the OCI
whiteout rules (``.wh.NAME`` hides NAME and all below it in lower layers;
``.wh..wh..opq`` hides everything below its directory in lower layers; a file or
symlink replacing a directory hides what lay below it) and returns, for each layer, its
changes.  ``final_view`` folds them into the files the image finally holds, each with
the index of the layer that last wrote it.  Symlinks among wanted paths are kept (as
``Symlink``) so that ``etc/os-release -> ../usr/lib/os-release`` resolves.

Layers are untrusted: names are normalised (a name that climbs out of the root is
skipped, as no applier would write it), a wanted file larger than ``MAX_FILE`` raises
InvalidArgument, and nothing is written to disk.

Example::

    changes = walk_layers([("layer 1", f1), ("layer 2", f2)], lambda p: p.endswith("status"))
    view = final_view(changes)   # {"var/lib/dpkg/status": (1, b"Package: ...")}
"""

from __future__ import annotations

import posixpath
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

from dockyard.errors import InvalidArgument
from dockyard.store.layers import read_layer

__all__ = ["MAX_FILE", "Change", "Content", "Symlink", "final_view", "resolve", "walk_layers"]

MAX_FILE = 64 << 20
_WH = ".wh."
_OPQ = ".wh..wh..opq"


@dataclass(frozen=True, slots=True)
class Symlink:
    """A wanted path that is a symbolic link."""

    target: str


Content = bytes | Symlink
Change = dict[str, Content | None]


def _clean(name: str) -> str | None:
    if ".." in name.split("/"):
        return None  # no applier writes it (store/_safepath.py refuses it)
    path = posixpath.normpath("/" + name).lstrip("/")
    return path if path and path != "." else None


class _View:
    """The wanted files as the layers read so far leave them, with their layer."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[int, Content]] = {}
        self.dirs: Counter[str] = Counter()  # every ancestor directory of a kept path

    def put(self, path: str, layer: int, content: Content) -> None:
        if path not in self.files:
            for d in _ancestors(path):
                self.dirs[d] += 1
        self.files[path] = (layer, content)

    def drop(self, path: str) -> None:
        if self.files.pop(path, None) is not None:
            for d in _ancestors(path):
                self.dirs[d] -= 1
                if not self.dirs[d]:
                    del self.dirs[d]

    def below(self, path: str, layer: int) -> list[str]:
        """Kept paths at or under ``path`` written by a layer before ``layer``."""
        if path and path not in self.files and path not in self.dirs:
            return []
        prefix = path + "/" if path else ""
        return [
            p
            for p, (lay, _c) in self.files.items()
            if (p == path or p.startswith(prefix)) and lay < layer
        ]


def _ancestors(path: str) -> Iterable[str]:
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def walk_layers(
    layers: Iterable[tuple[str, BinaryIO]], want: Callable[[str], bool]
) -> list[Change]:
    """Each layer's changes to the wanted paths, bottom layer first (see the module doc)."""
    view = _View()
    out: list[Change] = []
    for index, (where, stream) in enumerate(layers):
        change: Change = {}
        for member, tf in read_layer(stream, where):
            _entry(view, change, index, member, tf, want, where)
        out.append(change)
    return out


def _hide(view: _View, change: Change, path: str, layer: int) -> None:
    for p in view.below(path, layer):
        view.drop(p)
        change[p] = None


def _entry(
    view: _View,
    change: Change,
    layer: int,
    m: tarfile.TarInfo,
    tf: tarfile.TarFile,
    want: Callable[[str], bool],
    where: str,
) -> None:
    path = _clean(m.name)
    if path is None:
        return
    head, base = posixpath.split(path)
    if base == _OPQ:
        # the directory stays; what lower layers put below it goes (this layer's stays)
        for p in view.below(head, layer):
            if p != head:
                view.drop(p)
                change[p] = None
        return
    if base.startswith(_WH):
        _hide(view, change, posixpath.join(head, base[len(_WH) :]), layer)
        return
    if not m.isdir():
        _hide(view, change, path, layer)  # a file or link replaces a directory or file
    if not want(path):
        return
    content = _content(view, m, tf, path, where)
    if content is None:
        if path in view.files:
            view.drop(path)
            change[path] = None
        return
    view.put(path, layer, content)
    change[path] = content


def _content(
    view: _View, m: tarfile.TarInfo, tf: tarfile.TarFile, path: str, where: str
) -> Content | None:
    if m.issym():
        return Symlink(m.linkname)
    if m.islnk():
        target = _clean(m.linkname)
        kept = view.files.get(target) if target else None
        return kept[1] if kept is not None else None
    if not m.isfile():
        return None
    if m.size > MAX_FILE:
        raise InvalidArgument(f"{where}: {path}: larger than {MAX_FILE} bytes")
    f = tf.extractfile(m)
    return f.read() if f is not None else None


def final_view(changes: list[Change]) -> dict[str, tuple[int, Content]]:
    """Fold the changes: each wanted path the image holds, with the layer that wrote it."""
    files: dict[str, tuple[int, Content]] = {}
    for index, change in enumerate(changes):
        for path, content in change.items():
            if content is None:
                files.pop(path, None)
            else:
                files[path] = (index, content)
    return files


def resolve(files: dict[str, tuple[int, Content]], path: str) -> tuple[int, bytes] | None:
    """The contents at ``path``, following wanted symlinks (at most 8 hops)."""
    for _ in range(8):
        entry = files.get(path)
        if entry is None:
            return None
        layer, content = entry
        if isinstance(content, bytes):
            return layer, content
        target = content.target
        joined = (
            target if target.startswith("/") else posixpath.join(posixpath.dirname(path), target)
        )
        path = posixpath.normpath("/" + joined).lstrip("/")  # ".." stops at the root
    return None
