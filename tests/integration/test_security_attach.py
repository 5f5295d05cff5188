"""Issue 15, items 2 and 4 on real images: ``build --sbom`` attaches the SBOM, ``push``
sends it to ``dockyard registry serve``, which lists it under the referrers API (read
over HTTP and with skopeo); ``run`` and ``apply`` warn about privileged and root
containers; ``inspect`` shows the recorded lint and scan summaries."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import IMAGE_CACHE, Dockyard, need_tool
from dockyard.store.images import ImageStore

pytestmark = [pytest.mark.root, pytest.mark.slow]
BASE = "debian:bookworm-slim"
SBOM = "application/vnd.cyclonedx+json"
DOCKERFILE = f"FROM {BASE}\nCOPY hello /hello\nUSER 1000\nCMD cat /hello\n"


@dataclass
class Env:
    dy: Dockyard
    registry: str
    image: str
    build_log: str
    context: Path


def _serve(dy: Dockyard, root: Path) -> tuple[subprocess.Popen[str], str]:
    proc = dy.popen("registry", "serve", "--addr", "127.0.0.1:0", "--root", str(root),
                    "--access-log=")  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    if m is None:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        raise AssertionError(line)
    return proc, f"127.0.0.1:{m.group(1)}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not (IMAGE_CACHE / "debian_bookworm-slim.tar").is_file():
        pytest.skip(f"{BASE} is not cached in {IMAGE_CACHE} (make setup builds it)")
    base = tmp_path_factory.mktemp("attach")
    dy = Dockyard(base / "root", base / "run")
    proc = None
    before = os.environ.get("DOCKYARD_SECURITY_WARNINGS")
    os.environ["DOCKYARD_SECURITY_WARNINGS"] = "1"  # tests/conftest.py turns them off
    try:
        dy.ensure(BASE)
        dy.ensure("busybox:latest")
        proc, registry = _serve(dy, base / "reg")
        ctx = base / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(DOCKERFILE)
        (ctx / "hello").write_text("hello\n")
        image = f"{registry}/team/app:1"
        built = dy.run("build", "--sbom", "-t", image, str(ctx), timeout=300, check=True)
        yield Env(dy, registry, image, built.stderr, ctx)
    finally:
        if before is None:
            os.environ.pop("DOCKYARD_SECURITY_WARNINGS", None)
        else:
            os.environ["DOCKYARD_SECURITY_WARNINGS"] = before
        if proc is not None:
            proc.kill()
            proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        dy.close()


def _in_ns(dy: Dockyard, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", "-t", str(dy.netns_pid()), "-n", "--", *argv],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def _get(env: Env, path: str, accept: str = "") -> tuple[str, Any]:
    """GET over HTTP from inside the namespace: (headers, body as JSON or text)."""
    head = ["-H", f"Accept: {accept}"] if accept else []
    r = _in_ns(env.dy, "curl", "-sS", "-i", *head, f"http://{env.registry}{path}")
    assert r.returncode == 0, r.stderr
    headers, _, body = r.stdout.replace("\r\n", "\n").partition("\n\n")
    try:
        return headers, json.loads(body)
    except ValueError:
        return headers, body


def test_build_sbom_push_and_list_referrers(env: Env) -> None:
    assert f"attaching SBOM ({SBOM})" in env.build_log, env.build_log
    # a rebuild gives the same image (every step cached) and keeps its one SBOM
    again = env.dy.run("build", "--sbom", "-t", env.image, str(env.context), check=True)
    assert f"SBOM already attached ({SBOM})" in again.stderr, again.stderr
    store = ImageStore(env.dy.root)
    subject = store.resolve(env.image).manifest_digest
    env.dy.run("push", env.image, timeout=300, check=True)

    headers, index = _get(env, f"/v2/team/app/referrers/{subject}")
    assert "200" in headers.splitlines()[0], headers
    [entry] = index["manifests"]
    assert entry["artifactType"] == SBOM and entry["mediaType"].endswith("manifest.v1+json")

    # skopeo reads the artifact's manifest from the registry
    skopeo = need_tool("skopeo")
    ref = f"docker://{env.registry}/team/app@{entry['digest']}"
    raw = _in_ns(env.dy, skopeo, "inspect", "--raw", "--tls-verify=false", ref)
    assert raw.returncode == 0, raw.stderr
    manifest = json.loads(raw.stdout)
    assert manifest["artifactType"] == SBOM and manifest["subject"]["digest"] == str(subject)
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
    image = _in_ns(env.dy, skopeo, "inspect", "--tls-verify=false",
                   f"docker://{env.registry}/team/app:1")  # fmt: skip
    assert image.returncode == 0 and json.loads(image.stdout)["Digest"] == str(subject)

    # the layer is the CycloneDX document, valid by the library's validator
    _, doc = _get(env, f"/v2/team/app/blobs/{manifest['layers'][0]['digest']}")
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(doc)) is None
    names = {c["name"] for c in doc["components"]}
    assert {"base-files", "dpkg", "bash"} <= names, sorted(names)[:20]


def _warnings(text: str) -> list[str]:
    return [x for x in text.splitlines() if x.upper().startswith("WARNING: ")]


def test_run_warns_for_privileged_and_root(env: Env) -> None:
    # create: this host's runtime cannot hold every capability, so a privileged run fails
    r = env.dy.run("create", "--name", "priv", "--privileged", "busybox", "true", check=True)
    env.dy.run("rm", "priv", check=True)
    ws = _warnings(r.stderr)
    assert len(ws) == 2, r.stderr
    assert ws[0].startswith("WARNING: --privileged: ") and "--cap-add" in ws[0]
    assert ws[1] == (
        "WARNING: busybox: runs as root (no USER in the image); set a non-root USER or pass --user"
    )
    r = env.dy.run("run", "--rm", "--user", "1000", "busybox", "true", check=True)
    assert _warnings(r.stderr) == []
    os.environ["DOCKYARD_SECURITY_WARNINGS"] = "0"
    try:
        r = env.dy.run("create", "--name", "quiet", "--privileged", "busybox", "true", check=True)
        env.dy.run("rm", "quiet", check=True)
    finally:
        os.environ["DOCKYARD_SECURITY_WARNINGS"] = "1"
    assert _warnings(r.stderr) == []
    r = env.dy.run("run", "--rm", env.image, check=True)  # USER 1000 in its Dockerfile
    assert _warnings(r.stderr) == [] and r.stdout == "hello\n"
    # an image pulled on demand is judged once it is here, and warned about once
    bb = f"{env.registry}/lib/bb:1"
    env.dy.run("tag", "busybox", bb, check=True)
    env.dy.run("push", bb, check=True)
    env.dy.run("rmi", bb, check=True)
    r = env.dy.run("run", "--rm", bb, "true", check=True)
    assert f"Unable to find image '{bb}' locally" in r.stderr
    assert _warnings(r.stderr) == [
        f"WARNING: {bb}: runs as root (no USER in the image); set a non-root USER or pass --user"
    ], r.stderr


POD = """\
apiVersion: v1
kind: Pod
metadata: {name: priv}
spec:
  containers:
  - name: app
    image: busybox
    securityContext: {privileged: true, runAsUser: 1000}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: main, image: busybox}
      - {name: side, image: busybox, securityContext: {runAsUser: 1000}}
