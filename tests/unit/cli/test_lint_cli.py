"""``dockyard lint`` end to end, through the real console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _lint(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.cli.main", "lint", *args],
        cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_story_dockerfile_fails_with_the_copy_finding(tmp_path: Path) -> None:
    proc = _lint("-f", str(REPO / "demo" / "Dockerfile.original"), str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Dockerfile.original:7:1 DY1001 error: COPY --from=builder /app" in proc.stdout
    assert proc.stderr == ""


def test_context_dockerfile_threshold_and_format(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian:12\nRUN apt-get install -y curl=1\n")
    proc = _lint("--format", "json", str(tmp_path), cwd=tmp_path)
    codes = {i["code"] for i in json.loads(proc.stdout)}
    assert codes == {"DL3015"} and proc.returncode == 1  # info fails at the default threshold
    assert _lint("-t", "warning", str(tmp_path), cwd=tmp_path).returncode == 0
    assert _lint("--no-fail", str(tmp_path), cwd=tmp_path).returncode == 0


def test_hadolint_yaml_in_the_context_is_read(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM debian\n")
    (tmp_path / ".hadolint.yaml").write_text("ignored: [DL3006]\n")
    proc = _lint(str(tmp_path), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "")


def test_check_error_directive_fails_on_any_finding(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("# check=error=true\nFROM debian:12 AS B\n")
    proc = _lint("-t", "none", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0  # an explicit threshold wins
    proc = _lint(str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1 and "StageNameCasing" in proc.stdout


def test_sarif_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "lint.sarif"
    proc = _lint("-f", "-", "--format", "sarif", "-o", str(out), cwd=tmp_path, stdin="FROM x\n")
    assert proc.stdout == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"


def test_bad_input_is_one_line_no_traceback(tmp_path: Path) -> None:
    cases = [
        (["-f", "-"], "FROM x\nRUNN y\n", "dockyard: -:2: unknown instruction: RUNN"),
        (["-f", "-", "--format", "xml"], "FROM x\n", "dockyard: unknown format 'xml'"),
        (["-f", str(tmp_path / "missing")], None, "dockyard: read "),
        (["-f", "-", "-t", "loud"], "FROM x\n", "dockyard: unknown severity 'loud'"),
        (["-f", "-", "-c", str(tmp_path / "bad.yaml")], "FROM x\n", "dockyard: lint config"),
        (["-f", "-"], "", "dockyard: -:1: file with no instructions"),
    ]
    (tmp_path / "bad.yaml").write_text("ignored: [\n")
    for args, stdin, start in cases:
        proc = _lint(*args, cwd=tmp_path, stdin=stdin)
        assert proc.returncode != 0, args
        assert proc.stdout == "", args
        assert proc.stderr.startswith(start), (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_list_rules_names_every_source() -> None:
    proc = _lint("--list-rules", cwd=REPO)
    assert proc.returncode == 0
    for name in ("DL3008", "JSONArgsRecommended", "UndefinedVar", "DY1001"):
        assert name in proc.stdout


def test_a_dockerfile_as_the_positional_argument(tmp_path: Path) -> None:
    proc = _lint(str(REPO / "demo" / "Dockerfile.original"), "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    assert "DY1001" in {i["code"] for i in json.loads(proc.stdout)}
