"""The object API: Kubernetes-shaped REST paths over the daemon's orchestrator.

Paths (as the API server's; ``{ns}`` defaults nothing, the CLI always sends one)::

    GET    /api/v1/{plural}                                   every namespace
    GET    /api/v1/namespaces/{ns}/{plural}[?labelSelector=]  a List
    POST   /api/v1/namespaces/{ns}/{plural}                   create (201)
    GET    /api/v1/namespaces/{ns}/{plural}/{name}
    PUT    /api/v1/namespaces/{ns}/{plural}/{name}            update (resourceVersion checked)
    DELETE /api/v1/namespaces/{ns}/{plural}/{name}
    /apis/{group}/{version}/...                               the same for apps/v1,
                                                              autoscaling/v2, networking.k8s.io/v1
    GET|PUT /apis/apps/v1/namespaces/{ns}/{deployments|replicasets}/{name}/scale
    POST   /apis/apps/v1/namespaces/{ns}/deployments/{name}/rollout/{undo|pause|resume|restart}
    GET    /apis/apps/v1/namespaces/{ns}/deployments/{name}/rollout/{status|history}
    POST   /apis/dockyard.io/v1/apply                         {"items": [...], "namespace": ns}
    GET    /apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods, .../nodes
    GET    /apis/dockyard.io/v1/errors                        the controllers' current errors
    GET    /metrics                                           Prometheus text format

Pods are the engine's (``PodBackend.list_pods``); their ``containerStatuses`` carry
``containerID: dockyard://<id>`` so the CLI reaches logs and exec through the
container endpoints. Errors are the daemon's usual ``{"message", "kind"}``.

``apply`` is all or nothing for what can be checked before writing: the plan is
:func:`dockyard.orchestrator.apply_plan.plan_apply` (every item decodes and validates, the
message names the item: ``items[2]: Deployment.apps "web" is invalid: ...``; immutable
fields must not change), and only then are the objects created or updated, Namespaces
first. This module holds the HTTP handlers only: ``/proc`` is read through
:mod:`dockyard.linux.procfs`, ``/metrics`` is formatted by :mod:`dockyard.api.prometheus`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.orchestrator.backend import ObservedPod
    from dockyard.orchestrator.enginepods import Orchestrator

__all__ = ["PLURALS", "register"]

ORCH: web.AppKey[Orchestrator] = web.AppKey("orchestrator")

# plural -> (group/version, kind, namespaced)
PLURALS: dict[str, tuple[str, str, bool]] = {
    "deployments": ("apps/v1", "Deployment", True),
    "replicasets": ("apps/v1", "ReplicaSet", True),
    "pods": ("v1", "Pod", True),
    "services": ("v1", "Service", True),
    "configmaps": ("v1", "ConfigMap", True),
    "secrets": ("v1", "Secret", True),
    "namespaces": ("v1", "Namespace", False),
    "horizontalpodautoscalers": ("autoscaling/v2", "HorizontalPodAutoscaler", True),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", True),
}


def _o(request: web.Request) -> Orchestrator:
    return request.app[ORCH]


def _cls(kind: str) -> type[Any]:
    from dockyard.orchestrator.objects import KINDS

    return next(c for (_v, k), c in KINDS.items() if k == kind)


def _plural(request: web.Request) -> tuple[str, type[Any], bool]:
    plural = request.match_info["plural"]
    entry = PLURALS.get(plural)
    if entry is None:
        raise NotFound(f'the server could not find the requested resource "{plural}"')
    gv = request.match_info.get("gv", "v1")
    if gv != entry[0] and not (
        entry[1] == "HorizontalPodAutoscaler" and gv.startswith("autoscaling/")
    ):
        raise NotFound(f'the server could not find the requested resource "{plural}" in {gv}')
    return entry[1], _cls(entry[1]), entry[2]


def _json(value: Any, status: int = 200) -> web.Response:
    import json

    return web.Response(text=json.dumps(value), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    import json

    try:
        return json.loads(await request.text() or "{}")
    except ValueError as e:
        raise InvalidArgument(f"invalid JSON body: {e}") from None


def _selector(request: web.Request) -> Any:
    from dockyard.orchestrator.selectors import parse_selector

    text = request.query.get("labelSelector")
    return parse_selector(text) if text else None


def pod_dict(p: ObservedPod, ids: dict[str, str]) -> dict[str, Any]:
    from dockyard.orchestrator.export import to_dict

    out = to_dict(p.to_pod())
    status = out.setdefault("status", {})
    for cs in status.get("containerStatuses") or []:
        cid = ids.get(cs.get("name", ""))
        if cid:
            cs["containerID"] = f"dockyard://{cid}"
    if p.terminating:
        out["metadata"]["deletionTimestamp"] = out["metadata"].get("creationTimestamp")
    if p.reason and p.phase == "Pending":
        status["reason"] = p.reason
        if p.message:
            status["message"] = p.message
    return out


def _pods(o: Orchestrator, ns: str | None, selector: Any) -> list[dict[str, Any]]:
    from dockyard.orchestrator.selectors import matches

    out = []
    for p in o.backend.pods():
        if ns is not None and p.namespace != ns:
            continue
        if selector is not None and not matches(selector, p.pod.metadata.labels):
            continue
        out.append(pod_dict(p, o.backend.container_ids(p.namespace, p.name)))
    return out


# ---------------------------------------------------------------------- collections


async def list_objects(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator.export import to_dict

    o = _o(request)
    kind, cls, namespaced = _plural(request)
    ns = request.match_info.get("ns") if namespaced else None
    sel = _selector(request)

    def items() -> list[dict[str, Any]]:
        if kind == "Pod":
            return _pods(o, ns, sel)
        return [to_dict(x) for x in o.store.list(cls, ns, sel)]

    if request.query.get("watch") in ("1", "true"):
        return await _watch(request, o, items)
    gv = PLURALS[request.match_info["plural"]][0]
    return _json({"apiVersion": gv, "kind": f"{kind}List", "items": items()})


async def _watch(
    request: web.Request, o: Orchestrator, items: Callable[[], list[dict[str, Any]]]
) -> web.StreamResponse:
    """``?watch=1``: the API server's watch stream, one JSON event per line —
    ``{"type": "ADDED"|"MODIFIED"|"DELETED", "object": {...}}`` — every current object
    ADDED first, then each change as it happens. Woken by the object store's writes and the
    pod backend's changes (and every 2 s, for what neither reports), each wake compares the
    list with the last one sent. ``timeoutSeconds`` ends the stream, as the API server's."""
    import asyncio
    import json

    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def poke(*_args: Any) -> None:
        loop.call_soon_threadsafe(wake.set)

    cancel = o.store.watch(poke)
    o.listeners.append(poke)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    limit = float(request.query.get("timeoutSeconds") or 0)
    deadline = loop.time() + limit if limit > 0 else None
    sent: dict[str, str] = {}
    try:
        while request.transport is not None and not request.transport.is_closing():
            wake.clear()
            now = {_key(i): (i, json.dumps(i, sort_keys=True)) for i in items()}
            events = [("ADDED" if k not in sent else "MODIFIED", i)
                      for k, (i, text) in now.items() if sent.get(k) != text]  # fmt: skip
            events += [("DELETED", json.loads(text)) for k, text in sent.items() if k not in now]
            for kind, obj in events:
                await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            sent = {k: text for k, (_i, text) in now.items()}
            wait = 2.0 if deadline is None else min(2.0, deadline - loop.time())
            if wait <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait)
    except ConnectionError:
        pass  # the client went away
    finally:
        cancel()
        if poke in o.listeners:
            o.listeners.remove(poke)
    return resp


