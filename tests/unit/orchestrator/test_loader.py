"""Kubernetes manifest loading: documents, strict decoding, defaults, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.orchestrator.export import to_json, to_yaml
from dockyard.orchestrator.loader import from_dict, load_manifests, load_path, load_paths
from dockyard.orchestrator.objects import (
    ConfigMap,
    Deployment,
    HorizontalPodAutoscaler,
    Namespace,
    NetworkPolicy,
    Pod,
    ReplicaSet,
    Secret,
    Service,
)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{containerPort: 80, name: http}]
        env:
        - {name: A, value: "1"}
        - name: B
          valueFrom: {configMapKeyRef: {name: cfg, key: b}}
        - name: C
          valueFrom: {secretKeyRef: {name: sec, key: c}}
        - name: POD
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        resources:
          requests: {cpu: 500m, memory: 128Mi}
          limits: {cpu: "1.5", memory: 1G}
        livenessProbe:
          httpGet: {path: /healthz, port: http}
        readinessProbe:
          tcpSocket: {port: 80}
          periodSeconds: 5
        startupProbe:
          exec: {command: [cat, /ready]}
        volumeMounts:
        - {name: cfg, mountPath: /etc/cfg}
        - {name: scratch, mountPath: /tmp}
        - {name: sec, mountPath: /sec}
        - {name: host, mountPath: /host}
      volumes:
      - {name: cfg, configMap: {name: cfg}}
      - {name: sec, secret: {secretName: sec}}
      - {name: scratch, emptyDir: {}}
      - {name: host, hostPath: {path: /var/log}}
"""


def load_one(text: str) -> object:
    objs = load_manifests(text, "app.yaml")
    assert len(objs) == 1
    return objs[0]


def test_deployment_defaults_as_the_api_server() -> None:
    d = load_one(DEPLOYMENT)
    assert isinstance(d, Deployment)
    s = d.spec
    assert s.replicas == 1
    assert s.strategy.type == "RollingUpdate"
    assert s.strategy.rolling_update is not None
    assert (s.strategy.rolling_update.max_surge, s.strategy.rolling_update.max_unavailable) == (
        "25%",
        "25%",
    )
    assert (s.revision_history_limit, s.progress_deadline_seconds, s.min_ready_seconds) == (
        10,
        600,
        0,
    )
    c = s.template.spec.containers[0]
    assert c.image_pull_policy == "IfNotPresent"
    assert c.liveness_probe is not None and c.readiness_probe is not None
    lp = c.liveness_probe
    assert (lp.period_seconds, lp.timeout_seconds, lp.failure_threshold, lp.success_threshold) == (
        10,
        1,
        3,
        1,
    )
    assert c.readiness_probe.period_seconds == 5
    assert c.resources.requests["cpu"].milli_value() == 500
    assert c.resources.limits["memory"].value == 10**9
    assert c.env[1].value_from is not None and c.env[1].value_from.config_map_key_ref is not None
    assert s.template.spec.restart_policy == "Always"


def test_service_defaults() -> None:
    svc = load_one(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n"
    )
    assert isinstance(svc, Service)
    assert svc.spec.type == "ClusterIP"
    assert (svc.spec.ports[0].protocol, svc.spec.ports[0].target_port) == ("TCP", 80)


def test_every_kind_loads() -> None:
    text = """
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {b: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data: {c: aGk=}
stringData: {d: there}
---
apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  restartPolicy: Never
  containers: [{name: c, image: busybox}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs}
spec:
  replicas: 2
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec:
  podSelector: {}
  egress: [{}]
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  targetCPUUtilizationPercentage: 50
"""
    ns, cm, sec, pod, rs, np, hpa = load_manifests(text, "all.yaml")
    assert isinstance(ns, Namespace) and ns.metadata.labels == {
        "kubernetes.io/metadata.name": "shop"
    }
    assert isinstance(cm, ConfigMap) and cm.data == {"b": "hello"}
    assert isinstance(sec, Secret) and sec.decoded() == {"c": b"hi", "d": b"there"}
    assert isinstance(pod, Pod) and pod.spec.restart_policy == "Never"
    assert isinstance(rs, ReplicaSet) and rs.spec.replicas == 2
    assert isinstance(np, NetworkPolicy) and np.spec.policy_types == ("Ingress", "Egress")
    assert isinstance(hpa, HorizontalPodAutoscaler)
    assert hpa.api_version == "autoscaling/v2"
    metric = hpa.spec.metrics[0]
    assert metric.resource is not None and metric.resource.target.average_utilization == 50
    assert hpa.spec.min_replicas == 1


