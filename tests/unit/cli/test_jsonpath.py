"""kubectl's JSONPath and custom-columns (issue 16: filters ``[?(@.type=="Ready")]`` and
``-o custom-columns`` were refused)."""

from __future__ import annotations

from typing import Any

import pytest

from dockyard.cli.jsonpath import column_value, custom_columns, evaluate, jsonpath
from dockyard.errors import InvalidArgument

POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "labels": {"app": "web", "app.kubernetes.io/name": "w"}},
    "spec": {"containers": [{"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]},
                            {"name": "side", "image": "busybox", "ports": [{"containerPort": 9}]}]},
    "status": {
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"},
                       {"type": "Ready", "status": "False"}],
        "restarts": 0,
    },
}  # fmt: skip
LIST = {"items": [POD, {"metadata": {"name": "db"}, "status": {"phase": "Pending"}}]}


@pytest.mark.parametrize(
    ("template", "want"),
    [
        ("{.metadata.name}", "web-1"),
        ('{.status.conditions[?(@.type=="Ready")].status}', "False"),
        ("{.status.conditions[?(@.type!='Ready')].type}", "Initialized"),
        ("{.spec.containers[?(@.ports[0].containerPort>10)].name}", "app"),
        ("{.spec.containers[?(@.image)].name}", "app side"),
        ("{.spec.containers[*].image}", "nginx:1 busybox"),
        ("{.spec.containers[-1].name}", "side"),
        ("{.spec.containers[0:1].name}", "app"),
        ("{..image}", "nginx:1 busybox"),
        ("{..containerPort}", "80 9"),
        ("{.metadata.labels['app.kubernetes.io/name']}", "w"),
        ("{.spec.containers[0]['name','image']}", "app nginx:1"),
        ('{range .spec.containers[*]}{.name}={.image}{"\\n"}{end}', "app=nginx:1\nside=busybox\n"),
        ("'{.status.phase}'", "Running"),
        ("phase: {$.status.phase}", "phase: Running"),
        ("{.status.restarts}", "0"),
        ("{.missing}", ""),
    ],
)
def test_pod_templates(template: str, want: str) -> None:
    assert jsonpath(POD, template) == want


def test_list_templates() -> None:
    assert jsonpath(LIST, '{.items[?(@.status.phase=="Pending")].metadata.name}') == "db"
    assert jsonpath(LIST, "{range .items[*]}{.metadata.name} {end}") == "web-1 db "
    assert evaluate(LIST, "$.items[*].metadata.name") == ["web-1", "db"]


@pytest.mark.parametrize("bad", ["{.a", "{range .items[*]}{.x}", "{.a[?(@.x=~y)]}", "{.a[1"])
def test_bad_templates(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="jsonpath"):
        jsonpath(POD, bad)


def test_custom_columns() -> None:
    cols = custom_columns(
        'NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,'
        "IMAGES:{.spec.containers[*].image},NODE:.spec.nodeName"
    )
    assert [h for h, _ in cols] == ["NAME", "READY", "IMAGES", "NODE"]
    assert [column_value(POD, e) for _, e in cols] == [
        "web-1",
        "False",
        "nginx:1,busybox",
        "<none>",
    ]
    for bad in ("NAME", "NAME:", ":.a"):
        with pytest.raises(InvalidArgument):
            custom_columns(bad)
