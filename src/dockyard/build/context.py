"""The build context and the files a COPY/ADD reads from it (or from a stage).

Terms
-----
*source tree*: a directory COPY reads from — the build context (filtered by
``.dockerignore``, confined: nothing may lead out of it) or the root of
another stage or image (``--from``; symlinks resolve as if chrooted there).
*selection*: what one COPY reads: :class:`Entry` objects, each a host path
and where it lands relative to the destination.

Rules (Docker/BuildKit)
-----------------------
* Source paths are relative to the tree's root; a leading ``/`` is dropped.
  In the context, ``..`` that climbs above the root, an absolute path that
  is not in the context, and a symlink that resolves outside the context are
  errors, never silently clamped.
* A wildcard (Go ``filepath.Match``) is split at its first wildcard
  component; the tree below the fixed prefix is walked and every path that
  matches is taken (a matching directory is not descended into).
* A directory source copies its *contents*; a file source copies the file.
  Symlinks inside copied directories are copied as symlinks.
* Ignored paths do not exist for COPY; ``--exclude`` patterns (dockerignore
  syntax) apply to the paths below each source.

:func:`checksum` is the cache input of a selection: for each entry its
destination, type, permission bits and content digest (a symlink: its target)
— never mtimes or owners (COPY sets the owner anyway).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from dockyard.build.dockerignore import IgnoreMatcher, parse_dockerignore
from dockyard.build.gomatch import has_wildcards
from dockyard.build.gomatch import match as go_match
from dockyard.errors import InvalidArgument, NotFound
from dockyard.records import record

__all__ = ["Entry", "Source", "SourceTree", "checksum", "file_digest", "load_context", "select"]

_MMAP_MIN = 1 << 20


@record
class Entry:
    """One thing to copy: ``src`` on the host lands at ``dest`` below the destination.

    ``dest`` is relative (``""`` is the destination itself); ``kind`` is
    ``dir``, ``file``, ``symlink`` or ``other``.
    """

    src: Path
    dest: str
    kind: str


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "other"


@record
class Source:
    """One matched source path: its host path, its path in the tree and its kind."""

    path: Path
    rel: str
    kind: str


class SourceTree:
    """A directory that COPY reads from; see the module docstring."""

    def __init__(self, root: Path, ignore: IgnoreMatcher | None = None, *,
                 confined: bool = True) -> None:  # fmt: skip
        self.root = Path(root)
        self.ignore = ignore
        self.confined = confined

    # --- paths -----------------------------------------------------------------------

    def clean(self, src: str) -> str:
        """A source as a path relative to the root; InvalidArgument if it leaves it."""
        absolute = src.startswith("/")
        depth = 0
        for part in src.split("/"):
            if part == "..":
                depth -= 1
                if depth < 0:
                    raise InvalidArgument(f"{src}: source path is outside the build context")
            elif part not in ("", "."):
                depth += 1
        rel = posixpath.normpath(src).lstrip("/")
        if rel in ("", "."):
            return ""
        if absolute and self.confined and not os.path.lexists(self.root / rel):
            raise InvalidArgument(f"{src}: source path is outside the build context")
        return rel

    def resolve(self, rel: str) -> Path:
        """The host path of ``rel``, following symlinks inside the tree only."""
        parts = [p for p in rel.split("/") if p and p != "."]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if not done:
                    if self.confined:
                        raise InvalidArgument(f"{rel}: source path is outside the build context")
                    continue
                done.pop()
                continue
            candidate = self.root.joinpath(*done, part)
            if candidate.is_symlink():
                hops += 1
                if hops > 40:
                    raise InvalidArgument(f"{rel}: too many levels of symbolic links")
                target = os.readlink(candidate)
                if target.startswith("/"):
                    if self.confined:
                        raise InvalidArgument(
                            f"{rel}: symlink {'/'.join([*done, part])} points outside the "
                            "build context"
                        )
                    done = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            done.append(part)
        return self.root.joinpath(*done)

    def is_ignored(self, rel: str) -> bool:
        return self.ignore is not None and rel != "" and self.ignore.excluded(rel)

    # --- selecting -------------------------------------------------------------------

    def match(self, src: str) -> list[Source]:
        """The paths ``src`` (maybe a wildcard) names; NotFound when none exists."""
        rel = self.clean(src)
        if has_wildcards(rel):
            found = list(self._wildcard(rel))
            if not found:
                raise NotFound(f'"/{rel}": no source files were specified')
            return found
        host = self.resolve(rel)
        if self.is_ignored(rel) or not os.path.lexists(host):
            raise NotFound(f'"/{rel}": not found')
        try:
            st = os.stat(host)
        except OSError:
            raise NotFound(f'"/{rel}": not found') from None
        return [Source(host, rel, _kind(st.st_mode))]

    def _wildcard(self, rel: str) -> Iterator[Source]:
        parts = rel.split("/")
        cut = next(i for i, p in enumerate(parts) if has_wildcards(p))
        base_rel = "/".join(parts[:cut])
        pattern = "/".join(parts[cut:])
        base = self.resolve(base_rel)
        if not base.is_dir():
            return
        depth = pattern.count("/") + 1
        for sub, path, st in self._walk(base, base_rel, max_depth=depth):
            rel_to_base = sub[len(base_rel) + 1 :] if base_rel else sub
            if go_match(pattern, rel_to_base):
                kind = _kind(st.st_mode)
                host = path
                if kind == "symlink":
                    host = self.resolve(sub)
                    try:
                        kind = _kind(os.stat(host).st_mode)
                    except OSError:
                        continue
                yield Source(host, sub, kind)

    def walk(self, rel: str, *, max_depth: int = -1) -> Iterator[str]:
        """The paths in the tree below ``rel`` (not ignored), sorted, at most ``max_depth``
        levels down (-1: all)."""
        for sub, _path, _st in self._walk(self.resolve(rel), rel, max_depth=max_depth):
            yield sub

    def _walk(
        self, top: Path, top_rel: str, *, max_depth: int = -1,
        excludes: IgnoreMatcher | None = None, below: str = "",
    ) -> Iterator[tuple[str, Path, os.stat_result]]:  # fmt: skip
        """(path in tree, host path, lstat) below ``top``, sorted, skipping ignored paths;
        at most ``max_depth`` levels down (-1: all)."""
        if max_depth == 0:
            return
        try:
            with os.scandir(top) as it:
                entries = sorted(it, key=lambda e: e.name)
        except NotADirectoryError:
            return
        for e in entries:
            sub = f"{top_rel}/{e.name}" if top_rel else e.name
            rel_below = f"{below}/{e.name}" if below else e.name
            st = e.stat(follow_symlinks=False)
            is_dir = stat.S_ISDIR(st.st_mode)
            ignored = self.is_ignored(sub) or (
                excludes is not None and excludes.excluded(rel_below)
            )
            keep_looking = is_dir and (
                (self.ignore is not None and self.ignore.may_include_below(sub))
                or (excludes is not None and excludes.may_include_below(rel_below))
            )
            if ignored and not keep_looking:
                continue
            below_it = (
                self._walk(Path(e.path), sub, max_depth=max_depth - 1, excludes=excludes,
                           below=rel_below) if is_dir else iter(())
            )  # fmt: skip
            if ignored:  # an ignored dir is there only for what a ``!`` pattern takes back:
                found = list(below_it)  # then it comes too, as BuildKit sends the parents
                if found:  # of what it sends (else ``!a/b/f`` would have no ``a/b`` to go in)
                    yield sub, Path(e.path), st
                    yield from found
                continue
            yield sub, Path(e.path), st
            yield from below_it

    def entries(self, source: Source, excludes: list[str] | None = None) -> list[Entry]:
        """What copying ``source`` copies: a file, or a directory's contents."""
        matcher = IgnoreMatcher(excludes) if excludes else None
        if source.kind != "dir":
            if matcher is not None and matcher.excluded(posixpath.basename(source.rel)):
                return []
            return [Entry(source.path, "", source.kind)]
        out = [Entry(source.path, "", "dir")]
        for sub, path, st in self._walk(source.path, source.rel, excludes=matcher):
            below = sub[len(source.rel) + 1 :] if source.rel else sub
            out.append(Entry(path, below, _kind(st.st_mode)))
        return out


