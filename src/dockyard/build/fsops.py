"""File operations of COPY, ADD and WORKDIR inside a step's root filesystem.

Every path inside the image is resolved as if chrooted (a symlink in the
image never leads the copy out of the root).  Docker's rules:

* new files and directories belong to ``0:0`` unless ``--chown`` (names are
  looked up in the destination's ``/etc/passwd`` and ``/etc/group``; a user
  without a group gets the same number as gid, as Docker documents);
* files keep their permission bits and mtime unless ``--chmod`` (octal);
* missing parent directories are made ``0755`` (owned like ``--chown``);
* a file onto an existing non-directory replaces it; a directory's contents
  merge into an existing directory.

ADD extracts local tar archives (plain, gzip, bzip2, xz) into the destination
(through the store's safe extraction), downloads ``http(s)://`` sources (mode
0600, ``--checksum`` verified), and refuses git URLs (Unavailable).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dockyard.build.context import Entry
from dockyard.errors import InvalidArgument, NotFound, Unavailable

__all__ = [
    "Owner",
    "copy_entries",
    "download",
    "extract_archive",
    "is_archive",
    "is_url",
    "make_workdir",
    "parse_chmod",
    "resolve_owner",
]


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


ROOT = Owner(0, 0)


def parse_chmod(text: str) -> int | None:
    """``--chmod`` as permission bits (octal only); None when not given."""
    if not text:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise InvalidArgument(f"invalid chmod parameter: {text!r} (use an octal mode)") from None
    if not 0 <= mode <= 0o7777:
        raise InvalidArgument(f"invalid chmod parameter: {text!r}")
    return mode


def _lookup(table: str | None, name: str, what: str) -> int:
    for line in (table or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise NotFound(f"unable to find {what} {name}: no matching entries in {what} file")


def resolve_owner(spec: str, root: Path) -> Owner:
    """``--chown=user[:group]`` against the image's passwd/group files."""
    if not spec:
        return ROOT
    from dockyard.runtime.users import read_in_root

    user, _, group = spec.partition(":")
    uid = int(user) if user.isdigit() else _lookup(read_in_root(root, "/etc/passwd"), user, "user")
    if not group:
        return Owner(uid, uid)
    gid = int(group) if group.isdigit() else _lookup(read_in_root(root, "/etc/group"), group,
                                                     "group")  # fmt: skip
    return Owner(uid, gid)


def in_root(root: Path, path: str) -> Path:
    """The host path of ``path`` in ``root``: parents resolved chroot-style, the last
    component not followed (it may be replaced)."""
    from dockyard.runtime.users import resolve_in_root

    path = posixpath.normpath("/" + path)
    parent, name = posixpath.split(path)
    base = resolve_in_root(root, parent)
    return base / name if name else base


def _in_root_known(root: Path, path: str, known: dict[str, Path]) -> Path:
    """:func:`in_root`, with the host paths of parent dirs remembered in ``known``."""
    path = posixpath.normpath("/" + path)
    parent, name = posixpath.split(path)
    base = known.get(parent)
    if base is None:
        from dockyard.runtime.users import resolve_in_root

        base = known[parent] = resolve_in_root(root, parent)
    return base / name if name else base


def _mkdirs(root: Path, path: str, owner: Owner) -> Path:
    """Make ``path`` and its missing parents inside ``root``; return its host path."""
    current = "/"
    host = root
    for part in [p for p in path.split("/") if p]:
        current = posixpath.join(current, part)
        host = in_root(root, current)
        if host.is_symlink() or not host.exists():
            from dockyard.runtime.users import resolve_in_root

            target = resolve_in_root(root, current)
            if not target.exists():
                target.mkdir(mode=0o755)
                os.chmod(target, 0o755)
                os.lchown(target, owner.uid, owner.gid)
            host = target
        elif not host.is_dir():
            raise InvalidArgument(f"cannot create directory {current}: a file is in the way")
    return host


def make_workdir(root: Path, path: str, owner: Owner) -> bool:
    """Make the WORKDIR (and parents) when missing; True when something was made."""
    from dockyard.runtime.users import resolve_in_root

    if resolve_in_root(root, path).is_dir():
        return False
    _mkdirs(root, path, owner)
    return True


