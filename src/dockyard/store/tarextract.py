"""``TarFile.extractall`` with Python's ``"tar"`` extraction filter on every 3.11.

The filter argument came with Python 3.11.4 (and 3.12); Debian 12's interpreter is 3.11.2
and has no ``filter`` argument. There the same checks are made here, as the standard
library's ``tar_filter`` makes them: leading slashes stripped; a member whose path
resolves outside the destination is refused; setuid, setgid and sticky bits and group
and other write bits are cleared. Like that filter, and unlike ``"data"``, link targets
are not checked (``docker cp`` copies a container's absolute symlinks as they are).
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
