"""``COPY --parents``: sources that keep their parent directories (Dockerfile 1.7 labs).

Rules (BuildKit's ``dockerfile2llb``)
-------------------------------------
* A source ``path`` lands at ``<dest>/<path>``: ``COPY --parents x/a.txt y/a.txt /p/`` makes
  ``/p/x/a.txt`` and ``/p/y/a.txt``.  The destination is always a directory.
* A *pivot* ``./`` inside the path keeps only what follows it, as ``rsync --relative``:
  ``COPY --parents x/./y/*.txt /p/`` makes ``/p/y/a.txt``.  (A leading ``./`` is no pivot.)
* The part after the pivot (or the whole path) is a pattern with the ``.dockerignore``
  syntax (``*``, ``?``, ``**``); a directory that matches comes with everything below it.
* The parent directories between the pivot and a match are copied as directories (their
  permission bits and mtime; the owner is ``0:0`` or ``--chown``).
* ``--exclude`` patterns apply to the paths below the pivot.

One difference: a source without wildcards that does not exist is an error here
(``NotFound``), as it is without ``--parents``; BuildKit skips it silently.

:func:`select_parents` is :func:`dockyard.build.context.select` for such a source: its entries
have their destination below ``<dest>`` already, and its checksum row is the cache input.
"""

from __future__ import annotations

import posixpath

from dockyard.build.context import Entry, Source, SourceTree, Sums, checksum
from dockyard.build.dockerignore import IgnoreMatcher
from dockyard.build.gomatch import has_wildcards
from dockyard.errors import InvalidArgument, NotFound

__all__ = ["parents_entries", "select_parents", "split_pivot"]


def split_pivot(src: str) -> tuple[str, str]:
    """``base/./path`` as ``(base, path)``; without a pivot the base is the root (``""``)."""
    base, sep, rest = src.partition("/./")
    return (base, rest) if sep else ("", src)


def parents_entries(tree: SourceTree, src: str,
                    excludes: list[str] | None) -> list[tuple[Source, list[Entry]]]:  # fmt: skip
    """Per match of ``src``: the entries to copy, their destinations relative to ``<dest>``."""
    base, pattern = split_pivot(src)
    if has_wildcards(base):
        raise InvalidArgument(f"{src}: wildcards before the ./ pivot are not supported")
    base_rel = tree.clean(base or ".")
    full = tree.clean(posixpath.join(base_rel, pattern) if base_rel else pattern)
    if base_rel and full != base_rel and not full.startswith(base_rel + "/"):
        raise InvalidArgument(f"{src}: the path after ./ leaves {base}")

    def below_of(rel: str) -> str:  # the path below the pivot
        return rel[len(base_rel) + 1 :] if base_rel else rel

    if has_wildcards(full):
        matches = _included(tree, base_rel, below_of(full), src)
    else:
        matches = tree.match(full)
    drop = IgnoreMatcher(excludes) if excludes else None
    out: list[tuple[Source, list[Entry]]] = []
    for m in matches:
        below = below_of(m.rel)
        entries = _parent_dirs(tree, base_rel, below)
        for e in tree.entries(m):
            dest = posixpath.join(below, e.dest) if e.dest else below
            if dest and (drop is None or not drop.excluded(dest)):
                entries.append(Entry(e.src, dest, e.kind))
        out.append((m, entries))
    return out


def select_parents(
    tree: SourceTree, src: str, excludes: list[str] | None, sums: Sums | None = None
) -> list[tuple[Source, list[Entry], list[object]]]:
    """:func:`dockyard.build.context.select` for ``COPY --parents``."""
    return [(m, entries, [m.rel, checksum(entries, sums)])
            for m, entries in parents_entries(tree, src, excludes)]  # fmt: skip


def _included(tree: SourceTree, base_rel: str, pattern: str, src: str) -> list[Source]:
    """The topmost paths below ``base_rel`` that ``pattern`` (dockerignore syntax) takes."""
    matcher = IgnoreMatcher([pattern])
    depth = -1 if "**" in pattern else pattern.count("/") + 1
    out: list[Source] = []
    taken: list[str] = []
    for sub in tree.walk(base_rel, max_depth=depth):
        rel = sub[len(base_rel) + 1 :] if base_rel else sub
        if any(rel.startswith(t + "/") for t in taken) or not matcher.excluded(rel):
            continue
        taken.append(rel)
        out.extend(tree.match(sub))
    if not out:
        raise NotFound(f'"/{src}": no source files were specified')
    return out


def _parent_dirs(tree: SourceTree, base_rel: str, below: str) -> list[Entry]:
    """The directories between the pivot and ``below``, as entries (outermost first)."""
    parts = below.split("/")[:-1]
    out = []
    for i in range(1, len(parts) + 1):
        rel = "/".join(parts[:i])
        out.append(Entry(tree.resolve(posixpath.join(base_rel, rel)), rel, "dir"))
    return out
