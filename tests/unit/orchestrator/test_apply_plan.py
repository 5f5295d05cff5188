"""apply planning (orchestrator/apply_plan.py) by table: manifests + what exists → steps."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.orchestrator.apply_plan import (
    ApplyStep,
    check_immutable,
    decode_items,
    key_of,
    plan_apply,
)
from dockyard.orchestrator.objects import Object


def deploy(
    name: str = "web", ns: str | None = None, image: str = "nginx", app: str = "web",
    labels: dict[str, str] | None = None, replicas: int = 1,
) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": name, **({"namespace": ns} if ns else {})}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}},
    }  # fmt: skip


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def pod(name: str = "one", ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}  # fmt: skip


def config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def stored(*docs: dict[str, Any]) -> dict[Any, Object]:
    """What the store holds: the same decoding as the request's items."""
    return {key_of(o): o for o in decode_items(list(docs), "default")}


# name, items, stored objects, stored namespaces, expected (action, kind, namespace, name)
CASES: list[tuple[str, list[dict[str, Any]], dict[Any, Object], set[str], list[tuple[str, ...]]]]
CASES = [
    ("create", [deploy()], {}, set(), [("created", "Deployment", "default", "web")]),
    ("unchanged", [deploy()], stored(deploy()), set(),
     [("unchanged", "Deployment", "default", "web")]),
    ("update: spec", [deploy(image="nginx:2")], stored(deploy()), set(),
     [("configured", "Deployment", "default", "web")]),
    ("update: labels only", [deploy(labels={"tier": "x"})], stored(deploy()), set(),
     [("configured", "Deployment", "default", "web")]),
    ("update: data", [config_map("c", {"k": "2"})], stored(config_map("c", {"k": "1"})), set(),
     [("configured", "ConfigMap", "default", "c")]),
    ("namespace first, created with its objects", [deploy(ns="shop"), namespace("shop")], {},
     set(), [("created", "Namespace", None, "shop"), ("created", "Deployment", "shop", "web")]),
    ("namespace that exists", [deploy(ns="shop")], {}, {"shop"},
     [("created", "Deployment", "shop", "web")]),
    ("pod: new", [pod()], {}, set(), [("created", "Pod", "default", "one")]),
    ("pod: exists, never updated in place", [pod()], stored(pod()), set(),
     [("unchanged", "Pod", "default", "one")]),
    ("several, order kept", [config_map("a", {}), deploy(), config_map("b", {})],
     stored(config_map("a", {})), set(),
     [("unchanged", "ConfigMap", "default", "a"), ("created", "Deployment", "default", "web"),
      ("created", "ConfigMap", "default", "b")]),
    ("no prune: what is not applied stays", [config_map("a", {})],
     stored(config_map("a", {}), deploy()), set(), [("unchanged", "ConfigMap", "default", "a")]),
    ("empty", [], stored(deploy()), set(), []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("items", "existing", "namespaces", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan(
    items: list[dict[str, Any]],
    existing: dict[Any, Object],
    namespaces: set[str],
    expected: list[tuple[str, ...]],
) -> None:
    steps = plan_apply(decode_items(items, "default"), existing, namespaces)
    got = [(s.action, s.obj.kind, s.obj.metadata.namespace, s.obj.metadata.name) for s in steps]
    assert got == expected
    for s in steps:  # the stored version travels with an update
        kept = s.action == "configured" or (s.action == "unchanged" and s.obj.kind != "Pod")
        assert (s.old is not None) == kept


# name, items, stored, namespaces, error class, message
FAILURES: list[tuple[str, Any, dict[Any, Object], set[str], type[Exception], str]] = [
    ("conflict: immutable selector", [config_map("a", {}), deploy(app="other")],
     stored(deploy()), set(), InvalidArgument,
     'items[1]: Deployment.apps "web" is invalid: spec.selector: Invalid value: '
     "{'matchLabels': {'app': 'other'}}: field is immutable"),
    ("missing namespace", [deploy(ns="nowhere")], {}, {"shop"}, NotFound,
     'items[0]: namespaces "nowhere" not found'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("items", "existing", "namespaces", "error", "message"),
    [c[1:] for c in FAILURES],
    ids=[c[0] for c in FAILURES],
)
def test_plan_refuses_before_any_step(
    items: Any,
    existing: dict[Any, Object],
    namespaces: set[str],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as exc:
        plan_apply(decode_items(items, "default"), existing, namespaces)
    assert str(exc.value) == message


INVALID: list[tuple[str, Any, str]] = [
    ("not a list", {"kind": "Deployment"}, "apply: items must be a list of manifests"),
    ("unknown kind", [deploy(), {"apiVersion": "v1", "kind": "Gadget", "metadata": {"name": "x"}}],
     "items[1]: "),
    ("invalid field", [deploy(replicas=-1)], "items[0]: "),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "start"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_items_name_the_item(raw: Any, start: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        decode_items(raw, "default")
    assert str(exc.value).startswith(start)


def test_decode_puts_namespaced_objects_in_the_default_namespace() -> None:
    objs = decode_items([deploy(), deploy(name="b", ns="shop"), namespace("shop")], "team")
    assert [o.metadata.namespace for o in objs] == ["team", "shop", None]


def test_check_immutable_alone() -> None:
    old, new = decode_items([deploy(), deploy(app="x")], "default")
    check_immutable(old, old)
    with pytest.raises(InvalidArgument, match="field is immutable"):
        check_immutable(old, new)


def test_steps_are_records() -> None:
    (obj,) = decode_items([deploy()], "default")
    assert ApplyStep("created", obj) == ApplyStep("created", obj, None)
