"""Docker's ``/networks`` endpoints over :class:`~dockyard.engine.netplumb.NetPlumb`.

``GET /networks`` (``filters`` name/id), ``GET /networks/{id}``, ``POST /networks/create``
(``Name``, ``IPAM.Config[0].Subnet|Gateway``, ``Internal``, ``Labels``) → 201 ``{"Id",
"Warning"}``, ``DELETE /networks/{id}`` → 204, ``POST /networks/{id}/connect``
(``Container``, ``EndpointConfig.Aliases``, ``EndpointConfig.IPAMConfig.IPv4Address``),
``POST /networks/{id}/disconnect`` (``Container``, ``Force``), ``POST /networks/prune`` →
``{"NetworksDeleted": [...]}``. Errors as the rest of the API (``{"message", "kind"}``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.errors import InvalidArgument, Unavailable

if TYPE_CHECKING:
    from dockyard.engine.netplumb import NetPlumb

__all__ = ["register"]


NET: web.AppKey[NetPlumb] = web.AppKey("netplumb")


def _net(request: web.Request) -> NetPlumb:
    net = request.app.get(NET)
    if net is None:
        raise Unavailable("networking is not initialised")
    return net


async def _json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON body: {e}") from None
    if not isinstance(body, dict):
        raise InvalidArgument("the body must be a JSON object")
    return body


def _filters(request: web.Request) -> dict[str, list[str]]:
    from dockyard.api.convert import parse_filters

    return parse_filters(request.query.get("filters"))


async def networks_list(request: web.Request) -> web.StreamResponse:
    n = _net(request)
    f = _filters(request)
    out = []
    for net in n.networks():
        if f.get("name") and not any(x in net.name for x in f["name"]):
            continue
        if f.get("id") and not any(net.id.startswith(x) for x in f["id"]):
            continue
        out.append(n.network_json(net))
    return web.json_response(out)


async def network_inspect(request: web.Request) -> web.StreamResponse:
    n = _net(request)
    return web.json_response(n.network_json(n.network(request.match_info["id"])))


async def networks_create(request: web.Request) -> web.StreamResponse:
    from dockyard.network import NetworkSpec

    body = await _json(request)
    name = body.get("Name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("create network: Name is required")
    driver = body.get("Driver") or "bridge"
    if driver != "bridge":
        raise InvalidArgument(f"create network {name}: driver {driver} is not supported")
    configs = ((body.get("IPAM") or {}).get("Config")) or []
    cfg = configs[0] if configs else {}
    if not isinstance(cfg, dict):
        raise InvalidArgument(f"create network {name}: IPAM.Config: expected objects")
    labels = body.get("Labels") or {}
    spec = NetworkSpec(
        name=name,
        subnet=str(cfg.get("Subnet") or ""),
        gateway=str(cfg.get("Gateway") or ""),
        internal=bool(body.get("Internal")),
        labels={str(k): str(v) for k, v in dict(labels).items()},
    )
    net = await _net(request).create_network(spec)
    return web.json_response({"Id": net.id, "Warning": ""}, status=201)


async def network_remove(request: web.Request) -> web.StreamResponse:
    await _net(request).remove_network(request.match_info["id"])
    return web.Response(status=204)


async def network_connect(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise InvalidArgument("connect: Container is required")
    ec = body.get("EndpointConfig") or {}
    aliases = [str(a) for a in ec.get("Aliases") or []]
    ip = str(((ec.get("IPAMConfig") or {}).get("IPv4Address")) or "")
    await _net(request).connect(request.match_info["id"], container, aliases, ip)
    return web.Response(status=200)


async def network_disconnect(request: web.Request) -> web.StreamResponse:
    body = await _json(request)
    container = body.get("Container")
    if not isinstance(container, str) or not container:
        raise InvalidArgument("disconnect: Container is required")
    await _net(request).disconnect(request.match_info["id"], container, bool(body.get("Force")))
    return web.Response(status=200)


async def networks_prune(request: web.Request) -> web.StreamResponse:
    return web.json_response({"NetworksDeleted": await _net(request).prune_networks()})


def register(app: web.Application, net: NetPlumb) -> None:
    """Add the routes (with and without a ``/v1.xx`` prefix)."""
    app[NET] = net
    r = app.router
    for p in ("", "/v{version:[0-9.]+}"):
        r.add_get(p + "/networks", networks_list)
        r.add_post(p + "/networks/create", networks_create)
        r.add_post(p + "/networks/prune", networks_prune)
        r.add_get(p + "/networks/{id}", network_inspect)
        r.add_delete(p + "/networks/{id}", network_remove)
        r.add_post(p + "/networks/{id}/connect", network_connect)
        r.add_post(p + "/networks/{id}/disconnect", network_disconnect)
