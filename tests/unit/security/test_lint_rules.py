"""One positive and one negative case for every lint rule.

hadolint's shared ids take their cases from hadolint's own rule pages
(``test_lint_hadolint.py``); this file covers the rest — BuildKit's checks, DL3026
(needs a config) and dockyard's stage-aware rules — and checks that no rule is left
without a case.
"""

from __future__ import annotations

import pytest
from test_lint_hadolint import EXAMPLES as HADOLINT_EXAMPLES

from dockyard.security.lint import LintConfig, lint_text, rules

# rule -> (fires on, does not fire on)
CASES: dict[str, tuple[str, str]] = {
    "StageNameCasing": ("FROM alpine:3 AS Builder\n", "FROM alpine:3 AS builder\n"),
    "FromAsCasing": ("FROM alpine:3 as b\n", "FROM alpine:3 AS b\n"),
    "ConsistentInstructionCasing": ("FROM alpine:3\nFROM alpine:3\nrun echo\n",
                                    "FROM alpine:3\nRUN echo\n"),
    "ReservedStageName": ("FROM alpine:3 AS scratch\n", "FROM alpine:3 AS base\n"),
    "NoEmptyContinuation": ("FROM alpine:3\nRUN echo a \\\n\n  b\n",
                            "FROM alpine:3\nRUN echo a \\\n  b\n"),
    "WorkdirRelativePath": ("FROM alpine:3\nWORKDIR app\n",
                            "FROM alpine:3\nWORKDIR /srv\nWORKDIR app\n"),
    "LegacyKeyValueFormat": ("FROM alpine:3\nENV A b\n", "FROM alpine:3\nENV A=b\n"),
    "SecretsUsedInArgOrEnv": ("FROM alpine:3\nARG AWS_SECRET_ACCESS_KEY\n",
                              "FROM alpine:3\nARG PUBLIC_KEY\nARG KEYBOARD\n"),
    "ExposeProtoCasing": ("FROM alpine:3\nEXPOSE 80/TCP\n", "FROM alpine:3\nEXPOSE 80/tcp\n"),
    "ExposeInvalidFormat": ("FROM alpine:3\nEXPOSE 0.0.0.0:80:80\n", "FROM alpine:3\nEXPOSE 80\n"),
    "RedundantTargetPlatform": ("FROM --platform=$TARGETPLATFORM alpine:3\n",
                                "FROM --platform=$BUILDPLATFORM alpine:3\n"),
    "FromPlatformFlagConstDisallowed": ("FROM --platform=linux/amd64 alpine:3 AS b\n",
                                        "FROM --platform=linux/amd64 alpine:3 AS b-amd64\n"),
    "UndefinedArgInFrom": ("FROM alpine:$VERSION\n", "ARG VERSION=3\nFROM alpine:$VERSION\n"),
    "UndefinedVar": ("FROM alpine:3\nCOPY $SRC /x\n",
                     "FROM alpine:3\nARG SRC=a\nCOPY $SRC /x\nENV PATH=$PATH:/y\n"),
    "DY1001": (
        "FROM python:3.12-slim AS b\nWORKDIR /app\nCOPY . .\nRUN pip install -r r.txt\n"
        "FROM python:3.12-slim\nCOPY --from=b /app /app\n",
        "FROM python:3.12-slim AS b\nRUN python -m venv /opt/venv\nENV PATH=/opt/venv/bin:$PATH\n"
        "RUN pip install -r r.txt\nFROM python:3.12-slim\nCOPY --from=b /opt/venv /opt/venv\n",
    ),
    "DY1002": (
        "FROM alpine:3\nCOPY id_rsa /root/.ssh/id_rsa\nRUN git clone x\nRUN rm /root/.ssh/id_rsa\n",
        "FROM alpine:3\nRUN --mount=type=secret,id=key,target=/root/.ssh/id_rsa git clone x\n",
    ),
    "DY1003": (
        "FROM debian:12 AS b\nRUN echo\nFROM debian:12\nRUN apt-get install -y gcc\n",
        "FROM debian:12 AS b\nRUN apt-get install -y gcc\nFROM debian:12\nCOPY --from=b /x /x\n",
    ),
    "DY1004": (
        "FROM alpine:3 AS b\nUSER app\nFROM alpine:3\nCOPY --from=b /x /x\n",
        "FROM alpine:3 AS b\nUSER app\nFROM alpine:3\nUSER app\n",
    ),
}  # fmt: skip


def _fired(text: str, config: LintConfig | None = None) -> set[str]:
    report = lint_text(text, config=config)
    assert not report.internal_errors
    return {f.rule for f in report.findings}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires(rule: str) -> None:
    assert rule in _fired(CASES[rule][0])


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_stays_quiet(rule: str) -> None:
    assert rule not in _fired(CASES[rule][1])


def test_dl3026_needs_a_trusted_registry_list() -> None:
    text = "FROM quay.io/x/y:1\nFROM docker.io/library/alpine:3\nFROM alpine:3\n"
    config = LintConfig(trusted_registries=["docker.io"])
    report = lint_text(text, config=config)
    assert [f.line for f in report.findings if f.rule == "DL3026"] == [1]
    assert "DL3026" not in _fired(text)  # no list: no rule


def test_every_rule_has_cases() -> None:
    covered = set(CASES) | set(HADOLINT_EXAMPLES) | {"DL3026"}
    assert {r.id for r in rules()} <= covered


def test_findings_point_at_the_instruction() -> None:
    text = "FROM alpine:3\nRUN echo a \\\n  && cd /x\n"
    (finding,) = [f for f in lint_text(text).findings if f.rule == "DL3003"]
    assert (finding.line, finding.end_line, finding.column) == (2, 3, 1)
