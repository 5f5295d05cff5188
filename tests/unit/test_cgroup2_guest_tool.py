"""tools/cgroup2-guest: the parts that need no qemu (sources, command line, argument errors).

The guest itself is exercised by ``make cgroup2-smoke`` (boot, systemd, cgroup2, 9p
ownership and modes, ``dockyard run``); see docs/decisions/0007-cgroup2-guest.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from cgroup2_guest import cli, guestfiles
from cgroup2_guest.errors import GuestError
from cgroup2_guest.run import Outcome, check_checkout, kernel_cmdline
from cgroup2_guest.sources import (
    Source,
    host_sources,
    parse_deb822,
    parse_one_line,
    pick_mirror,
)

DEB822 = """\
Types: deb
# a comment
URIs: http://mirror.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://off.example.invalid/debian
Suites: bookworm
Components: main
"""


def test_deb822_keeps_enabled_binary_stanzas() -> None:
    assert parse_deb822(DEB822) == [
        Source("http://mirror.example.invalid/debian", ("bookworm", "bookworm-updates"),
               ("main", "contrib")),
    ]  # fmt: skip


def test_one_line_sources_with_options_and_comments() -> None:
    text = (
        "# deb http://commented.example.invalid/debian bookworm main\n"
        "deb-src http://src.example.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://a.example.invalid/debian bookworm main\n"
        "deb file:/srv/mirror bookworm-security main # trailing\n"
    )
    assert parse_one_line(text) == [
        Source("http://a.example.invalid/debian", ("bookworm",), ("main",)),
        Source("file:/srv/mirror", ("bookworm-security",), ("main",)),
    ]


def test_the_first_source_serving_the_suite_with_main_wins(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "deb http://sec.example.invalid/d bookworm-security main\n"
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(DEB822)
    (tmp_path / "sources.list.d" / "other.list.disabled").write_text("deb http://x bookworm main\n")
    mirror = pick_mirror(host_sources(tmp_path), "bookworm")
    assert mirror == "http://mirror.example.invalid/debian"


def test_no_mirror_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(GuestError, match="no apt source of this host serves bookworm main"):
        pick_mirror(host_sources(tmp_path), "bookworm")


def test_kernel_command_line_names_the_checkout_and_the_run() -> None:
    line = kernel_cmdline(Path("/work/main"), "12-ab")
    assert "cg2guest.root=/work/main" in line.split()
    assert "cg2guest.run=12-ab" in line.split()
    assert "console=ttyS0" in line.split()


@pytest.mark.parametrize("path", ["/work/my checkout", "/w,ork", "/w\nx", "relative"])
def test_a_checkout_path_the_guest_cannot_be_given_is_refused(path: str) -> None:
    with pytest.raises(GuestError, match="cannot be given"):
        check_checkout(Path(path))


def test_status_lines() -> None:
    outcome = Outcome()
    outcome.feed("started 21.5 0::/user.slice/user-0.slice/session-1.scope", 24.0)
    outcome.feed("exit 3", 30.0)
    assert outcome.started_after == 24.0
    assert outcome.guest_uptime == 21.5
    assert outcome.cgroup.endswith("session-1.scope")
    assert outcome.exit_code == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run"], "no command"),
        (["run", "--"], "no command"),
        (["run", "--env", "NOVALUE", "--", "true"], "expected NAME=VALUE"),
        (["run", "--memory", "64", "--", "true"], "--memory is at least 256"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_runner_is_written_executable(tmp_path: Path) -> None:
    guestfiles.install(tmp_path)
    runner = tmp_path / "usr/local/sbin/cgroup2-guest-run"
    assert runner.stat().st_mode & 0o111
    assert (tmp_path / "etc/systemd/system/apt-daily.timer").readlink() == Path("/dev/null")
    assert len((tmp_path / "etc/machine-id").read_text().strip()) == 32
