from __future__ import annotations

import pytest

from dockyard.cli.gotemplate import render
from dockyard.errors import InvalidArgument

DATA = {
    "State": {"Pid": 42, "OOMKilled": True, "Status": "exited"},
    "Config": {"Env": ["A=1", "B=2"], "Labels": {"app": "web"}},
    "Name": "/box",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{.State.Pid}}", "42"),
        ("{{.State.OOMKilled}}", "true"),
        ("{{json .Config.Env}}", '["A=1","B=2"]'),
        ("{{range .Config.Env}}<{{.}}>{{end}}", "<A=1><B=2>"),
        ('{{index .Config.Labels "app"}}', "web"),
        ("{{if .State.OOMKilled}}oom{{else}}ok{{end}}", "oom"),
        ("{{.Name | upper}}", "/BOX"),
        ("{{len .Config.Env}}", "2"),
        ('{{join .Config.Env ","}}', "A=1,B=2"),
        ("a {{- .State.Pid -}} b", "a42b"),
        ("{{$.State.Status}}", "exited"),
        ("plain", "plain"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, DATA) == expected


@pytest.mark.parametrize("template", ["{{.Nope}}", "{{.State", "{{end}}", "{{frob .X}}"])
def test_bad_templates_are_invalid_argument(template: str) -> None:
    with pytest.raises(InvalidArgument):
        render(template, DATA)
