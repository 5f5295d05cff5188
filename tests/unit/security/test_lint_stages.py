"""The stage-aware rules (DY1001-DY1004) on the cases they exist for, and their near misses."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.security.lint import LintConfig, lint_text

REPO = Path(__file__).resolve().parents[3]


def _hits(text: str, rule: str, target: str | None = None) -> list[tuple[int, str]]:
    report = lint_text(text, target=target, config=LintConfig())
    assert not report.internal_errors
    return [(f.line, f.message) for f in report.findings if f.rule == rule]


# --- DY1001: COPY --from that misses what the stage installed ---------------------------

STORY = """\
FROM python:3.9-slim as builder
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
FROM python:3.9-slim
WORKDIR /app
COPY --from=builder /app .
COPY . .
EXPOSE 8080
CMD ["python", "inference_server.py"]
"""


def test_the_story_dockerfile_is_flagged_on_its_copy_line() -> None:
    ((line, message),) = _hits(STORY, "DY1001")
    assert line == 7
    assert "/usr/local/lib/python3.9/site-packages" in message
    assert "pip install (line 4)" in message


def test_demo_keeps_the_story_dockerfile() -> None:
    text = (REPO / "demo" / "Dockerfile.original").read_text()
    assert text == STORY
    assert [line for line, _m in _hits(text, "DY1001")] == [7]


BUILDER = "FROM python:3.11-slim AS builder\nWORKDIR /app\nCOPY . .\n"
FINAL = "FROM python:3.11-slim\nWORKDIR /app\n"


@pytest.mark.parametrize(
    ("install", "copy"),
    [
        ("RUN pip install -r r.txt", "COPY --from=builder /usr/local /usr/local"),
        ("RUN pip install -r r.txt",
         "COPY --from=builder /usr/local/lib/python3.11/site-packages /s"),
        ("RUN pip install --user -r r.txt", "COPY --from=builder /root/.local /root/.local"),
        ("RUN pip install --target=/deps -r r.txt", "COPY --from=builder /deps /deps"),
        ("RUN pip install --prefix /install -r r.txt", "COPY --from=builder /install /usr/local"),
        ("RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r r.txt",
         "COPY --from=builder /opt/venv /opt/venv"),
        ("RUN python -m venv /v && . /v/bin/activate && pip install -r r.txt",
         "COPY --from=builder /v /v"),
        ("ENV VIRTUAL_ENV=/venv\nRUN pip install -r r.txt", "COPY --from=builder /venv /venv"),
        ("RUN pip wheel -w /wheels -r r.txt", "COPY --from=builder /wheels /wheels"),
        ("ENV PIP_TARGET=/deps\nRUN pip install -r r.txt", "COPY --from=builder /deps /deps"),
        ("ENV PIP_USER=1 PYTHONUSERBASE=/pyuser\nRUN pip install -r r.txt",
         "COPY --from=builder /pyuser /pyuser"),
        ("RUN npm ci", "COPY --from=builder /app /app"),
        ("RUN npm ci && npm run build", "COPY --from=builder /app/dist /usr/share/nginx/html"),
        ("RUN pip install -r r.txt && python setup.py build", "COPY --from=builder /app/build /b"),
        ("RUN go build -o /out/app .", "COPY --from=builder /out/app /app"),
        ("RUN pip install -r r.txt", "COPY --from=builder $DIR /x"),
    ],
)  # fmt: skip
def test_copies_that_take_what_was_installed_or_built_pass(install: str, copy: str) -> None:
    assert _hits(f"{BUILDER}{install}\n{FINAL}{copy}\n", "DY1001") == []


@pytest.mark.parametrize(
    ("install", "copy", "where"),
    [
        ("RUN pip install -r r.txt", "COPY --from=builder /app .",
         "/usr/local/lib/python3.11/site-packages"),
        ("RUN pip install --user -r r.txt", "COPY --from=builder /app .", "/root/.local"),
        ("RUN python -m venv /opt/venv && /opt/venv/bin/pip install x==1",
         "COPY --from=builder /app/ .", "/opt/venv"),
        ("RUN poetry config virtualenvs.create false && poetry install",
         "COPY --from=builder /app .", "site-packages"),
        ("RUN bundle install", "COPY --from=builder /app .", "/usr/local/bundle"),
        ("RUN rm -rf tests && pip install -r r.txt && echo done", "COPY --from=builder /app .",
         "site-packages"),
    ],
)  # fmt: skip
def test_copies_that_miss_the_installed_packages_are_flagged(
    install: str, copy: str, where: str
) -> None:
    text = f"{BUILDER}{install}\n{FINAL}{copy}\n"
    ((line, message),) = _hits(text, "DY1001")
    assert line == text.count("\n")
    assert where in message


def test_a_final_stage_that_installs_for_itself_is_not_flagged() -> None:
    text = (
        f"{BUILDER}RUN pip install -r r.txt\n{FINAL}COPY --from=builder /app .\n"
        "RUN pip install -r r.txt\n"
    )
    assert _hits(text, "DY1001") == []


def test_a_stage_built_on_the_builder_inherits_its_packages() -> None:
    text = f"{BUILDER}RUN pip install -r r.txt\nFROM builder\nCOPY --from=builder /app /x\n"
    assert _hits(text, "DY1001") == []


def test_stage_referenced_by_index() -> None:
    text = f"{BUILDER}RUN pip install -r r.txt\n{FINAL}COPY --from=0 /app .\n"
    assert len(_hits(text, "DY1001")) == 1


# --- DY1002: secrets deleted in a later layer ----------------------------------------


def test_a_whole_context_copy_then_rm_of_a_secret_is_flagged_at_the_copy() -> None:
    text = "FROM node:20-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nRUN rm -f .npmrc\n"
    ((line, message),) = _hits(text, "DY1002")
    assert line == 3
    assert "/app/.npmrc" in message and "line 5" in message


def test_a_secret_only_in_a_builder_stage_is_not_in_the_image() -> None:
    text = (
        "FROM alpine:3 AS b\nCOPY id_rsa /root/.ssh/id_rsa\nRUN git clone x /src\n"
        "RUN rm /root/.ssh/id_rsa\nFROM alpine:3\nCOPY --from=b /src /src\n"
    )
    assert _hits(text, "DY1002") == []


def test_deleting_an_ordinary_file_is_not_a_secret_finding() -> None:
    text = "FROM alpine:3\nCOPY app.tar /tmp/\nRUN tar xf /tmp/app.tar\nRUN rm /tmp/app.tar\n"
    assert _hits(text, "DY1002") == []


# --- DY1003: compilers in the final stage --------------------------------------------


def test_compilers_purged_in_the_same_run_pass() -> None:
    text = (
        "FROM debian:12 AS b\nRUN echo\nFROM debian:12\n"
        "RUN apt-get install -y gcc && make && apt-get purge -y gcc\n"
    )
    assert _hits(text, "DY1003") == []


def test_compilers_purged_in_a_later_layer_are_flagged() -> None:
    text = (
        "FROM debian:12 AS b\nRUN echo\nFROM debian:12\nRUN apt-get install -y build-essential\n"
        "RUN make\nRUN apt-get purge -y build-essential\n"
    )
    ((line, message),) = _hits(text, "DY1003")
    assert line == 4 and "removed at line 6" in message


def test_apk_virtual_package_deleted_in_the_same_run_passes() -> None:
    text = (
        "FROM alpine:3 AS b\nRUN echo\nFROM alpine:3\n"
        "RUN apk add --virtual .build-deps gcc musl-dev && pip install x && apk del .build-deps\n"
    )
    assert _hits(text, "DY1003") == []


def test_a_full_sdk_base_for_the_final_stage_is_flagged() -> None:
    base = "FROM python:3.11-slim AS b\nRUN echo\n"
    assert [line for line, _m in _hits(base + "FROM python:3.11\n", "DY1003")] == [3]
    assert _hits(base + "FROM python:3.11-slim\n", "DY1003") == []
    assert _hits(base + "FROM golang:1.22 AS final\nCOPY --from=b /x /x\n", "DY1003") != []


def test_target_selects_the_final_stage() -> None:
    text = "FROM debian:12 AS dev\nRUN apt-get install -y gcc\nFROM debian:12 AS prod\nRUN echo\n"
    assert _hits(text, "DY1003") == []
    assert [line for line, _m in _hits(text, "DY1003", target="dev")] == [2]


# --- DY1004: USER only in another stage -----------------------------------------------


def test_user_inherited_through_from_counts() -> None:
    text = "FROM alpine:3 AS base\nUSER app\nFROM base\nRUN echo\n"
    assert _hits(text, "DY1004") == []


def test_root_user_in_a_builder_is_not_reported() -> None:
    text = "FROM alpine:3 AS b\nUSER root\nFROM alpine:3\nRUN echo\n"
    assert _hits(text, "DY1004") == []


def test_user_only_in_builder_names_both_stages() -> None:
    text = "FROM alpine:3 AS build\nUSER 1000\nFROM alpine:3 AS run\nRUN echo\n"
    ((line, message),) = _hits(text, "DY1004")
    assert line == 2 and "'build'" in message and "'run'" in message