def test_hpa_without_metrics_defaults_to_cpu_80() -> None:
    hpa = load_one(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: h}\n"
        "spec: {scaleTargetRef: {kind: Deployment, name: web}, maxReplicas: 3, behavior: {}}\n"
    )
    assert isinstance(hpa, HorizontalPodAutoscaler)
    res = hpa.spec.metrics[0].resource
    assert res is not None and (res.name, res.target.average_utilization) == ("cpu", 80)
    b = hpa.spec.behavior
    assert b is not None and b.scale_up is not None and b.scale_down is not None
    assert b.scale_up.stabilization_window_seconds == 0
    assert b.scale_down.stabilization_window_seconds is None  # the controller's flag decides
    assert [p.type for p in b.scale_up.policies or ()] == ["Pods", "Percent"]


def err(text: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        load_manifests(text, "app.yaml")
    return str(info.value)


def test_missing_selector() -> None:
    text = DEPLOYMENT.replace("  selector:\n    matchLabels: {app: web}\n", "")
    assert (
        err(text) == 'app.yaml:1: Deployment.apps "web" is invalid: spec.selector: Required value'
    )


def test_selector_must_match_template_labels() -> None:
    text = DEPLOYMENT.replace("matchLabels: {app: web}", "matchLabels: {app: db}")
    assert err(text) == (
        'app.yaml:1: Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid '
        'value: map[string]string{"app":"web"}: selector does not match template labels'
    )


def test_negative_replicas() -> None:
    text = DEPLOYMENT.replace("spec:\n  selector", "spec:\n  replicas: -1\n  selector", 1)
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in err(text)


def test_several_errors_are_listed_together() -> None:
    text = DEPLOYMENT.replace(
        "spec:\n  selector", "spec:\n  replicas: -1\n  minReadySeconds: -2\n  selector", 1
    )
    message = err(text)
    assert message.startswith('app.yaml:1: Deployment.apps "web" is invalid: [spec.replicas')
    assert "spec.minReadySeconds: Invalid value: -2" in message


def test_unknown_fields_with_their_path() -> None:
    text = DEPLOYMENT.replace("spec:\n  selector", "spec:\n  replicass: 3\n  selector", 1)
    text = text.replace("image: nginx:1.25", "image: nginx:1.25\n        imagee: x")
    assert err(text) == (
        'app.yaml:1: strict decoding error: unknown field "spec.replicass", unknown field '
        '"spec.template.spec.containers[0].imagee"'
    )


@pytest.mark.parametrize(
    ("name", "ok"),
    [("web", True), ("web-1.example", True), ("Web", False), ("-web", False), ("a" * 254, False)],
)
def test_dns1123_names(name: str, ok: bool) -> None:
    text = DEPLOYMENT.replace("name: web\nspec", f"name: {name}\nspec")
    if ok:
        load_manifests(text, "app.yaml")
    else:
        assert "metadata.name: Invalid value" in err(text)


def test_service_names_are_dns1035() -> None:
    message = err(
        "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 80}]}\n"
    )
    assert "a DNS-1035 label must consist of lower case alphanumeric characters" in message


def test_bad_quantity() -> None:
    text = DEPLOYMENT.replace("memory: 128Mi", "memory: 128Mx")
    assert err(text) == (
        "app.yaml:1: spec.template.spec.containers[0].resources.requests.memory: Invalid value: "
        '"128Mx": quantities must match the regular expression '
        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "cpu: 500m, memory: 128Mi",
            "cpu: 2, memory: 128Mi",
            'requests: Invalid value: "2": must be less than or equal to cpu limit of 1.5',
        ),
        (
            "name: web\n        image: nginx:1.25",
            "name: web\n        image: ''",
            "spec.template.spec.containers[0].image: Required value",
        ),
        (
            "{name: cfg, mountPath: /etc/cfg}",
            "{name: nope, mountPath: /etc/cfg}",
            'volumeMounts[0].name: Not found: "nope"',
        ),
        (
            "periodSeconds: 5",
            "periodSeconds: 0",
            "readinessProbe.periodSeconds: Invalid value: 0: must be greater than or equal to 1",
        ),
        (
            "tcpSocket: {port: 80}",
            "tcpSocket: {port: 70000}",
            "readinessProbe.tcpSocket.port: Invalid value: 70000: "
            "must be between 1 and 65535, inclusive",
        ),
        (
            "httpGet: {path: /healthz, port: http}",
            "{}",
            "livenessProbe: Required value: must specify a handler type",
        ),
        (
            "containerPort: 80, name: http",
            "containerPort: 0, name: http",
            "containerPort: Invalid value: 0: must be between 1 and 65535",
        ),
        (
            '{name: A, value: "1"}',
            '{name: A, value: "1", valueFrom: {fieldRef: {fieldPath: metadata.name}}}',
            "may not be specified when `value` is not empty",
        ),
        (
            "fieldPath: metadata.name",
            "fieldPath: spec.nope",
            'fieldRef.fieldPath: Unsupported value: "spec.nope"',
        ),
    ],
)
def test_pod_spec_checks(old: str, new: str, message: str) -> None:
    assert old in DEPLOYMENT
    assert message in err(DEPLOYMENT.replace(old, new))


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (
            "{type: Recreate, rollingUpdate: {maxSurge: 1}}",
            "spec.strategy.rollingUpdate: Forbidden: "
            "may not be specified when strategy `type` is 'Recreate'",
        ),
        (
            "{rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}",
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: "
            "may not be 0 when `maxSurge` is 0",
        ),
        ("{rollingUpdate: {maxUnavailable: 120%}}", "must not be greater than 100%"),
        ("{rollingUpdate: {maxSurge: lots}}", "a valid percent string must be a numeric string"),
        (
            "{type: BlueGreen}",
            'spec.strategy.type: Unsupported value: "BlueGreen": '
            'supported values: "Recreate", "RollingUpdate"',
        ),
    ],
)
def test_strategy_checks(strategy: str, message: str) -> None:
    text = DEPLOYMENT.replace("spec:\n  selector", f"spec:\n  strategy: {strategy}\n  selector", 1)
    assert message in err(text)