"""


def test_apply_warns_for_privileged_and_root(env: Env, tmp_path: Path) -> None:
    f = tmp_path / "objs.yaml"
    f.write_text(POD)
    r = env.dy.run("apply", "--dry-run=client", "-f", str(f), check=True)
    assert _warnings(r.stderr) == [
        "Warning: pod/priv container app: privileged: it gets every capability, every host"
        " device and no seccomp or AppArmor confinement; add only the capabilities it needs"
        " instead (capabilities.add)",
        "Warning: deployment/web container main: runs as root (no USER in image busybox);"
        " set runAsUser or a non-root USER",
    ], r.stderr
    f.write_text(
        POD.replace("privileged: true, ", "").replace("- {name: main, image: busybox}\n", "")
    )
    r = env.dy.run("apply", "--dry-run=client", "-f", str(f), check=True)
    assert _warnings(r.stderr) == [], r.stderr


def _inspect(env: Env, image: str) -> dict[str, Any]:
    out = env.dy.run("inspect", "--type", "image", image, check=True).stdout
    view: dict[str, Any] = json.loads(out)[0]
    return view


def test_inspect_shows_lint_and_scan_summary(env: Env, tmp_path: Path) -> None:
    busybox = _inspect(env, "busybox")
    assert "Security" not in busybox and "Referrers" not in busybox  # nothing recorded
    [attached] = _inspect(env, env.image)["Referrers"]
    assert attached["ArtifactType"] == SBOM and attached["Digest"].startswith("sha256:")
    lint = _inspect(env, env.image)["Security"]["lint"]
    assert lint["rules"] == ["DL3025"] and lint["findings"] == 1, lint  # the shell-form CMD
    assert (
        lint["severities"] == {"warning": 1} and "scan" not in _inspect(env, env.image)["Security"]
    )
    osv = tmp_path / "osv"
    osv.mkdir()
    rec = {
        "id": "DY-INSPECT-1",
        "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "base-files"},
                      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]}],
        "severity": [{"type": "CVSS_V3",
                      "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }  # fmt: skip
    (osv / "DY-INSPECT-1.json").write_text(json.dumps(rec))
    env.dy.run("scan", "db", "import", str(osv), check=True)
    # the summary holds every finding, whatever the report shows
    env.dy.run("scan", "--severity", "LOW", env.image, check=True)
    security = _inspect(env, env.image)["Security"]
    assert security["lint"] == lint
    scan = security["scan"]
    assert scan["findings"] == 1 and scan["severities"] == {"CRITICAL": 1}
    assert scan["packages"] > 50 and scan["fixable"] == 0
