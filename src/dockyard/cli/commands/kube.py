"""kubectl-style commands against the daemon's object API (``api/objects.py``).

``apply -f FILE|DIR|-`` (all or nothing: every document is decoded and validated
here and again by the daemon before anything is written), ``get``, ``describe``,
``delete``, ``scale``, ``rollout status|history|undo|restart|pause|resume``,
``autoscale``, ``top pods|nodes``, ``compose up|down|ps|logs|build|config``,
``export kubernetes``; ``logs deploy/NAME|pod/NAME`` and ``exec POD -- CMD`` reach a
pod's containers through :func:`pod_container` (``clogs``/``cexec`` call it).
``apply --kubeconfig FILE`` sends the same objects to a real cluster with the official
``kubernetes`` client (optional dependency, imported only then).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable

if TYPE_CHECKING:
    from dockyard.cli.client import Client
    from dockyard.cli.main import Context

# alias -> plural
ALIASES = {
    "po": "pods",
    "pod": "pods",
    "pods": "pods",
    "deploy": "deployments",
    "deployment": "deployments",
    "deployments": "deployments",
    "rs": "replicasets",
    "replicaset": "replicasets",
    "replicasets": "replicasets",
    "svc": "services",
    "service": "services",
    "services": "services",
    "hpa": "horizontalpodautoscalers",
    "horizontalpodautoscaler": "horizontalpodautoscalers",
    "horizontalpodautoscalers": "horizontalpodautoscalers",
    "cm": "configmaps",
    "configmap": "configmaps",
    "configmaps": "configmaps",
    "secret": "secrets",
    "secrets": "secrets",
    "ns": "namespaces",
    "namespace": "namespaces",
    "namespaces": "namespaces",
    "netpol": "networkpolicies",
    "networkpolicy": "networkpolicies",
    "networkpolicies": "networkpolicies",
}
GV = {
    "pods": "v1",
    "services": "v1",
    "configmaps": "v1",
    "secrets": "v1",
    "namespaces": "v1",
    "deployments": "apps/v1",
    "replicasets": "apps/v1",
    "horizontalpodautoscalers": "autoscaling/v2",
    "networkpolicies": "networking.k8s.io/v1",
}
KIND_PLURAL = {
    "Pod": "pods",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Namespace": "namespaces",
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "NetworkPolicy": "networkpolicies",
}
REVISION = "deployment.kubernetes.io/revision"
# what kubectl prints before the name: deployment.apps/web
RESOURCE = {
    "pods": "pod",
    "services": "service",
    "configmaps": "configmap",
    "secrets": "secret",
    "namespaces": "namespace",
    "deployments": "deployment.apps",
    "replicasets": "replicaset.apps",
    "horizontalpodautoscalers": "horizontalpodautoscaler.autoscaling",
    "networkpolicies": "networkpolicy.networking.k8s.io",
}


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    a = p.add_argument
    ns_help = "the namespace (default: default)"
    if name in (
        "apply",
        "get",
        "describe",
        "delete",
        "scale",
        "rollout",
        "autoscale",
        "top",
        "set",
    ):
        a("-n", "--namespace", default="default", help=ns_help)
    if name == "apply":
        a("-f", "--filename", action="append", required=True, help="file, directory or -")
        a("-R", "--recursive", action="store_true", help="read directories recursively")
        a("--dry-run", nargs="?", const="client", default="", help="client or server")
        a("--kubeconfig", help="apply to the Kubernetes cluster of this kubeconfig instead")
        a("--context", help="kubeconfig context (with --kubeconfig)")
        a(
            "--validate",
            nargs="?",
            const="true",
            default="true",
            help="check against the Kubernetes schemas: true|strict|warn|false|ignore",
        )
    elif name == "get":
        a("kind")
        a("names", nargs="*")
        a("-l", "--selector", help="label selector (app=web,tier!=db)")
        a("-o", "--output", default="",
          help="wide, yaml, json, name, jsonpath=TEMPLATE, custom-columns=H:PATH")  # fmt: skip
        a("-w", "--watch", action="store_true", help="print changes until interrupted")
        a("-A", "--all-namespaces", action="store_true", help="every namespace")
        a("--no-headers", action="store_true", help="tables without their header line")
        a("--output-watch-events", action="store_true", help="-w: show the event type")
        a("--request-timeout", type=float, default=0.0, help="-w: stop after SECONDS")
    elif name == "set":
        a("what", help="image")
        a("args", nargs="+", metavar="TYPE/NAME CONTAINER=IMAGE")
    elif name == "describe":
        a("kind")
        a("names", nargs="*")
        a("-l", "--selector", help="label selector")
    elif name == "delete":
        a("kind", nargs="?")
        a("names", nargs="*")
        a("-f", "--filename", action="append", default=[], help="file, directory or -")
        a("-R", "--recursive", action="store_true")
        a("-l", "--selector", help="label selector")
        a("--grace-period", type=int, default=None, help="seconds before SIGKILL (pods)")
        a("--ignore-not-found", action="store_true")
    elif name == "scale":
        a("target", nargs="+", help="deploy/NAME, or KIND NAME")
        a("--replicas", type=int, required=True)
    elif name == "rollout":
        a("action", choices=["status", "history", "undo", "restart", "pause", "resume"])
        a("target", nargs="+", help="deploy/NAME, or deployment NAME")
        a("--to-revision", type=int, default=0)
        a("--revision", type=int, default=0, help="history: show one revision's template")
        a("--timeout", type=float, default=0.0, help="status: give up after SECONDS")
        a("-w", "--watch", default="true", help="status: keep watching (true/false)")
    elif name == "autoscale":
        a("target", nargs="+", help="deploy/NAME, or KIND NAME")
        a("--min", type=int, default=1)
        a("--max", type=int, required=True)
        a("--cpu-percent", type=int, default=None)
        a("--name", default=None)
    elif name == "top":
        a("what", choices=["pods", "pod", "po", "nodes", "node", "no"])
        a("names", nargs="*")
        a("-A", "--all-namespaces", action="store_true")
        a("--containers", action="store_true")
    elif name == "compose":
        a("-f", "--file", action="append", default=[], help="compose file (compose.yaml)")
        a("-p", "--project-name", default=None)
        a("--profile", action="append", default=[], help="enable a profile (repeatable)")
        a("action", choices=["up", "down", "ps", "logs", "build", "config", "exec", "run",
                             "stop", "start", "pull"])  # fmt: skip
        a("services", nargs="*")
        a("--ignore-pull-failures", action="store_true", help="pull: go on after a failure")
        a("-d", "--detach", action="store_true", help="up: do not wait in the foreground")
        a("-v", "--volumes", action="store_true", help="down: remove named volumes")
        a("--timeout", type=float, default=120.0, help="up: seconds to wait for readiness")
        a("--scale", action="append", default=[], help="up: SERVICE=N replicas (repeatable)")
    elif name == "export":
        a("format", choices=["kubernetes"])
        a("-f", "--filename", action="append", default=[], help="compose file or manifests")
        a("-R", "--recursive", action="store_true", help="read directories recursively")
        a("-n", "--namespace", default=None, help="only this namespace (default: all)")
        a("--all", action="store_true", help="everything in the daemon's store, all namespaces")
        a("--validate", default="true", help="check the output against the Kubernetes schemas")


def client(ctx: Context) -> Client:
    from dockyard.cli.client import Client

    return Client(ctx.root_dir, ctx.run_root_dir)


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    handler = {
        "apply": _apply,
        "get": _get,
        "describe": _describe,
        "delete": _delete,
        "scale": _scale,
        "rollout": _rollout,
        "autoscale": _autoscale,
        "top": _top,
        "compose": _compose,
        "export": _export,
        "set": _set,
    }[name]
    return int(handler(ctx, args))


# ---------------------------------------------------------------------- helpers


def plural_of(kind: str) -> str:
    p = ALIASES.get(kind.lower())
    if p is None:
        raise InvalidArgument(f'the server doesn\'t have a resource type "{kind}"')
    return p


def path(plural: str, ns: str | None, name: str | None = None) -> str:
    gv = GV[plural]
    base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
    if plural == "namespaces":
        out = f"{base}/namespaces"
    elif ns is None:
        out = f"{base}/{plural}"
    else:
        out = f"{base}/namespaces/{quote(ns, safe='')}/{plural}"
    return out + (f"/{quote(name, safe='')}" if name else "")


def target_of(words: list[str], default_kind: str = "deployments") -> tuple[str, str]:
    """``deploy/web`` or ``deployment web`` → (plural, name)."""
    if len(words) == 1 and "/" in words[0]:
        kind, _, name = words[0].partition("/")
        return plural_of(kind), name
    if len(words) == 2:
        return plural_of(words[0]), words[1]
    if len(words) == 1:
        return default_kind, words[0]
    raise InvalidArgument("expected TYPE/NAME or TYPE NAME")


def _read_objects(files: list[str], recursive: bool) -> list[Any]:
    from dockyard.orchestrator.loader import load_paths

    stdin = sys.stdin.read() if "-" in files else None
    return list(load_paths(files, stdin=stdin, recursive=recursive))


def _age(stamp: str | None) -> str:
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


def _table(rows: list[list[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


# ---------------------------------------------------------------------- apply


def _apply(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.orchestrator.export import to_dict

    objects = _read_objects(args.filename, args.recursive)
    if not objects:
        raise InvalidArgument("no objects passed to apply")
    validate_against_schemas(objects, args.validate)
    docs = [to_dict(o) for o in objects]
    _advise(docs, ctx)
    if args.kubeconfig:
        return apply_to_cluster(objects, args)
    if args.context:
        raise InvalidArgument("--context needs --kubeconfig")
    if args.dry_run == "client":
        for o in objects:
            print(f"{RESOURCE[KIND_PLURAL[o.kind]]}/{o.metadata.name} created (dry run)")
        return 0
    body = {"items": docs, "namespace": args.namespace, "dryRun": bool(args.dry_run)}
    result = client(ctx).request("POST", "/apis/dockyard.io/v1/apply", body).json()
    suffix = " (server dry run)" if args.dry_run else ""
    for item in result["items"]:
        print(f"{RESOURCE[KIND_PLURAL[item['kind']]]}/{item['name']} {item['action']}{suffix}")
    return 0


def _advise(docs: list[dict[str, Any]], ctx: Context) -> None:
    """Least-privilege warnings (security/advice.py): privileged containers and
    containers that run as root, one line each on stderr."""
    from dockyard.security.advice import enabled, image_user, manifest_warnings

    if not enabled():
        return
    users: dict[str, str | None] = {}
    store = None
    if os.path.isdir(ctx.root_dir):  # never make a state root just to give advice
        try:
            store = ctx.images()
        except OSError:  # not ours to read (apply --kubeconfig as a plain user)
            store = None

    def user_of(image: str) -> str | None:
        if store is None:
            return None
        if image not in users:
            users[image] = image_user(store, image)
        return users[image]

    for doc in docs:
        for w in manifest_warnings(doc, user_of):
            print(f"Warning: {w}", file=sys.stderr, flush=True)


VALIDATE_MODES = ("true", "strict", "warn", "false", "ignore")


def validate_against_schemas(objects: list[Any], mode: str) -> None:
    """``--validate``: check every object against the Kubernetes OpenAPI schemas before
    anything is sent (``kubeschema``; all or nothing). ``true``/``strict`` refuse,
    ``warn`` prints the problems to stderr and goes on, ``false``/``ignore`` skip."""
    if mode not in VALIDATE_MODES:
        raise InvalidArgument(
            f'invalid --validate "{mode}": expected one of {", ".join(VALIDATE_MODES)}'
        )
    if mode in ("false", "ignore"):
        return
    from dockyard.orchestrator import kubeschema

    if mode == "warn":
        from dockyard.orchestrator.export import to_dict

        for problem in kubeschema.document_problems([to_dict(o) for o in objects]):
            print(f"Warning: {problem}", file=sys.stderr)
        return
    kubeschema.validate_objects(objects)


def apply_to_cluster(objects: list[Any], args: argparse.Namespace) -> int:
    """``apply --kubeconfig FILE [--context C]``: server-side apply to a real cluster
    through the official ``kubernetes`` client (``orchestrator/kubeclient.py``)."""
    from dockyard.orchestrator.kubeclient import apply_objects

    if args.dry_run == "client":
        for o in objects:
            print(f"{RESOURCE[KIND_PLURAL[o.kind]]}/{o.metadata.name} created (dry run)")
        return 0
    apply_objects(
        objects,
        args.kubeconfig,
        context=args.context,
        namespace=args.namespace,
        dry_run=bool(args.dry_run),
        echo=lambda line: print(line, flush=True),
    )
    return 0


# ---------------------------------------------------------------------- get


def _list(c: Client, plural: str, ns: str | None, names: list[str], selector: str | None) -> Any:
    if names:
        return [c.get(path(plural, ns, n)) for n in names]
    q = f"?labelSelector={quote(selector)}" if selector else ""
    data = c.get(path(plural, ns) + q)
    return data["items"]


def _get(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.cli.commands.kubeget import get

    return get(ctx, args)


def _set(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.cli.commands.kubeget import set_image

    return set_image(ctx, args)


def _row_key(item: dict[str, Any]) -> str:
    m = item.get("metadata", {})
    return f"{m.get('namespace')}/{m.get('name')}"


def _render(
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
    return _table(rows)


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
        _age(i["metadata"].get("creationTimestamp")),
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
        _age(i["metadata"].get("creationTimestamp")),
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
        _age(i["metadata"].get("creationTimestamp")),
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
        _age(i["metadata"].get("creationTimestamp")),
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
        _age(i["metadata"].get("creationTimestamp")),
    ]


def _plain_row(i: dict[str, Any], wide: bool) -> list[str]:
    return [i["metadata"]["name"], _age(i["metadata"].get("creationTimestamp"))]


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
    "_": (lambda w: ["NAME", "AGE"], _plain_row),
}


def jsonpath(data: Any, template: str) -> str:
    """kubectl's JSONPath (:mod:`dockyard.cli.jsonpath`: filters, ``..``, slices)."""
    from dockyard.cli.jsonpath import jsonpath as render

    return render(data, template)


