"""kubectl's output: the tables of ``get`` (one column set per kind, ``-o wide``), ages as
kubectl rounds them, and the ``-o`` formats json, yaml, name and jsonpath."""

from __future__ import annotations

import json
import time
from typing import Any

from dockyard.errors import InvalidArgument

from .resources import RESOURCE

__all__ = ["COLUMNS", "age", "event_lines", "render", "row_key", "table"]


def age(stamp: str | None) -> str:
    from dockyard.orchestrator.store import parse_time

    if not stamp:
        return "<unknown>"
    s = max(0, int(time.time() - parse_time(stamp)))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60}m" if s < 36000 else f"{s // 3600}h"
    return f"{s // 86400}d"


def table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def row_key(item: dict[str, Any]) -> str:
    m = item.get("metadata", {})
    return f"{m.get('namespace')}/{m.get('name')}"


def render(
    plural: str, items: list[dict[str, Any]], output: str, all_ns: bool, single: bool = False
) -> str:
    if output == "json":
        if single and len(items) == 1:
            return json.dumps(items[0], indent=4)
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4)
    if output == "yaml":
        import yaml

        if single and len(items) == 1:
            return str(yaml.safe_dump(items[0], sort_keys=False)).rstrip()
        doc = {"apiVersion": "v1", "kind": "List", "items": items}
        return str(yaml.safe_dump(doc, sort_keys=False)).rstrip()
    if output == "name":
        return "\n".join(f"{RESOURCE[plural]}/{i['metadata']['name']}" for i in items)
    if output.startswith("jsonpath="):
        template = output[len("jsonpath=") :]
        data: Any = items[0] if single and len(items) == 1 else {"items": items}
        from dockyard.cli.jsonpath import jsonpath

        return jsonpath(data, template)
    if output not in ("", "wide"):
        raise InvalidArgument(
            f'unable to match a printer suitable for the output format "{output}", allowed '
            "formats are: custom-columns,json,jsonpath,name,wide,yaml"
        )
    if not items:
        return ""
    header, row = COLUMNS.get(plural, COLUMNS["_"])
    wide = output == "wide"
    rows = [["NAMESPACE", *header(wide)] if all_ns else header(wide)]
    for i in items:
        r = row(i, wide)
        rows.append([i["metadata"].get("namespace") or "", *r] if all_ns else r)
    return table(rows)


def _pod_row(i: dict[str, Any], wide: bool) -> list[str]:
    st = i.get("status") or {}
    cs = st.get("containerStatuses") or []
    ready = sum(1 for x in cs if x.get("ready"))
    total = len((i.get("spec") or {}).get("containers") or []) or len(cs)
    status = st.get("phase") or "Pending"
    for x in cs:
        state = x.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason") not in (None, "ContainerCreating"):
            status = state["waiting"]["reason"]
        elif "waiting" in state and status == "Pending":
            status = "ContainerCreating"
        elif "terminated" in state:
            status = state["terminated"].get("reason") or "Error"
    if st.get("reason") and status in ("Pending", "ContainerCreating"):
        status = st["reason"] if st["reason"] != "ContainerCreating" else status
    if i["metadata"].get("deletionTimestamp"):
        status = "Terminating"
    restarts = sum(int(x.get("restartCount") or 0) for x in cs)
    row = [
        i["metadata"]["name"],
        f"{ready}/{total}",
        status,
        str(restarts),
        age(i["metadata"].get("creationTimestamp")),
    ]
    if wide:
        import os

        row += [st.get("podIP") or "<none>", os.uname().nodename]
    return row


def _deploy_row(i: dict[str, Any], wide: bool) -> list[str]:
    spec, st = i.get("spec") or {}, i.get("status") or {}
    row = [
        i["metadata"]["name"],
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        str(st.get("updatedReplicas", 0)),
        str(st.get("availableReplicas", 0)),
        age(i["metadata"].get("creationTimestamp")),
    ]
    if wide:
        cs = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        row += [
            ",".join(c["name"] for c in cs),
            ",".join(c.get("image", "") for c in cs),
            ",".join(f"{k}={v}" for k, v in sel.items()),
        ]
    return row


