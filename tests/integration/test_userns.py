"""User namespaces per container (issue 18, items 1-2): ``--userns auto|host|keep-id``.

Each daemon here takes its ranges from subordinate-id files of its own (``DOCKYARD_SUBUID``
and ``DOCKYARD_SUBGID`` under ``tmp_path``, empty at first: the engine appends the
``dockyard`` line itself, as it would to ``/etc/subuid``), never the host's. The podman
test needs a ``containers`` line in the host's ``/etc/subuid``/``/etc/subgid`` (podman
reads no other file); it appends one under shadow's lock where none exists and removes
exactly that line afterwards.

Attacks are shown to succeed with ``--userns host`` where they can be (the defence is
the user namespace, nothing else), and to fail with ``--userns auto``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import test_escape_build
import test_escape_devices
import test_escape_suite
from daemon_kit import Daemonized, daemonized, wait_dead
from test_runtime_podman import pm, podman, saved_image, short_dir  # noqa: F401  (fixtures)

from conftest import Dockyard

pytestmark = pytest.mark.root


def _subid_env(d: Path) -> dict[str, str]:
    (d / "subuid").write_text("")
    (d / "subgid").write_text("")
    return {"DOCKYARD_SUBUID": str(d / "subuid"), "DOCKYARD_SUBGID": str(d / "subgid")}


@pytest.fixture
def dya(tmp_path: Path) -> Iterator[Daemonized]:
    """A private daemon whose ranges come from files under ``tmp_path``."""
    with daemonized(tmp_path, _subid_env(tmp_path)) as d:
        yield d


def sh(d: Daemonized, script: str, *flags: str) -> tuple[int, str]:
    p = d.run("run", "--rm", *flags, "busybox", "sh", "-c", script)
    err = "".join(x for x in p.stderr.splitlines(keepends=True) if not x.startswith("WARNING: "))
    return p.returncode, p.stdout + err


def uid_map(d: Daemonized, *flags: str) -> list[int]:
    rc, out = sh(d, "cat /proc/self/uid_map", *flags)
    assert rc == 0, out
    return [int(x) for x in out.split()]


def ranges(d: Daemonized) -> dict[str, tuple[int, int, int]]:
    """What the state database says is held (read directly: no daemon needed)."""
    with contextlib.closing(sqlite3.connect(d.root / "state.db")) as db:
        rows = db.execute("SELECT owner, uid_base, gid_base, size FROM userns_ranges")
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def released(d: Daemonized, *owners: str) -> None:
    """Wait until ``owners`` (all, if none named) hold no range: a ``--rm`` or ``rm``
    releases after the exit code went out."""
    d.wait_for(lambda: not (set(owners) & set(ranges(d)) if owners else ranges(d)),
               what="ranges released")  # fmt: skip


# ------------------------------------------------------------------ the mapping


def test_auto_maps_root_to_a_range_from_the_subordinate_ids(dya: Daemonized) -> None:
    inside, host, size = uid_map(dya, "--userns", "auto")
    assert (inside, size) == (0, 65536) and host >= 100000  # not the identity
    line = (dya.root.parent / "subuid").read_text()
    assert line.startswith("dockyard:") and int(line.split(":")[1]) <= host
    assert uid_map(dya, "--userns", "auto:size=1000")[2] == 1000
    assert uid_map(dya, "--userns", "host") == [0, 0, 4294967295]
    assert uid_map(dya) == [0, 0, 4294967295]  # the daemon's default: host (dockerd's)
    # the image's files are the container root's, and it writes where root may
    rc, out = sh(dya, "id -u; stat -c '%u %g' / /bin/busybox /etc/passwd; touch /new /etc/x",
                 "--userns", "auto")  # fmt: skip
    assert rc == 0 and out.split() == ["0"] + ["0"] * 6, out
    released(dya)  # every --rm released its range


def test_keep_id_as_root_is_the_identity_in_a_namespace_of_its_own(dya: Daemonized) -> None:
    rc, out = sh(dya, "cat /proc/self/uid_map; readlink /proc/self/ns/user", "--userns", "keep-id")
    assert rc == 0, out
    words = out.split()
    assert words[:3] == ["0", "0", "4294967295"]
    assert words[3] != os.readlink("/proc/self/ns/user")


def test_bad_modes_and_combinations_are_one_line_errors(dya: Daemonized) -> None:
    cases = ((("--userns", "nope"), 'invalid --userns "nope"'),
             (("--userns", "auto:size=x"), "invalid --userns"),
             (("--userns", "auto", "--privileged"), "--privileged"),
             (("--userns", "auto", "--network", "host"), "--network host"))  # fmt: skip
    for flags, words in cases:
        p = dya.run("run", "--rm", *flags, "busybox", "true")
        err = [x for x in p.stderr.splitlines() if not x.startswith("WARNING: ")]
        assert p.returncode == 125 and len(err) == 1 and words in err[0], (flags, p.stderr)
        assert "Traceback" not in p.stderr
    assert dya.out("ps", "-aq") == ""
    released(dya)


def test_daemon_default_remap_gives_every_container_a_range(tmp_path: Path) -> None:
    env = {**_subid_env(tmp_path), "DOCKYARD_USERNS_REMAP": "default"}
    with daemonized(tmp_path, env) as d:
        assert uid_map(d)[1] >= 100000
        assert uid_map(d, "--userns", "host") == [0, 0, 4294967295]
        inspect_mode = d.out("create", "--userns", "keep-id", "busybox", "true")
        hc = d.out("inspect", "--format", "{{.HostConfig.UsernsMode}}", inspect_mode)
        assert hc == "keep-id"


# ------------------------------------------------------------------ host files


def test_root_cannot_write_a_root_owned_host_file_through_a_bind_mount(
    dya: Daemonized, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    target = shared / "owned-by-root"
    target.write_text("host\n")
    target.chmod(0o644)
    attack = "echo pwned >> /b/owned-by-root; stat -c '%u' /b/owned-by-root"
    rc, out = sh(dya, attack, "--userns", "auto", "-v", f"{shared}:/b")
    assert "Permission denied" in out and "65534" in out.split(), out  # unmapped: nobody
    assert target.read_text() == "host\n"
    rc, out = sh(dya, attack, "--userns", "host", "-v", f"{shared}:/b")  # the defence off
    assert rc == 0 and target.read_text() == "host\npwned\n", out


def test_host_shadow_is_unreadable_through_a_bind_mount(
    dya: Daemonized,
) -> None:
    if not Path("/etc/shadow").exists():
        pytest.skip("no /etc/shadow on this host")
    rc, out = sh(dya, "cat /h/shadow >/dev/null && echo READ", "--userns", "auto",
                 "-v", "/etc:/h:ro")  # fmt: skip
    assert rc != 0 and "READ" not in out and "Permission denied" in out, out
    rc, out = sh(dya, "cat /h/shadow >/dev/null && echo READ", "--userns", "host",
                 "-v", "/etc:/h:ro")  # fmt: skip
    assert rc == 0 and "READ" in out, out  # the defence off: host root reads it
    # the escape suite's other roads to it: /proc/1/root is the container's own root
    # (--pid host, which would make it the host's, is refused with --userns auto: see
    # tests/unit/engine/test_userns_ranges.py), and the escape attacks run under --userns auto
    # below
    rc, out = sh(dya, "cat /proc/1/root/etc/shadow", "--userns", "auto")
    assert out != Path("/etc/shadow").read_text(), "the host's shadow"  # (busybox's own)


def test_a_new_named_volume_belongs_to_the_containers_root(dya: Daemonized) -> None:
    rc, out = sh(dya, "stat -c '%u %g' /data; touch /data/f && echo ok",
                 "--userns", "auto", "-v", "vol1:/data")  # fmt: skip
    assert rc == 0 and out.split() == ["0", "0", "ok"], out
    data = dya.root / "volumes" / "vol1" / "_data"
    st = data.stat()
    assert st.st_uid >= 100000 and (data / "f").stat().st_uid == st.st_uid


# ------------------------------------------------------------------ ranges


def _daemon_pid(d: Daemonized) -> int:
    return int((d.run_root / "dockyard.pid").read_text())


def test_ranges_are_disjoint_survive_kill_9_and_are_released_on_rm(dya: Daemonized) -> None:
    a = dya.out("run", "-d", "--userns", "auto", "busybox", "sleep", "600")
    b = dya.out("run", "-d", "--userns", "auto", "busybox", "sleep", "600")
    held = ranges(dya)
    ra, rb = held[a], held[b]
    assert ra[0] + ra[2] <= rb[0] or rb[0] + rb[2] <= ra[0], held
    assert ra[1] + ra[2] <= rb[1] or rb[1] + rb[2] <= ra[1], held
    maps = {c: dya.out("exec", c, "cat", "/proc/self/uid_map").split() for c in (a, b)}
    assert int(maps[a][1]) == ra[0] and int(maps[b][1]) == rb[0]

    pid = _daemon_pid(dya)
    os.kill(pid, signal.SIGKILL)
    wait_dead(pid)
    c = dya.out("run", "-d", "--userns", "auto", "busybox", "sleep", "600")  # a new daemon
    assert _daemon_pid(dya) != pid
    held = ranges(dya)
    assert held[a] == ra and held[b] == rb  # still held: the new daemon sees them in use
    assert all(held[c][0] + held[c][2] <= r[0] or r[0] + r[2] <= held[c][0] for r in (ra, rb))
    assert dya.out("exec", a, "cat", "/proc/self/uid_map").split()[1] == str(ra[0])

    dya.out("rm", "-f", a)
    released(dya, a)
    d = dya.out("run", "-d", "--userns", "auto", "busybox", "sleep", "600")
    assert ranges(dya)[d] == ra  # the lowest free range again: a's was released
    dya.out("rm", "-f", b, c, d)
    released(dya)


def test_chowned_copies_where_layers_are_not_idmapped(tmp_path: Path) -> None:
    """``DOCKYARD_USERNS_IDMAP=0``: the fallback for kernels before 5.19 (or filesystems
    that cannot be idmapped), made to run here."""
    env = {**_subid_env(tmp_path), "DOCKYARD_USERNS_IDMAP": "0"}
    with daemonized(tmp_path, env) as d:
        script = "stat -c '%u %a' / /bin/busybox /etc/passwd; touch /etc/x && echo ok"
        cid = d.out("create", "--userns", "auto", "busybox", "sh", "-c", script)
        out = d.out("start", "-a", cid)
        assert out.split() == ["0", "755", "0", "755", "0", "644", "ok"], out
        copies = list((d.root / "snapshots").glob("*/shift-*/fs"))
        assert copies and all(p.stat().st_uid >= 100000 for p in copies)
        made = {p: p.stat().st_mtime_ns for p in copies}
        rc, out = sh(d, "true", "--userns", "auto")  # the next range: copies of its own
        d.out("rm", "-f", cid)
        rc, out = sh(d, "ls -ln /bin/busybox", "--userns", "auto")  # cid's range, reused
        assert rc == 0 and out.split()[2] == "0", out
        assert all(p.stat().st_mtime_ns == t for p, t in made.items())  # not made again


# ------------------------------------------------------------------ the escape suite


class _AutoDockyard(Dockyard):
    """The escape suite's ``Dockyard`` with ``--userns auto`` on every run and create,
    and a daemon that takes its ranges from files of its own."""

    env: dict[str, str] | None = None

    def _args(self, args: tuple[str, ...]) -> tuple[str, ...]:
        if args and args[0] in ("run", "create"):
            return (args[0], "--userns", "auto", *args[1:])
        return args

    def run(self, *args: str, timeout: float = 120, check: bool = False,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        proc = subprocess.run(self.argv(*self._args(args)), capture_output=True, text=True,
                              timeout=timeout, input=input, check=False, env=self.env)  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"dockyard {' '.join(args)}: {proc.returncode}\n{proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*self._args(args)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)  # fmt: skip


@pytest.fixture(scope="module")
def dy_auto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    base = tmp_path_factory.mktemp("dyauto")
    d = _AutoDockyard(base / "root", base / "run")
    d.env = {**os.environ, **_subid_env(base)}
    d.ensure("busybox:latest")
    yield d
    with contextlib.suppress(Exception):
        ids = d.run("ps", "-aq", "--no-trunc").stdout.split()
        if ids:
            d.run("rm", "-f", *ids)
    d.close()


def _mknod_refused(dy: Dockyard) -> None:
    """The device attacks of the suite (its own script), under a user namespace: they
    fail one step earlier, at ``mknod`` (CAP_MKNOD holds only in the container's
    namespace; the kernel asks for it in the host's), and nothing is opened."""
    major, minor = test_escape_devices._host_disk()
    _, out = test_escape_suite.sh(dy, test_escape_devices.ATTACK.format(major=major, minor=minor))
    assert "mknod: /dev/disk: Operation not permitted" in out, out
    assert "mknod: /dev/mem: Operation not permitted" in out, out
    assert "made-disk" not in out and "opened-disk" not in out and "4" in out.split(), out


# attacks that fail for another reason in a user namespace: checked by the function given
INSTEAD = {
    "test_escape_suite.test_mknod_of_the_host_disk_cannot_be_read": _mknod_refused,
    "test_escape_devices.test_default_container_cannot_read_the_host_disk_or_dev_mem":
        _mknod_refused,
}  # fmt: skip
# not an attack, and not possible in a user namespace (the reason)
NOT_HERE = {
    "test_escape_devices.test_added_and_tty_devices_still_work":
        "a --device node keeps its host owner (root:disk 0660): the container's root is "
        "another host uid and may not open it (as under dockerd's --userns-remap)",
}  # fmt: skip


def _attacks() -> list[Any]:
    """The escape tests that take only the ``dy`` fixture, from every escape module."""
    out = []
    for mod in (test_escape_suite, test_escape_devices, test_escape_build):
        for name, fn in sorted(vars(mod).items()):
            params = list(inspect.signature(fn).parameters) if callable(fn) else []
            if name.startswith("test_") and params == ["dy"]:
                key = f"{mod.__name__}.{name}"
                marks = [pytest.mark.skip(reason=NOT_HERE[key])] if key in NOT_HERE else []
                out.append(pytest.param(INSTEAD.get(key, fn), id=key, marks=marks))
    return out


@pytest.mark.parametrize("attack", _attacks())
def test_escape_attack_still_fails_under_userns_auto(
    attack: Callable[[Dockyard], None], dy_auto: Dockyard
) -> None:
    attack(dy_auto)


def test_escape_suite_runs_with_userns_auto(dy_auto: Dockyard) -> None:
    """The parametrized attacks above really ran in user namespaces."""
    p = dy_auto.run("run", "--rm", "busybox", "cat", "/proc/self/uid_map")
    assert p.returncode == 0 and p.stdout.split()[1] != "0", p.stdout


# ------------------------------------------------------------------ podman


@pytest.fixture
def containers_subids() -> Iterator[None]:
    """A ``containers`` line in the host's subordinate-id files (podman's ``auto`` takes
    its ranges from it, and from no other file), only where there is none; removed
    afterwards (that line only, under shadow's lock)."""
    from dockyard.engine.userns import add_line, remove_line

    line = "containers:3000000000:1000000000\n"
    added = []
    for path in ("/etc/subuid", "/etc/subgid"):
        text = Path(path).read_text() if Path(path).exists() else ""
        if not any(x.startswith("containers:") for x in text.splitlines()):
            add_line(path, line)
            added.append(path)
    try:
        yield
    finally:
        for path in added:
            remove_line(path, line)


@pytest.mark.anchors
@pytest.mark.slow
def test_podman_userns_auto_on_dockyard_runtime(
    podman: list[str],  # noqa: F811
    saved_image: Path,  # noqa: F811
    containers_subids: None,
) -> None:
    assert pm(podman, "load", "-i", str(saved_image)).returncode == 0
    done = pm(podman, "run", "--rm", "--network", "none", "--userns=auto",
              "docker.io/library/busybox:latest", "sh", "-c",
              "cat /proc/self/uid_map; stat -c %u /bin/busybox; touch /x && echo ok")  # fmt: skip
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "0" and int(words[1]) >= 3000000000 and words[3:] == ["0", "ok"], words
    # exec joins the container's namespaces, the user namespace among them
    run = pm(podman, "run", "-d", "--name", "un", "--network", "none", "--userns=auto",
             "docker.io/library/busybox:latest", "sleep", "60")  # fmt: skip
    assert run.returncode == 0, run.stderr
    ex = pm(podman, "exec", "un", "sh", "-c", "cat /proc/self/uid_map; id -u")
    assert ex.returncode == 0 and ex.stdout.split()[1] != "0" and ex.stdout.split()[3] == "0"
    assert pm(podman, "rm", "-f", "-t", "0", "un").returncode == 0
    assert pm(podman, "ps", "-aq").stdout.strip() == ""


# ------------------------------------------------------------------ runtime-spec rules


def test_setgroups_stays_allowed_and_supplementary_groups_work(dya: Daemonized) -> None:
    """The maps are written by the runtime as the host's root: ``setgroups`` deny is not
    required (the kernel wants it only from a writer without CAP_SETGID over the parent
    namespace), so the container's root may still call setgroups(2) (``--group-add``,
    ``su``)."""
    rc, out = sh(dya, "cat /proc/self/setgroups; id -G", "--userns", "auto",
                 "--group-add", "10")  # fmt: skip
    assert rc == 0 and out.split()[0] == "allow" and "10" in out.split()[1:], out


def test_locked_mount_flags_of_a_bind_source_are_kept(dya: Daemonized, tmp_path: Path) -> None:
    """A bind of a ``nosuid,nodev,noexec`` mount made ``ro`` in the container: in a user
    namespace the kernel refuses a remount that drops a flag the host's mount has (they
    are locked), so the runtime must keep them (docs/runtime.md)."""
    point = tmp_path / "locked"
    point.mkdir()
    mount = ["nsenter", "-t", str(dya.ns_pid), "-m", "--"]  # the daemon's mount namespace
    subprocess.run([*mount, "mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,size=1m",
                    "dy-locked", str(point)], check=True)  # fmt: skip
    try:
        _, out = sh(dya, "grep ' /l ' /proc/self/mountinfo; touch /l/x",
                     "--userns", "auto", "-v", f"{point}:/l:ro")  # fmt: skip
        assert "Read-only file system" in out, out
        opts = out.split()[5].split(",")
        assert {"ro", "nosuid", "nodev", "noexec"} <= set(opts), out
    finally:
        subprocess.run([*mount, "umount", "-l", str(point)], check=False)


# ------------------------------------------------------------------ -v SRC:DST:idmap


def test_an_idmapped_bind_gives_the_sources_files_to_the_containers_root(
    dya: Daemonized, tmp_path: Path
) -> None:
    """podman's ``:idmap``, asked for: the source's root-owned files are the container
    root's (so it may write them: what the plain bind refuses above, on purpose)."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "f").write_text("host\n")
    (data / "f").chmod(0o644)
    rc, out = sh(dya, "stat -c %u /d/f; echo more >> /d/f && echo wrote",
                 "--userns", "auto", "-v", f"{data}:/d:idmap")  # fmt: skip
    assert rc == 0 and out.split() == ["0", "wrote"], out
    st = (data / "f").stat()
    assert st.st_uid == 0 and (data / "f").read_text() == "host\nmore\n"  # ids on disk kept
    released(dya)
    assert not list((dya.root / "userns" / "mnt").glob("*"))  # unmounted and removed
    with open("/proc/self/mountinfo") as f:
        assert str(dya.root / "userns" / "mnt") not in f.read()


def test_idmap_is_refused_without_a_range_or_where_the_filesystem_cannot(
    dya: Daemonized, tmp_path: Path
) -> None:
    (tmp_path / "d").mkdir()
    p = dya.run("run", "--rm", "--userns", "host", "-v", f"{tmp_path / 'd'}:/d:idmap",
                "busybox", "true")  # fmt: skip
    err = [x for x in p.stderr.splitlines() if not x.startswith("WARNING: ")]
    assert p.returncode == 125 and len(err) == 1 and "needs a user namespace" in err[0], err
    p = dya.run("run", "--rm", "--userns", "auto", "-v", "/proc/sys:/d:idmap", "busybox", "true")
    err = [x for x in p.stderr.splitlines() if not x.startswith("WARNING: ")]
    assert p.returncode == 125 and len(err) == 1, p.stderr
    assert "the proc filesystem cannot be idmapped on Linux" in err[0], err
    assert dya.out("ps", "-aq") == ""


def test_sys_is_the_hosts_on_the_daemons_network_and_comes_back_after_a_reboot(
    dya: Daemonized,
) -> None:
    """On the daemon's network namespace the container's ``/sys`` is a non-recursive bind
    of the host's (no host cgroup, debugfs, tracefs mounts under it), made once per boot:
    gone (as after a reboot), the next start makes it again."""
    script = (
        "ls /sys/kernel >/dev/null && echo sys; grep -c ' /sys/kernel/' /proc/self/mountinfo; true"
    )
    cid = dya.out("create", "--userns", "auto", "busybox", "sh", "-c", script)
    assert dya.out("start", "-a", cid).split() == ["sys", "0"]
    point = str(dya.root / "userns" / "sys")
    subprocess.run(["nsenter", "-t", str(dya.ns_pid), "-m", "--", "umount", point], check=True)
    assert dya.out("start", "-a", cid).split() == ["sys", "0"]
