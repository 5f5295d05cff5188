"""Resolving ``--user`` / the image's USER against the image's passwd and group.

Docker's rules: ``name``, ``uid``, ``name:group``, ``uid:gid``; a numeric uid
need not exist in /etc/passwd (then gid 0 and HOME /); a name must. The user's
supplementary groups come from /etc/group membership; ``--group-add`` adds more.
Files are read from the container's root through :func:`read_in_root`, which
never follows a symlink out of the root.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, NotFound
from dockyard.records import record

TYPE_CHECKING = False  # ``typing`` and ``pathlib`` cost a start-up; mypy honours this
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["ExecUser", "host_path_in_root", "read_in_root", "resolve_in_root", "resolve_user"]


@record
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def host_path_in_root(root: str | os.PathLike[str], path: str) -> str:
    """The host path of ``path`` inside ``root``, resolving symlinks as if chrooted."""
    root = os.fspath(root)
    parts = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        if os.path.islink(candidate):
            hops += 1
            if hops > 40:
                raise InvalidArgument(f"resolve {path}: too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p and p != "."] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def resolve_in_root(root: str | os.PathLike[str], path: str) -> Path:
    """:func:`host_path_in_root` as a ``pathlib.Path``."""
    from pathlib import Path

    return Path(host_path_in_root(root, path))


def read_in_root(root: str | os.PathLike[str], path: str) -> str | None:
    try:
        with open(host_path_in_root(root, path), errors="replace") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _table(text: str | None) -> list[list[str]]:
    if not text:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _group_id(spec: str, groups: list[list[str]]) -> int:
    if spec.isdigit():
        return int(spec)
    for g in groups:
        if len(g) >= 3 and g[0] == spec and g[2].isdigit():
            return int(g[2])
    raise NotFound(f"unable to find group {spec}: no matching entries in group file")


def resolve_user(
    spec: str | None, passwd: str | None, group: str | None, group_add: Sequence[str] = ()
) -> ExecUser:
    """Resolve a docker ``--user`` spec against passwd/group file contents."""
    users, groups = _table(passwd), _table(group)
    user_part, _, group_part = (spec or "").partition(":")
    user_part = user_part or "0"
    entry = next((u for u in users if len(u) >= 7 and (u[0] == user_part or
                  (user_part.isdigit() and u[2] == user_part))), None)  # fmt: skip
    if entry is None and not user_part.isdigit():
        raise NotFound(f"unable to find user {user_part}: no matching entries in passwd file")
    uid = int(user_part) if user_part.isdigit() else int(entry[2])  # type: ignore[index]
    gid = int(entry[3]) if entry is not None and entry[3].isdigit() else 0
    home = entry[5] if entry is not None else "/"
    if group_part:
        gid = _group_id(group_part, groups)
    extra: list[int] = []
    if entry is not None and not group_part:
        name = entry[0]
        for g in groups:
            if len(g) >= 4 and name in g[3].split(",") and g[2].isdigit():
                gi = int(g[2])
                if gi != gid and gi not in extra:
                    extra.append(gi)
    for spec_g in group_add:
        gi = _group_id(spec_g, groups)
        if gi not in extra:
            extra.append(gi)
    if uid < 0 or gid < 0 or uid > 2**32 - 2:
        raise InvalidArgument(f"invalid user {spec}: ids must be between 0 and 4294967294")
    return ExecUser(uid, gid, tuple(extra), home)