# ---------------------------------------------------------------------- describe


def _describe(ctx: Context, args: argparse.Namespace) -> int:
    import yaml

    c = client(ctx)
    if "/" in args.kind:  # describe deploy/NAME
        kind, _, first = args.kind.partition("/")
        args.kind, args.names = kind, [first, *args.names]
    plural = plural_of(args.kind)
    items = _list(c, plural, args.namespace, args.names, args.selector)
    for n, i in enumerate(items):
        if n:
            print()
        meta = i["metadata"]
        lines = [f"Name:         {meta['name']}"]
        if meta.get("namespace"):
            lines.append(f"Namespace:    {meta['namespace']}")
        lines.append(f"Labels:       {_kv(meta.get('labels'))}")
        lines.append(f"Annotations:  {_kv(meta.get('annotations'))}")
        lines.append(f"Created:      {meta.get('creationTimestamp', '')}")
        for owner in meta.get("ownerReferences") or []:
            lines.append(f"Controlled By:  {owner['kind']}/{owner['name']}")
        print("\n".join(lines))
        for section in ("spec", "data", "status"):
            if i.get(section):
                print(f"{section.capitalize()}:")
                text = yaml.safe_dump(i[section], sort_keys=False, default_flow_style=False)
                print("\n".join("  " + line for line in text.rstrip().splitlines()))
        if plural == "deployments":
            sel = ",".join(
                f"{k}={v}"
                for k, v in ((i["spec"].get("selector") or {}).get("matchLabels") or {}).items()
            )
            q = f"?labelSelector={quote(sel)}"
            rss = c.get(path("replicasets", meta.get("namespace")) + q)["items"]
            print("ReplicaSets:")
            for r in rss:
                owners = r["metadata"].get("ownerReferences") or []
                if not any(o.get("uid") == meta.get("uid") for o in owners):
                    continue
                st = r.get("status") or {}
                rev = r["metadata"].get("annotations", {}).get(REVISION, "?")
                print(
                    f"  {r['metadata']['name']} ({st.get('replicas', 0)}/"
                    f"{r['spec'].get('replicas', 0)} replicas created, revision {rev})"
                )
    return 0


