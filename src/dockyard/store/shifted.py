"""Shifted copies of committed snapshots: a layer whose owners are moved into an id range.

Where the kernel cannot idmap the snapshots' filesystem (Linux before 5.19 for overlayfs
on idmapped layers; docs/decisions/userns.md), a container in a user namespace sees its
image through a copy of each layer in which every owner ``id`` became ``base + id``
(ids at or beyond the range's size, which the namespace cannot show, become the host's
overflow id 65534). The copy of layer ``<chain>`` for the range ``(uid, gid, size)`` is
``snapshots/<chain-hex>/shift-<uid>-<gid>-<size>/fs``: per layer chain and range, made
once under the layer's lock and kept while the layer exists (removing the layer removes
it; a later container given the same range finds it ready).

A copy keeps modes (set after the owner: ``chown`` drops set-id bits), times, extended
attributes (``trusted.overlay.*`` whiteout marks, ``security.capability``), symlinks,
device nodes (overlay whiteouts are 0/0 character devices) and fifos; regular files are
copied with ``copy_file_range`` (a reflink where the filesystem shares extents). Like a
layer, a copy is written unsynced and carries the boot id: one from an earlier boot is
made again.

Errors: an absent layer raises NotFound; an I/O failure raises Internal naming the path.
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import Internal, NotFound

__all__ = ["OVERFLOW_ID", "shift_dir_name", "shifted_copy"]

OVERFLOW_ID = 65534


def shift_dir_name(uid: int, gid: int, size: int) -> str:
    return f"shift-{uid}-{gid}-{size}"


def shifted_copy(layer_dir: str, uid: int, gid: int, size: int, boot_id: bytes) -> str:
    """The shifted copy of the committed layer ``layer_dir`` (``.../<hex>/fs``) for the
    range; made if absent or stale. The caller holds the layer's lock."""
    if not os.path.isdir(layer_dir):
        raise NotFound(f"snapshot {layer_dir}: not unpacked")
    top = os.path.join(os.path.dirname(layer_dir), shift_dir_name(uid, gid, size))
    fs, marker = os.path.join(top, "fs"), os.path.join(top, "volatile")
    try:
        with open(marker, "rb") as f:
            if f.read() == boot_id and os.path.isdir(fs):
                return fs
    except FileNotFoundError:
        pass
    from dockyard.linux.fspath import rmtree

    rmtree(top, ignore_errors=True)
    os.makedirs(top)
    scratch = fs + ".tmp"
    try:
        _copy_tree(layer_dir, scratch, _Shift(uid, gid, size))
        with open(marker, "wb") as f:
            f.write(boot_id)
        os.rename(scratch, fs)
    except OSError as e:
        rmtree(top, ignore_errors=True)
        raise Internal(f"shift {layer_dir}: {e.filename or ''}: {e.strerror or e}") from None
    except BaseException:
        rmtree(top, ignore_errors=True)
        raise
    return fs


class _Shift:
    def __init__(self, uid: int, gid: int, size: int) -> None:
        self.uid, self.gid, self.size = uid, gid, size
        self.links: dict[tuple[int, int], str] = {}  # hard links stay links

    def ids(self, st: os.stat_result) -> tuple[int, int]:
        u = self.uid + st.st_uid if st.st_uid < self.size else OVERFLOW_ID
        g = self.gid + st.st_gid if st.st_gid < self.size else OVERFLOW_ID
        return u, g


def _copy_tree(src: str, dst: str, shift: _Shift) -> None:
    st = os.lstat(src)
    os.mkdir(dst, 0o700)
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        est = entry.stat(follow_symlinks=False)
        mode = est.st_mode
        if stat.S_ISDIR(mode):
            _copy_tree(s, d, shift)
            continue
        if stat.S_ISREG(mode) and est.st_nlink > 1:
            first = shift.links.get((est.st_dev, est.st_ino))
            if first is not None:
                os.link(first, d)
                continue
            shift.links[(est.st_dev, est.st_ino)] = d
        if stat.S_ISREG(mode):
            _copy_file(s, d)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(d, mode, est.st_rdev)
        else:  # a socket: layers carry none that matter
            continue
        _finish(s, d, est, shift)
    _finish(src, dst, st, shift)


def _copy_file(src: str, dst: str) -> None:
    fin = os.open(src, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            left = os.fstat(fin).st_size
            while left > 0:
                n = os.copy_file_range(fin, fout, left)
                if n == 0:
                    break
                left -= n
        finally:
            os.close(fout)
    finally:
        os.close(fin)


def _finish(src: str, dst: str, st: os.stat_result, shift: _Shift) -> None:
    """Owner, then extended attributes (chown drops ``security.capability``), then mode
    (chown clears set-id bits), then times."""
    link = stat.S_ISLNK(st.st_mode)
    os.lchown(dst, *shift.ids(st))
    try:
        names = os.listxattr(src, follow_symlinks=False)
    except OSError:
        names = []
    for name in names:
        value = os.getxattr(src, name, follow_symlinks=False)
        if name == "security.capability":
            value = _caps_v3(value, shift.uid)
        try:
            os.setxattr(dst, name, value, follow_symlinks=False)
        except OSError:
            if not name.startswith("user."):
                raise
    if not link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


_VFS_CAP_REVISION_2 = 0x02000000
_VFS_CAP_REVISION_3 = 0x03000000
_VFS_CAP_REVISION_MASK = 0xFF000000


def _caps_v3(value: bytes, rootid: int) -> bytes:
    """File capabilities that hold in the namespace whose root is host ``rootid``: a v2
    entry (valid only where host 0 is root) becomes v3 with that root id."""
    if len(value) < 20:
        return value
    magic = int.from_bytes(value[:4], "little")
    if magic & _VFS_CAP_REVISION_MASK != _VFS_CAP_REVISION_2:
        return value
    magic = (magic & ~_VFS_CAP_REVISION_MASK) | _VFS_CAP_REVISION_3
    return magic.to_bytes(4, "little") + value[4:20] + rootid.to_bytes(4, "little")
