"""The container's filesystem: ``mounts[]``, devices, pivot_root, masked and read-only paths.

Everything here runs in the container init (process B, see ``init.py``) inside
its new mount namespace, and calls the kernel only through a
:class:`~dockyard.linux.Syscalls`, so unit tests record the exact sequence.
Files and directories (mount points, device nodes' parents, symlinks) are made
with :mod:`os` directly under the rootfs.

Sequence (:func:`prepare_rootfs`, then :func:`enter_rootfs`, then
:func:`finish_rootfs`)::

    / rslave (or the requested rootfsPropagation, never shared at this point)
    rootfs bind-mounted onto itself (pivot_root needs a mount point)
    mounts[] in order: bind (+ remount for flags, + propagation) or a filesystem,
        then mount_setattr(AT_RECURSIVE) for recursive options (rro, rnosuid, ...)
    default devices (mknod, or a bind from the host inside a user namespace)
    linux.devices, /dev symlinks (fd, stdin, stdout, stderr, ptmx)
    pivot_root(".", ".") + umount the old root   (or MS_MOVE + chroot: --no-pivot)
    maskedPaths: /dev/null bound on files, an empty read-only tmpfs on directories
    readonlyPaths: bind onto itself, remount read-only
    root.readonly: remount / read-only
"""

from __future__ import annotations

import os
import stat

from dockyard.errors import InvalidArgument
from dockyard.linux import constants as c
from dockyard.linux.syscalls import why
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.linux.syscalls import Syscalls
    from dockyard.oci.runtime_spec import Device, Mount, Spec

__all__ = [
    "DEFAULT_DEVICES",
    "MountOptions",
    "enter_rootfs",
    "finish_rootfs",
    "parse_mount_options",
    "prepare_rootfs",
    "secure_join",
]


@record
class MountOptions:
    flags: int = 0
    propagation: tuple[int, ...] = ()
    data: str = ""
    extra: tuple[str, ...] = ()  # understood but not flags: tmpcopyup, idmap, ...
    # recursive options (rro, rnosuid, ...): mount_setattr(AT_RECURSIVE) attributes
    rec_clear: int = 0
    rec_set: int = 0


def parse_mount_options(options: tuple[str, ...] | list[str]) -> MountOptions:
    """Split mount options into mount(2) flags, propagation changes and fs data."""
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    extra: list[str] = []
    rec_clear = rec_set = 0
    for opt in options:
        if opt in ("bind", "rbind"):
            flags |= c.MS_BIND | (c.MS_REC if opt == "rbind" else 0)
        elif opt in c.PROPAGATION_FLAGS:
            prop.append(c.PROPAGATION_FLAGS[opt])
        elif opt in c.MOUNT_FLAGS:
            clear, flag = c.MOUNT_FLAGS[opt]
            flags = flags & ~flag if clear else flags | flag
        elif opt in c.RECURSIVE_MOUNT_ATTRS:  # rro, rnosuid, ...: the mount and all below
            clr, setb = c.RECURSIVE_MOUNT_ATTRS[opt]
            rec_set = (rec_set & ~clr) | setb
            rec_clear = (rec_clear & ~setb) | clr  # atime: _ATIME cleared, one value set
        elif opt in ("tmpcopyup", "idmap", "ridmap", "copy-symlink"):
            extra.append(opt)
        else:
            data.append(opt)
    return MountOptions(flags, tuple(prop), ",".join(data), tuple(extra), rec_clear, rec_set)


