"""The public error set is pinned (CONVENTIONS #12)."""

from __future__ import annotations

from dockyard import errors


def test_error_set_is_closed() -> None:
    assert sorted(errors.__all__) == [
        "AlreadyExists", "Conflict", "DockyardError", "FailedPrecondition", "Internal",
        "InvalidArgument", "NotFound", "PermissionDenied", "Unavailable",
    ]  # fmt: skip
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.DockyardError)
