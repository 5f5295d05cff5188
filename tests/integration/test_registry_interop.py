"""Interoperability: skopeo and podman against dockyard's registry (mark ``anchors``).

Each test skips with the reason when its tool is missing (``make setup`` installs them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.distribution.authz import BasicAuthorizer, Htpasswd
from dockyard.distribution.options import tls_context
from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import ThreadedRegistry, tiny_image, write_oci_layout

pytestmark = [pytest.mark.anchors, pytest.mark.slow]


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make setup installs it)")
    return path


def _run(*cmd: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, check=False)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
    return r


def _digests(layout: Path) -> list[str]:
    return [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_oci_layout(src, {"v1": tiny_image("interop", layers=3)})
    return src


def _roundtrip(reg_addr: str, layout: Path, out: Path, *flags: str, repo: str = "test/app") -> None:
    skopeo = need_tool("skopeo")
    dest_flags = [f.replace("--tls", "--dest-tls").replace("--cert", "--dest-cert")
                  .replace("--creds", "--dest-creds") for f in flags]  # fmt: skip
    src_flags = [f.replace("--tls", "--src-tls").replace("--cert", "--src-cert")
                 .replace("--creds", "--src-creds") for f in flags]  # fmt: skip
    _run(skopeo, "copy", *dest_flags, f"oci:{layout}:v1", f"docker://{reg_addr}/{repo}:v1")
    _run(skopeo, "copy", *src_flags, f"docker://{reg_addr}/{repo}:v1", f"oci:{out}:v1")
    assert _digests(out) == _digests(layout)


def test_skopeo_roundtrip_plain(tmp_path: Path, layout: Path) -> None:
    need_tool("skopeo")
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg")) as reg:
        _roundtrip(reg.address, layout, tmp_path / "out", "--tls-verify=false")
        # a second push of the same image finds every blob and changes nothing
        _roundtrip(reg.address, layout, tmp_path / "out2", "--tls-verify=false")


def test_skopeo_roundtrip_basic_auth(tmp_path: Path, layout: Path) -> None:
    need_tool("skopeo")
    bcrypt = pytest.importorskip("bcrypt")
    pw = tmp_path / "htpasswd"
    pw.write_text(f"alice:{bcrypt.hashpw(b's3cret', bcrypt.gensalt(4)).decode()}\n")
    config = ServerConfig(root=tmp_path / "reg", authorizer=BasicAuthorizer(Htpasswd(pw)))
    with ThreadedRegistry(config) as reg:
        _roundtrip(reg.address, layout, tmp_path / "out", "--tls-verify=false",
                   "--creds=alice:s3cret")  # fmt: skip
        bad = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", "--creds=alice:wrong",
             f"docker://{reg.address}/test/app:v1"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert bad.returncode != 0


@pytest.fixture
def test_ca(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    openssl = need_tool("openssl")
    d = tmp_path / "pki"
    d.mkdir()
    _run(
        openssl,
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dockyard test ca",
        "-keyout",
        str(d / "ca.key"),
        "-out",
        str(d / "ca.crt"),
    )
    _run(
        openssl,
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(d / "server.key"),
        "-out",
        str(d / "server.csr"),
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _run(openssl, "x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"),
         "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
         "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.crt"))  # fmt: skip
    certs = tmp_path / "certs.d"
    certs.mkdir()
    (certs / "ca.crt").write_bytes((d / "ca.crt").read_bytes())
    yield d / "server.crt", d / "server.key", certs


def test_skopeo_roundtrip_tls(
    tmp_path: Path, layout: Path, test_ca: tuple[Path, Path, Path]
) -> None:
    need_tool("skopeo")
    cert, key, certs = test_ca
    ctx = tls_context(cert, key)
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg"), ssl_context=ctx) as reg:
        _roundtrip(reg.address, layout, tmp_path / "out", "--tls-verify=true",
                   f"--cert-dir={certs}")  # fmt: skip
        # without the CA the certificate is refused
        r = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=true", f"docker://{reg.address}/test/app:v1"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert r.returncode != 0 and "certificate" in r.stderr


def test_podman_push_and_pull(tmp_path: Path, layout: Path) -> None:
    podman = need_tool("podman")
    need_tool("skopeo")
    conf = tmp_path / "containers.conf"
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000","nproc=32768:32768"]\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    # podman wants a run root shorter than 50 characters
    with (
        tempfile.TemporaryDirectory(prefix="dy-") as short,
        ThreadedRegistry(ServerConfig(root=tmp_path / "reg")) as reg,
    ):
        base = [podman, "--root", str(tmp_path / "proot"), "--runroot", short,
                "--storage-driver", "vfs"]  # fmt: skip
        _run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1",
             f"docker://{reg.address}/test/app:v1")  # fmt: skip
        _run(*base, "pull", "--tls-verify=false", f"{reg.address}/test/app:v1", env=env)
        _run(*base, "push", "--tls-verify=false", f"{reg.address}/test/app:v1",
             f"docker://{reg.address}/podman/app:v2", env=env)  # fmt: skip
        _run(*base, "rmi", "-a", "-f", env=env)
        _run(*base, "pull", "--tls-verify=false", f"{reg.address}/podman/app:v2", env=env)
        out = _run(*base, "images", "--format", "{{.Repository}}:{{.Tag}}", env=env).stdout
        assert f"{reg.address}/podman/app:v2" in out