def secure_join(root: str, path: str) -> str:
    """``root``/``path`` with every symlink resolved inside ``root`` (never above it)."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > 40:
                raise InvalidArgument(f"resolve {path} in {root}: too many symlinks")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved) if resolved else root


def _mkdirs(path: str) -> None:
    try:
        os.makedirs(path, 0o755, exist_ok=True)
    except FileExistsError:
        pass  # a file (or a symlink to one) is there: mount fails clearly later
    except OSError as e:
        raise InvalidArgument(f"create mount point {path}: {e.strerror}") from None


def _touch(path: str) -> None:
    _mkdirs(os.path.dirname(path))
    if not os.path.lexists(path):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
        except OSError as e:
            raise InvalidArgument(f"create mount point {path}: {e.strerror}") from None


def _locked_flags(path: str) -> int:
    """The flags a remount must keep (the kernel locks them in a user namespace)."""
    try:
        f = os.statvfs(path).f_flag
    except OSError:
        return 0
    keep = 0
    for st_flag, ms_flag in (
        (os.ST_RDONLY, c.MS_RDONLY),
        (os.ST_NOSUID, c.MS_NOSUID),
        (os.ST_NODEV, c.MS_NODEV),
        (os.ST_NOEXEC, c.MS_NOEXEC),
        (os.ST_NOATIME, c.MS_NOATIME),
        (os.ST_NODIRATIME, c.MS_NODIRATIME),
        (os.ST_RELATIME, c.MS_RELATIME),
    ):
        if f & st_flag:
            keep |= ms_flag
    return keep


_REMOUNT_MASK = ~(c.MS_BIND | c.MS_REC | c.MS_REMOUNT)


@record(frozen=False)
class RootfsContext:
    """What the mount sequence needs to know besides the spec."""

    rootfs: str
    bundle: str
    userns: bool = False
    cgroupns: bool = False
    # called once before the first step that needs the container's cgroup (the init
    # waits there for the caller's "go"), so the mounts before it overlap the caller's
    # cgroup work
    before_cgroup: Callable[[], None] | None = None
    # the cgroup hierarchies the init was put in (v1 controller names, "unified" for
    # cgroup2), told with "go": only these are mounted, since in the others the init is
    # still in the caller's cgroup (the host's, seen through a cgroup mount)
    joined: frozenset[str] = frozenset()

    def cgroup_ready(self) -> None:
        """Run ``before_cgroup`` if it has not run yet."""
        fn, self.before_cgroup = self.before_cgroup, None
        if fn is not None:
            fn()


def _bind(sc: Syscalls, m: Mount, dest: str, opts: MountOptions, ctx: RootfsContext) -> None:
    src = m.source or ""
    if not src.startswith("/"):
        src = os.path.join(ctx.bundle, src)
    try:
        is_dir = stat.S_ISDIR(os.stat(src).st_mode)
    except OSError as e:
        raise InvalidArgument(f"mount {src} on {m.destination}: {why(e)}") from None
    if is_dir:
        _mkdirs(dest)
    else:
        _touch(dest)
    sc.mount(src, dest, "bind", c.MS_BIND | (opts.flags & c.MS_REC), None)
    rest = opts.flags & _REMOUNT_MASK
    if rest:
        keep = _locked_flags(dest) if ctx.userns else 0
        sc.mount(src, dest, None, rest | keep | c.MS_BIND | c.MS_REMOUNT, None)


def _cgroup_mounts(
    sc: Syscalls, m: Mount, dest: str, opts: MountOptions, ctx: RootfsContext
) -> None:
    """/sys/fs/cgroup: the container's own cgroups, in each hierarchy of this host that the
    container joined (``ctx.joined``); the others are left out, never the caller's."""
    ctx.cgroup_ready()
    flags = opts.flags & ~c.MS_RDONLY
    found = _host_hierarchies()
    unified_only = len(found) == 1 and found[0][1] == "cgroup2"
    hierarchies = [h for h in found if _is_joined(h, ctx.joined)]
    if unified_only:
        _mkdirs(dest)
        if hierarchies:
            _one_cgroup(sc, hierarchies[0], dest, flags | (opts.flags & c.MS_RDONLY), ctx)
        return
    _mkdirs(dest)
    sc.mount("tmpfs", dest, "tmpfs", flags, "mode=755")
    for h in hierarchies:
        sub = os.path.join(dest, os.path.basename(h[0]))
        _mkdirs(sub)
        _one_cgroup(sc, h, sub, flags | (opts.flags & c.MS_RDONLY), ctx)
    if opts.flags & c.MS_RDONLY:
        sc.mount("tmpfs", dest, None, flags | c.MS_RDONLY | c.MS_REMOUNT, "mode=755")