def _kv(d: dict[str, str] | None) -> str:
    if not d:
        return "<none>"
    return "\n              ".join(f"{k}={v}" for k, v in d.items())


# ---------------------------------------------------------------------- delete


def _delete(ctx: Context, args: argparse.Namespace) -> int:
    c = client(ctx)
    targets: list[tuple[str, str | None, str]] = []
    if args.filename:
        for o in _read_objects(args.filename, args.recursive):
            targets.append(
                (KIND_PLURAL[o.kind], o.metadata.namespace or args.namespace, o.metadata.name)
            )
    elif args.kind:
        if "/" in args.kind:
            plural, name = target_of([args.kind])
            names = [name, *args.names]
        else:
            plural, names = plural_of(args.kind), list(args.names)
        if args.selector and not names:
            names = [
                i["metadata"]["name"] for i in _list(c, plural, args.namespace, [], args.selector)
            ]
        if not names and not args.selector:
            raise InvalidArgument("resource(s) were provided, but no name was specified")
        targets = [(plural, args.namespace, n) for n in names]
    else:
        raise InvalidArgument("You must provide one or more resources by argument or filename.")
    code = 0
    for plural, ns, name in targets:
        q = f"?gracePeriodSeconds={args.grace_period}" if args.grace_period is not None else ""
        try:
            c.request(
                "DELETE", path(plural, ns if plural != "namespaces" else None, name) + q
            ).read()
        except NotFound:
            if args.ignore_not_found:
                continue
            print(
                f'Error from server (NotFound): {RESOURCE[plural]} "{name}" not found',
                file=sys.stderr,
            )
            code = 1
            continue
        print(f'{RESOURCE[plural]} "{name}" deleted')
    return code


