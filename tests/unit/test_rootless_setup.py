"""Rootless set-up logic without a kernel: subordinate ids, directories, cgroup checks,
the user-namespace test, and the rootless DNAT rule (docs/rootless.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.engine.rootless import cgroup_problem, user_dirs
from dockyard.errors import FailedPrecondition
from dockyard.linux.userns import SubIdRange, read_subids, running_in_userns


def test_read_subids_by_name_or_uid_first_match(tmp_path: Path) -> None:
    f = tmp_path / "subuid"
    f.write_text("bob:100000:65536\n# comment\nbad line\n1000:300000:65536\nalice:400000:10\n")
    assert read_subids(str(f), "alice", 1000) == SubIdRange(300000, 65536)
    assert read_subids(str(f), "bob", 1001) == SubIdRange(100000, 65536)


@pytest.mark.parametrize("text", ["", "alice:x:65536\n", "alice:100000:0\n", "carol:1:2\n"])
def test_read_subids_none_is_one_line(tmp_path: Path, text: str) -> None:
    f = tmp_path / "subuid"
    f.write_text(text)
    with pytest.raises(FailedPrecondition) as e:
        read_subids(str(f), "alice", 1000)
    assert str(e.value) == (
        f"rootless: no subordinate ids for user alice in {f} "
        "(add a line such as 'alice:100000:65536')"
    )


def test_missing_subid_file_is_the_same_error(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="no subordinate ids"):
        read_subids(str(tmp_path / "absent"), "alice", 1000)


def test_running_in_userns() -> None:
    assert not running_in_userns("         0          0 4294967295\n")
    assert running_in_userns("         0       1000          1\n         1     100000      65536\n")


def test_user_dirs_follow_xdg() -> None:
    env = {"HOME": "/home/a", "XDG_DATA_HOME": "/d", "XDG_RUNTIME_DIR": "/r"}
    assert user_dirs(env, 1000) == ("/d/dockyard", "/r/dockyard")
    assert user_dirs({"HOME": "/home/a"}, 4242) == (
        "/home/a/.local/share/dockyard",
        "/tmp/dockyard-run-4242",
    )


def test_cgroup_problem_v1_and_missing_controllers(tmp_path: Path) -> None:
    assert "cgroup v1" in cgroup_problem(str(tmp_path), "0::/\n")
    scope = tmp_path / "user.slice" / "run-1.scope"
    scope.mkdir(parents=True)
    for name in ("cgroup.procs", "cgroup.subtree_control"):
        (scope / name).write_text("")
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (scope / "cgroup.controllers").write_text("memory pids\n")
    proc = "0::/user.slice/run-1.scope/dockyard-leaf\n"  # a leaf stands for its base
    assert cgroup_problem(str(tmp_path), proc) == (
        "cgroup /user.slice/run-1.scope: controller cpu not delegated "
        "(systemd: Delegate=cpu memory pids in user@.service)"
    )
    (scope / "cgroup.controllers").write_text("cpu io memory pids\n")
    assert cgroup_problem(str(tmp_path), proc) == ""


def test_rootless_dnat_matches_any_address(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Inside the holder's namespace a forwarded connection arrives for 10.0.2.100, not for
    the host address the user named: the rule must not match on it (it did before)."""
    from dockyard.network._model import PortBinding
    from dockyard.network._nftrules import _dnat

    b = PortBinding("127.0.0.1", 8080, 80, "tcp")
    assert "127.0.0.1" in str(_dnat(b, "172.17.0.2", "c1"))
    api = tmp_path / "slirp.sock"
    api.write_text("")
    monkeypatch.setenv("DOCKYARD_SLIRP_API", str(api))
    assert "127.0.0.1" not in str(_dnat(b, "172.17.0.2", "c1"))


def test_placement_says_limits_are_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``system info`` and the daemon's start line say it when rootless has no cgroups."""
    from dockyard.engine.placement import claim_cgroups

    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    monkeypatch.setenv("DOCKYARD_CGROUPS", "disabled")
    p = claim_cgroups("cgroupfs", str(tmp_path))
    assert (p.version, p.controllers) == ("2", [])
    assert p.problem.startswith("resource limits are not enforced: ")