def _is_joined(h: tuple[str, str, str, str], joined: frozenset[str]) -> bool:
    """Whether the init is in the container's cgroup in hierarchy ``h``."""
    if h[1] == "cgroup2":
        return "unified" in joined
    return any(ctrl in joined for ctrl in h[2].split(","))


def _one_cgroup(
    sc: Syscalls, h: tuple[str, str, str, str], dest: str, flags: int, ctx: RootfsContext
) -> None:
    mountpoint, fstype, options, own = h
    if ctx.cgroupns:
        sc.mount("cgroup", dest, fstype, flags, options or None)
        return
    src = mountpoint + own if own != "/" else mountpoint
    sc.mount(src, dest, "bind", c.MS_BIND | c.MS_REC, None)
    sc.mount(src, dest, None, flags | c.MS_BIND | c.MS_REMOUNT, None)


def _host_hierarchies() -> list[tuple[str, str, str, str]]:
    """(mount point, fstype, controller options, own path below that mount) of each cgroup
    hierarchy this process belongs to.

    In a new cgroup namespace the kernel shows the host's cgroup mounts with roots relative
    to the namespace (``/..``), so mounts are told apart by superblock, not by their root;
    the first mount of each hierarchy wins.
    """
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            own[ctrls] = path
    out: list[tuple[str, str, str, str]] = []
    seen: set[str] = set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fstype, _, super_opts = post.split(" ", 2)
            if fstype not in ("cgroup", "cgroup2"):
                continue
            fields = pre.split(" ")
            dev, root, mountpoint = fields[2], fields[3], fields[4]
            if dev in seen:
                continue
            seen.add(dev)
            if fstype == "cgroup2":
                key = ""
                options = ""
            else:
                ctrl = set(super_opts.strip().split(",")) - {"rw", "ro"}
                found = next((k for k in own if k and set(k.split(",")) <= ctrl), None)
                if found is None:
                    continue
                key = options = found
            out.append((mountpoint, fstype, options, _below(own.get(key, "/"), root)))
    return out


def _below(own: str, root: str) -> str:
    """``own`` (a cgroup path) relative to a mount of the hierarchy at ``root``."""
    if root.startswith("/..") or root == "/":
        return own
    if own == root or own.startswith(root.rstrip("/") + "/"):
        return own[len(root.rstrip("/")) :] or "/"
    return own


def mount_one(sc: Syscalls, m: Mount, ctx: RootfsContext) -> None:
    """Mount one entry of ``mounts[]`` under the rootfs."""
    dest = secure_join(ctx.rootfs, m.destination)
    opts = parse_mount_options(m.options)
    if m.is_bind:
        _bind(sc, m, dest, opts, ctx)
    elif m.type == "cgroup":
        _cgroup_mounts(sc, m, dest, opts, ctx)
    else:
        _mkdirs(dest)
        sc.mount(m.source or m.type, dest, m.type, opts.flags, opts.data or None)
    for p in opts.propagation:
        sc.mount(None, dest, None, p, None)
    if opts.rec_clear or opts.rec_set:
        sc.mount_setattr(dest, opts.rec_clear, opts.rec_set)


# path, major, minor: what every container gets (runtime spec "Default devices")
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)


def _device(sc: Syscalls, rootfs: str, d: Device, userns: bool) -> None:
    dest = secure_join(rootfs, d.path)
    if os.path.lexists(dest):
        st = os.lstat(dest)
        kind = {"c": stat.S_ISCHR, "b": stat.S_ISBLK, "p": stat.S_ISFIFO, "u": stat.S_ISCHR}
        if (
            kind[d.type](st.st_mode)
            and os.major(st.st_rdev) == d.major
            and (os.minor(st.st_rdev) == d.minor)
        ):
            return
        raise InvalidArgument(f"create device {d.path}: a different file exists there")
    _mkdirs(os.path.dirname(dest))
    if userns and d.type != "p":
        _touch(dest)
        sc.mount(d.path, dest, "bind", c.MS_BIND, None)
        return
    kind_bits = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    mode = d.file_mode if d.file_mode is not None else 0o666
    sc.mknod(dest, kind_bits[d.type] | (mode & 0o7777), os.makedev(d.major, d.minor))
    if d.uid is not None or d.gid is not None:
        os.chown(dest, d.uid if d.uid is not None else -1, d.gid if d.gid is not None else -1)


