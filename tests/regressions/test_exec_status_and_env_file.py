"""Regression (issue 21, 3d): ``run busybox nosuchcmd`` exited 125 and ``exec web
nosuchcmd`` 1, where docker gives 127 (not found) and 126 (not executable); and
``--env-file`` did not exist for run/create."""

from __future__ import annotations

from pathlib import Path

import pytest
from regress_kit import Daemonized, dyd

from dockyard.engine.options import read_env_file
from dockyard.errors import InvalidArgument

__all__ = ["dyd"]

ENV_FILE = "# a comment\n\n  A=1 2\nB\nC=\nUNSET_HERE\nD='quoted' # kept\n"


def test_env_file_format(tmp_path: Path) -> None:
    f = tmp_path / "env"
    f.write_text("\ufeff" + ENV_FILE)
    assert read_env_file(str(f), {"B": "host b"}) == ["A=1 2", "B=host b", "C=",
                                                      "D='quoted' # kept"]  # fmt: skip
    for bad in ("=x\n", "A B=1\n"):
        f.write_text(bad)
        with pytest.raises(InvalidArgument, match="line 1"):
            read_env_file(str(f), {})
    with pytest.raises(InvalidArgument, match="no such file"):
        read_env_file(str(tmp_path / "nope"), {})


@pytest.mark.root
def test_run_and_exec_exit_127_126_and_env_file(dyd: Daemonized, tmp_path: Path) -> None:
    for argv, code in ((["nosuchcmd"], 127), (["/nope"], 127), (["/etc"], 126),
                       (["/etc/passwd"], 126)):  # fmt: skip
        p = dyd.run("run", "--rm", "busybox", *argv)
        assert p.returncode == code, (argv, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1
    dyd.out("run", "-d", "--name", "web", "busybox", "sleep", "60")
    for argv, code in ((["nosuchcmd"], 127), (["/etc/passwd"], 126), (["false"], 1)):
        p = dyd.run("exec", "web", *argv)
        assert p.returncode == code, (argv, p.stderr)
    f = tmp_path / "env"
    f.write_text(ENV_FILE)
    p = dyd.run("run", "--rm", "--env-file", str(f), "-e", "C=over", "busybox", "env")
    assert p.returncode == 0, p.stderr
    env = p.stdout.splitlines()
    assert "A=1 2" in env and "C=over" in env and "D='quoted' # kept" in env
    assert not any(line.startswith(("B=", "UNSET_HERE")) for line in env)
    dyd.out("create", "--name", "made", "--env-file", str(f), "busybox", "true")
    assert "A=1 2" in dyd.out("inspect", "-f", "{{json .Config.Env}}", "made")
    p = dyd.run("run", "--env-file", str(tmp_path / "nope"), "busybox", "true")
    assert p.returncode == 125 and "no such file" in p.stderr
