"""SBOM and scan time: ``dockyard sbom`` (CycloneDX and SPDX) and ``dockyard scan`` on
python:3.11-slim and on the case study's image (docs/security.md).

No reference tool (syft, Trivy, Grype) is installable here, so the figures are absolute:
the median wall time of the whole command (a new process each run, as a user runs it)
and packages per second.  The scan's database holds one OSV record per package of the
image (every package is looked up and every one matches: the worst case for matching
and output), imported before timing.  ``BENCH_SECURITY_RUNS`` runs (default 5).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from bench.common import IMAGE_CACHE, VENV_BIN, Result, run_ok, time_command

RUNS = int(os.environ.get("BENCH_SECURITY_RUNS", "5"))
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
CASE_STUDY = """\
FROM python:3.11-slim as builder
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
FROM python:3.11-slim
COPY --from=builder /app .
COPY . .
EXPOSE 8080
CMD ["python", "inference_server.py"]
"""


def _run(argv: list[str]) -> str:
    return run_ok(argv, what=" ".join(argv[3:]), timeout=600)


def _osv_for(packages: list[dict[str, str]], out: Path) -> None:
    out.mkdir()
    for i, c in enumerate(packages):
        deb = c["purl"].startswith("pkg:deb/")
        source = next(
            (p["value"] for p in c.get("properties", []) if p["name"] == "dockyard:deb:source"),
            c["name"],
        )
        rec = {
            "id": f"BENCH-{i}",
            "modified": "2026-01-01T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": VECTOR}],
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12" if deb else "PyPI",
                                "name": source if deb else c["name"]},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                }
            ],
        }  # fmt: skip
        (out / f"BENCH-{i}.json").write_text(json.dumps(rec))


def _case_study(base: list[str], work: Path) -> str | None:
    ctx = work / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(CASE_STUDY)
    (ctx / "requirements.txt").write_text("")  # offline: nothing to install
    (ctx / "inference_server.py").write_text("print('inference server')\n")
    try:
        _run([*base, "build", "-q", "-t", "inference:1", str(ctx)])
    except RuntimeError:
        return None
    return "inference:1"


def _bench_image(base: list[str], image: str, work: Path) -> list[str]:
    cdx = json.loads(_run([*base, "sbom", image]))
    n = len(cdx["components"])
    osv = work / f"osv-{image.replace(':', '_')}"
    _osv_for(cdx["components"], osv)
    _run([*base, "scan", "db", "import", str(osv)])
    lines = [f"== security: {image} ({n} packages, {RUNS} runs)"]
    for name, args in (
        ("sbom --format cyclonedx", ["sbom", image]),
        ("sbom --format spdx", ["sbom", "--format", "spdx", image]),
        ("scan (json)", ["scan", "--format", "json", image]),
    ):
        r: Result = time_command(name, lambda _i, a=args: [*base, *a], RUNS, warmup=1)
        if r.error:
            lines.append(f"{name:<28} n/a ({r.error})")
            continue
        lines.append(
            f"{name:<28} median {r.median * 1000:8.1f} ms   {n / r.median:8.0f} packages/s"
        )
    return lines


def main() -> str:
    archive = IMAGE_CACHE / "python_3.11-slim.tar"
    if not archive.is_file():
        return f"security: skipped (python:3.11-slim is not cached in {IMAGE_CACHE})"
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-security-"))
    base = [str(VENV_BIN / "dockyard"), "--root", str(work / "root"), "--run-root",
            str(work / "run")]  # fmt: skip
    try:
        _run([*base, "load", "-i", str(archive)])
        lines = _bench_image(base, "python:3.11-slim", work)
        case = _case_study(base, work)
        if case is None:
            lines.append("case study image: build failed, not measured")
        else:
            lines += _bench_image(base, case, work)
        return "\n".join(lines)
    except RuntimeError as exc:
        return f"security: failed: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(main())