# ---------------------------------------------------------------------- scale, autoscale


def _scale(ctx: Context, args: argparse.Namespace) -> int:
    plural, name = target_of(args.target)
    if plural not in ("deployments", "replicasets"):
        raise InvalidArgument(f"cannot scale {plural}")
    if args.replicas < 0:
        raise InvalidArgument("The --replicas=COUNT flag is required, and COUNT must be >= 0")
    body = {"spec": {"replicas": args.replicas}}
    client(ctx).request("PUT", path(plural, args.namespace, name) + "/scale", body).read()
    print(f"{RESOURCE[plural]}/{name} scaled")
    return 0


def _autoscale(ctx: Context, args: argparse.Namespace) -> int:
    plural, name = target_of(args.target)
    if plural not in ("deployments", "replicasets"):
        raise InvalidArgument(f"cannot autoscale {plural}")
    kind = "Deployment" if plural == "deployments" else "ReplicaSet"
    metrics = []
    if args.cpu_percent is not None:
        metrics = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": args.cpu_percent},
                },
            }
        ]
    doc: dict[str, Any] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": args.name or name, "namespace": args.namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": args.min,
            "maxReplicas": args.max,
        },
    }
    if metrics:
        doc["spec"]["metrics"] = metrics
    client(ctx).request("POST", path("horizontalpodautoscalers", args.namespace), doc).read()
    print(f"horizontalpodautoscaler.autoscaling/{args.name or name} autoscaled")
    return 0


