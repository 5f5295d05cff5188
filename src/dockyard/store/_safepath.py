"""The path policy of layer extraction, shared by the applier and the scanner.

A tar entry name is split into components inside the root; the root is never
left.  Rules (every refusal is one line naming the entry):

* absolute names and ``..`` components are refused (``path escapes root``);
* the directories above an entry are resolved inside the root, like
  ``openat2(RESOLVE_IN_ROOT)``: a relative symlink met on the way is followed
  (it must stay inside), a symlink whose target is absolute or climbs above the
  root is refused (``path crosses a symlink that leaves the root``): following
  it on the host would write outside, and re-interpreting it would write
  somewhere the archive did not name;
* a symlink entry may point anywhere absolute (``/bin/sh -> busybox``,
  resolved in the container's root at run time) but a relative target must not
  climb above the root;
* a hardlink target is a name inside the archive's root, checked like an
  entry name;
* a whiteout ``.wh.NAME`` must name an entry: ``.wh.``, ``.wh..`` and ``.wh...`` (which
  would delete the directory itself, or the one above it) are refused
  (``invalid whiteout``).
"""

from __future__ import annotations

from collections.abc import Callable

from dockyard.errors import InvalidArgument

__all__ = [
    "MAX_HOPS",
    "Parts",
    "check_symlink_target",
    "clean_name",
    "resolve_dir",
    "whiteout_victim",
]

Parts = tuple[str, ...]
MAX_HOPS = 40


def clean_name(name: str, where: str) -> Parts:
    """Split a tar name into components; refuse absolute names and ``..``."""
    if name.startswith("/"):
        raise InvalidArgument(f"{where}: path escapes root: {name}")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise InvalidArgument(f"{where}: path escapes root: {name}")
    if "\x00" in name:
        raise InvalidArgument(f"{where}: invalid name: {name!r}")
    return parts


def whiteout_victim(base: str, prefix: str, name: str, where: str) -> str:
    """The name a whiteout entry ``base`` (``prefix`` + NAME) deletes; refuses the names
    that are not an entry of the directory (``""``, ``.``, ``..``)."""
    victim = base[len(prefix) :]
    if victim in ("", ".", ".."):
        raise InvalidArgument(f"{where}: invalid whiteout: {name}")
    return victim


def check_symlink_target(parts: Parts, target: str, where: str) -> None:
    """Refuse a relative symlink at ``parts`` whose target climbs above the root."""
    if not target:
        raise InvalidArgument(f"{where}: empty symlink target: {'/'.join(parts)}")
    if target.startswith("/"):
        return
    depth = len(parts) - 1
    for comp in target.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                raise InvalidArgument(
                    f"{where}: symlink escapes root: {'/'.join(parts)} -> {target}"
                )
        elif comp not in ("", "."):
            depth += 1


def resolve_dir(
    parts: Parts, readlink: Callable[[Parts], str | None], name: str, where: str
) -> Parts:
    """Resolve directory components inside the root; ``readlink`` says which are symlinks."""
    resolved: list[str] = []
    pending = list(parts)
    hops = 0
    while pending:
        comp = pending.pop(0)
        if comp in ("", "."):
            continue
        if comp == "..":
            if not resolved:
                raise InvalidArgument(
                    f"{where}: path crosses a symlink that leaves the root: {name}"
                )
            resolved.pop()
            continue
        target = readlink((*resolved, comp))
        if target is None:
            resolved.append(comp)
            continue
        hops += 1
        if hops > MAX_HOPS:
            raise InvalidArgument(f"{where}: too many levels of symbolic links: {name}")
        if target.startswith("/"):
            raise InvalidArgument(f"{where}: path crosses a symlink that leaves the root: {name}")
        pending[:0] = target.split("/")
    return tuple(resolved)
