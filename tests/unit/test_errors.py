"""The public error set is pinned (CONVENTIONS #12)."""

from __future__ import annotations

from dockyard import errors


def test_error_set_is_closed() -> None:
    assert sorted(errors.__all__) == [
        "AlreadyExists", "Conflict", "DockyardError", "FailedPrecondition", "Internal",
        "InvalidArgument", "NotFound", "PermissionDenied", "Unavailable", "undo",
    ]  # fmt: skip
    for name in errors.__all__:
        if name != "undo":  # the one helper: cleanup failures as notes (CONVENTIONS #5)
            assert issubclass(getattr(errors, name), errors.DockyardError)


def test_undo_runs_steps_last_first_and_keeps_the_first_error() -> None:
    done: list[str] = []

    def fails() -> None:
        done.append("fails")
        raise OSError("device busy")

    err = errors.Internal("create x: boom")
    errors.undo(err, [lambda: done.append("first"), fails, lambda: done.append("last")])
    assert done == ["last", "fails", "first"]
    assert str(err) == "create x: boom"
    assert err.__notes__ == ["cleanup: device busy"]
