"""Checking layer tars without writing them: the same policy as the applier.

The scanner keeps a virtual view of the symlinks that the layers seen so far
left in the root filesystem, so that an entry in layer 3 that writes through a
symlink from layer 1 is judged exactly as the applier would judge it.
"""

from __future__ import annotations

import tarfile

from dockyard.errors import InvalidArgument
from dockyard.store._apply import OPAQUE, WHITEOUT_PREFIX
from dockyard.store._safepath import (
    Parts,
    check_symlink_target,
    clean_name,
    resolve_dir,
    whiteout_victim,
)

__all__ = ["Scanner"]


class Scanner:
    """Validates the members of successive layers of one image."""

    def __init__(self, *, allow_devices: bool) -> None:
        self.allow_devices = allow_devices
        self.symlinks: dict[Parts, str] = {}
        self.where = "scan layer"
        self._layer: set[Parts] = set()

    def begin(self, where: str) -> None:
        self.where = where
        self._layer = set()

    def _readlink(self, parts: Parts) -> str | None:
        return self.symlinks.get(parts)

    def _drop_below(self, parts: Parts, keep: set[Parts] | None = None) -> None:
        n = len(parts)
        for p in [p for p in self.symlinks if len(p) > n and p[:n] == parts]:
            if keep is None or p not in keep:
                del self.symlinks[p]

    def entry(self, m: tarfile.TarInfo) -> None:
        parts = clean_name(m.name, self.where)
        if not parts:
            return
        parent = resolve_dir(parts[:-1], self._readlink, m.name, self.where)
        base = parts[-1]
        if base == OPAQUE:
            self._drop_below(parent, keep=self._layer)
            return
        if base.startswith(WHITEOUT_PREFIX):
            victim = (*parent, whiteout_victim(base, WHITEOUT_PREFIX, m.name, self.where))
            self.symlinks.pop(victim, None)
            self._drop_below(victim)
            return
        path = (*parent, base)
        self._layer.add(path)
        self._check_type(m, parts)
        self.symlinks.pop(path, None)
        if m.issym():
            self.symlinks[path] = m.linkname
        elif not m.isdir():
            self._drop_below(path)

    def _check_type(self, m: tarfile.TarInfo, parts: Parts) -> None:
        if m.issym():
            check_symlink_target(parts, m.linkname, self.where)
        elif m.islnk():
            target = clean_name(m.linkname, self.where)
            if not target:
                raise InvalidArgument(f"{self.where}: hardlink to the root: {m.name}")
            resolve_dir(target[:-1], self._readlink, m.linkname, self.where)
        elif m.ischr() or m.isblk():
            if not self.allow_devices:
                raise InvalidArgument(f"{self.where}: device node refused: {m.name}")
        elif not (m.isreg() or m.isdir() or m.isfifo()):
            raise InvalidArgument(f"{self.where}: unsupported entry type {m.type!r}: {m.name}")
