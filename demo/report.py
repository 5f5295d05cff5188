"""Write demo/out/report.html (self-contained: inline SVG and CSS, nothing fetched when
viewed) and demo/out/summary.json from what story.py measured (facts.json, timeline.jsonl,
requests.csv).

The plots share one time axis (seconds since the cluster phase began): replicas (desired,
ready, the HPA's decision), CPU per pod and in total, requests per second (answered and
failed), p50/p99 latency per second; HPA decisions, load changes and rollout events are
drawn as vertical markers across every plot. SVG is written by hand: four line charts do not
justify a plotting library in the demo's path, and the file must open offline.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"
W, H, PAD_L, PAD_R, PAD_T, PAD_B = 960, 190, 56, 16, 14, 26
COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"]


def load() -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[float, float, int, str]]]:
    facts = json.loads((OUT / "facts.json").read_text()) if (OUT / "facts.json").exists() else {}
    tl = []
    if (OUT / "timeline.jsonl").exists():
        tl = [json.loads(x) for x in (OUT / "timeline.jsonl").read_text().splitlines() if x]
    reqs = []
    if (OUT / "requests.csv").exists():
        for line in (OUT / "requests.csv").read_text().splitlines():
            due, lat, status, version = line.split(",")
            reqs.append((float(due), float(lat), int(status), version))
    return facts, tl, reqs


def percentile(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q * len(v)) - 1))] if v else 0.0


class Chart:
    def __init__(self, title: str, t0: float, t1: float, ymax: float, unit: str) -> None:
        self.title, self.t0, self.t1, self.unit = title, t0, max(t1, t0 + 1), unit
        self.ymax = ymax if ymax > 0 else 1
        self.parts: list[str] = []
        self.legend: list[tuple[str, str]] = []

    def x(self, t: float) -> float:
        return PAD_L + (t - self.t0) / (self.t1 - self.t0) * (W - PAD_L - PAD_R)

    def y(self, v: float) -> float:
        return PAD_T + (1 - min(v, self.ymax) / self.ymax) * (H - PAD_T - PAD_B)

    def line(self, pts: list[tuple[float, float]], color: str, label: str | None,
             width: float = 2, step: bool = False, dash: str = "") -> None:  # fmt: skip
        if not pts:
            return
        d: list[str] = []
        prev: float | None = None
        for t, v in pts:
            if step and prev is not None:
                d.append(f"L{self.x(t):.1f},{self.y(prev):.1f}")
            d.append(("M" if not d else "L") + f"{self.x(t):.1f},{self.y(v):.1f}")
            prev = v
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<path d="{" ".join(d)}" fill="none" stroke="{color}" '
                          f'stroke-width="{width}"{extra}/>')  # fmt: skip
        if label:
            self.legend.append((label, color))

    def markers(self, events: list[tuple[float, str, str]], numbered: bool = False) -> None:
        for n, (t, _label, color) in enumerate(events, 1):
            x = self.x(t)
            if numbered:  # the number of the event in the table below the plots
                self.parts.append(
                    f'<text x="{x + 2:.1f}" y="{PAD_T + 9}" fill="{color}">{n}</text>'
                )
            self.parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{H - PAD_B}" '
                              f'stroke="{color}" stroke-width="1" stroke-dasharray="3,3" '
                              f'opacity="0.7"/>')  # fmt: skip

    def svg(self) -> str:
        axes = []
        for i in range(5):
            v = self.ymax * i / 4
            y = self.y(v)
            axes.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" '
                        f'stroke="#e5e7eb"/><text x="{PAD_L - 6}" y="{y + 4:.1f}" '
                        f'text-anchor="end">{fmt(v)}</text>')  # fmt: skip
        span = self.t1 - self.t0
        stepx = next(s for s in (5, 10, 15, 30, 60, 120, 300, 600, 1e9) if span / s <= 12)
        t = 0.0
        while t <= span:
            x = self.x(self.t0 + t)
            axes.append(f'<text x="{x:.1f}" y="{H - 8}" text-anchor="middle">{t:.0f}s</text>')
            t += stepx
        legend = "".join(
            f'<span class="key"><i style="background:{c}"></i>{html.escape(label)}</span>'
            for label, c in self.legend
        )
        return (f'<figure><figcaption><b>{html.escape(self.title)}</b> <small>({self.unit})'
                f'</small> {legend}</figcaption><svg viewBox="0 0 {W} {H}" width="100%" '
                f'role="img" aria-label="{html.escape(self.title)}">{"".join(axes)}'
                f'{"".join(self.parts)}</svg></figure>')  # fmt: skip


def fmt(v: float) -> str:
    return f"{v:.0f}" if v >= 10 or v == 0 else f"{v:.2g}"


def build(facts: dict[str, Any], tl: list[dict[str, Any]],
          reqs: list[tuple[float, float, int, str]]) -> tuple[str, dict[str, Any]]:  # fmt: skip
    samples = [e for e in tl if e["kind"] == "sample"]
    start = next((e["t"] for e in tl if e["kind"] == "phase" and e.get("name") == "cluster"),
                 samples[0]["t"] if samples else 0.0)  # fmt: skip
    starts = [x for x in (samples[0]["t"] if samples else None, reqs[0][0] if reqs else None)
              if x is not None]  # fmt: skip
    ends = [x for x in (samples[-1]["t"] if samples else None, reqs[-1][0] if reqs else None)
            if x is not None]  # fmt: skip
    t0 = min(starts) if starts else start
    t1 = max(ends) if ends else t0 + 1
    events: list[tuple[float, str, str]] = []
    for e in tl:
        if e["kind"] == "hpa":
            events.append((e["t"], f"HPA {e['frm']}→{e['to']} (CPU {e.get('utilization')}%)",
                           "#9333ea"))  # fmt: skip
        elif e["kind"] in ("rollout", "event"):
            events.append((e["t"], e["what"], "#ea580c" if e["kind"] == "rollout" else "#0891b2"))
    events = [ev for ev in events if t0 <= ev[0] <= t1]

    charts = []
    top = max([s["desired"] for s in samples] + [s.get("hpa_desired") or 0 for s in samples] + [1])
    c = Chart("Replicas", t0, t1, 4 * math.ceil((top + 1) / 4), "pods")  # integer grid lines
    c.markers(events, numbered=True)
    c.line([(s["t"], s.get("hpa_desired") or 0) for s in samples], "#9333ea", "HPA desired",
           2, True, "5,3")  # fmt: skip
    c.line([(s["t"], s["desired"]) for s in samples], "#2563eb", "Deployment replicas", 2, True)
    c.line([(s["t"], s["ready"]) for s in samples], "#16a34a", "ready", 2.5, True)
    charts.append(c)

    per_pod: dict[str, list[tuple[float, float]]] = defaultdict(list)
    totals = []
    for s in samples:
        for pod, v in s["cpu"].items():
            per_pod[pod].append((s["t"], v))
        totals.append((s["t"], sum(s["cpu"].values())))
    req_m = (facts.get("sizing") or {}).get("cpu_req_m")
    c = Chart("CPU: per pod (thin) and total (thick)", t0, t1,
              max([v for _, v in totals] + [100]) * 1.1, "millicores")  # fmt: skip
    c.markers(events)
    for i, (_pod, pts) in enumerate(sorted(per_pod.items())):
        c.line(pts, COLORS[i % len(COLORS)], None, 1)
    if req_m:
        tgt = ((facts.get("sizing") or {}).get("target") or 50) / 100
        c.line([(t0, req_m * tgt), (t1, req_m * tgt)], "#9ca3af", f"HPA target per pod "
               f"({req_m * tgt:.0f}m = {tgt:.0%} of {req_m}m)", 1, False, "2,2")  # fmt: skip
    c.line(totals, "#111827", "total", 2.5)
    charts.append(c)

    by_sec: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for due, lat, status, _v in reqs:
        by_sec[int(due)].append((lat, status))
    secs = sorted(by_sec)
    c = Chart("Requests per second (open loop, by due time)", t0, t1,
              max([len(v) for v in by_sec.values()] + [10]) * 1.15, "req/s")  # fmt: skip
    c.markers(events)
    c.line([(s + 0.5, sum(1 for _, st in by_sec[s] if st == 200)) for s in secs], "#2563eb",
           "answered 200")  # fmt: skip
    c.line([(s + 0.5, sum(1 for _, st in by_sec[s] if st != 200)) for s in secs], "#dc2626",
           "failed")  # fmt: skip
    charts.append(c)

    p50 = [(s + 0.5, 1000 * percentile([lat for lat, _ in by_sec[s]], 0.5)) for s in secs]
    p99 = [(s + 0.5, 1000 * percentile([lat for lat, _ in by_sec[s]], 0.99)) for s in secs]
    c = Chart("Latency per second (from when each request was due)", t0, t1,
              max([v for _, v in p99] + [5]) * 1.1, "ms")  # fmt: skip
    c.markers(events)
    c.line(p50, "#16a34a", "p50")
    c.line(p99, "#dc2626", "p99")
    charts.append(c)

    summary = summarize(facts, reqs)
    return page(facts, summary, charts, events, t0), summary


def summarize(facts: dict[str, Any], reqs: list[tuple[float, float, int, str]]) -> dict[str, Any]:
    lat = [r[1] for r in reqs if r[2] == 200]
    keys = ("image_size_bytes", "lint_findings_original", "lint_finds_broken_copy",
            "scan_findings", "scan_database", "sbom_components", "max_ready_replicas",
            "scaled_down_to_min",
            "failed_requests_rollout", "failed_requests_undo",
            "seconds_load_to_first_new_replica_ready", "seconds_load_to_first_hpa_decision",
            "requests_total",
            "failed_requests_total", "requests_rollout", "rollout_v2_complete", "requests_undo",
            "undo_complete", "v3_stalled",
            "failed_requests_v3", "v3_answered", "story_pods_fit", "story_pods_pending",
            "netpol_intruder", "build_seconds", "demo_seconds")  # fmt: skip
    s = {k: facts.get(k) for k in keys}
    s["requests_total"] = len(reqs) if reqs else facts.get("requests_total")
    s["latency_ms_p50"] = round(1000 * percentile(lat, 0.5), 2) if lat else None
    s["latency_ms_p99"] = round(1000 * percentile(lat, 0.99), 2) if lat else None
    sz = facts.get("sizing") or {}
    s["sizing"] = {k: sz.get(k) for k in ("cpus", "memory_mi", "cpu_req_m", "cpu_lim_m",
                                          "mem_req_mi", "mem_lim_mi", "min", "max")}  # fmt: skip
    return s


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#111827}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
figure{margin:10px 0 4px}figcaption{margin-bottom:2px}svg{font:11px system-ui;fill:#374151;
border:1px solid #e5e7eb;border-radius:6px;background:#fff}.key{margin-left:12px;
white-space:nowrap;font-size:12px}.key i{display:inline-block;width:12px;height:3px;
margin-right:4px;vertical-align:middle}.cards{display:grid;grid-template-columns:
repeat(4,1fr);gap:8px}.card{border:1px solid #e5e7eb;border-radius:8px;padding:8px 10px}
.card b{display:block;font-size:20px}.ok{color:#16a34a}.bad{color:#dc2626}table{border-collapse:
collapse;font-size:13px}td{padding:2px 10px 2px 0;vertical-align:top}code{font-size:12px}"""


