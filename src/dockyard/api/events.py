"""``core/v1`` Events over HTTP, as the API server lists them (read-only).

    GET /api/v1/events                          every namespace
    GET /api/v1/namespaces/{ns}/events          one namespace
        ?fieldSelector=involvedObject.name=web-1,involvedObject.kind=Pod,type=Warning

The events come from :class:`dockyard.orchestrator.events.EventLog`, which the
controllers and the pod backend write. Registered before the generic object routes, so
``events`` is not taken for a kind the store keeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.orchestrator.events import Event, EventLog

__all__ = ["register"]

LOG: web.AppKey[EventLog] = web.AppKey("events")

# fieldSelector keys the API server accepts for events, and how to read each from one
_FIELDS: dict[str, Any] = {
    "involvedObject.kind": lambda e: e.involved.kind,
    "involvedObject.namespace": lambda e: e.involved.namespace,
    "involvedObject.name": lambda e: e.involved.name,
    "involvedObject.uid": lambda e: e.involved.uid,
    "involvedObject.apiVersion": lambda e: e.involved.api_version,
    "involvedObject.fieldPath": lambda e: e.involved.field_path,
    "reason": lambda e: e.reason,
    "source": lambda e: e.component,
    "type": lambda e: e.type,
    "metadata.name": lambda e: e.name,
    "metadata.namespace": lambda e: e.involved.namespace,
}


def field_selector(text: str) -> list[tuple[str, str, bool]]:
    """``a=b,c!=d`` → ``[(a, b, True), (c, d, False)]``; an unknown field is an error,
    with the API server's wording."""
    out = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        if "!=" in term:
            key, _, value = term.partition("!=")
            equal = False
        else:
            key, _, value = term.partition("==") if "==" in term else term.partition("=")
            equal = True
        if key not in _FIELDS:
            raise InvalidArgument(f'"{key}" is not a known field selector: only '
                                  f'"{", ".join(sorted(_FIELDS))}"')  # fmt: skip
        out.append((key, value, equal))
    return out


def _matches(e: Event, terms: list[tuple[str, str, bool]]) -> bool:
    return all((_FIELDS[k](e) == v) == eq for k, v, eq in terms)


async def list_events(request: web.Request) -> web.StreamResponse:
    log = request.app[LOG]
    terms = field_selector(request.query.get("fieldSelector", ""))
    items = [e.to_api() for e in log.list(request.match_info.get("ns")) if _matches(e, terms)]
    return web.json_response({"apiVersion": "v1", "kind": "EventList", "metadata": {},
                              "items": items})  # fmt: skip


def register(app: web.Application, log: EventLog) -> None:
    app[LOG] = log
    app.router.add_get("/api/v1/events", list_events)
    app.router.add_get("/api/v1/namespaces/{ns}/events", list_events)
