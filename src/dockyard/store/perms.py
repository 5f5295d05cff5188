"""Who may reach dockyard's state on the host: only root.

The state root holds container root filesystems (an overlay mount per running container,
not ``nosuid``: a setuid binary made in a container is setuid on the host too), Secrets
(in ``state.db``, in bundles' ``config.json`` as environment variables, in pods' Secret
volumes) and the bundles the runtime executes. An unprivileged host user who can walk into
it can run a container's setuid-root binary as root (CVE-2021-41091) or read a Secret.
So, as dockerd does (``/var/lib/docker`` 0710, ``containers`` 0710, ``overlay2`` 0710):

=====================  =====  =====================================================
path                   mode   why
=====================  =====  =====================================================
``<root>``             0710   nobody but root (and root's group) walks in
``containers/``        0710   bundles and the mounted root filesystems
``snapshots/``         0710   overlay lower and upper directories (setuid files)
``volumes/``           0701   docker's mode: names are not listed
``pods/``              0700   ConfigMap and Secret volumes
``blobs/``/``ingest/`` 0700   image content: private images too
``state.db`` (+wal/shm) 0600  Secrets, environment variables, configs
``config.json``        0600   (bundles) environment variables, Secrets among them
=====================  =====  =====================================================

:func:`secure_root` sets these on every start, so a root made by an earlier version (0755)
is tightened, not only new ones. Containers are not affected: a container process reaches
its root filesystem and its mounts through its own mount namespace (``pivot_root`` into
the overlay), never by walking these host paths, so ``USER 1000`` in an image still works.
The run root (sockets, pid files) is 0700: only root uses the daemon's socket.
"""

from __future__ import annotations

import os
import stat

__all__ = ["DB_MODE", "RUN_ROOT_MODE", "STATE_MODES", "secure_db", "secure_root"]

ROOT_MODE = 0o710
STATE_MODES = {
    "containers": 0o710,
    "snapshots": 0o710,
    "volumes": 0o701,
    "pods": 0o700,
    "blobs": 0o700,
    "ingest": 0o700,
}
DB_MODE = 0o600
RUN_ROOT_MODE = 0o700


def _tighten(path: str, mode: int) -> None:
    """chmod ``path`` to ``mode`` where it is a directory (never through a symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def secure_root(root: str | os.PathLike[str]) -> None:
    """Make ``root`` (0710) and its top directories (see the table above) and tighten
    what an earlier start left wider."""
    root = os.fspath(root)
    os.makedirs(root, ROOT_MODE, exist_ok=True)
    _tighten(root, ROOT_MODE)
    for name, mode in STATE_MODES.items():
        path = os.path.join(root, name)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        _tighten(path, mode)
    secure_db(os.path.join(root, "state.db"))


def secure_db(path: str) -> None:
    """Create the SQLite file 0600 before SQLite does (its -wal and -shm files take the
    main file's mode), and tighten the three where they exist already."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, DB_MODE))
        return
    except FileExistsError:
        pass
    for p in (path, path + "-wal", path + "-shm"):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
                os.fchmod(fd, DB_MODE)
        finally:
            os.close(fd)