# ---------------------------------------------------------------------- rollout


def _rollout(ctx: Context, args: argparse.Namespace) -> int:
    c = client(ctx)
    plural, name = target_of(args.target)
    if plural != "deployments":
        raise InvalidArgument(f"rollout is supported for deployments, not {plural}")
    base = path(plural, args.namespace, name) + "/rollout/"
    res = f"{RESOURCE[plural]}/{name}"
    if args.action == "status":
        return _rollout_status(c, base, args)
    if args.action == "history":
        items = c.get(base + "history")["items"]
        if args.revision:
            match = [e for e in items if e["revision"] == args.revision]
            if not match:
                raise NotFound(f"unable to find the specified revision {args.revision}")
            import yaml

            print(f"{res} with revision #{args.revision}")
            print(yaml.safe_dump(match[0]["template"], sort_keys=False).rstrip())
            return 0
        print(res)
        rows = [["REVISION", "CHANGE-CAUSE"]]
        rows += [[str(e["revision"]), e.get("changeCause") or "<none>"] for e in items]
        print(_table(rows))
        return 0
    body = {"toRevision": args.to_revision} if args.action == "undo" else {}
    try:
        c.request("POST", base + args.action, body).read()
    except FailedPrecondition as e:
        if args.action == "undo" and "skipped rollback" in str(e):
            print(f"{res} skipped rollback ({e})")
            return 0
        raise
    word = {"undo": "rolled back", "restart": "restarted", "pause": "paused", "resume": "resumed"}[
        args.action
    ]
    print(f"{res} {word}")
    return 0


