"""``ps --filter``: which containers match docker's filters (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.store.db import ContainerRecord

__all__ = ["filter_containers", "matches"]


def _health(rec: ContainerRecord) -> str:
    from dockyard.engine.record import config_of

    state = config_of(rec).state
    h = state.health if state is not None else None
    return str(h.get("Status")) if h else "none"


def matches(rec: ContainerRecord, filters: dict[str, list[str]]) -> bool:
    """All keys must match; within a key, any value — but every ``label`` (docker's rule:
    ``--filter label=a --filter label=b`` wants both; compose v1 counts a service's
    containers so, and numbered them wrongly when one label was enough)."""
    checks: dict[str, Callable[[str], bool]] = {
        "id": lambda v: rec.id.startswith(v),  # noqa: PLW0108
        "name": lambda v: v.removeprefix("/") in rec.name,
        "status": lambda v: rec.status == v,
        "ancestor": lambda v: v in (rec.image_ref, rec.image_id) or rec.image_id.startswith(v),
        "health": lambda v: _health(rec) == v,
        "exited": lambda v: rec.status == "exited" and str(rec.exit_code) == v,
        "label": lambda v: (
            rec.labels.get(v.partition("=")[0]) == v.partition("=")[2]
            if "=" in v
            else v in rec.labels
        ),
    }
    for key, values in filters.items():
        check = checks.get(key)
        if check is None:
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(f"invalid filter '{key}'")
        if not values:
            continue
        if not (all if key == "label" else any)(check(v) for v in values):
            return False
    return True


def filter_containers(
    recs: list[ContainerRecord], filters: dict[str, list[str]]
) -> list[ContainerRecord]:
    return [r for r in recs if matches(r, filters)]
