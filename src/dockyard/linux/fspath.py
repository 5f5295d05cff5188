"""``FsPath``: a POSIX path that is a ``str``, for code on a container's start path.

``pathlib`` imports ``re``, ``fnmatch``, ``urllib.parse`` and ``enum`` (about 25 ms on this
machine, more than half a ``runc run``), so the cgroup managers and the runtime join
paths with this instead. It has the part of ``pathlib.PurePosixPath`` they use — ``/``,
``name``, ``parent``, ``parts``, ``is_relative_to`` — and the few queries they make of
the filesystem. Being a ``str``, it goes wherever a path does (``open``, ``os.*``) and
compares equal to the same string; use :meth:`to_path` where a ``pathlib.Path`` is
promised to callers.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["FsPath"]


class FsPath(str):
    """A normalised POSIX path (no empty or ``.`` components, no trailing slash)."""

    __slots__ = ()

    def __new__(cls, value: str | os.PathLike[str] = ".") -> FsPath:
        text = os.fspath(value)
        absolute = text.startswith("/")
        parts = [p for p in text.split("/") if p and p != "."]
        joined = "/".join(parts)
        return str.__new__(cls, ("/" + joined) if absolute else (joined or "."))

    def __truediv__(self, other: str | os.PathLike[str]) -> FsPath:
        text = os.fspath(other)
        if text.startswith("/"):
            return FsPath(text)
        if self == ".":
            return FsPath(text)
        return FsPath(str.__add__(self, "/" + text))

    def __repr__(self) -> str:
        return f"FsPath({str.__repr__(self)})"

    @property
    def name(self) -> str:
        return self.rpartition("/")[2]

    @property
    def parent(self) -> FsPath:
        head, sep, _ = self.rpartition("/")
        if not sep:
            return FsPath(".")
        return FsPath(head or "/")

    @property
    def parts(self) -> tuple[str, ...]:
        if self == ".":
            return ()
        names = tuple(p for p in self.split("/") if p)
        return ("/", *names) if self.startswith("/") else names

    def is_relative_to(self, other: str | os.PathLike[str]) -> bool:
        base = FsPath(other)
        return self == base or (base == "/" and self.startswith("/")) or self.startswith(base + "/")

    def exists(self) -> bool:
        return os.path.exists(self)

    def is_dir(self) -> bool:
        return os.path.isdir(self)

    def is_symlink(self) -> bool:
        return os.path.islink(self)

    def iterdir(self) -> Iterator[FsPath]:
        for name in os.listdir(self):
            yield self / name

    def to_path(self) -> Path:
        """The same path as a ``pathlib.Path`` (imports pathlib)."""
        from pathlib import Path

        return Path(self)
