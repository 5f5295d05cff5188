"""The case study on python:3.11-slim, and built images read by skopeo and umoci."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import IMAGE_CACHE, Dockyard

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

SERVER = """\
import sys
print("inference server on", sys.version_info[:2])
"""


@pytest.mark.root
@pytest.mark.slow
def test_case_study_builds_and_runs(dy_fresh: Dockyard, tmp_path: Path) -> None:
    if not (IMAGE_CACHE / "python_3.11-slim.tar").is_file():
        pytest.skip(f"python:3.11-slim is not cached in {IMAGE_CACHE} (make setup builds it)")
    dy_fresh.ensure("python:3.11-slim")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(CASE_STUDY)
    (ctx / "requirements.txt").write_text("")  # pip stays offline: nothing to install
    (ctx / "inference_server.py").write_text(SERVER)
    proc = dy_fresh.run("build", "-t", "inference:1", str(ctx), timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = dy_fresh.run("run", "--rm", "inference:1", check=True).stdout
    assert out == "inference server on (3, 11)\n"
    code = "import os; print(sorted(os.listdir('.')))"
    out = dy_fresh.run("run", "--rm", "inference:1", "python", "-c", code, check=True).stdout
    assert "inference_server.py" in out and "requirements.txt" in out
    info = json.loads(dy_fresh.run("image", "inspect", "inference:1", check=True).stdout)[0]
    assert info["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert info["Config"]["Cmd"] == ["python", "inference_server.py"]
    proc = dy_fresh.run("build", "-t", "inference:1", str(ctx), timeout=600)
    assert proc.stderr.count("CACHED") == 5, proc.stderr


def _run(*args: str) -> str:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc.stdout


@pytest.mark.root
@pytest.mark.anchors
def test_built_image_is_read_by_skopeo_and_umoci(dy_fresh: Dockyard, tmp_path: Path) -> None:
    from conftest import need_tool

    need_tool("skopeo")
    need_tool("umoci")
    dy_fresh.ensure("busybox:latest")
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nCOPY hello.txt /srv/\n"
        'RUN rm -rf /home && echo built > /srv/b\nCMD ["true"]\n'
    )
    assert dy_fresh.run("build", "-t", "anchor:1", str(ctx)).returncode == 0
    archive = tmp_path / "out.tar"
    dy_fresh.run("save", "-o", str(archive), "anchor:1", check=True)
    info = json.loads(_run("skopeo", "inspect", f"oci-archive:{archive}"))
    image = json.loads(dy_fresh.run("image", "inspect", "anchor:1", check=True).stdout)[0]
    assert info["Digest"] == image["Metadata"]["ManifestDigest"]
    assert len(info["Layers"]) == 3
    layout = tmp_path / "layout"
    layout.mkdir()
    _run("tar", "-xf", str(archive), "-C", str(layout))
    bundle = tmp_path / "bundle"
    tag = json.loads((layout / "index.json").read_text())["manifests"][0]["annotations"][
        "org.opencontainers.image.ref.name"
    ]
    _run("umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle))
    rootfs = bundle / "rootfs"
    assert (rootfs / "srv" / "hello.txt").read_text() == "hello\n"
    assert (rootfs / "srv" / "b").read_text() == "built\n"
    assert not (rootfs / "home").exists()
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["true"]