def _replace(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()


def copy_entries(
    root: Path, dest: str, entries: Sequence[Entry], *, owner: Owner | None, mode: int | None,
    dest_owner: Owner = ROOT,
) -> None:  # fmt: skip
    """Copy ``entries`` to ``dest`` (an absolute path in the image) under ``root``."""
    own = owner or ROOT
    parent = posixpath.dirname(posixpath.normpath(dest))
    _mkdirs(root, parent, owner or dest_owner)
    dirs: list[tuple[Path, os.stat_result]] = []
    # the host dirs of the parents met so far: entries come parents first, and a dir
    # entry is resolved (or made) before anything below it
    known: dict[str, Path] = {}
    for e in entries:
        target_path = posixpath.normpath(posixpath.join(dest, e.dest)) if e.dest else dest
        target = _in_root_known(root, target_path, known)
        st = os.lstat(e.src) if e.kind == "symlink" else os.stat(e.src)
        if e.kind == "dir":
            if not target.is_dir() or target.is_symlink():
                _replace(target)
                target.mkdir()
                os.chmod(target, mode if mode is not None else stat.S_IMODE(st.st_mode))
                os.lchown(target, own.uid, own.gid)
                dirs.append((target, st))
                known[posixpath.normpath("/" + target_path)] = target
            elif owner is not None:
                os.lchown(target, own.uid, own.gid)
        elif e.kind == "file":
            if target.is_dir() and not target.is_symlink():
                raise InvalidArgument(f"cannot copy {e.src.name} onto directory {target_path}")
            _replace(target)
            shutil.copyfile(e.src, target, follow_symlinks=True)
            os.chmod(target, mode if mode is not None else stat.S_IMODE(st.st_mode))
            os.lchown(target, own.uid, own.gid)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        elif e.kind == "symlink":
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            _replace(target)
            os.symlink(os.readlink(e.src), target)
            os.lchown(target, own.uid, own.gid)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    for target, st in reversed(dirs):
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


# --- ADD -----------------------------------------------------------------------------------

_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def is_archive(path: Path) -> bool:
    """Whether ADD unpacks ``path``: a compressed stream or a ustar/gnu tar."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if any(head.startswith(m) for m in _MAGIC):
        return True
    return len(head) == 512 and head[257:262] == b"ustar"


def extract_archive(archive: Path, root: Path, dest: str, owner: Owner) -> None:
    """Unpack a local archive into the directory ``dest`` of the image."""
    from dockyard.store.layers import apply_layer

    target = _mkdirs(root, dest, owner)
    with open(archive, "rb") as f:
        apply_layer(f, target, where=f"ADD {archive.name}")


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def is_git(src: str) -> bool:
    return src.startswith("git@") or (src.endswith(".git") and "://" in src)


def download(url: str, work: Path, checksum: str = "") -> tuple[Path, str, float | None]:
    """Fetch ``url`` into ``work``; return the file, its sha256 digest and Last-Modified."""
    import urllib.error  # only ADD <url> needs them (a cached build imports no http stack)
    import urllib.request
    from email.utils import parsedate_to_datetime

    out = work / ("url-" + hashlib.sha256(url.encode()).hexdigest()[:16])
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(out, "wb") as f:
            while chunk := resp.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
            modified = resp.headers.get("Last-Modified")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unavailable(f"ADD {url}: download failed: {exc}") from None
    digest = "sha256:" + h.hexdigest()
    if checksum and checksum != digest:
        raise InvalidArgument(f"ADD {url}: digest mismatch {digest}: expected {checksum}")
    mtime = None
    if modified:
        with contextlib.suppress(TypeError, ValueError):
            mtime = parsedate_to_datetime(modified).timestamp()
    if mtime is not None:
        os.utime(out, (mtime, mtime))
    os.chmod(out, 0o600)
    return out, digest, mtime


def url_filename(url: str) -> str:
    import urllib.parse

    path = urllib.parse.urlparse(url).path
    name = posixpath.basename(path.rstrip("/"))
    return name or "__unnamed__"
