"""The container init's mount sequence, asserted call by call through RecordingSyscalls.

Mounts go onto ``/proc/self/fd/N`` of descriptors resolved in the rootfs; the recorder
(``fd_recording.py``) shows each as ``fd:<path of the file>``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fd_recording import FdRecordingSyscalls

from dockyard.errors import InvalidArgument, PermissionDenied
from dockyard.linux import RecordingSyscalls
from dockyard.linux import constants as c
from dockyard.oci.runtime_spec import default_spec_dict, parse_process, parse_spec
from dockyard.runtime import init, mounts
from dockyard.runtime.mounts import RootfsContext, parse_mount_options, secure_join


def _spec(**linux: object) -> object:
    cfg = default_spec_dict()
    cfg["mounts"] = [m for m in cfg["mounts"] if m["type"] != "cgroup"]  # host-specific
    cfg["linux"].update(linux)
    return parse_spec(cfg)


@pytest.mark.parametrize(
    ("options", "flags", "prop", "data"),
    [
        (
            ["nosuid", "noexec", "nodev", "ro"],
            c.MS_NOSUID | c.MS_NOEXEC | c.MS_NODEV | c.MS_RDONLY,
            (),
            "",
        ),
        (["rbind", "rprivate"], c.MS_BIND | c.MS_REC, (c.MS_PRIVATE | c.MS_REC,), ""),
        (["ro", "rw"], 0, (), ""),
        (
            ["newinstance", "ptmxmode=0666", "mode=0620"],
            0,
            (),
            "newinstance,ptmxmode=0666,mode=0620",
        ),
        (["bind", "rro", "rslave"], c.MS_BIND, (c.MS_SLAVE | c.MS_REC,), ""),
    ],
)
def test_parse_mount_options(
    options: list[str], flags: int, prop: tuple[int, ...], data: str
) -> None:
    o = parse_mount_options(options)
    assert (o.flags, o.propagation, o.data) == (flags, prop, data)


def test_recursive_mount_options() -> None:
    o = parse_mount_options(["rbind", "rro", "rnosuid", "rnoexec", "rnoatime", "rsymfollow"])
    assert o.flags == c.MS_BIND | c.MS_REC
    assert o.rec_set == (
        c.MOUNT_ATTR_RDONLY | c.MOUNT_ATTR_NOSUID | c.MOUNT_ATTR_NOEXEC | c.MOUNT_ATTR_NOATIME
    )
    assert o.rec_clear == c.MOUNT_ATTR__ATIME | c.MOUNT_ATTR_NOSYMFOLLOW
    later = parse_mount_options(["rro", "rrw"])  # the later option wins
    assert (later.rec_set, later.rec_clear) == (0, c.MOUNT_ATTR_RDONLY)


def test_recursive_options_applied_after_mount_and_propagation(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    cfg = default_spec_dict()
    cfg["mounts"] = [{"destination": "/data", "type": "bind", "source": str(src),
                      "options": ["rbind", "rro", "rprivate"]}]  # fmt: skip
    m = parse_spec(cfg).mounts[0]
    sc = FdRecordingSyscalls()
    mounts.mount_one(sc, m, RootfsContext(str(tmp_path), str(tmp_path)))
    dest = f"fd:{tmp_path}/data"
    assert sc.calls == [
        ("mount", (f"fd:{src}", dest, "bind", c.MS_BIND | c.MS_REC, None)),
        ("mount", (None, dest, None, c.MS_PRIVATE | c.MS_REC, None)),
        ("mount_setattr", (dest, 0, c.MOUNT_ATTR_RDONLY)),
    ]


def test_secure_join_stays_inside(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "evil").symlink_to("/etc")
    (tmp_path / "up").symlink_to("../../../..")
    assert secure_join(str(tmp_path), "/evil/passwd") == str(tmp_path / "etc/passwd")
    assert secure_join(str(tmp_path), "/up/x") == str(tmp_path / "x")
    assert secure_join(str(tmp_path), "../../x") == str(tmp_path / "x")


def test_prepare_rootfs_sequence(tmp_path: Path) -> None:
    sc = FdRecordingSyscalls()
    spec = _spec()
    rootfs = str(tmp_path)
    mounts.prepare_rootfs(sc, spec, RootfsContext(rootfs, rootfs))  # type: ignore[arg-type]
    calls = sc.of("mount")
    assert calls[0] == (None, "/", None, c.MS_SLAVE | c.MS_REC, None)
    assert calls[1] == (rootfs, rootfs, "bind", c.MS_BIND | c.MS_REC, None)
    targets = [a[1] for a in calls[2:]]
    assert targets == [
        f"fd:{rootfs}/proc", f"fd:{rootfs}/dev", f"fd:{rootfs}/dev/pts", f"fd:{rootfs}/dev/shm",
        f"fd:{rootfs}/dev/mqueue", f"fd:{rootfs}/sys",
    ]  # fmt: skip
    devpts = calls[4]
    assert devpts[2] == "devpts" and "newinstance" in str(devpts[4])
    assert [a[0] for a in sc.of("mknod")] == [  # mknod in the fd of /dev
        f"fd:{rootfs}/dev/{n}" for n in ("null", "zero", "full", "random", "urandom", "tty")
    ]
    assert os.readlink(tmp_path / "dev/ptmx") == "pts/ptmx"
    assert os.readlink(tmp_path / "dev/stdin") == "/proc/self/fd/0"


def test_devices_bound_in_user_namespace(tmp_path: Path) -> None:
    sc = FdRecordingSyscalls()
    spec: Any = _spec()
    ctx = RootfsContext(str(tmp_path), str(tmp_path), userns=True)
    mounts.create_devices(sc, spec, ctx, defaults=True)
    assert sc.of("mknod") == []
    assert ("/dev/null", f"fd:{tmp_path}/dev/null", "bind", c.MS_BIND, None) in sc.of("mount")


def test_bind_mount_ro_is_remounted(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    cfg = default_spec_dict()
    cfg["mounts"] = [
        {
            "destination": "/data",
            "type": "bind",
            "source": str(src),
            "options": ["rbind", "ro", "rprivate"],
        }
    ]
    spec = parse_spec(cfg)
    sc = FdRecordingSyscalls()
    root = tmp_path / "root"
    root.mkdir()
    mounts.mount_one(sc, spec.mounts[0], RootfsContext(str(root), str(tmp_path)))
    assert sc.of("mount") == [
        (f"fd:{src}", f"fd:{root}/data", "bind", c.MS_BIND | c.MS_REC, None),
        (f"fd:{src}", f"fd:{root}/data", None, c.MS_RDONLY | c.MS_BIND | c.MS_REMOUNT, None),
        (None, f"fd:{root}/data", None, c.MS_PRIVATE | c.MS_REC, None),
    ]
    assert (root / "data").is_dir()


def test_enter_rootfs_pivot_and_no_pivot() -> None:
    sc = RecordingSyscalls()
    mounts.enter_rootfs(sc, "/r")
    assert sc.calls == [
        ("chdir", ("/r",)),
        ("pivot_root", (".", ".")),
        ("mount", (None, ".", None, c.MS_SLAVE | c.MS_REC, None)),
        ("umount2", (".", c.MNT_DETACH)),
        ("chdir", ("/",)),
    ]
    sc = RecordingSyscalls()
    mounts.enter_rootfs(sc, "/r", no_pivot=True)
    assert sc.names() == ["chdir", "mount", "chroot", "chdir"]
    assert sc.of("mount")[0] == ("/r", "/", None, c.MS_MOVE, None)


def test_finish_rootfs_masks_and_readonly() -> None:
    spec = _spec(
        maskedPaths=["/proc/keys", "/sys/firmware", "/no/such"], readonlyPaths=["/proc/sys"]
    )
    sc = FdRecordingSyscalls()
    mounts.finish_rootfs(sc, spec)  # type: ignore[arg-type]
    m = sc.of("mount")
    assert m[0] == ("fd:/dev/null", "fd:/proc/keys", None, c.MS_BIND, None)
    assert m[1] == ("tmpfs", "fd:/sys/firmware", "tmpfs", c.MS_RDONLY, None)
    assert m[2] == ("fd:/proc/sys", "fd:/proc/sys", None, c.MS_BIND | c.MS_REC, None)
    assert m[3][:2] == ("fd:/proc/sys", "fd:/proc/sys")
    flags3, flags4 = m[3][3], m[4][3]
    assert isinstance(flags3, int) and isinstance(flags4, int)
    assert (
        flags3 & (c.MS_RDONLY | c.MS_REMOUNT | c.MS_BIND) == c.MS_RDONLY | c.MS_REMOUNT | c.MS_BIND
    )
    assert m[4][1] == "/" and flags4 & c.MS_RDONLY  # root.readonly


def test_credentials_sequence() -> None:
    proc = parse_process({
        "args": ["sh"], "cwd": "/",
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [10]},
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                         "permitted": ["CAP_KILL"],
                         "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL", "CAP_CHOWN"]},
    })  # fmt: skip
    sc = RecordingSyscalls()
    init.set_credentials(sc, proc)
    names = sc.names()
    assert names[0] == "prctl" and sc.calls[0][1][:2] == (c.PR_SET_KEEPCAPS, 1)
    drops = [a[1] for n, a in sc.calls if n == "prctl" and a[0] == c.PR_CAPBSET_DROP]
    assert 5 not in drops and 0 in drops  # CAP_KILL kept, CAP_CHOWN dropped
    i = names.index("setgroups")
    assert names[i : i + 4] == ["setgroups", "setresgid", "setresuid", "capset"]
    assert sc.of("setgroups") == [([10],)]
    assert sc.of("capset") == [(1 << 5, 1 << 5, 1 << 5)]
    raises = [
        a
        for n, a in sc.calls
        if n == "prctl" and a[:2] == (c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE)
    ]
    assert raises == [
        (c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, 5, 0)
    ]  # CHOWN not permitted: skipped


def test_rlimit_raise_reports_cap_sys_resource() -> None:
    proc = parse_process(
        {"args": ["sh"], "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}]}
    )
    sc = RecordingSyscalls(fail={"setrlimit": 1})
    with pytest.raises(PermissionDenied, match="CAP_SYS_RESOURCE"):
        init.apply_rlimits(sc, proc)


def test_find_executable(tmp_path: Path) -> None:
    proc = parse_process({"args": ["sh"], "env": [f"PATH=/nonexistent:{tmp_path}"]})
    with pytest.raises(Exception, match="executable file not found"):
        init.find_executable(proc)
    exe = tmp_path / "sh"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert init.find_executable(proc) == str(exe)


def test_bad_device_path_is_invalid() -> None:
    cfg = default_spec_dict()
    cfg["linux"]["devices"] = [{"type": "x", "path": "/dev/x"}]
    with pytest.raises(InvalidArgument, match=r"linux\.devices\[0\]\.type"):
        parse_spec(cfg)


HYBRID = [
    ("/sys/fs/cgroup/systemd", "cgroup", "name=systemd", "/"),
    ("/sys/fs/cgroup/memory", "cgroup", "memory", "/own/dockyard/c1"),
    ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "cpu,cpuacct", "/dockyard/c1"),
    ("/sys/fs/cgroup/net_cls", "cgroup", "net_cls", "/"),
    ("/sys/fs/cgroup/unified", "cgroup2", "", "/"),
]


@pytest.mark.parametrize("cgroupns", [True, False])
def test_cgroup_mount_has_only_the_joined_hierarchies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cgroupns: bool
) -> None:
    """In a hierarchy the init did not join it is in the caller's cgroup: never mounted."""
    monkeypatch.setattr(mounts, "_host_hierarchies", lambda: list(HYBRID))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    m = parse_spec(
        {**default_spec_dict(), "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup",
         "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}]}
    ).mounts[0]  # fmt: skip
    ctx = RootfsContext(str(rootfs), str(tmp_path), cgroupns=cgroupns)
    ctx.joined = frozenset({"memory", "cpu", "cpuacct"})
    sc = FdRecordingSyscalls()
    mounts.mount_one(sc, m, ctx)
    targets = [a[1] for a in sc.of("mount")]
    dest = f"fd:{rootfs}/sys/fs/cgroup"
    assert targets[0] == dest  # the tmpfs
    subs = {t for t in targets[1:-1]}
    assert subs == {dest + "/memory", dest + "/cpu,cpuacct"}
    assert not (rootfs / "sys/fs/cgroup/systemd").exists()
    assert not (rootfs / "sys/fs/cgroup/unified").exists()
    if not cgroupns:
        sources = {a[0] for a in sc.of("mount") if a[2] == "bind"}
        assert sources == {"/sys/fs/cgroup/memory/own/dockyard/c1",
                           "/sys/fs/cgroup/cpu,cpuacct/dockyard/c1"}  # fmt: skip


def test_cgroup_mount_with_nothing_joined_is_an_empty_tmpfs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mounts, "_host_hierarchies", lambda: list(HYBRID[-1:]))
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    m = parse_spec(
        {**default_spec_dict(), "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup",
         "source": "cgroup"}]}
    ).mounts[0]  # fmt: skip
    sc = RecordingSyscalls()
    mounts.mount_one(sc, m, RootfsContext(str(rootfs), str(tmp_path), cgroupns=True))
    assert sc.of("mount") == []  # pure v2, not joined (NullManager): nothing mounted