def test_yaml_syntax_error_has_a_line_number() -> None:
    assert err("apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n").startswith(
        "app.yaml:5: "
    )
    assert err("a: b\n  c: d\n") == "app.yaml:2: mapping values are not allowed in this context"


def test_one_bad_document_fails_the_whole_stream() -> None:
    good = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: B}\n"
    message = err(f"{good}---\n{bad}")
    assert message.startswith('app.yaml:5: ConfigMap "B" is invalid')


def test_unsupported_kind_rejects_or_is_skipped() -> None:
    text = (
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    )
    assert err(text) == "app.yaml:1: kind ServiceAccount is not supported"
    skipped: list[str] = []
    objs = load_manifests(text, "app.yaml", on_unsupported=skipped.append)
    assert [o.kind for o in objs] == ["ConfigMap"]
    assert skipped == ["app.yaml:1: kind ServiceAccount is not supported"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ConfigMap\nmetadata: {name: a}\n", "app.yaml:1: apiVersion not set"),
        ("- a\n- b\n", "app.yaml:1: a manifest must be a mapping, not list"),
        (
            "apiVersion: extensions/v1beta1\nkind: Deployment\n",
            'no matches for kind "Deployment" in version "extensions/v1beta1"',
        ),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {a: 1}\n",
            "data.a: Invalid value: 1: must be a string",
        ),
    ],
)
def test_document_errors(text: str, message: str) -> None:
    assert message in err(text)


def test_status_is_dropped_and_timestamps_stay_strings() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\n"
        "metadata: {name: a, creationTimestamp: 2024-01-02T03:04:05Z}\n"
        "status: {whatever: <some-time>}\n"
    )
    cm = load_one(text)
    assert isinstance(cm, ConfigMap) and cm.metadata.creation_timestamp == "2024-01-02T03:04:05Z"


def test_list_kind_and_document_end_marker() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
        "- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n...\n---\n---\n"
    )
    assert [o.metadata.name for o in load_manifests(text)] == ["a", "b"]


def test_files_directories_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "b.json").write_text(
        '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}'
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    )
    assert [o.metadata.name for o in load_path(tmp_path)] == ["a", "b"]
    assert [o.metadata.name for o in load_path(tmp_path, recursive=True)] == ["a", "b", "c"]
    stdin = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"
    names = [o.metadata.name for o in load_paths([str(tmp_path / "a.yaml"), "-"], stdin=stdin)]
    assert names == ["a", "d"]
    with pytest.raises(NotFound):
        load_path(tmp_path / "missing.yaml")
    (tmp_path / "z.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Z}\n")
    with pytest.raises(InvalidArgument, match=r"z\.yaml:1: "):
        load_path(tmp_path)


def test_export_round_trip() -> None:
    objs = load_manifests(
        DEPLOYMENT
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        + "spec: {ports: [{port: 80, targetPort: http}]}\n"
    )
    assert load_manifests(to_yaml(objs)) == objs
    assert load_manifests(to_json(objs)) == objs
    assert load_manifests(to_json(objs[:1])) == objs[:1]
    assert to_yaml(objs).startswith(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
    )


def test_from_dict() -> None:
    cm = from_dict({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
    assert isinstance(cm, ConfigMap)
