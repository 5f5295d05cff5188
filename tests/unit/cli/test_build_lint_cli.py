"""``dockyard build`` runs the lint checks: --check, # check=error=true, the summary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _build(tmp_path: Path, dockerfile: str, *flags: str) -> subprocess.CompletedProcess[str]:
    ctx = tmp_path / "ctx"
    ctx.mkdir(exist_ok=True)
    (ctx / "a").write_text("a\n")
    (ctx / "Dockerfile").write_text(dockerfile)
    argv = [sys.executable, "-m", "dockyard.cli.main", "--root", str(tmp_path / "root"),
            "--run-root", str(tmp_path / "run"), "build", *flags, str(ctx)]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _nothing_built(tmp_path: Path) -> bool:
    blobs = tmp_path / "root" / "blobs"
    return not blobs.exists() or not any(blobs.rglob("*"))


def test_check_lints_and_exits_without_building(tmp_path: Path) -> None:
    proc = _build(tmp_path, "FROM scratch\nCOPY a /a\nMAINTAINER me\n", "--check")
    assert proc.returncode == 1
    assert "Dockerfile:3:1 DL4000 error: MAINTAINER is deprecated" in proc.stdout
    assert "Check complete, 1 warning has been found!" in proc.stderr
    assert _nothing_built(tmp_path)


def test_check_on_a_clean_file_exits_0(tmp_path: Path) -> None:
    proc = _build(tmp_path, "FROM scratch\nCOPY a /a\n", "--check")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert "no warnings found" in proc.stderr


def test_check_error_true_fails_the_build_before_it_starts(tmp_path: Path) -> None:
    proc = _build(tmp_path, "# check=error=true\nFROM scratch\nCOPY a /a\nMAINTAINER me\n")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last == "dockyard: lint violation found for rules: DL4000 (# check=error=true)"
    assert "Traceback" not in proc.stderr
    assert _nothing_built(tmp_path)


def test_check_skip_silences_a_rule(tmp_path: Path) -> None:
    proc = _build(tmp_path, "# check=skip=MaintainerDeprecated\nFROM scratch\nMAINTAINER me\n",
                  "--check")  # fmt: skip
    assert proc.returncode == 0


@pytest.mark.usefixtures("require_root")
def test_a_build_prints_the_findings_after_it(tmp_path: Path) -> None:
    proc = _build(tmp_path, "FROM scratch\nCOPY a /a\nMAINTAINER me\n")
    assert proc.returncode == 0, proc.stderr
    assert " 1 warning found:\n - DL4000: MAINTAINER is deprecated (line 3)\n" in proc.stderr


def test_the_check_build_arg_wins_over_the_directive(tmp_path: Path) -> None:
    text = "# check=error=true\nFROM scratch\nMAINTAINER me\n"
    arg = "BUILDKIT_DOCKERFILE_CHECK=skip=DL4000"
    assert _build(tmp_path, text, "--check", "--build-arg", arg).returncode == 0
