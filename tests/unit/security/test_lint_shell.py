"""The RUN splitter the lint rules read shell through, and lint's robustness on any text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockyard.errors import InvalidArgument
from dockyard.security.lint import lint_text
from dockyard.security.lint._shell import split_script

CASES = [
    ("a && b || c; d", [("a",), ("b",), ("c",), ("d",)], False),
    ("make 2>&1 | tee log", [("make",), ("tee", "log")], True),
    ("echo ${A#x} && curl http://a/#f", [("echo", "${A#x}"), ("curl", "http://a/#f")], False),
    ("a # comment && b\nc", [("a",), ("c",)], False),
    ('echo "a && b" && c', [("echo", "a && b"), ("c",)], False),
    ("if [ -f x ]; then pip install y; fi", [("[", "-f", "x", "]"), ("pip", "install", "y")],
     False),
    ("sudo -E apt-get install -y x", [("apt-get", "install", "-y", "x")], False),
    ("A=1 B=2 pip install x", [("pip", "install", "x")], False),
    ("echo 'unbalanced", [("echo", "'unbalanced")], False),
]  # fmt: skip


@pytest.mark.parametrize(("text", "argvs", "pipe"), CASES)
def test_split(text: str, argvs: list[tuple[str, ...]], pipe: bool) -> None:
    script = split_script(text)
    assert [c.argv for c in script.commands] == argvs
    assert script.has_pipe == pipe


def test_cd_changes_the_directory_of_what_follows() -> None:
    script = split_script("cd src && make && cd /opt && ./x", cwd="/app")
    assert [c.cwd for c in script.commands] == ["/app", "/app/src", "/app/src", "/opt"]


def test_wrappers_and_assignments_are_remembered() -> None:
    (cmd,) = split_script("PIP_USER=1 sudo pip install x").commands
    assert cmd.wrappers == ("sudo",) and cmd.assignments == ("PIP_USER=1",)


_WORDS = st.sampled_from([
    "FROM alpine:3", "FROM python:3.11-slim AS b", "FROM b", "RUN pip install x", "COPY . .",
    "COPY --from=b /app /app", "COPY --from=0 /x /y", "WORKDIR app", "WORKDIR /srv", "USER app",
    "ENV A=$B", "ARG X", "RUN cd x && rm -f .env", "CMD x", 'CMD ["x"]', "HEALTHCHECK NONE",
    "RUN <<EOF\napt-get install gcc\nEOF", "ADD x.tar.gz /", "EXPOSE 80/TCP", "RUN a | b",
    "LABEL a b", "SHELL [\"/bin/bash\", \"-c\"]", "ONBUILD RUN x", "STOPSIGNAL 9",
    "RUN apk add --virtual .d gcc && apk del .d", "VOLUME /data", "# hadolint ignore=DL3006",
    "# check=skip=all", "RUN python -m venv /v && /v/bin/pip install y", "\\", "RUN $(",
])  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_WORDS, min_size=1, max_size=12), st.text(max_size=30))
def test_any_text_lints_or_is_an_invalid_argument(lines: list[str], noise: str) -> None:
    text = "\n".join(lines) + "\n" + noise
    try:
        report = lint_text(text)
    except InvalidArgument as exc:
        assert str(exc)
        return
    assert report.internal_errors == []
