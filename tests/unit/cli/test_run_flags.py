"""``dockyard run``'s flag table: the fast parser agrees with argparse built from the same
table, and hands everything it does not handle to argparse."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from dockyard.cli.commands import fg_run


def _argparse(argv: list[str]) -> dict[str, object]:
    p = argparse.ArgumentParser(prog="dockyard run", add_help=False)
    p.add_argument("--help", action="help")
    fg_run.add_arguments(p, "run")
    return vars(p.parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["busybox"],
        ["--rm", "busybox", "true"],
        ["busybox", "--rm", "true"],  # after the image everything is the command
        ["--name", "x", "-e", "A=1", "--env=B=2", "-e", "C", "busybox", "sh", "-c", "exit 3"],
        ["-m", "64m", "--cpus", "0.5", "-c", "512", "--pids-limit", "20", "busybox"],
        ["--network", "host", "--net", "none", "busybox"],
        ["-t", "-i", "-d", "--privileged", "--read-only", "--init", "busybox"],
        ["--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--security-opt", "seccomp=unconfined",
         "--ulimit", "nofile=10:20", "--tmpfs", "/t", "--sysctl", "a.b=1", "-l", "k=v",
         "--oom-score-adj=5", "-u", "1000:1000", "-w", "/tmp", "-h", "box", "busybox"],
        ["--entrypoint", "", "busybox"],
        ["--entrypoint=", "busybox", "ls"],
        ["--name", "x", "--name", "y", "busybox"],
    ],
)  # fmt: skip
def test_fast_parser_agrees_with_argparse(argv: list[str]) -> None:
    fast = fg_run.fast_parse(argv)
    assert fast is not None, argv
    assert vars(fast) == _argparse(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no image: argparse's error
        ["--help"],
        ["-it", "busybox"],  # combined short flags
        ["--priv", "busybox"],  # an abbreviation
        ["--memory-swap", "-1", "busybox"],  # a value starting with "-"
        ["--cpu-shares", "x", "busybox"],  # a bad int: argparse's message
        ["--rm=true", "busybox"],
        ["--", "busybox", "true"],
        ["busybox", "--", "true"],  # argparse drops the "--"
        ["--name"],
        ["--bogus", "busybox"],
    ],
)
def test_unusual_input_goes_to_argparse(argv: list[str]) -> None:
    assert fg_run.fast_parse(argv) is None


def test_every_flag_has_one_row() -> None:
    names = [n for names, _, _ in fg_run.FLAGS for n in names]
    assert len(names) == len(set(names))
    assert {kind for _, kind, _ in fg_run.FLAGS} <= {"str", "int", "bool", "list"}


def test_run_path_imports_stay_lean() -> None:
    """``dockyard run``'s parse and body (what every run pays) import none of the modules
    that cost milliseconds: the CLI's start-up is a benchmark figure."""
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[3] / "src")
    code = (
        f"import sys; sys.path[:0] = [{src!r}]\n"
        "from dockyard.cli.commands import run\n"
        "import dockyard.cli.main, dockyard.cli.client\n"
        "a = run.fast_parse(['--rm', '--name', 'x', 'busybox', 'true'])\n"
        "run.create_body(a)\n"
        "heavy = {'argparse', 'typing', 'enum', 'contextlib', 'signal', 'json', 'pathlib',\n"
        "         're', 'dockyard.engine.options', 'logging'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"
