"""``docker cp``: a tar of a path in a container's root, and a tar extracted into it.

Paths are resolved inside the container's root filesystem as if chrooted
(:func:`dockyard.runtime.users.resolve_in_root`), so a symlink in the container
never leads out to the host. Extraction goes through the store's extraction
policy (:mod:`dockyard.store.layers`), which refuses entries that escape.
"""

from __future__ import annotations

import io
import os
import tarfile
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["read_archive", "write_archive"]


def _root(d: Daemon, ref: str) -> Any:
    from dockyard.engine.create import before_start
    from dockyard.engine.daemon import daemon_options_of, run_options_of

    rec = d.get(ref)
    rootfs = d.bundle(rec.id) / "rootfs"
    from dockyard.engine.containers import _is_mountpoint

    if not _is_mountpoint(rootfs):
        before_start(d, rec, run_options_of(rec), daemon_options_of(rec))
    return rec, rootfs


def _host_path(d: Daemon, rec: Any, rootfs: Any, path: str) -> Any:
    """Where ``path`` of the container is on the host: through its volumes, binds and the
    bind-mounted /etc/hostname, /etc/hosts, /etc/resolv.conf, else in its root."""
    from pathlib import Path

    from dockyard.runtime.users import resolve_in_root

    norm = os.path.normpath(path)
    if norm in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
        return d.bundle(rec.id) / os.path.basename(norm)
    best = None
    for m in rec.config.get("mounts") or []:
        dest = str(m.get("Destination") or "")
        inside = norm == dest or norm.startswith(dest.rstrip("/") + "/")
        if m.get("Source") and inside and (best is None or len(dest) > len(best["Destination"])):
            best = m
    if best is not None:
        rest = norm[len(str(best["Destination"])) :].lstrip("/")
        return resolve_in_root(Path(str(best["Source"])), "/" + rest)
    return resolve_in_root(rootfs, path)


def read_archive(d: Daemon, ref: str, path: str) -> tuple[bytes, dict[str, Any]]:

    if not path.startswith("/"):
        raise InvalidArgument(f"cp: path {path!r} must be absolute")
    rec, rootfs = _root(d, ref)
    host = _host_path(d, rec, rootfs, path)
    if not os.path.lexists(host):
        raise NotFound(f"cp {rec.name}:{path}: no such file or directory")
    buf = io.BytesIO()
    name = os.path.basename(path.rstrip("/")) or "."
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(host), arcname=name, recursive=True)
    st = os.lstat(host)
    stat = {"name": name, "size": st.st_size, "mode": st.st_mode, "mtime": str(int(st.st_mtime)),
            "linkTarget": os.readlink(host) if os.path.islink(host) else ""}  # fmt: skip
    return buf.getvalue(), stat


def write_archive(d: Daemon, ref: str, path: str, data: bytes) -> None:

    if not path.startswith("/"):
        raise InvalidArgument(f"cp: path {path!r} must be absolute")
    rec, rootfs = _root(d, ref)
    host = _host_path(d, rec, rootfs, path)
    if not host.is_dir():
        raise NotFound(f"cp to {rec.name}:{path}: destination directory does not exist")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for member in tar.getmembers():
                if member.name.startswith("/") or ".." in member.name.split("/"):
                    raise InvalidArgument(f"cp: unsafe path in archive: {member.name}")
                if member.isdev():
                    raise InvalidArgument(f"cp: device node in archive: {member.name}")
            from dockyard.store.tarextract import extract_tar

            extract_tar(tar, str(host))
    except tarfile.TarError as e:
        raise InvalidArgument(f"cp: invalid tar archive: {e}") from None
