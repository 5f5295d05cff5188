"""The ``registry``, ``pull``, ``push``, ``login``, ``logout`` and ``manifest`` commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from dockyard.cli.commands import registry as registry_cmd
from dockyard.cli.commands import transfer
from dockyard.cli.main import Context
from dockyard.distribution.server import ServerConfig
from dockyard.distribution.testing import HttpClient, ThreadedRegistry, tiny_image


def _run(module: object, name: str, argv: list[str], root: Path) -> int:
    p = argparse.ArgumentParser(prog=f"dockyard {name}")
    module.add_arguments(p, name)  # type: ignore[attr-defined]
    args = p.parse_args(argv)
    return int(module.run(Context(root, root / "run"), args, name))  # type: ignore[attr-defined]


def test_pull_push_inspect_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    root = tmp_path / "root"
    img = tiny_image("cli", layers=2)
    with ThreadedRegistry(ServerConfig(root=tmp_path / "reg")) as reg:
        HttpClient.of(reg).push_image("cli/app", img, "v1")
        ref = f"{reg.address}/cli/app:v1"
        assert _run(transfer, "pull", [ref], root) == 0
        out = capsys.readouterr().out
        assert "Pull complete" in out and out.strip().endswith(ref)
        assert _run(transfer, "manifest", ["inspect", ref], root) == 0
        assert json.loads(capsys.readouterr().out) == json.loads(img.manifest)
        Context(root, root).images().tag(ref, f"{reg.address}/cli/copy:v2")
        assert _run(transfer, "push", [f"{reg.address}/cli/copy:v2"], root) == 0
        out = capsys.readouterr().out
        assert f"v2: digest: {img.digest}" in out
        assert _run(transfer, "login", ["-u", "x", "-p", "y", reg.address], root) == 0
        assert "Login Succeeded" in capsys.readouterr().out
        assert _run(transfer, "logout", [reg.address], root) == 0
        assert "Removing login credentials" in capsys.readouterr().out


def test_registry_gc_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reg_root = tmp_path / "reg"
    with ThreadedRegistry(ServerConfig(root=reg_root)) as reg:
        HttpClient.of(reg).push_blob("a", b"kept")
    assert (
        _run(registry_cmd, "registry", ["gc", "--root", str(reg_root), "--grace", "0"], tmp_path)
        == 0
    )
    assert "reclaimed 0 bytes" in capsys.readouterr().out
    # the default root is <state root>/registry
    assert _run(registry_cmd, "registry", ["gc", "--dry-run"], tmp_path) == 0
