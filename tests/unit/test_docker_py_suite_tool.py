"""tools/docker-py-suite's report: one outcome per test (a teardown error counts once, as a
failure), one row per module."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "docker-py-suite"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    if Path(sys.prefix).resolve() != (TOOL.parents[1] / ".venv").resolve():
        pytest.skip("the tool re-executes itself under the project's .venv")
    loader = importlib.machinery.SourceFileLoader("docker_py_suite", str(TOOL))
    spec = importlib.util.spec_from_loader("docker_py_suite", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


JUNIT = """<?xml version="1.0"?><testsuites><testsuite>
<testcase classname="tests.integration.api_container_test.KillTest" name="test_kill"/>
<testcase classname="tests.integration.api_container_test.KillTest" name="test_rm">
  <failure message="boom"/></testcase>
<testcase classname="tests.integration.api_container_test.KillTest" name="test_rm">
  <error message="failed on teardown"/></testcase>
<testcase classname="tests.integration.api_network_test.TestNetworks" name="test_x">
  <error message="failed on teardown"/></testcase>
<testcase classname="tests.integration.api_image_test.PullTest" name="test_pull">
  <skipped message="offline"/></testcase>
</testsuite></testsuites>"""


def test_outcomes_and_table(tool: ModuleType, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(JUNIT)
    results = tool.outcomes([report, tmp_path / "absent.xml"])
    assert results == {
        ("api_container_test", "KillTest::test_kill"): "passed",
        ("api_container_test", "KillTest::test_rm"): "failed",
        ("api_network_test", "TestNetworks::test_x"): "failed",
        ("api_image_test", "PullTest::test_pull"): "skipped",
    }
    lines = tool.table(results).splitlines()
    assert "| api_container_test | 1 | 1 | 0 | 50% |" in lines
    assert "| api_image_test | 0 | 0 | 1 | - |" in lines
    assert lines[-1] == "| **total** | 1 | 2 | 1 | 33.3% |"
