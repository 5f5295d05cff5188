"""``dockyard-runtime --version`` and ``--help`` as runc answers them (podman runs
``RUNTIME --version`` to probe a runtime; it used to fail: "flag provided but not
defined: -version")."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dockyard.cli.runtime_main import main


@pytest.mark.parametrize("argv", [["--version"], ["-v"], ["version"], ["--root", "/x", "-v"]])
def test_version(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out, err = capsys.readouterr()
    first, spec = out.splitlines()[:2]
    assert first.startswith("dockyard-runtime version ") and spec.startswith("spec: 1.")
    assert err == ""


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["help"]])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert capsys.readouterr().out.startswith("usage: dockyard-runtime")


def test_no_command_is_usage_and_status_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert capsys.readouterr().out.startswith("usage: dockyard-runtime")


def test_command_help_lists_its_flags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["delete", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "usage: dockyard-runtime delete [OPTIONS] ID"
    assert "-f, --force" in out
    assert main(["exec", "-h"]) == 0
    assert "--process VALUE" in capsys.readouterr().out


def test_console_script_answers_version() -> None:
    """The installed command, as podman calls it (the fast launcher included)."""
    exe = sys.executable.rsplit("/", 1)[0] + "/dockyard-runtime"
    p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30,
                       check=False)  # fmt: skip
    assert p.returncode == 0 and p.stdout.startswith("dockyard-runtime version"), p.stderr