def page(facts: dict[str, Any], s: dict[str, Any], charts: list[Chart],
         events: list[tuple[float, str, str]], t0: float) -> str:  # fmt: skip
    def card(label: str, value: Any, good: bool | None = None) -> str:
        cls = "" if good is None else (' class="ok"' if good else ' class="bad"')
        return (
            f'<div class="card"><small>{label}</small><b{cls}>{html.escape(str(value))}</b></div>'
        )

    size = s.get("image_size_bytes") or 0
    sz = facts.get("sizing") or {}
    cards = "".join([
        card("image size", f"{size / 1e6:.1f} MB"),
        card("lint findings (original)", s.get("lint_findings_original"),
             bool(s.get("lint_finds_broken_copy"))),
        card("scan findings", "no database" if s.get("scan_findings") is None
             else s["scan_findings"]),
        card("max ready replicas", f"{s.get('max_ready_replicas')} / {sz.get('max')}",
             (s.get("max_ready_replicas") or 0) > (sz.get("min") or 0)),
        card("back to minimum", s.get("scaled_down_to_min"), bool(s.get("scaled_down_to_min"))),
        card("failed requests: rollout v2" + ("" if s.get("rollout_v2_complete") else
             " (did not complete)"), s.get("failed_requests_rollout"),
             s.get("failed_requests_rollout") == 0 and bool(s.get("rollout_v2_complete"))),
        card("failed requests: undo" + ("" if s.get("undo_complete") else
             " (did not complete)"), s.get("failed_requests_undo"),
             s.get("failed_requests_undo") == 0 and bool(s.get("undo_complete"))),
        card("load → first new replica ready",
             f"{s.get('seconds_load_to_first_new_replica_ready')} s"),
        card("requests", s.get("requests_total")),
        card("latency p50 / p99", f"{s.get('latency_ms_p50')} / {s.get('latency_ms_p99')} ms"),
        card("v3 stalled, took no traffic",
             f"{s.get('v3_stalled')}, {s.get('v3_answered')} answers",
             bool(s.get("v3_stalled")) and not s.get("v3_answered")),
        card("NetworkPolicy: other pods", s.get("netpol_intruder"),
             s.get("netpol_intruder") == "BLOCKED"),
    ])  # fmt: skip
    rows = "".join(f'<tr><td style="color:{ev[2]}">{n}</td><td>{ev[0] - t0:6.1f}s</td>'
                   f"<td>{html.escape(ev[1])}</td></tr>"
                   for n, ev in enumerate(events, 1))  # fmt: skip
    builds = facts.get("build_seconds") or {}
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>dockyard case study: a TensorFlow inference service</title><style>{CSS}</style></head><body>
<h1>A TensorFlow inference service: built, scanned, pushed, deployed, autoscaled, rolled out
and rolled back</h1>
<p>One run of <code>make demo</code> on this machine ({sz.get("cpus")} CPUs,
{(sz.get("memory_mi") or 0) / 1024:.0f} GiB). All figures below were measured in that run;
<code>summary.json</code> holds them as data.</p>
<div class="cards">{cards}</div>
<h2>Over time</h2>
<p><small>Dashed vertical lines: purple, HPA decisions; orange, rollout events; cyan, demo
events (numbered on the first plot, listed below the plots).</small></p>
{"".join(ch.svg() for ch in charts)}
<h2>Events</h2><table>{rows}</table>
<h2>Sizing (the story's manifest, scaled to this machine)</h2>
<p>{html.escape(sz.get("rule", ""))}</p>
<h2>Builds</h2>
<p>{", ".join(f"{k}: {v} s" for k, v in builds.items())} (a tag ending in
<code>-cached</code> is the same build run again: every step from the content cache).</p>
</body></html>
"""


def main() -> None:
    facts, tl, reqs = load()
    text, summary = build(facts, tl, reqs)
    (OUT / "report.html").write_text(text)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {OUT / 'report.html'} and {OUT / 'summary.json'}")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