def test_go_message_carries_the_joined_hierarchies() -> None:
    from dockyard.runtime.runtime import _Children

    kids = _Children()
    try:
        kids.release(["cpu", "memory", ""])
        assert init._read_go(kids.go_r) == frozenset({"cpu", "memory", "unified"})
        kids.go_r = -1  # closed by _read_go
    finally:
        kids.close()


# --- destinations resolved in the rootfs (CVE-2021-30465) -----------------------------


def _mount(dest: str, **kw: object) -> Any:
    cfg = default_spec_dict()
    cfg["mounts"] = [{"destination": dest, **kw}]
    return parse_spec(cfg).mounts[0]


@pytest.fixture(params=["openat2", "walk"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both resolvers: openat2(RESOLVE_IN_ROOT) and the user-space walk."""
    from dockyard.linux import resolve

    if request.param == "openat2" and resolve.BACKEND != "openat2":
        pytest.skip("this kernel has no openat2")
    monkeypatch.setattr(resolve, "BACKEND", request.param)
    return str(request.param)


@pytest.mark.parametrize("link", ["/", "..", "../..", "HOST"])
def test_destination_through_a_symlink_lands_inside_the_rootfs(
    tmp_path: Path, backend: str, link: str
) -> None:
    """A destination whose parent is a symlink to /, .., or a host path is mounted on (and
    made in) the rootfs: the symlink is resolved with the rootfs as /."""
    host = tmp_path / "host"
    host.mkdir()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "evil").symlink_to(str(host) if link == "HOST" else link)
    if link == "HOST":  # the image has that path too (see below for when it has not)
        (rootfs / str(host).lstrip("/")).mkdir(parents=True)
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("x")
    sc = FdRecordingSyscalls()
    ctx = RootfsContext(str(rootfs), str(tmp_path))
    mounts.mount_one(sc, _mount("/evil/tmp", type="tmpfs", source="tmpfs"), ctx)
    mounts.mount_one(sc, _mount("/evil/data", type="bind", source=str(src),
                                options=["rbind", "ro"]), ctx)  # fmt: skip
    mounts.mount_one(sc, _mount("/evil/file", type="bind", source=str(src / "f"),
                                options=["bind"]), ctx)  # fmt: skip
    inside = f"{rootfs}{host}" if link == "HOST" else str(rootfs)
    assert [a[1] for a in sc.of("mount")] == [
        f"fd:{inside}/tmp", f"fd:{inside}/data", f"fd:{inside}/data", f"fd:{inside}/file",
    ]  # fmt: skip
    assert os.listdir(host) == []  # nothing made on the host
    assert sorted(os.listdir(tmp_path)) == ["host", "rootfs", "src"]


def test_destination_through_a_dangling_symlink_is_refused(tmp_path: Path, backend: str) -> None:
    """A symlink to a path the rootfs lacks: no directory is made through it (a clear
    error, as runc's MkdirAllInRoot), and nothing on the host."""
    host = tmp_path / "host"
    host.mkdir()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "evil").symlink_to(str(host))
    sc = FdRecordingSyscalls()
    with pytest.raises(InvalidArgument, match="create mount point /evil/tmp: "):
        mounts.mount_one(sc, _mount("/evil/tmp", type="tmpfs", source="tmpfs"),
                         RootfsContext(str(rootfs), str(tmp_path)))  # fmt: skip
    assert sc.calls == []
    assert os.listdir(host) == [] and os.listdir(rootfs) == ["evil"]


def test_device_and_dev_links_through_a_symlink_stay_inside(tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    (rootfs / "dev").symlink_to(str(host))
    (rootfs / str(host).lstrip("/")).mkdir(parents=True)
    sc = FdRecordingSyscalls()
    mounts.create_devices(sc, _spec(), RootfsContext(str(rootfs), str(tmp_path)),  # type: ignore[arg-type]
                          defaults=True)  # fmt: skip
    assert sc.of("mknod")[0][0] == f"fd:{rootfs}{host}/null"
    assert os.listdir(host) == []
    assert os.readlink(f"{rootfs}{host}/ptmx") == "pts/ptmx"


class _Swapper(FdRecordingSyscalls):
    """Swaps ``victim`` for a symlink to ``to`` just before the first mount call (or just
    after it: ``after``): a container racing the runtime (it renames a directory and
    puts a symlink in its place)."""

    def __init__(self, victim: Path, to: Path, *, after: bool = False) -> None:
        super().__init__()
        self.victim, self.to, self.after = victim, to, after

    def _swap(self) -> None:
        if not self.victim.is_symlink():
            self.victim.rename(self.victim.with_name(self.victim.name + ".old"))
            self.victim.symlink_to(self.to)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        if not self.after:
            self._swap()
        super().mount(source, target, fstype, flags, data)
        if self.after:
            self._swap()


def test_swap_between_resolution_and_mount_stays_inside(tmp_path: Path) -> None:
    """The race of CVE-2021-30465: the parent becomes a symlink to the host between the
    check and the mount. Through the fd the mount reaches the directory that was checked
    (now ``a.old``); a string resolved before the swap reaches the host (defence off)."""
    host = tmp_path / "host"
    (host / "b").mkdir(parents=True)
    rootfs = tmp_path / "rootfs"
    (rootfs / "a/b").mkdir(parents=True)
    string = secure_join(str(rootfs), "/a/b")  # what the string version would mount on
    sc = _Swapper(rootfs / "a", host)
    mounts.mount_one(sc, _mount("/a/b", type="tmpfs", source="tmpfs"), RootfsContext(
        str(rootfs), str(tmp_path)))  # fmt: skip
    assert sc.of("mount") == [("tmpfs", f"fd:{rootfs}/a.old/b", "tmpfs", 0, None)]
    assert os.path.realpath(string) == str(host / "b")  # the string now leads to the host


def test_destination_moved_before_the_remount_is_refused(tmp_path: Path) -> None:
    """After the bind, ``ro`` needs a remount of the new mount: the destination is resolved
    again and must be where the bind went, or a container could leave the bind writable."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "a/b").mkdir(parents=True)
    (rootfs / "c/b").mkdir(parents=True)
    src = tmp_path / "src"
    src.mkdir()
    sc = _Swapper(rootfs / "a", Path("c"), after=True)  # a → c just after the bind
    with pytest.raises(InvalidArgument, match=r"mount /a/b: the destination moved"):
        mounts.mount_one(sc, _mount("/a/b", type="bind", source=str(src),
                                    options=["bind", "ro"]),
                         RootfsContext(str(rootfs), str(tmp_path)))  # fmt: skip
    assert [a[1] for a in sc.of("mount")] == [f"fd:{rootfs}/a/b"]  # the bind, no remount


def test_mask_refuses_a_dev_null_that_is_not_the_null_device(tmp_path: Path) -> None:
    """A /dev/null swapped for a symlink (or a file) would be bound over the masked paths
    (CVE-2025-31133 shape): refused."""
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "secret").write_text("s")
    (root / "dev/null").symlink_to("/secret")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        sc = FdRecordingSyscalls()
        with pytest.raises(InvalidArgument, match="/dev/null is not the null device"):
            mounts.mask_path(sc, fd, "/secret", mounts._Null(fd))
        assert sc.calls == []
        mounts.mask_path(sc, fd, "/absent", mounts._Null(fd))  # nothing there: nothing done
        assert sc.calls == []
    finally:
        os.close(fd)


def test_mount_error_names_the_destination_not_the_fd(tmp_path: Path) -> None:
    sc = FdRecordingSyscalls(fail={"mount": 1})
    with pytest.raises(PermissionDenied) as e:
        mounts.mount_one(sc, _mount("/x", type="tmpfs", source="tmpfs"),
                         RootfsContext(str(tmp_path), str(tmp_path)))  # fmt: skip
    assert "/proc/self/fd" not in str(e.value)