def _rs_row(i: dict[str, Any], wide: bool) -> list[str]:
    spec, st = i.get("spec") or {}, i.get("status") or {}
    return [
        i["metadata"]["name"],
        str(spec.get("replicas", 1)),
        str(st.get("replicas", 0)),
        str(st.get("readyReplicas", 0)),
        age(i["metadata"].get("creationTimestamp")),
    ]


def _svc_row(i: dict[str, Any], wide: bool) -> list[str]:
    spec = i.get("spec") or {}
    ports = ",".join(
        f"{p['port']}"
        + (f":{p['nodePort']}" if p.get("nodePort") else "")
        + f"/{p.get('protocol', 'TCP')}"
        for p in spec.get("ports") or []
    )
    row = [
        i["metadata"]["name"],
        spec.get("type", "ClusterIP"),
        spec.get("clusterIP") or "<none>",
        "<none>",
        ports or "<none>",
        age(i["metadata"].get("creationTimestamp")),
    ]
    if wide:
        row.append(",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).items()))
    return row


def _hpa_row(i: dict[str, Any], wide: bool) -> list[str]:
    spec, st = i.get("spec") or {}, i.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    targets = []
    current = {
        (m.get("resource") or {}).get("name"): (m.get("resource") or {}).get("current") or {}
        for m in st.get("currentMetrics") or []
    }
    for m in spec.get("metrics") or []:
        res = m.get("resource") or m.get("containerResource") or {}
        target = res.get("target") or {}
        cur = current.get(res.get("name")) or {}
        if target.get("type") == "Utilization":
            now = cur.get("averageUtilization")
            targets.append(
                f"{res.get('name')}: {'<unknown>' if now is None else f'{now}%'}"
                f"/{target.get('averageUtilization')}%"
            )
        else:
            now = cur.get("averageValue")
            targets.append(f"{res.get('name')}: {now or '<unknown>'}/{target.get('averageValue')}")
    return [
        i["metadata"]["name"],
        f"{ref.get('kind')}/{ref.get('name')}",
        ", ".join(targets) or "<none>",
        str(spec.get("minReplicas", 1)),
        str(spec.get("maxReplicas")),
        str(st.get("currentReplicas", 0)),
        age(i["metadata"].get("creationTimestamp")),
    ]


def _event_row(i: dict[str, Any], wide: bool) -> list[str]:
    obj = i.get("involvedObject") or {}
    return [age(i.get("lastTimestamp")), str(i.get("type") or ""), str(i.get("reason") or ""),
            f"{str(obj.get('kind') or '').lower()}/{obj.get('name', '')}",
            str(i.get("message") or "")]  # fmt: skip


def event_lines(events: list[dict[str, Any]]) -> str:
    """The ``Events:`` section ``kubectl describe`` ends with."""
    if not events:
        return "Events:  <none>"
    rows = [["Type", "Reason", "Age", "From", "Message"], ["----", "------", "----", "----",
                                                           "-------"]]  # fmt: skip
    for e in events:
        seen = age(e.get("lastTimestamp"))
        if int(e.get("count") or 1) > 1:
            seen += f" (x{e['count']} over {age(e.get('firstTimestamp'))})"
        rows.append([str(e.get("type") or ""), str(e.get("reason") or ""), seen,
                     str((e.get("source") or {}).get("component") or ""),
                     str(e.get("message") or "")])  # fmt: skip
    return "Events:\n" + "\n".join("  " + line for line in table(rows).splitlines())


def _plain_row(i: dict[str, Any], wide: bool) -> list[str]:
    return [i["metadata"]["name"], age(i["metadata"].get("creationTimestamp"))]


COLUMNS: dict[str, Any] = {
    "pods": (
        lambda w: ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + (["IP", "NODE"] if w else []),
        _pod_row,
    ),
    "deployments": (
        lambda w: (
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
            + (["CONTAINERS", "IMAGES", "SELECTOR"] if w else [])
        ),
        _deploy_row,
    ),
    "replicasets": (lambda w: ["NAME", "DESIRED", "CURRENT", "READY", "AGE"], _rs_row),
    "services": (
        lambda w: (
            ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
            + (["SELECTOR"] if w else [])
        ),
        _svc_row,
    ),
    "horizontalpodautoscalers": (
        lambda w: ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
        _hpa_row,
    ),
    "events": (lambda w: ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], _event_row),
    "_": (lambda w: ["NAME", "AGE"], _plain_row),
}
