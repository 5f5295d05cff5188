"""``apply --kubeconfig`` against a fake Kubernetes API server (``FakeKubeAPI``).

Serves, on 127.0.0.1 over plain HTTP with bearer-token auth, what the official client's
``DynamicClient`` needs: ``/version``, ``/api``, ``/apis`` and the resource lists of
``v1``, ``apps/v1``, ``autoscaling/v2``, ``networking.k8s.io/v1``; and GET / POST / PUT /
PATCH (server-side apply and merge patch) on the resource paths, with a ``resourceVersion``
that moves only when an object changes. Every request is recorded as
``(method, path?query, content-type, body)``; ``fail`` maps ``(method, path)`` to a
``(status, Status body)`` to answer instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from dockyard.cli.main import main
from dockyard.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from dockyard.orchestrator.export import to_dict
from dockyard.orchestrator.kubeclient import apply_objects, ordered
from dockyard.orchestrator.loader import load_manifests

TOKEN = "s3cret-token"
GROUPS: dict[str, list[tuple[str, str, bool]]] = {
    # group/version -> (plural, kind, namespaced)
    "v1": [
        ("namespaces", "Namespace", False),
        ("configmaps", "ConfigMap", True),
        ("secrets", "Secret", True),
        ("services", "Service", True),
        ("pods", "Pod", True),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        out = dict(old)
        for k, v in new.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(old.get(k), v)
        return out
    return new


class FakeKubeAPI:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, Any]] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self.fail: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._rv = itertools.count(100)
        self._uid = itertools.count(1)
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle
    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10)

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kubeconfig(self, path: Path, token: str = TOKEN, server: str | None = None) -> Path:
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": server or self.url}}],
            "users": [{"name": "tester", "user": {"token": token}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "tester"}},
                {
                    "name": "other",
                    "context": {"cluster": "fake", "user": "tester", "namespace": "other"},
                },
            ],
            "current-context": "fake",
        }
        path.write_text(json.dumps(cfg))
        return path

    def resource_requests(self) -> list[tuple[str, str, str, Any]]:
        """The requests on objects (discovery left out)."""
        return [r for r in self.requests if "/namespaces" in r[1] or r[1].count("/") > 3]

    # -------------------------------------------------------------- handlers
    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body: Any = None
        if raw:
            body = json.loads(raw)
        ctype = request.headers.get("Content-Type", "")
        self.requests.append((request.method, request.path_qs, ctype, json.loads(raw or "null")))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(status(401, "Unauthorized", "Unauthorized"), status=401)
        key = (request.method, request.path)
        if key in self.fail:
            code, payload = self.fail[key]
            return web.json_response(payload, status=code)
        found = self._discovery(request.path)
        if found is not None:
            return web.json_response(found)
        return self._resource(request, body)

    def _discovery(self, path: str) -> Any:
        if path == "/version":
            return {"major": "1", "minor": "29", "gitVersion": "v1.29.0", "platform": "linux"}
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"]}
        if path == "/apis":
            groups = []
            for gv in GROUPS:
                if "/" in gv:
                    g, v = gv.split("/")
                    ver = {"groupVersion": gv, "version": v}
                    groups.append({"name": g, "versions": [ver], "preferredVersion": ver})
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        for gv, resources in GROUPS.items():
            base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            if path == base:
                return {
                    "kind": "APIResourceList",
                    "groupVersion": gv,
                    "resources": [
                        {
                            "name": plural,
                            "singularName": kind.lower(),
                            "namespaced": namespaced,
                            "kind": kind,
                            "verbs": VERBS,
                        }
                        for plural, kind, namespaced in resources
                    ],
                }
        return None

    def _locate(self, path: str) -> tuple[str, str, str | None] | None:
        """path -> (collection path, kind, name)."""
        for gv, resources in GROUPS.items():
            base = "/api/v1" if gv == "v1" else f"/apis/{gv}"
            if not path.startswith(base + "/"):
                continue
            parts = path[len(base) + 1 :].split("/")
            for plural, kind, namespaced in resources:
                nested = namespaced and len(parts) in (3, 4) and parts[0] == "namespaces"
                if nested and parts[2] == plural:
                    coll = "/".join([base, *parts[:3]])
                    return coll, kind, parts[3] if len(parts) == 4 else None
                if not namespaced and parts[0] == plural and len(parts) in (1, 2):
                    return f"{base}/{plural}", kind, parts[1] if len(parts) == 2 else None
        return None

    def _store(self, path: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        meta = obj.setdefault("metadata", {})
        if old is None:
            meta["uid"] = f"uid-{next(self._uid)}"
            meta["creationTimestamp"] = "2024-01-01T00:00:00Z"
            meta["resourceVersion"] = str(next(self._rv))
        else:
            for k in ("uid", "creationTimestamp"):
                meta[k] = old["metadata"][k]
            strip = {k: v for k, v in old.items() if k != "status"}
            strip_meta = {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}
            new_meta = {k: v for k, v in meta.items() if k != "resourceVersion"}
            same = {**strip, "metadata": strip_meta} == {
                **{k: v for k, v in obj.items() if k != "status"},
                "metadata": new_meta,
            }
            meta["resourceVersion"] = (
                old["metadata"]["resourceVersion"] if same else str(next(self._rv))
            )
        self.objects[path] = obj

    def _resource(self, request: web.Request, body: Any) -> web.Response:
        where = self._locate(request.path)
        if where is None:
            return web.json_response(status(404, "NotFound", "the server could not find it"), 404)
        coll, kind, name = where
        dry = request.query.get("dryRun") == "All"
        if request.method == "POST" and name is None:
            name = body["metadata"]["name"]
            path = f"{coll}/{name}"
            if path in self.objects:
                return web.json_response(
                    status(409, "AlreadyExists", f'{kind.lower()} "{name}" already exists'), 409
                )
            obj = json.loads(json.dumps(body))
            if not dry:
                self._store(path, obj, None)
            return web.json_response(obj, status=201)
        if name is None:
            items = [v for k, v in self.objects.items() if k.startswith(coll + "/")]
            return web.json_response({"kind": f"{kind}List", "items": items})
        path = f"{coll}/{name}"
        old = self.objects.get(path)
        not_found = status(404, "NotFound", f'{kind.lower()}s "{name}" not found')
        if request.method == "GET":
            return web.json_response(old) if old else web.json_response(not_found, status=404)
        if request.method == "PUT":
            if old is None:
                return web.json_response(not_found, status=404)
            obj = json.loads(json.dumps(body))
            if not dry:
                self._store(path, obj, old)
            return web.json_response(obj)
        if request.method == "PATCH":
            ctype = request.headers.get("Content-Type", "")
            if old is None and not ctype.startswith("application/apply-patch"):
                return web.json_response(not_found, status=404)
            base = json.loads(json.dumps(old)) if old else {}
            obj = _merge(base, body)
            if dry:
                return web.json_response(obj, status=201 if old is None else 200)
            self._store(path, obj, old)
            return web.json_response(obj, status=201 if old is None else 200)
        return web.json_response(status(405, "MethodNotAllowed", "method not allowed"), 405)


# ====================================================================== tests

MANIFESTS = """\
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-allow}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {role: client}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        envFrom: [{configMapRef: {name: settings}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {MODE: prod}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""

ORDER = [
    ("Namespace", "/api/v1/namespaces/shop"),
    ("ConfigMap", "/api/v1/namespaces/shop/configmaps/settings"),
    ("Secret", "/api/v1/namespaces/default/secrets/creds"),
    ("Service", "/api/v1/namespaces/default/services/web"),
    ("Deployment", "/apis/apps/v1/namespaces/default/deployments/web"),
    ("HorizontalPodAutoscaler", "/apis/autoscaling/v2/namespaces/default/"
     "horizontalpodautoscalers/web"),
    ("NetworkPolicy", "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/web-allow"),
]  # fmt: skip
APPLY_QUERY = "?fieldManager=dockyard&force=true"
APPLY_TYPE = "application/apply-patch+yaml"


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    server = FakeKubeAPI()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(api: FakeKubeAPI, tmp_path: Path) -> str:
    return str(api.kubeconfig(tmp_path / "kubeconfig"))


def _objects(text: str = MANIFESTS) -> list[Any]:
    return load_manifests(text, "test.yaml")


def _expected_body(obj: Any, ns: str | None) -> dict[str, Any]:
    doc = to_dict(obj)
    if ns is not None:
        doc["metadata"] = {**doc["metadata"], "namespace": ns}
    return doc


def test_ordered_puts_namespaces_first_and_policies_last() -> None:
    kinds = [d["kind"] for d in ordered([to_dict(o) for o in _objects()])]
    assert kinds == [k for k, _ in ORDER]


def test_first_apply_creates_every_object_with_exact_requests(
    api: FakeKubeAPI, kubeconfig: str
) -> None:
    objects = _objects()
    lines = apply_objects(objects, kubeconfig)
    assert lines == [
        "namespace/shop created",
        "configmap/settings created",
        "secret/creds created",
        "service/web created",
        "deployment.apps/web created",
        "horizontalpodautoscaler.autoscaling/web created",
        "networkpolicy.networking.k8s.io/web-allow created",
    ]
    # discovery is read-only; then, per object, a GET (404) and a server-side apply
    discovery = [r for r in api.requests if r not in api.resource_requests()]
    assert discovery and all(r[0] == "GET" for r in discovery)
    assert ("GET", "/version", "application/json", None) in discovery
    by_kind = {o.kind: o for o in objects}
    expected: list[tuple[str, str, str, Any]] = []
    for kind, path in ORDER:
        ns = None if kind == "Namespace" else path.split("/namespaces/")[1].split("/")[0]
        expected.append(("GET", path, "application/json", None))
        expected.append(
            ("PATCH", path + APPLY_QUERY, APPLY_TYPE, _expected_body(by_kind[kind], ns))
        )
    assert api.resource_requests() == expected
    assert set(api.objects) == {path for _, path in ORDER}
    stored = api.objects["/apis/apps/v1/namespaces/default/deployments/web"]
    assert stored["spec"]["replicas"] == 2
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_reapply_is_unchanged_and_a_change_is_configured(api: FakeKubeAPI, kubeconfig: str) -> None:
    apply_objects(_objects(), kubeconfig)
    again = apply_objects(_objects(), kubeconfig)
    assert len(again) == 7 and all(line.endswith(" unchanged") for line in again)
    api.requests.clear()
    changed = _objects(MANIFESTS.replace("replicas: 2", "replicas: 4"))
    lines = apply_objects(changed, kubeconfig)
    assert [x for x in lines if not x.endswith(" unchanged")] == ["deployment.apps/web configured"]
    patch = [r for r in api.resource_requests() if r[0] == "PATCH" and "deployments" in r[1]]
    assert len(patch) == 1 and patch[0][3]["spec"]["replicas"] == 4
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    assert api.objects[path]["spec"]["replicas"] == 4


def test_namespace_option_places_objects_without_one(api: FakeKubeAPI, kubeconfig: str) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    assert apply_objects(_objects(cm), kubeconfig, namespace="team") == ["configmap/c created"]
    get, patch = api.resource_requests()
    assert get[:2] == ("GET", "/api/v1/namespaces/team/configmaps/c")
    assert patch[1] == "/api/v1/namespaces/team/configmaps/c" + APPLY_QUERY
    assert patch[3]["metadata"] == {"name": "c", "namespace": "team"}


def test_server_dry_run_sends_dry_run_and_stores_nothing(api: FakeKubeAPI, kubeconfig: str) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    lines = apply_objects(_objects(cm), kubeconfig, dry_run=True)
    assert lines == ["configmap/c created (server dry run)"]
    path = "/api/v1/namespaces/default/configmaps/c"
    assert [r[:2] for r in api.resource_requests()] == [
        ("GET", path),
        ("PATCH", path + "?dryRun=All&fieldManager=dockyard&force=true"),
    ]
    assert api.objects == {}


def test_wrong_token_is_one_line_unauthorized_and_nothing_is_written(
    api: FakeKubeAPI, tmp_path: Path
) -> None:
    cfg = str(api.kubeconfig(tmp_path / "bad", token="wrong"))
    with pytest.raises(PermissionDenied) as e:
        apply_objects(_objects(), cfg)
    assert str(e.value) == "error: You must be logged in to the server (Unauthorized)"
    assert all(r[0] == "GET" for r in api.requests)
    assert api.objects == {}


def test_forbidden_carries_the_servers_message(api: FakeKubeAPI, kubeconfig: str) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    message = (
        'deployments.apps "web" is forbidden: User "tester" cannot patch resource '
        '"deployments" in API group "apps" in the namespace "default"'
    )
    api.fail[("PATCH", path)] = (403, status(403, "Forbidden", message))
    out: list[str] = []
    with pytest.raises(PermissionDenied) as e:
        apply_objects(_objects(), kubeconfig, echo=out.append)
    assert str(e.value) == f"Error from server (Forbidden): {message}"
    assert "\n" not in str(e.value)
    # what came before the failure was applied and printed; nothing after it was sent
    assert out == [
        "namespace/shop created",
        "configmap/settings created",
        "secret/creds created",
        "service/web created",
    ]
    assert not any("horizontalpodautoscalers" in r[1] for r in api.requests)


def test_unprocessable_entity_carries_the_servers_message(
    api: FakeKubeAPI, kubeconfig: str
) -> None:
    path = "/api/v1/namespaces/default/services/web"
    message = 'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 80: out of range'
    api.fail[("PATCH", path)] = (422, status(422, "Invalid", message))
    with pytest.raises(InvalidArgument) as e:
        apply_objects(_objects(), kubeconfig)
    assert str(e.value) == f"Error from server (Invalid): {message}"


def test_unreachable_server_fails_at_once_in_one_line(api: FakeKubeAPI, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = str(api.kubeconfig(tmp_path / "kc", server=f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    with pytest.raises(Unavailable) as e:
        apply_objects(_objects(), cfg)
    assert time.monotonic() - started < 5
    assert str(e.value) == (
        f"The connection to the server 127.0.0.1:{port} was refused - "
        "did you specify the right host or port?"
    )


def test_kubeconfig_problems_are_one_line(api: FakeKubeAPI, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"kubeconfig .*/nope: no such file"):
        apply_objects(_objects(), str(tmp_path / "nope"))
    cfg = str(api.kubeconfig(tmp_path / "kc"))
    with pytest.raises(InvalidArgument, match=r"kubeconfig .*missing"):
        apply_objects(_objects(), cfg, context="missing")
    assert api.requests == []


def test_context_is_honoured(api: FakeKubeAPI, kubeconfig: str) -> None:
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    assert apply_objects(_objects(cm), kubeconfig, context="other") == ["configmap/c created"]


# -------------------------------------------------------------- through the CLI


def _cli(*argv: str) -> int:
    return main(["--root", "/nonexistent/root", "--run-root", "/nonexistent/run", *argv])


def test_cli_apply_kubeconfig_prints_kubectl_lines(
    api: FakeKubeAPI, kubeconfig: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "manifests"
    d.mkdir()
    (d / "app.yaml").write_text(MANIFESTS)
    assert _cli("apply", "--kubeconfig", kubeconfig, "-f", str(d)) == 0
    assert capsys.readouterr().out.splitlines() == [
        "namespace/shop created",
        "configmap/settings created",
        "secret/creds created",
        "service/web created",
        "deployment.apps/web created",
        "horizontalpodautoscaler.autoscaling/web created",
        "networkpolicy.networking.k8s.io/web-allow created",
    ]
    assert _cli("apply", "--kubeconfig", kubeconfig, "--context", "fake", "-f", str(d)) == 0
    assert capsys.readouterr().out.count(" unchanged\n") == 7


BAD_HEADER = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: probe}
spec:
  selector: {matchLabels: {app: probe}}
  template:
    metadata: {labels: {app: probe}}
    spec:
      containers:
      - name: c
        image: nginx
        readinessProbe:
          httpGet: {port: 80, httpHeaders: [{name: X-Probe}]}
"""


def test_cli_schema_invalid_document_sends_nothing(
    api: FakeKubeAPI, kubeconfig: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "app.yaml"
    f.write_text(MANIFESTS + "---\n" + BAD_HEADER)
    assert _cli("apply", "--kubeconfig", kubeconfig, "-f", str(f)) == 1
    err = capsys.readouterr().err
    assert "schema validation failed (Kubernetes 1.29" in err
    assert (
        'Deployment.apps "probe" is invalid: '
        "spec.template.spec.containers[0].readinessProbe.httpGet.httpHeaders[0].value: "
        "Required value"
    ) in err
    assert api.requests == []  # all or nothing: not even discovery


def test_cli_loader_error_in_one_document_sends_nothing(
    api: FakeKubeAPI, kubeconfig: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "app.yaml"
    f.write_text(MANIFESTS + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nbad: 1\n")
    assert _cli("apply", "--kubeconfig", kubeconfig, "-f", str(f)) == 1
    assert 'unknown field "bad"' in capsys.readouterr().err
    assert api.requests == []


def test_cli_validate_false_skips_the_schema_check(
    api: FakeKubeAPI, kubeconfig: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "probe.yaml"
    f.write_text(BAD_HEADER)
    assert _cli("apply", "--kubeconfig", kubeconfig, "--validate=false", "-f", str(f)) == 0
    assert capsys.readouterr().out == "deployment.apps/probe created\n"
    assert _cli("apply", "--kubeconfig", kubeconfig, "--validate=warn", "-f", str(f)) == 0
    out = capsys.readouterr()
    assert out.out == "deployment.apps/probe unchanged\n"
    assert out.err.startswith('Warning: Deployment.apps "probe" is invalid: ')


def test_cli_schema_check_runs_before_a_local_apply_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --kubeconfig the daemon is never reached when a document is invalid."""
    f = tmp_path / "probe.yaml"
    f.write_text(BAD_HEADER)
    assert _cli("apply", "-f", str(f)) == 1
    assert "httpHeaders[0].value: Required value" in capsys.readouterr().err


def test_cli_unreachable_is_one_line(
    api: FakeKubeAPI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(api.kubeconfig(tmp_path / "kc", server="http://127.0.0.1:9"))
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    assert _cli("apply", "--kubeconfig", cfg, "-f", str(f)) != 0
    err = capsys.readouterr().err
    assert err == (
        "dockyard: The connection to the server 127.0.0.1:9 was refused - "
        "did you specify the right host or port?\n"
    )