def load_context(root: Path, dockerfile_names: tuple[str, ...] = ()) -> SourceTree:
    """The build context at ``root`` with its ``.dockerignore``
    (``<Dockerfile name>.dockerignore`` first, as BuildKit)."""
    root = Path(root)
    if not root.is_dir():
        raise NotFound(f"build context {root}: no such directory")
    patterns: list[str] = []
    for name in (*(f"{n}.dockerignore" for n in dockerfile_names), ".dockerignore"):
        path = root / name
        if path.is_file():
            patterns = parse_dockerignore(path.read_text(errors="replace"))
            break
    return SourceTree(root, IgnoreMatcher(patterns) if patterns else None)


def file_digest(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's content (a large file is hashed through ``mmap``:
    no copy through a buffer)."""
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        size = os.fstat(f.fileno()).st_size
        if size > _MMAP_MIN:
            import mmap

            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                m.madvise(mmap.MADV_SEQUENTIAL)
                h.update(m)
            return h.hexdigest()
        # a buffer of the file's size (and one byte more, to see the end): a 1 MiB
        # buffer per small file would cost more than reading the file
        while data := f.read(size + 1):
            h.update(data)
    return h.hexdigest()


class Sums(Protocol):
    """Where :func:`checksum` gets file digests (:class:`dockyard.build.cache.FileSums`)."""

    def digest(self, path: str | os.PathLike[str], st: os.stat_result) -> str: ...


def checksum(entries: list[Entry], sums: Sums | None = None) -> list[list[object]]:
    """The cache input of a selection (see the module docstring); file digests come
    from ``sums`` when given (which may remember them), else every file is read."""
    out: list[list[object]] = []
    for e in entries:
        st = os.lstat(e.src)
        kind = _kind(st.st_mode)
        if kind == "file":
            content = sums.digest(e.src, st) if sums is not None else file_digest(e.src)
        elif kind == "symlink":
            content = os.readlink(e.src)
        else:
            content = ""
        out.append([e.dest, kind, stat.S_IMODE(st.st_mode), content])
    return out


def select(tree: SourceTree, src: str, excludes: list[str] | None,
           sums: Sums | None = None) -> list[tuple[Source, list[Entry], list[object]]]:  # fmt: skip
    """What ``COPY src`` reads from ``tree``: per matched path, its entries and its cache
    input ``[path in tree, checksum]``."""
    out: list[tuple[Source, list[Entry], list[object]]] = []
    for m in tree.match(src):
        entries = tree.entries(m, excludes)
        out.append((m, entries, [m.rel, checksum(entries, sums)]))
    return out
