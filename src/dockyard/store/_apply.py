"""Applying one layer tar onto a directory, safely.  See ``layers.py`` for the protocol.

The target directory belongs to dockyard while a layer is applied (a fresh
temporary directory for snapshots), so path checks and writes do not race with
another writer; every write still refuses to follow a symlink (``O_NOFOLLOW``,
``lchown``, ``follow_symlinks=False``) and every existing entry that an entry
replaces is unlinked first, never written through.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tarfile
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.store._safepath import (
    Parts,
    check_symlink_target,
    clean_name,
    resolve_dir,
    whiteout_victim,
)

__all__ = ["OPAQUE", "WHITEOUT_PREFIX", "Applier", "xattrs_of"]

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
_XATTR = "SCHILY.xattr."
_OVERLAY_OPAQUE = "trusted.overlay.opaque"
_CHUNK = 1 << 20


def xattrs_of(member: tarfile.TarInfo) -> dict[str, bytes]:
    """The extended attributes a PAX header carries."""
    out = {}
    for key, value in member.pax_headers.items():
        if key.startswith(_XATTR):
            out[key[len(_XATTR) :]] = value.encode("utf-8", "surrogateescape")
    return out


class Applier:
    """Applies tar members onto ``root``.

    ``overlay`` selects the whiteout format written: False applies whiteouts
    (deletes what lower layers put there; the directory is a merged rootfs),
    True records them as overlayfs does (0/0 character devices and the
    ``trusted.overlay.opaque`` xattr; the directory is one overlay lower dir).
    """

    def __init__(self, root: Path, *, allow_devices: bool, overlay: bool, where: str) -> None:
        self.root = root
        self.allow_devices = allow_devices
        self.overlay = overlay
        self.where = where
        self.created: set[Parts] = set()
        self.dirs: list[tuple[Path, tarfile.TarInfo]] = []
        self.privileged = os.geteuid() == 0

    # --- resolution ---------------------------------------------------------------------

    def _readlink(self, parts: Parts) -> str | None:
        p = self.root.joinpath(*parts)
        try:
            if stat.S_ISLNK(os.lstat(p).st_mode):
                return os.readlink(p)
        except FileNotFoundError:
            return None
        return None

    def _parent(self, parts: Parts, name: str) -> Path:
        """Resolve and create the parent directory of ``parts``."""
        resolved = resolve_dir(parts[:-1], self._readlink, name, self.where)
        path = self.root
        for i, comp in enumerate(resolved):
            path = path / comp
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
                self.created.add(resolved[: i + 1])
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"{self.where}: parent is not a directory: {name}")
        return path

    # --- entries ------------------------------------------------------------------------

    def entry(self, member: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
        parts = clean_name(member.name, self.where)
        if not parts:
            return
        base = parts[-1]
        if base.startswith(WHITEOUT_PREFIX):
            self._whiteout(parts, member.name)
            return
        parent = self._parent(parts, member.name)
        path = parent / base
        rel = (*parent.relative_to(self.root).parts, base)
        self._create(member, tf, parts, path)
        self.created.add(rel)
        self._metadata(member, path)

    def _create(self, m: tarfile.TarInfo, tf: tarfile.TarFile, parts: Parts, path: Path) -> None:
        if m.isdir():
            if not _is_real_dir(path):
                _remove(path)
                os.mkdir(path, 0o755)
            self.dirs.append((path, m))
            return
        _remove(path)
        if m.isreg():
            self._write_file(m, tf, path)
        elif m.issym():
            check_symlink_target(parts, m.linkname, self.where)
            os.symlink(m.linkname, path)
        elif m.islnk():
            os.link(self._link_source(m), path, follow_symlinks=False)
        elif m.ischr() or m.isblk():
            self._device(m, path)
        elif m.isfifo():
            os.mkfifo(path, 0o600)
        else:
            raise InvalidArgument(f"{self.where}: unsupported entry type {m.type!r}: {m.name}")

    def _write_file(self, m: tarfile.TarInfo, tf: tarfile.TarFile, path: Path) -> None:
        src = tf.extractfile(m)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            if src is not None:
                shutil.copyfileobj(src, out, _CHUNK)

    def _link_source(self, m: tarfile.TarInfo) -> Path:
        parts = clean_name(m.linkname, self.where)
        if not parts:
            raise InvalidArgument(f"{self.where}: hardlink to the root: {m.name}")
        parent = resolve_dir(parts[:-1], self._readlink, m.linkname, self.where)
        src = self.root.joinpath(*parent, parts[-1])
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            raise InvalidArgument(
                f"{self.where}: hardlink target not found: {m.name} -> {m.linkname}"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"{self.where}: hardlink to a directory: {m.name}")
        return src

    def _device(self, m: tarfile.TarInfo, path: Path) -> None:
        if not self.allow_devices:
            raise InvalidArgument(f"{self.where}: device node refused: {m.name}")
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))

    # --- whiteouts ----------------------------------------------------------------------

    def _whiteout(self, parts: Parts, name: str) -> None:
        base = parts[-1]
        if base != OPAQUE and not base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            # ".wh..." would be parent/"..": the directory above the target, deleted
            whiteout_victim(base, WHITEOUT_PREFIX, name, self.where)
        parent = self._parent(parts, name)
        if base == OPAQUE:
            self._opaque(parent)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other aufs metadata (.wh..wh.plnk ...): ignored as docker does
        victim = parent / whiteout_victim(base, WHITEOUT_PREFIX, name, self.where)
        if self.overlay:
            _remove(victim)
            os.mknod(victim, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        else:
            _remove(victim)

    def _opaque(self, directory: Path) -> None:
        if self.overlay:
            os.setxattr(directory, _OVERLAY_OPAQUE, b"y", follow_symlinks=False)
            return
        rel = directory.relative_to(self.root).parts
        for child in os.listdir(directory):
            if (*rel, child) not in self.created:
                _remove(directory / child)

    # --- metadata -----------------------------------------------------------------------

    def _metadata(self, m: tarfile.TarInfo, path: Path) -> None:
        if m.islnk():
            return
        if self.privileged:
            with contextlib.suppress(PermissionError):
                os.lchown(path, m.uid, m.gid)
        if not m.issym():
            os.chmod(path, m.mode & 0o7777)
        for key, value in xattrs_of(m).items():
            _set_xattr(path, key, value)
        if not m.isdir():
            _set_mtime(path, m.mtime)

    def finish(self) -> None:
        """Set directory mtimes last: creating children changes them."""
        for path, m in reversed(self.dirs):
            _set_mtime(path, m.mtime)


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _set_mtime(path: Path, mtime: float) -> None:
    with contextlib.suppress(OSError):
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def _set_xattr(path: Path, key: str, value: bytes) -> None:
    try:
        os.setxattr(path, key, value, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES, errno.EOPNOTSUPP):
            raise
