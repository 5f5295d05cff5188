"""Writing a directory tree as a layer tar, reproducibly.

Entries are sorted by name, owners are numeric (no user names), hardlinks
are recorded once, and with ``SOURCE_DATE_EPOCH`` set every mtime is clamped
to it.  In overlay mode the overlayfs whiteout format is converted to the OCI
one: a 0/0 character device becomes ``.wh.NAME`` and a directory with
``trusted.overlay.opaque=y`` gets a ``.wh..wh..opq`` entry.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from dockyard.store._apply import OPAQUE, WHITEOUT_PREFIX

__all__ = ["TreeWriter", "source_date_epoch"]

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_SKIP_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def source_date_epoch() -> int | None:
    """``SOURCE_DATE_EPOCH`` as an int, or None when unset or not a number."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw)


class TreeWriter:
    """Adds the entries of one directory tree to a tar stream."""

    def __init__(self, tf: tarfile.TarFile, *, overlay: bool) -> None:
        self.tf = tf
        self.overlay = overlay
        self.epoch = source_date_epoch()
        self.inodes: dict[tuple[int, int], str] = {}

    def add_tree(self, src: Path) -> None:
        for rel, path in _walk(src):
            self._add(rel, path)

    def _info(self, rel: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(rel)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        mtime = int(st.st_mtime)
        info.mtime = min(mtime, self.epoch) if self.epoch is not None else mtime
        return info

    def _add(self, rel: str, path: Path) -> None:
        st = os.lstat(path)
        info = self._info(rel, st)
        mode = st.st_mode
        if stat.S_ISCHR(mode) and self.overlay and st.st_rdev == 0:
            self._whiteout(rel, info)
        elif stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
            self._put(info, path)
            if self.overlay and _is_opaque(path):
                self._whiteout(f"{rel}/{OPAQUE}", self._info(f"{rel}/{OPAQUE}", st), raw=True)
        elif stat.S_ISREG(mode):
            self._add_file(rel, path, st, info)
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
            self._put(info, path)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self._put(info, path)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
            self._put(info, path)
        # sockets are not carried in layers

    def _add_file(self, rel: str, path: Path, st: os.stat_result, info: tarfile.TarInfo) -> None:
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self.inodes:
            info.type = tarfile.LNKTYPE
            info.linkname = self.inodes[key]
            self._put(info, path)
            return
        if st.st_nlink > 1:
            self.inodes[key] = rel
        info.size = st.st_size
        self._put(info, path, data=True)

    def _whiteout(self, rel: str, info: tarfile.TarInfo, raw: bool = False) -> None:
        if not raw:
            head, _, name = rel.rpartition("/")
            rel = f"{head}/{WHITEOUT_PREFIX}{name}" if head else f"{WHITEOUT_PREFIX}{name}"
        wh = tarfile.TarInfo(rel)
        wh.mtime, wh.uid, wh.gid, wh.mode = info.mtime, 0, 0, 0o644
        self.tf.addfile(wh)

    def _put(self, info: tarfile.TarInfo, path: Path, data: bool = False) -> None:
        xattrs = _xattrs(path)
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in sorted(xattrs.items())}
        if data:
            with open(path, "rb") as f:
                self.tf.addfile(info, f)
        else:
            self.tf.addfile(info)


def _walk(src: Path, prefix: str = "") -> Iterator[tuple[str, Path]]:
    with os.scandir(src) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        rel = f"{prefix}{e.name}"
        yield rel, Path(e.path)
        if e.is_dir(follow_symlinks=False):
            yield from _walk(Path(e.path), rel + "/")


def _is_opaque(path: Path) -> bool:
    for name in _OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def _xattrs(path: Path) -> dict[str, str]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.startswith(_SKIP_XATTR_PREFIXES):
            continue
        with contextlib.suppress(OSError):
            value = os.getxattr(path, name, follow_symlinks=False)
            out[name] = value.decode("utf-8", "surrogateescape")
    return out
