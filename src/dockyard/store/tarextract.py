"""``TarFile.extractall`` with Python's ``"tar"`` extraction filter on every 3.11.

The filter argument came with Python 3.11.4 (and 3.12); Debian 12's interpreter is 3.11.2
and has no ``filter`` argument. There the same checks are made here, as the standard
library's ``tar_filter`` makes them: leading slashes stripped; a member whose path
resolves outside the destination is refused; setuid, setgid and sticky bits and group
and other write bits are cleared. Like that filter, and unlike ``"data"``, symlink targets
are not checked (``docker cp`` copies a container's absolute symlinks as they are).

Hard links are checked on every version: a hard link's target must be a name below the
destination. An absolute or climbing one (``x -> /etc/shadow``) would link a host file
into the destination, and a later member named ``x`` would be written through the link
into the host file (the ``"tar"`` filter lets both through).
"""

from __future__ import annotations

import copy
import os
import stat
import tarfile

__all__ = ["extract_tar"]

_CLEARED = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH


def extract_tar(
    tar: tarfile.TarFile, dest: str, members: list[tarfile.TarInfo] | None = None
) -> None:
    """Extract ``members`` (default: all) of ``tar`` under ``dest`` with the "tar" filter;
    a refused member raises :class:`tarfile.TarError` naming it (nothing is extracted)."""
    chosen = tar.getmembers() if members is None else members
    for m in chosen:
        _check_hardlink(m)
    if hasattr(tarfile, "tar_filter"):
        tar.extractall(dest, members=chosen, filter="tar")
        return
    base = os.path.realpath(dest)
    checked = []
    for m in chosen:
        name = m.name.lstrip("/" + os.sep)
        target = os.path.realpath(os.path.join(base, name))
        if os.path.commonpath([target, base]) != base:
            raise tarfile.TarError(f"{m.name!r} would be extracted outside the destination")
        safe = copy.copy(m)
        safe.name = name
        if safe.mode is not None:
            safe.mode &= 0o7777 & ~_CLEARED
        checked.append(safe)
    tar.extractall(dest, members=checked)


def _check_hardlink(m: tarfile.TarInfo) -> None:
    if not m.islnk():
        return
    name = m.linkname
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts or not parts:
        raise tarfile.TarError(f"{m.name!r} is a hard link outside the destination: {name!r}")