def create_devices(sc: Syscalls, spec: Spec, ctx: RootfsContext, *, defaults: bool) -> None:
    """Default devices (when /dev is ours), ``linux.devices``, and the /dev symlinks."""
    from dockyard.oci.runtime_spec import Device

    devices: list[Device] = []
    if defaults:
        devices += [Device("c", p, ma, mi, 0o666) for p, ma, mi in DEFAULT_DEVICES]
    if spec.linux is not None:
        given = {d.path for d in spec.linux.devices}
        devices = [d for d in devices if d.path not in given] + list(spec.linux.devices)
    for d in devices:
        _device(sc, ctx.rootfs, d, ctx.userns)
    if not defaults:
        return
    dev = secure_join(ctx.rootfs, "/dev")
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("ptmx", "pts/ptmx"),
    ):
        link = os.path.join(dev, name)
        if not os.path.lexists(link):
            os.symlink(target, link)


def _owns_dev(spec: Spec) -> bool:
    return any(m.destination.rstrip("/") == "/dev" and not m.is_bind for m in spec.mounts)


def prepare_rootfs(sc: Syscalls, spec: Spec, ctx: RootfsContext) -> None:
    """Everything before pivot_root: propagation, rootfs bind, mounts[], devices."""
    prop = spec.linux.rootfs_propagation if spec.linux else None
    root_flag = (
        c.MS_PRIVATE | c.MS_REC if prop in ("private", "rprivate") else c.MS_SLAVE | c.MS_REC
    )
    sc.mount(None, "/", None, root_flag, None)
    sc.mount(ctx.rootfs, ctx.rootfs, "bind", c.MS_BIND | c.MS_REC, None)
    for m in spec.mounts:
        mount_one(sc, m, ctx)
    create_devices(sc, spec, ctx, defaults=_owns_dev(spec))


def enter_rootfs(sc: Syscalls, rootfs: str, *, no_pivot: bool = False) -> None:
    """Make the rootfs ``/``: pivot_root (the old root is detached) or MS_MOVE + chroot."""
    sc.chdir(rootfs)
    if no_pivot:
        sc.mount(rootfs, "/", None, c.MS_MOVE, None)
        sc.chroot(".")
    else:
        sc.pivot_root(".", ".")
        sc.mount(None, ".", None, c.MS_SLAVE | c.MS_REC, None)
        sc.umount2(".", c.MNT_DETACH)
    sc.chdir("/")


def mask_path(sc: Syscalls, path: str) -> None:
    """Make ``path`` unreadable: /dev/null over a file, an empty ro tmpfs over a directory."""
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return  # nothing to mask
    if is_dir:
        sc.mount("tmpfs", path, "tmpfs", c.MS_RDONLY, None)
    else:
        sc.mount("/dev/null", path, None, c.MS_BIND, None)


def readonly_path(sc: Syscalls, path: str) -> None:
    """Bind ``path`` onto itself and remount it read-only (keeping its other flags)."""
    if not os.path.lexists(path):
        return
    sc.mount(path, path, None, c.MS_BIND | c.MS_REC, None)
    keep = _locked_flags(path)
    sc.mount(path, path, None, keep | c.MS_RDONLY | c.MS_BIND | c.MS_REMOUNT | c.MS_REC, None)


def finish_rootfs(sc: Syscalls, spec: Spec) -> None:
    """After pivot_root: masked and read-only paths, read-only root, propagation of /."""
    lx = spec.linux
    if lx is not None:
        for p in lx.masked_paths:
            mask_path(sc, p)
        for p in lx.readonly_paths:
            readonly_path(sc, p)
        if lx.rootfs_propagation in ("shared", "rshared", "unbindable"):
            sc.mount(None, "/", None, c.PROPAGATION_FLAGS[lx.rootfs_propagation] | c.MS_REC, None)
    if spec.root is not None and spec.root.readonly:
        keep = _locked_flags("/")
        sc.mount(None, "/", None, keep | c.MS_RDONLY | c.MS_BIND | c.MS_REMOUNT, None)
