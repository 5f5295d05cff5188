"""``docker cp``: a tar of a path in a container's root, and a tar extracted into it.

The container owns its root filesystem and may change it while the host works there, so a
path in it is never walked as a string (CVE-2018-15664: a symlink swapped in between the
check and the use led ``docker cp`` out to the host). The filesystem that holds the path
(the rootfs, or a volume or bind source mounted there) is opened once; the path is resolved
in it by :func:`dockyard.linux.resolve.open_in_root` (``openat2(RESOLVE_IN_ROOT)``: symlinks,
absolute ones included, and ``..`` stay inside) and every later step works on descriptors:

* out (``read_archive``): each directory is opened ``O_NOFOLLOW`` relative to its parent's
  descriptor and listed through it; each file is opened ``O_NOFOLLOW | O_NONBLOCK`` and
  described by ``fstat`` of what was opened; a symlink is read, never followed.
* in (``write_archive``): every member is checked first (nothing is written when one is
  refused): names must stay below the destination (no absolute names, no ``..``), hard
  links must name a member below it (an absolute or climbing ``linkname`` would link a host
  file into the container, and a later member of the same name would write through it),
  device nodes are refused. Each member's directory is then resolved (made where absent)
  in the container's root, and the member is created with ``*at`` calls on that
  descriptor, ``O_NOFOLLOW | O_EXCL``; its mode, owner and times are set through an
  ``O_PATH | O_NOFOLLOW`` descriptor of what was created. Modes lose setuid, setgid,
  sticky and group/other write bits, as Python's ``"tar"`` filter did here before.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import config_of
from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.linux.syscalls import why

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["go_file_mode", "read_archive", "stat_archive", "write_archive"]

_CLEARED = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_CHUNK = 1 << 20


def _root(d: Daemon, ref: str) -> Any:
    from dockyard.engine.create import before_start
    from dockyard.engine.daemon import daemon_options_of, run_options_of

    rec = d.get(ref)
    rootfs = d.bundle(rec.id) / "rootfs"
    from dockyard.engine.containers import _is_mountpoint

    if not _is_mountpoint(rootfs):
        before_start(d, rec, run_options_of(rec), daemon_options_of(rec))
    return rec, rootfs


def _filesystem_of(d: Daemon, rec: Any, rootfs: Any, path: str) -> tuple[str, str]:
    """(host directory, path inside it) of the filesystem that holds ``path`` of the
    container: a volume or bind mounted there, the bind-mounted /etc/hostname, /etc/hosts,
    /etc/resolv.conf (in the bundle), else the root filesystem."""
    norm = os.path.normpath(path)
    if norm in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
        return str(d.bundle(rec.id)), os.path.basename(norm)
    best = None
    for m in config_of(rec).mounts or []:
        dest = str(m.get("Destination") or "")
        inside = norm == dest or norm.startswith(dest.rstrip("/") + "/")
        if (
            m.get("Source")
            and inside
            and (best is None or len(dest) > len(str(best["Destination"])))
        ):
            best = m
    if best is not None:
        return str(best["Source"]), norm[len(str(best["Destination"])) :] or "/"
    return str(rootfs), path


def _locate(d: Daemon, ref: str, path: str) -> tuple[Any, str, str]:
    """(record, host directory, path inside it) for absolute ``path`` of container ``ref``
    (its root filesystem mounted first if it is not)."""
    if not path.startswith("/"):
        raise InvalidArgument(f"cp: path {path!r} must be absolute")
    rec, rootfs = _root(d, ref)
    base, inner = _filesystem_of(d, rec, rootfs, path)
    return rec, base, inner


def _open_base(base: str, what: str) -> int:
    try:
        return os.open(base, _PATH_DIR)
    except OSError as e:
        raise NotFound(f"{what}: {why(e)}") from None


def go_file_mode(st_mode: int) -> int:
    """``st_mode`` as Go's ``os.FileMode``, the ``mode`` of docker's path stat (a docker
    client tests ``ModeDir``, bit 31, and ``ModeSymlink``, bit 27)."""
    mode = stat.S_IMODE(st_mode) & 0o777
    kind = stat.S_IFMT(st_mode)
    mode |= {stat.S_IFDIR: 1 << 31, stat.S_IFLNK: 1 << 27, stat.S_IFIFO: 1 << 25,
             stat.S_IFSOCK: 1 << 24, stat.S_IFBLK: 1 << 26,
             stat.S_IFCHR: (1 << 26) | (1 << 21)}.get(kind, 0)  # fmt: skip
    if st_mode & stat.S_ISUID:
        mode |= 1 << 23
    if st_mode & stat.S_ISGID:
        mode |= 1 << 22
    if st_mode & stat.S_ISVTX:
        mode |= 1 << 20
    return mode


def stat_archive(d: Daemon, ref: str, path: str) -> dict[str, Any]:
    """Docker's stat of ``path`` in container ``ref`` (``HEAD .../archive``), a final
    symlink followed in the container's root (as ``docker cp`` follows a destination
    link); NotFound when nothing is there."""
    from dockyard.linux.resolve import open_in_root

    rec, base, inner = _locate(d, ref, path)
    missing = f"cp {rec.name}:{path}: no such file or directory"
    root_fd = _open_base(base, missing)
    try:
        fd = open_in_root(root_fd, inner, os.O_PATH)
    except OSError:
        raise NotFound(missing) from None
    finally:
        os.close(root_fd)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return {"name": os.path.basename(path.rstrip("/")) or "/", "size": st.st_size,
            "mode": go_file_mode(st.st_mode), "mtime": str(int(st.st_mtime)),
            "linkTarget": ""}  # fmt: skip


# --- out ------------------------------------------------------------------------------


def read_archive(d: Daemon, ref: str, path: str) -> tuple[bytes, dict[str, Any]]:
    """A tar of ``path`` in container ``ref`` and docker's stat of it."""
    from dockyard.linux.resolve import open_in_root

    rec, base, inner = _locate(d, ref, path)
    missing = f"cp {rec.name}:{path}: no such file or directory"
    root_fd = _open_base(base, missing)
    stripped = inner.rstrip("/")
    whole = not stripped or inner.endswith("/.") or os.path.basename(stripped) in (".", "..")
    try:
        if whole:  # "/", "dir/.": the directory itself, found through its parent's "."
            parent_fd, name = open_in_root(root_fd, inner, _PATH_DIR), "."
        else:
            parent = os.path.dirname(stripped)
            parent_fd, name = open_in_root(root_fd, parent, _PATH_DIR), os.path.basename(stripped)
    except OSError:
        os.close(root_fd)
        raise NotFound(missing) from None
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        link = os.readlink(name, dir_fd=parent_fd) if stat.S_ISLNK(st.st_mode) else ""
        arcname = os.path.basename(path.rstrip("/")) or "."
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, parent_fd, name, arcname, {})
    except FileNotFoundError:
        raise NotFound(missing) from None
    except OSError as e:
        raise Conflict(f"cp {rec.name}:{path}: {why(e)}") from None
    finally:
        os.close(parent_fd)
        os.close(root_fd)
    info = {"name": arcname, "size": st.st_size, "mode": go_file_mode(st.st_mode),
            "mtime": str(int(st.st_mtime)), "linkTarget": link}  # fmt: skip
    return buf.getvalue(), info


