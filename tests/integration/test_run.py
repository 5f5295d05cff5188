"""``dockyard run`` on real containers: isolation, limits, users, exit codes, signals."""

from __future__ import annotations

import re
import signal
import time

import pytest

from conftest import Dockyard

pytestmark = pytest.mark.root


def test_the_shell_is_pid_1_and_host_processes_are_invisible(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "busybox", "sh", "-c", "echo $$; ps -o pid,args", check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "1"
    pids = [int(line.split()[0]) for line in lines[2:]]
    assert pids and max(pids) < 10, out.stdout  # only the container's own processes


def test_hostname_is_the_containers(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "--hostname", "box1", "busybox", "hostname", check=True)
    assert out.stdout.strip() == "box1"
    short = dy.run("run", "--rm", "busybox", "hostname", check=True).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", short)


def test_network_none_shows_only_lo(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net", check=True)
    assert out.stdout.split() == ["lo"]


def test_exit_code_passes_through(dy: Dockyard) -> None:
    assert dy.run("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3


def test_written_files_do_not_leak_into_the_next_container(dy: Dockyard) -> None:
    dy.run("run", "--rm", "busybox", "sh", "-c", "echo hi > /tmp/x; echo hi > /etc/y", check=True)
    out = dy.run("run", "--rm", "busybox", "sh", "-c", "ls /tmp/x /etc/y 2>&1; true", check=True)
    assert "No such file" in out.stdout and out.stdout.count("No such file") == 2


def test_memory_limit_oom_kills_with_137_and_is_recorded(dy: Dockyard) -> None:
    name = "oom-test"
    proc = dy.run("run", "--name", name, "--memory", "64m", "busybox",
                  "dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1")  # fmt: skip
    try:
        assert proc.returncode == 137, proc.stderr
        fmt = "{{.State.OOMKilled}} {{.State.ExitCode}} {{.State.Status}}"
        out = dy.run("inspect", "--format", fmt, name, check=True)
        assert out.stdout.strip() == "true 137 exited"
    finally:
        dy.run("rm", "-f", name)


def test_cpus_half_holds_a_busy_loop_near_fifty_percent(dy: Dockyard) -> None:
    script = "time -p timeout 3 sh -c 'while :; do :; done' 2>&1; true"
    out = dy.run("run", "--rm", "--cpus", "0.5", "busybox", "sh", "-c", script, check=True)
    text = out.stdout + out.stderr
    real = float(re.search(r"real ([\d.]+)", text).group(1))  # type: ignore[union-attr]
    cpu = sum(float(x) for x in re.findall(r"(?:user|sys) ([\d.]+)", text))
    share = cpu / real
    assert 0.4 <= share <= 0.6, text


def test_pids_limit_caps_a_fork_storm(dy: Dockyard) -> None:
    limit = dy.run("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c",
                   "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
                   check=True)  # fmt: skip
    assert limit.stdout.strip() == "20"
    storm = "for i in $(seq 100); do echo $i; sleep 5 & done"
    out = dy.run("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", storm)
    assert out.returncode != 0 and "can't fork" in out.stderr
    started = int(out.stdout.split()[-1]) - 1  # the last number printed is the fork that failed
    assert started <= 19, out.stdout  # at most 19 sleeps beside the shell


def test_user_1000_cannot_write_root_owned_files(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "-u", "1000:1000", "busybox", "sh", "-c",
                 "id -u; id -g; echo x >> /etc/passwd")  # fmt: skip
    assert out.returncode != 0
    assert out.stdout.split()[:2] == ["1000", "1000"]
    assert "Permission denied" in out.stderr


def test_user_by_name_from_the_images_passwd(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "-u", "nobody", "busybox", "id", check=True)
    assert out.stdout.startswith("uid=65534(nobody) gid=65534(nogroup)")
    bad = dy.run("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert bad.returncode == 125
    assert bad.stderr.strip().count("\n") == 0 and "unable to find user nosuchuser" in bad.stderr


def test_env_workdir_entrypoint(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "-e", "FOO=bar", "-w", "/work/dir", "--entrypoint", "sh",
                 "busybox", "-c", 'echo "$FOO $(pwd) $HOME"', check=True)  # fmt: skip
    assert out.stdout.strip() == "bar /work/dir /root"


def test_signals_sent_to_the_cli_reach_the_container(dy: Dockyard) -> None:
    proc = dy.popen("run", "--rm", "busybox", "sh", "-c",
                    "trap 'exit 42' TERM; echo ready; while :; do sleep 0.1; done")  # fmt: skip
    with proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 42


def test_kept_containers_are_listed_and_removed(dy: Dockyard) -> None:
    dy.run("run", "--name", "keep-me", "busybox", "sh", "-c", "exit 7")
    try:
        ps = dy.run("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=True).stdout
        assert any(line.startswith("keep-me Exited (7)") for line in ps.splitlines()), ps
        again = dy.run("run", "--name", "keep-me", "busybox", "true")
        assert again.returncode == 125 and "already in use" in again.stderr
    finally:
        assert dy.run("rm", "keep-me").returncode == 0
    assert "keep-me" not in dy.run("ps", "-a").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory", "lots"], 'invalid --memory "lots"'),
        (["--cpus", "half"], 'invalid --cpus "half"'),
        (["--network", "bridge9"], "network bridge9 not found"),
    ],
)
def test_bad_flags_give_one_line_and_leave_nothing(
    dy: Dockyard, args: list[str], message: str
) -> None:
    before = dy.run("ps", "-aq").stdout
    out = dy.run("run", *args, "busybox", "true")
    assert out.returncode == 125
    assert message in out.stderr and out.stderr.strip().count("\n") == 0
    assert dy.run("ps", "-aq").stdout == before


def test_unknown_image_is_a_clear_error(dy: Dockyard) -> None:
    out = dy.run("run", "--rm", "nosuchimage:1", "true")
    assert out.returncode == 125
    assert "nosuchimage" in out.stderr and "Traceback" not in out.stderr
