"""The closed set of dockyard errors.

Every failure that a user can cause or observe is one of these classes::

    DockyardError
     +-- NotFound            the named object does not exist
     +-- AlreadyExists       an object with that name or id exists
     +-- InvalidArgument     the input is malformed (flags, JSON, tar, Dockerfile)
     +-- FailedPrecondition  the object is not in a state that allows the operation
     +-- Conflict            a concurrent change or a resource held by another
     +-- PermissionDenied    the caller or the kernel refused
     +-- Unavailable         a service or a kernel feature is not there
     +-- Internal            a bug or an unexpected kernel answer

Messages name the operation and the object, lower-case, with no trailing
period: ``load image.tar: layer 2: path escapes root: ../etc/passwd``.
Only ``dockyard.cli`` turns these into exit codes; nothing else prints or exits.
A cleanup failure is attached to the original error (``add_note``), it never
replaces it: :func:`undo` runs cleanup steps that way.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "AlreadyExists",
    "Conflict",
    "DockyardError",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Unavailable",
    "undo",
]


class DockyardError(Exception):
    """Base of every dockyard error; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class NotFound(DockyardError):
    """The named object does not exist."""


class AlreadyExists(DockyardError):
    """An object with that name or id already exists."""


class InvalidArgument(DockyardError):
    """The input is malformed: a flag, JSON, a tarball, a Dockerfile."""


class FailedPrecondition(DockyardError):
    """The object is not in a state that allows the operation."""


class Conflict(DockyardError):
    """A concurrent change, or a resource that another object holds."""


class PermissionDenied(DockyardError):
    """The caller, or the kernel, refused the operation."""


class Unavailable(DockyardError):
    """A service or a kernel feature is not available."""


class Internal(DockyardError):
    """A bug, or an answer from the kernel that should not happen."""


def undo(err: BaseException, steps: Sequence[Callable[[], object]]) -> None:
    """Run cleanup ``steps`` (last first) after ``err``; their failures become notes on
    ``err``, which the caller then raises: the first failure stays the one reported."""
    for step in reversed(steps):
        try:
            step()
        except Exception as e:
            err.add_note(f"cleanup: {e}")