def _rollout_status(c: Client, base: str, args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout if args.timeout else None
    last = ""
    watch = str(args.watch).lower() not in ("false", "0", "no")
    while True:
        st = c.get(base + "status")
        if st["message"] != last:
            print(st["message"], flush=True)
            last = st["message"]
        if st["state"] == "complete":
            return 0
        if st["state"] == "failed":
            return 1
        if not watch:
            return 0
        if deadline is not None and time.monotonic() > deadline:
            print("error: timed out waiting for the condition", file=sys.stderr)
            return 1
        time.sleep(0.5)


# ---------------------------------------------------------------------- top


def _top(ctx: Context, args: argparse.Namespace) -> int:
    c = client(ctx)
    if args.what in ("nodes", "node", "no"):
        items = c.get("/apis/metrics.k8s.io/v1beta1/nodes")["items"]
        rows = [["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]]
        for n in items:
            cpu = int(n["usage"]["cpu"].rstrip("m"))
            cap_cpu = int(n["capacity"]["cpu"]) * 1000
            mem = int(n["usage"]["memory"].rstrip("Ki"))
            cap_mem = int(n["capacity"]["memory"].rstrip("Ki")) or 1
            rows.append(
                [
                    n["metadata"]["name"],
                    f"{cpu}m",
                    f"{cpu * 100 // cap_cpu}%",
                    f"{mem // 1024}Mi",
                    f"{mem * 100 // cap_mem}%",
                ]
            )
        print(_table(rows))
        return 0
    where = "" if args.all_namespaces else f"/namespaces/{quote(args.namespace, safe='')}"
    items = c.get(f"/apis/metrics.k8s.io/v1beta1{where}/pods")["items"]
    if args.names:
        items = [i for i in items if i["metadata"]["name"] in args.names]
    if not items:
        print("error: metrics not available yet", file=sys.stderr)
        return 1
    head = ["NAMESPACE"] if args.all_namespaces else []
    rows = [
        [*head, "NAME", *(["CONTAINER"] if args.containers else []), "CPU(cores)", "MEMORY(bytes)"]
    ]
    for i in items:
        pre = [i["metadata"]["namespace"]] if args.all_namespaces else []
        if args.containers:
            for ct in i["containers"]:
                rows.append(
                    [
                        *pre,
                        i["metadata"]["name"],
                        ct["name"],
                        ct["usage"]["cpu"],
                        _mib(ct["usage"]["memory"]),
                    ]
                )
        else:
            rows.append(
                [*pre, i["metadata"]["name"], i["usage"]["cpu"], _mib(i["usage"]["memory"])]
            )
    print(_table(rows))
    return 0


def top_from_words(ctx: Context, words: list[str]) -> int:
    """``top pods|nodes ...`` reached through the container ``top`` command."""
    parser = argparse.ArgumentParser(prog="dockyard top", add_help=False)
    add_arguments(parser, "top")
    return _top(ctx, parser.parse_args(words))


def _mib(ki: str) -> str:
    return f"{int(ki.rstrip('Ki')) // 1024}Mi"


# ---------------------------------------------------------------------- pods for logs/exec


def pod_container(
    c: Client, target: str, namespace: str = "default", container: str | None = None
) -> str:
    """``pod/NAME``, ``deploy/NAME`` (its first ready, else first, pod) or ``rs/NAME`` →
    the container id of ``container`` (default: the pod's first container)."""
    plural, name = target_of([target], default_kind="pods")
    if plural == "pods":
        pod = c.get(path("pods", namespace, name))
    elif plural in ("deployments", "replicasets"):
        obj = c.get(path(plural, namespace, name))
        sel = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
        q = quote(",".join(f"{k}={v}" for k, v in sel.items()))
        pods = c.get(path("pods", namespace) + f"?labelSelector={q}")["items"]
        pods = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        if not pods:
            raise NotFound(f"no pods found for {RESOURCE[plural]}/{name}")
        ready = [
            p
            for p in pods
            if all(x.get("ready") for x in p["status"].get("containerStatuses") or [{}])
        ]
        pod = (ready or pods)[0]
    else:
        raise InvalidArgument(f"cannot get logs or exec into {plural}")
    statuses = pod.get("status", {}).get("containerStatuses") or []
    if container:
        statuses = [s for s in statuses if s.get("name") == container]
        if not statuses:
            raise NotFound(f"container {container} is not valid for pod {pod['metadata']['name']}")
    for s in statuses:
        if s.get("containerID"):
            return str(s["containerID"]).removeprefix("dockyard://")
    raise FailedPrecondition(f"pod {pod['metadata']['name']} has no container yet")


def pod_target(
    c: Client, target: str, namespace: str | None, container: str | None, missing: Exception
) -> str:
    """kubectl's habit on ``logs``/``exec``: ``pod/NAME``, ``deploy/NAME`` or — with ``-n``
    or ``-c``, or when no docker container has that name — a bare pod name; the container
    id of the pod's container ``container`` (default its first). ``missing`` (the docker
    side's NotFound) is raised when there is no such pod either."""
    if "/" not in target:
        target = f"pod/{target}"
        if not namespace and not container:
            try:
                return pod_container(c, target)
            except NotFound:
                raise missing from None
    return pod_container(c, target, namespace or "default", container)


# ---------------------------------------------------------------------- compose


def fast_parse(argv: list[str], name: str) -> argparse.Namespace | None:
    """``compose [OPTIONS] exec|run ...``: the words after the action are the one-off's
    own (flags, SERVICE, then a command whose flags are its own: ``sh -c ...``); argparse
    parses the compose options before it. None for everything else."""
    if name != "compose":
        return None
    takes = {"-f", "--file", "-p", "--project-name", "--profile"}
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in takes else 1
    if i >= len(argv) or argv[i] not in ("exec", "run"):
        return None
    import argparse as _argparse

    from dockyard.cli.commands._compose_more import parse_one_off

    parser = _argparse.ArgumentParser(prog="dockyard compose", add_help=False)
    add_arguments(parser, "compose")
    try:
        args = parser.parse_args(argv[: i + 1])
    except SystemExit:
        return None  # main's own parse then says what is wrong
    try:
        args.one_off = parse_one_off(argv[i], argv[i + 1 :])
    except InvalidArgument as e:
        args.one_off, args.one_off_error = None, e  # raised by run, where errors are caught
    return args


def _compose_project(args: argparse.Namespace) -> Any:
    import os
    from pathlib import Path

    from dockyard.orchestrator.compose import load_compose_file

    files = list(args.file)
    if not files:
        found = [f for f in ("compose.yaml", "compose.yml", "docker-compose.yaml",
                             "docker-compose.yml") if Path(f).is_file()][:1]  # fmt: skip
        if not found:
            raise NotFound("no configuration file provided: not found")
        stem = found[0].rsplit(".", 1)
        files = found + [o for o in (f"{stem[0]}.override.{stem[1]}",) if Path(o).is_file()]
    one = getattr(args, "one_off", None)
    named = [one["service"]] if one else list(args.services)
    project = load_compose_file(
        Path(files[0]), project_name=args.project_name, environ=dict(os.environ),
        overrides=files[1:], profiles=list(args.profile), named=named,
    )  # fmt: skip
    for warning in project.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    return project


def _compose(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.orchestrator.compose import PROJECT_LABEL, object_name
    from dockyard.orchestrator.export import to_yaml

    if getattr(args, "one_off_error", None) is not None:
        raise args.one_off_error
    project = _compose_project(args)
    label = f"{PROJECT_LABEL}={object_name(project.name)}"
    c = client(ctx)
    if args.action == "config":
        print(to_yaml(list(project.objects)).rstrip())
        return 0
    if args.action == "build":
        return _compose_build(ctx, project, args.services)
    if args.action in ("exec", "run", "stop", "start", "pull"):
        from dockyard.cli.commands._compose_more import compose_more

        return compose_more(ctx, c, project, args)
    if args.action == "up":
        from dockyard.cli.commands._compose_up import compose_up

        _compose_build(ctx, project, args.services, only_missing=True)
        compose_up(c, project, args)
        if not args.detach:
            for service in project.start_order():
                _wait_ready(c, project.name, service, args.timeout)
            print(f"project {project.name}: {len(project.services)} services ready")
        return 0
    if args.action == "down":
        for plural in (
            "horizontalpodautoscalers",
            "services",
            "deployments",
            "configmaps",
            "secrets",
        ):
            for i in c.get(path(plural, "default") + f"?labelSelector={quote(label)}")["items"]:
                c.request("DELETE", path(plural, "default", i["metadata"]["name"])).read()
                print(f'{RESOURCE[plural]} "{i["metadata"]["name"]}" deleted')
        from dockyard.cli.commands._compose_up import compose_down

        compose_down(c, project, args.timeout)
        if args.volumes:
            for v in project.volumes:
                with _suppress():
                    c.request("DELETE", f"/volumes/{quote(v, safe='')}?force=1").read()
                    print(f"volume {v} removed")
        return 0
    if args.action == "ps":
        items = c.get(path("pods", "default") + f"?labelSelector={quote(label)}")["items"]
        print(_render("pods", items, "", False) or "no pods")
        return 0
    # logs: every pod of the project, prefixed
    items = c.get(path("pods", "default") + f"?labelSelector={quote(label)}")["items"]
    for pod in items:
        svc = pod["metadata"]["labels"].get("dockyard.io/compose-service", "")
        if args.services and svc not in args.services:
            continue
        for s in pod.get("status", {}).get("containerStatuses") or []:
            cid = str(s.get("containerID", "")).removeprefix("dockyard://")
            if not cid:
                continue
            resp = c.request("GET", f"/containers/{cid}/logs?stdout=1&stderr=1")
            for _stream, chunk in resp.frames():
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"{pod['metadata']['name']}  | {line}")
    return 0


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        from dockyard.errors import DockyardError

        return kind is not None and issubclass(kind, DockyardError)


def _wait_ready(c: Client, project: str, service: str, timeout: float) -> None:
    from dockyard.orchestrator.compose import object_name

    name = object_name(service)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            d = c.get(path("deployments", "default", name))
        except NotFound:
            return
        st = d.get("status") or {}
        if st.get("readyReplicas", 0) >= d["spec"].get("replicas", 1):
            return
        time.sleep(0.5)
    raise Unavailable(f"compose up: service {service} of {project} not ready after {timeout:.0f}s")


def _compose_build(
    ctx: Context, project: Any, services: list[str], only_missing: bool = False
) -> int:
    import subprocess

    code = 0
    for name, svc in project.services.items():
        if svc.build is None or (services and name not in services):
            continue
        image = f"{project.name}-{name}"
        if only_missing:
            try:
                client(ctx).get(f"/images/{quote(image, safe='')}/json")
                continue
            except Exception:
                pass
        argv = [
            sys.executable,
            "-m",
            "dockyard.cli.main",
            "--root",
            ctx.root_dir,
            "--run-root",
            ctx.run_root_dir,
            "build",
            "-t",
            image,
        ]
        if svc.build.dockerfile:
            argv += ["-f", str(svc.build.dockerfile)]
        if svc.build.target:
            argv += ["--target", svc.build.target]
        for k, v in (svc.build.args or {}).items():
            argv += ["--build-arg", f"{k}={v}"]
        argv.append(str(svc.build.context))
        code = code or subprocess.run(argv, check=False).returncode
    return code


# ---------------------------------------------------------------------- export


# what a cluster sets and ``kubectl apply`` must not be given back
SERVER_ANNOTATIONS = (REVISION, "kubectl.kubernetes.io/last-applied-configuration")
EXPORT_PLURALS = (
    "namespaces",
    "configmaps",
    "secrets",
    "services",
    "deployments",
    "horizontalpodautoscalers",
    "networkpolicies",
)


def exportable(item: dict[str, Any]) -> dict[str, Any]:
    """A stored object as ``kubectl apply`` takes it: no status, no uid, resourceVersion,
    generation, creationTimestamp, ownerReferences or managedFields, no annotations the
    server writes, no allocated ClusterIP (a cluster allocates its own)."""
    keep = ("name", "namespace", "labels", "annotations")
    meta = {k: v for k, v in (item.get("metadata") or {}).items() if k in keep}
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    doc = {k: v for k, v in item.items() if k != "status"}
    if item.get("kind") == "Service" and isinstance(doc.get("spec"), dict):
        spec = dict(doc["spec"])
        if spec.get("clusterIP") != "None":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        doc["spec"] = spec
    return {**doc, "metadata": meta}


def _export(ctx: Context, args: argparse.Namespace) -> int:
    """``export kubernetes [-f FILE|DIR]... [-R] [-n NS | --all]``: multi-document YAML."""
    from pathlib import Path

    from dockyard.orchestrator.export import to_yaml
    from dockyard.orchestrator.loader import from_dict

    if args.all and (args.filename or args.namespace):
        raise InvalidArgument("--all exports the whole store: not with -f or -n")
    objects: list[Any] = []
    if args.filename:
        for f in args.filename:
            p = Path(f)
            if p.is_file() and ("compose" in p.name):
                from dockyard.orchestrator.compose import load_compose_file

                objects.extend(load_compose_file(p).objects)
            else:
                objects.extend(_read_objects([f], args.recursive))
    else:
        c = client(ctx)
        for plural in EXPORT_PLURALS:
            ns = args.namespace if plural != "namespaces" else None
            for item in c.get(path(plural, ns))["items"]:
                name = (item.get("metadata") or {}).get("name")
                if plural == "namespaces" and name == "default":
                    continue
                if plural == "namespaces" and args.namespace and name != args.namespace:
                    continue
                objects.append(from_dict(exportable(item)))
    validate_against_schemas(objects, args.validate)
    if objects:
        print(to_yaml(objects).rstrip())
    return 0
