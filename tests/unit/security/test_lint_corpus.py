"""Every Dockerfile of the shared corpus lints without an internal error.

A file the parser rejects (the corpus keeps BuildKit's negative fixtures and
parser-only fixtures without FROM) must give one InvalidArgument line
``file:line: message``; every other file must lint with no rule failing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.security.lint import LintConfig, lint_text, render, rules


def _dockerfiles(corpus: Path) -> list[Path]:
    found = sorted(corpus.glob("buildkit-parser/testfiles/*/Dockerfile"))
    found += sorted(corpus.glob("buildkit-parser/testfiles-negative/*/Dockerfile"))
    found += sorted(p for p in (corpus / "compose").rglob("Dockerfile*") if p.is_file())
    return found


@pytest.mark.corpus
def test_every_corpus_dockerfile_lints_without_an_internal_error(corpus_dir: Path) -> None:
    files = _dockerfiles(corpus_dir)
    assert len(files) > 40
    linted = rejected = 0
    for path in files:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        try:
            report = lint_text(text, str(path), LintConfig())
        except InvalidArgument as exc:
            message = str(exc)
            assert message.startswith(f"{path}:") and "\n" not in message, message
            rejected += 1
            continue
        assert report.internal_errors == [], path
        for fmt in ("text", "json", "sarif", "checkstyle"):
            render([report], fmt, rules())
        linted += 1
    assert linted > 40 and rejected < 20