def _info(arcname: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid, info.mtime = st.st_uid, st.st_gid, int(st.st_mtime)
    return info


def _add(
    tar: tarfile.TarFile, dir_fd: int, name: str, arcname: str, seen: dict[tuple[int, int], str]
) -> None:
    """Add ``name`` (one component, never followed) of directory ``dir_fd`` to ``tar``."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if stat.S_ISREG(st.st_mode):
        _add_file(tar, dir_fd, name, arcname, seen)
    elif stat.S_ISDIR(st.st_mode):
        fd = os.open(name, _DIR, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            info = _info(arcname, st)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            for child in sorted(os.listdir(fd)):
                _add(tar, fd, child, f"{arcname}/{child}", seen)
        finally:
            os.close(fd)
    elif stat.S_ISLNK(st.st_mode):
        info = _info(arcname, st)
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
        tar.addfile(info)
    elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info = _info(arcname, st)
        info.type = (tarfile.FIFOTYPE if stat.S_ISFIFO(st.st_mode) else
                     tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE)  # fmt: skip
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        tar.addfile(info)
    # sockets are left out, as docker does


def _add_file(
    tar: tarfile.TarFile, dir_fd: int, name: str, arcname: str, seen: dict[tuple[int, int], str]
) -> None:
    # O_NONBLOCK: a file swapped for a FIFO meanwhile does not hang the daemon
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return  # swapped meanwhile: left out
        info = _info(arcname, st)
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in seen:
            info.type, info.linkname = tarfile.LNKTYPE, seen[key]
            tar.addfile(info)
            return
        seen[key] = arcname
        info.size = st.st_size
        tar.addfile(info, f)


# --- in -------------------------------------------------------------------------------


def write_archive(d: Daemon, ref: str, path: str, data: bytes) -> None:
    """Extract the tar ``data`` into directory ``path`` of container ``ref``."""
    from dockyard.linux.resolve import open_in_root

    rec, base, inner = _locate(d, ref, path)
    missing = f"cp to {rec.name}:{path}: destination directory does not exist"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            members = [(m, _check(m)) for m in tar.getmembers()]
            root_fd = _open_base(base, missing)
            try:
                try:
                    os.close(open_in_root(root_fd, inner, _PATH_DIR))
                except OSError:
                    raise NotFound(missing) from None
                for m, parts in members:
                    if parts:
                        _extract(tar, m, parts, root_fd, inner)
            finally:
                os.close(root_fd)
    except tarfile.TarError as e:
        raise InvalidArgument(f"cp: invalid tar archive: {e}") from None
    except OSError as e:
        raise Conflict(f"cp to {rec.name}:{path}: {why(e)}") from None


def _parts(name: str, what: str) -> tuple[str, ...]:
    if name.startswith("/") or "\x00" in name:
        raise InvalidArgument(f"cp: unsafe path in archive: {what}")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidArgument(f"cp: unsafe path in archive: {what}")
    return parts


def _check(m: tarfile.TarInfo) -> tuple[str, ...]:
    """The member's path below the destination; refuses what must not be extracted."""
    parts = _parts(m.name, m.name)
    if m.isdev():
        raise InvalidArgument(f"cp: device node in archive: {m.name}")
    if m.islnk():
        try:
            target = _parts(m.linkname, m.linkname)
        except InvalidArgument:
            target = ()
        if not target:
            raise InvalidArgument(f"cp: hardlink leaves the destination: {m.name} -> {m.linkname}")
    elif not (m.isreg() or m.isdir() or m.issym() or m.isfifo()):
        raise InvalidArgument(f"cp: unsupported entry type {m.type!r}: {m.name}")
    if not parts and not m.isdir():
        raise InvalidArgument(f"cp: unsafe path in archive: {m.name}")
    return parts


def _extract(
    tar: tarfile.TarFile, m: tarfile.TarInfo, parts: tuple[str, ...], root_fd: int, inner: str
) -> None:
    from dockyard.linux.resolve import mkdir_in_root, open_in_root

    parent = "/".join((inner.rstrip("/"), *parts[:-1]))
    dir_fd = mkdir_in_root(root_fd, parent)
    name = parts[-1]
    try:
        existing = _lstat(name, dir_fd)
        if m.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                if existing is not None:
                    os.unlink(name, dir_fd=dir_fd)
                os.mkdir(name, 0o700, dir_fd=dir_fd)
        else:
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                raise Conflict(f"cp: cannot overwrite directory {m.name} with non-directory")
            if existing is not None:
                os.unlink(name, dir_fd=dir_fd)
            if m.isreg():
                _write_file(tar, m, name, dir_fd)
            elif m.issym():
                os.symlink(m.linkname, name, dir_fd=dir_fd)
            elif m.isfifo():
                os.mkfifo(name, 0o600, dir_fd=dir_fd)
            else:  # hardlink, below the destination (checked), resolved in the root
                target = "/".join((inner.rstrip("/"), *_parts(m.linkname, m.linkname)))
                src_fd = open_in_root(root_fd, target, os.O_PATH | os.O_NOFOLLOW)
                try:
                    os.link(f"/proc/self/fd/{src_fd}", name, dst_dir_fd=dir_fd)
                finally:
                    os.close(src_fd)
                return
        _metadata(m, name, dir_fd)
    finally:
        os.close(dir_fd)


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _write_file(tar: tarfile.TarFile, m: tarfile.TarInfo, name: str, dir_fd: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    src = tar.extractfile(m)
    with os.fdopen(os.open(name, flags, 0o600, dir_fd=dir_fd), "wb") as out:
        if src is not None:
            while chunk := src.read(_CHUNK):
                out.write(chunk)


def _metadata(m: tarfile.TarInfo, name: str, dir_fd: int) -> None:
    """Owner, mode and times of what was just made, never through a symlink swapped in."""
    if m.issym():
        os.chown(name, m.uid, m.gid, dir_fd=dir_fd, follow_symlinks=False)
        os.utime(name, (m.mtime, m.mtime), dir_fd=dir_fd, follow_symlinks=False)
        return
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return  # swapped for a symlink meanwhile: not followed
        here = f"/proc/self/fd/{fd}"  # exactly the inode opened
        if os.geteuid() == 0:
            os.chown(here, m.uid, m.gid)
        os.chmod(here, m.mode & 0o7777 & ~_CLEARED)
        os.utime(here, (m.mtime, m.mtime))
    finally:
        os.close(fd)
