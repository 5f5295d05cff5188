"""The live dashboard: a read-only web page served by the daemon on 127.0.0.1, off until asked.

``POST /apis/dockyard.io/v1/dashboard`` (``{"port": N}``, 0 or absent: 8080 and upwards until
one is free) starts it on the daemon's loop and answers ``{"url": "http://127.0.0.1:N/"}``;
a second call answers the same URL. ``GET`` on that path says whether it runs. ``dockyard
dashboard`` is the command for it.

The page (``GET /``) is one self-contained HTML document (no script or style from elsewhere)
that polls ``GET /state`` every second: Deployments (desired/ready), HPAs (current/desired,
min/max, CPU), pods (phase, readiness, IP, CPU), the controllers' recent errors as events, and
live charts of replicas and CPU over the last two minutes, drawn as inline SVG. It listens
on loopback only and has no write endpoint: it shows what ``dockyard get`` shows.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.orchestrator.enginepods import Orchestrator

__all__ = ["register"]

ORCH: web.AppKey[Orchestrator] = web.AppKey("dashboard-orchestrator")
RUNNER: web.AppKey[list[tuple[web.AppRunner, str]]] = web.AppKey("dashboard-runner")


def state(o: Orchestrator) -> dict[str, Any]:
    """What the page shows, as plain JSON."""
    from dockyard.orchestrator.export import to_dict
    from dockyard.orchestrator.objects import KINDS

    def cls(kind: str) -> type[Any]:
        return next(c for (_v, k), c in KINDS.items() if k == kind)

    metrics = o.backend.metrics_now()
    pods = []
    for p in o.backend.pods():
        m = metrics.get((p.namespace, p.name))
        pods.append({"namespace": p.namespace, "name": p.name, "phase": p.phase,
                     "ready": bool(p.ready), "ip": p.pod_ip,
                     "cpu_m": m.cpu_millicores if m is not None else None})  # fmt: skip
    deployments = []
    for d in o.store.list(cls("Deployment")):
        st = d.status
        deployments.append({"namespace": d.metadata.namespace, "name": d.metadata.name,
                            "desired": d.spec.replicas or 0,
                            "ready": (st.ready_replicas if st else 0) or 0,
                            "updated": (st.updated_replicas if st else 0) or 0})  # fmt: skip
    hpas = []
    for h in o.store.list(cls("HorizontalPodAutoscaler")):
        doc = to_dict(h)
        spec, st = doc.get("spec") or {}, doc.get("status") or {}
        util = None
        for cm in st.get("currentMetrics") or []:
            util = ((cm.get("resource") or {}).get("current") or {}).get("averageUtilization")
        hpas.append({"namespace": doc["metadata"].get("namespace"),
                     "name": doc["metadata"]["name"],
                     "target": (spec.get("scaleTargetRef") or {}).get("name"),
                     "min": spec.get("minReplicas"), "max": spec.get("maxReplicas"),
                     "current": st.get("currentReplicas"), "desired": st.get("desiredReplicas"),
                     "cpu_percent": util})  # fmt: skip
    events = [str(e) for e in list(getattr(o, "errors", []))[-20:]]
    return {"time": time.time(), "deployments": deployments, "hpas": hpas, "pods": pods,
            "events": events}  # fmt: skip


async def _page(request: web.Request) -> web.StreamResponse:
    return web.Response(text=PAGE, content_type="text/html")


async def _state(request: web.Request) -> web.StreamResponse:
    import json

    return web.Response(text=json.dumps(state(request.app[ORCH])),
                        content_type="application/json")  # fmt: skip


async def _start(request: web.Request) -> web.StreamResponse:
    import json

    from dockyard.errors import InvalidArgument, Unavailable

    running = request.app[RUNNER]
    if not running:
        body = await request.json() if request.can_read_body else {}
        port = body.get("port") or 0 if isinstance(body, dict) else 0
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise InvalidArgument(f"dashboard: bad port {port!r}")
        app = web.Application()
        app[ORCH] = request.app[ORCH]
        app.router.add_get("/", _page)
        app.router.add_get("/state", _state)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for candidate in [port] if port else range(8080, 8180):
            try:
                await web.TCPSite(runner, "127.0.0.1", candidate).start()
            except OSError as e:
                if port:
                    await runner.cleanup()
                    raise Unavailable(f"dashboard: 127.0.0.1:{port}: {e.strerror}") from e
                continue
            running.append((runner, f"http://127.0.0.1:{candidate}/"))
            break
        else:
            await runner.cleanup()
            raise Unavailable("dashboard: no free port in 127.0.0.1:8080-8179")
    return web.Response(text=json.dumps({"url": running[0][1]}), content_type="application/json")


async def _status(request: web.Request) -> web.StreamResponse:
    import json

    running = request.app[RUNNER]
    return web.Response(text=json.dumps({"url": running[0][1] if running else None}),
                        content_type="application/json")  # fmt: skip


async def _stop(app: web.Application) -> None:
    for runner, _url in app[RUNNER]:
        await runner.cleanup()
    app[RUNNER].clear()


def register(app: web.Application, orch: Orchestrator) -> None:
    app[ORCH] = orch
    app[RUNNER] = []
    app.router.add_post("/apis/dockyard.io/v1/dashboard", _start)
    app.router.add_get("/apis/dockyard.io/v1/dashboard", _status)
    app.on_cleanup.append(_stop)


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>dockyard dashboard</title><link rel="icon" href="data:,">
<style>body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#111827}
h1{font-size:20px;margin:0 0 8px}h2{font-size:15px;margin:16px 0 4px}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 12px 2px 0;text-align:left}
th{color:#6b7280;font-weight:500}.ok{color:#16a34a}.no{color:#dc2626}
svg{border:1px solid #e5e7eb;border-radius:6px;background:#fff;font:11px system-ui}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:12px}#stamp{color:#6b7280}</style>
</head><body><h1>dockyard <span id="stamp"></span></h1>
<div class="charts"><div><b>Replicas</b> (desired dashed, ready solid)
<svg id="chart-replicas" viewBox="0 0 480 160" width="100%"></svg></div>
<div><b>CPU</b> (millicores, all pods)
<svg id="chart-cpu" viewBox="0 0 480 160" width="100%"></svg></div></div>
<h2>Deployments</h2><table id="deployments"></table>
<h2>Horizontal Pod Autoscalers</h2><table id="hpas"></table>
<h2>Pods</h2><table id="pods"></table>
<h2>Events</h2><table id="events"></table>
<script>
"use strict";
const history = [];
const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"];
function esc(s) {
  return String(s ?? "").replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;"}[c]));
}
function table(id, head, rows) {
  const h = "<tr>" + head.map(x => "<th>" + esc(x) + "</th>").join("") + "</tr>";
  document.getElementById(id).innerHTML = h + rows.map(r => "<tr>" + r.map(
    x => "<td>" + x + "</td>").join("") + "</tr>").join("");
}
function chart(id, series) {
  const svg = document.getElementById(id), W = 480, H = 160, P = 28;
  const t1 = history.length ? history[history.length - 1].time : 0, t0 = t1 - 120;
  let ymax = 1;
  for (const s of series) for (const [, v] of s.points) ymax = Math.max(ymax, v);
  ymax = Math.ceil(ymax * 1.1);
  const x = t => P + (t - t0) / 120 * (W - P - 6), y = v => H - 16 - v / ymax * (H - 24);
  let out = `<text x="2" y="12">${ymax}</text><text x="2" y="${H - 16}">0</text>`;
  for (const s of series) {
    const d = s.points.filter(([t]) => t >= t0).map(([t, v], i) =>
      (i ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    if (d) out += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"` +
      (s.dash ? ' stroke-dasharray="4,3"' : "") + `><title>${esc(s.name)}</title></path>`;
  }
  svg.innerHTML = out;
}
function render(st) {
  history.push(st);
  while (history.length > 130) history.shift();
  document.getElementById("stamp").textContent = new Date(st.time * 1000).toLocaleTimeString();
  table("deployments", ["name", "ready / desired", "up to date"], st.deployments.map(d =>
    [esc(d.namespace + "/" + d.name),
     `<span class="replicas" data-name="${esc(d.name)}">${d.ready}/${d.desired}</span>`,
     esc(d.updated)]));
  table("hpas", ["name", "target", "current / desired", "min..max", "CPU"], st.hpas.map(h =>
    [esc(h.namespace + "/" + h.name), esc(h.target), esc(h.current) + " / " + esc(h.desired),
     esc(h.min) + ".." + esc(h.max), h.cpu_percent == null ? "" : esc(h.cpu_percent) + " %"]));
  table("pods", ["name", "phase", "ready", "IP", "CPU (m)"], st.pods.map(p =>
    [esc(p.namespace + "/" + p.name), esc(p.phase),
     p.ready ? '<span class="ok">yes</span>' : '<span class="no">no</span>', esc(p.ip),
     esc(p.cpu_m)]));
  table("events", ["event"], st.events.map(e => [esc(e)]));
  const names = [...new Set(history.flatMap(s => s.deployments.map(d => d.name)))];
  const rep = [], cpu = [];
  names.forEach((n, i) => {
    const c = COLORS[i % COLORS.length];
    const pick = k => history.map(s => [s.time, (s.deployments.find(d => d.name === n)
      || {})[k] || 0]);
    rep.push({name: n + " desired", color: c, dash: true, points: pick("desired")});
    rep.push({name: n + " ready", color: c, points: pick("ready")});
  });
  cpu.push({name: "all pods", color: "#111827", points: history.map(s =>
    [s.time, s.pods.reduce((a, p) => a + (p.cpu_m || 0), 0)])});
  chart("chart-replicas", rep);
  chart("chart-cpu", cpu);
}
async function tick() {
  try {
    const r = await fetch("state", {cache: "no-store"});
    if (r.ok) render(await r.json());
  } catch (e) {
    document.getElementById("stamp").textContent = "(daemon unreachable)";
  }
  setTimeout(tick, 1000);
}
tick();
</script></body></html>
"""