def _key(item: dict[str, Any]) -> str:
    m = item.get("metadata") or {}
    return f"{m.get('namespace')}/{m.get('name')}"


async def get_object(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator.export import to_dict

    o = _o(request)
    kind, cls, _ = _plural(request)
    ns, name = request.match_info.get("ns") or "default", request.match_info["name"]
    if kind == "Pod":
        for p in o.backend.pods():
            if p.namespace == ns and p.name == name:
                return _json(pod_dict(p, o.backend.container_ids(ns, name)))
        raise NotFound(f'pods "{name}" not found')
    try:
        return _json(to_dict(o.store.get(cls, ns, name)))
    except NotFound:
        raise NotFound(f'{request.match_info["plural"]} "{name}" not found') from None


def _decode(doc: Any, kind: str, ns: str | None) -> Any:
    from dockyard.orchestrator.loader import from_dict
    from dockyard.records import replace

    obj = from_dict(doc)
    if obj.kind != kind:
        raise InvalidArgument(f"the body's kind {obj.kind} does not match the path ({kind})")
    if ns is not None and obj.kind != "Namespace":
        if obj.metadata.namespace and obj.metadata.namespace != ns:
            raise InvalidArgument(
                f"the namespace of the provided object ({obj.metadata.namespace}) does not "
                f"match the namespace sent on the request ({ns})"
            )
        obj = replace(obj, metadata=replace(obj.metadata, namespace=ns))
    return obj


async def create_object(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator.export import to_dict

    o = _o(request)
    kind, _, namespaced = _plural(request)
    obj = _decode(await _body(request), kind, request.match_info.get("ns") if namespaced else None)
    if kind == "Pod":
        await o.backend.create_pod(obj)
        return _json(to_dict(obj), 201)
    from dockyard.orchestrator.namespaces import require_namespace

    require_namespace(o.store, obj)
    return _json(to_dict(o.store.create(obj)), 201)


async def update_object(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator.export import to_dict

    o = _o(request)
    kind, cls, namespaced = _plural(request)
    obj = _decode(await _body(request), kind, request.match_info.get("ns") if namespaced else None)
    if obj.metadata.name != request.match_info["name"]:
        raise InvalidArgument("the name of the object does not match the name on the URL")
    if kind == "Pod":
        raise InvalidArgument("pods are not updated in place; delete and create")
    from dockyard.orchestrator.apply_plan import check_immutable

    check_immutable(o.store.get(cls, obj.metadata.namespace, obj.metadata.name), obj)
    return _json(to_dict(o.store.update(obj)))


async def delete_object(request: web.Request) -> web.StreamResponse:
    o = _o(request)
    kind, cls, namespaced = _plural(request)
    ns = request.match_info.get("ns") if namespaced else None
    name = request.match_info["name"]
    if kind == "Pod":
        grace = request.query.get("gracePeriodSeconds")
        await o.backend.delete_pod(ns or "default", name, int(grace) if grace else None)
    else:
        try:
            o.store.delete(cls, ns, name)
        except NotFound:
            raise NotFound(f'{request.match_info["plural"]} "{name}" not found') from None
        if kind == "Namespace":
            from dockyard.orchestrator.namespaces import delete_namespace_contents

            await delete_namespace_contents(o.store, o.backend, name)
    return _json({"kind": "Status", "apiVersion": "v1", "status": "Success",
                  "details": {"name": name, "kind": request.match_info["plural"]}})  # fmt: skip


# ---------------------------------------------------------------------- apply


async def apply(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator.apply_plan import Key, decode_items, key_of, plan_apply
    from dockyard.orchestrator.objects import Namespace
    from dockyard.records import replace

    o = _o(request)
    body = await _body(request)
    dry_run = bool(body.get("dryRun"))
    objects = decode_items(body.get("items"), str(body.get("namespace") or "default"))
    existing: dict[Key, Any] = {("Pod", p.namespace, p.name): p for p in o.backend.pods()}
    for obj in objects:
        if obj.kind != "Pod":
            with contextlib.suppress(NotFound):
                existing[key_of(obj)] = o.store.get(type(obj), *key_of(obj)[1:])
    namespaces = {n.metadata.name for n in o.store.list(Namespace)}
    results = []
    for step in plan_apply(objects, existing, namespaces):
        obj = step.obj
        if not dry_run:
            if obj.kind == "Pod":
                if step.action == "created":
                    await o.backend.create_pod(obj)
            elif step.action == "created":
                o.store.create(obj)
            elif step.action == "configured":
                meta = replace(obj.metadata, resource_version=None)
                o.store.update(replace(obj, metadata=meta))
        results.append({"kind": obj.kind, "apiVersion": obj.api_version,
                        "name": obj.metadata.name, "namespace": obj.metadata.namespace,
                        "action": step.action})  # fmt: skip
    return _json({"items": results})


# ---------------------------------------------------------------------- scale, rollout


def _workload(request: web.Request) -> type[Any]:
    plural = request.match_info["plural"]
    if plural not in ("deployments", "replicasets"):
        raise NotFound(f"{plural} have no scale subresource")
    return _cls(PLURALS[plural][1])


async def get_scale(request: web.Request) -> web.StreamResponse:
    o = _o(request)
    cls = _workload(request)
    ns, name = request.match_info["ns"], request.match_info["name"]
    obj = o.store.get(cls, ns, name)
    status = obj.status
    return _json({"kind": "Scale", "apiVersion": "autoscaling/v1",
                  "metadata": {"name": name, "namespace": ns},
                  "spec": {"replicas": obj.spec.replicas},
                  "status": {"replicas": status.replicas if status else 0}})  # fmt: skip


async def put_scale(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator.controllers import scale

    o = _o(request)
    cls = _workload(request)
    body = await _body(request)
    replicas = (body.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise InvalidArgument(
            f'Scale.autoscaling "{request.match_info["name"]}" is invalid: spec.replicas: '
            f"Invalid value: {replicas}: must be greater than or equal to 0"
        )
    scale(o.store, cls, request.match_info["ns"], request.match_info["name"], replicas)
    return await get_scale(request)


async def rollout(request: web.Request) -> web.StreamResponse:
    from dockyard.orchestrator import controllers as c
    from dockyard.orchestrator.export import to_dict

    o = _o(request)
    ns, name, action = (request.match_info[k] for k in ("ns", "name", "action"))
    if request.method == "GET":
        if action == "status":
            d = o.store.get(_cls("Deployment"), ns, name)
            st = c.rollout_status(d)
            return _json({"state": st.state, "message": st.message})
        if action == "history":
            entries = c.rollout_history(o.store, ns, name)
            return _json({"items": [{"revision": e.revision, "name": e.name,
                                     "changeCause": e.change_cause,
                                     "template": _template_dict(e.template)}
                                    for e in entries]})  # fmt: skip
        raise NotFound(f"rollout {action}: unknown")
    body = await _body(request)
    if action == "undo":
        d = c.rollout_undo(o.store, ns, name, int(body.get("toRevision") or 0))
    elif action == "pause":
        d = c.rollout_pause(o.store, ns, name)
    elif action == "resume":
        d = c.rollout_resume(o.store, ns, name)
    elif action == "restart":
        d = c.rollout_restart(o.store, ns, name, time.time())
    else:
        raise NotFound(f"rollout {action}: unknown")
    return _json(to_dict(d))


def _template_dict(template: Any) -> Any:
    from dockyard.orchestrator.export import to_wire

    return to_wire(template)


# ---------------------------------------------------------------------- metrics


def _pod_metrics(o: Orchestrator, ns: str | None) -> list[dict[str, Any]]:
    from dockyard.orchestrator.store import format_time

    items = []
    for (pns, name), m in o.backend.metrics_now().items():
        if m is None or (ns is not None and pns != ns):
            continue
        items.append({
            "metadata": {"name": name, "namespace": pns},
            "timestamp": format_time(m.timestamp), "window": f"{m.window:.0f}s",
            "containers": [{"name": cname, "usage": {"cpu": f"{cm.cpu_millicores}m",
                                                     "memory": f"{cm.memory_bytes // 1024}Ki"}}
                           for cname, cm in m.containers.items()],
            "usage": {"cpu": f"{m.cpu_millicores}m", "memory": f"{m.memory_bytes // 1024}Ki"},
        })  # fmt: skip
    return items


async def pod_metrics(request: web.Request) -> web.StreamResponse:
    items = _pod_metrics(_o(request), request.match_info.get("ns"))
    return _json({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                  "items": items})  # fmt: skip


async def node_metrics(request: web.Request) -> web.StreamResponse:
    import asyncio

    from dockyard.linux.procfs import busy_fraction, cpu_times, meminfo
    from dockyard.orchestrator.store import format_time

    first = cpu_times()
    await asyncio.sleep(0.5)
    busy = busy_fraction(first, cpu_times())
    cpus = len(os.sched_getaffinity(0))
    milli = round(busy * (os.cpu_count() or cpus) * 1000)
    info = meminfo()
    used_kib = info.get("MemTotal", 0) - info.get("MemAvailable", 0)
    return _json({"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                  "items": [{"metadata": {"name": os.uname().nodename},
                             "timestamp": format_time(time.time()), "window": "500ms",
                             "usage": {"cpu": f"{milli}m", "memory": f"{used_kib}Ki"},
                             "capacity": {"cpu": str(cpus),
                                          "memory": f"{info.get('MemTotal', 0)}Ki"}}]})  # fmt: skip


async def errors(request: web.Request) -> web.StreamResponse:
    o = _o(request)
    current = [f"{c} {k[0]}/{k[1]}: {e}" for (c, k), e in o.manager.errors.items()]
    return _json({"current": current, "recent": list(o.errors)})


async def prometheus(request: web.Request) -> web.StreamResponse:
    from dockyard.api.prometheus import exposition

    o = _o(request)
    text = exposition(o.backend.metrics_now(), o.backend.pods(),
                      o.store.list(_cls("Deployment")), len(o.manager.errors))  # fmt: skip
    return web.Response(text=text, content_type="text/plain")


# ---------------------------------------------------------------------- routes


def register(app: web.Application, orch: Orchestrator) -> None:
    app[ORCH] = orch
    r = app.router
    core = "/api/v1"
    groups = "/apis/{gv:(apps|autoscaling|networking\\.k8s\\.io)/v[0-9a-z]+}"
    for base in (core, groups):
        r.add_get(base + "/{plural}", list_objects)
        r.add_get(base + "/namespaces/{ns}/{plural}", list_objects)
        r.add_post(base + "/namespaces/{ns}/{plural}", create_object)
        r.add_get(base + "/namespaces/{ns}/{plural}/{name}", get_object)
        r.add_put(base + "/namespaces/{ns}/{plural}/{name}", update_object)
        r.add_delete(base + "/namespaces/{ns}/{plural}/{name}", delete_object)
    # cluster-scoped (namespaces)
    r.add_post(core + "/{plural:namespaces}", create_object)
    r.add_get(core + "/{plural:namespaces}/{name}", get_object)
    r.add_put(core + "/{plural:namespaces}/{name}", update_object)
    r.add_delete(core + "/{plural:namespaces}/{name}", delete_object)
    apps = "/apis/apps/v1/namespaces/{ns}/{plural}/{name}"
    r.add_get(apps + "/scale", get_scale)
    r.add_put(apps + "/scale", put_scale)
    r.add_route("*", "/apis/apps/v1/namespaces/{ns}/deployments/{name}/rollout/{action}", rollout)
    r.add_post("/apis/dockyard.io/v1/apply", apply)
    r.add_get("/apis/dockyard.io/v1/errors", errors)
    r.add_get("/apis/metrics.k8s.io/v1beta1/pods", pod_metrics)
    r.add_get("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods", pod_metrics)
    r.add_get("/apis/metrics.k8s.io/v1beta1/nodes", node_metrics)
    r.add_get("/metrics", prometheus)
