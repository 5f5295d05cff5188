"""The container's filesystem: ``mounts[]``, devices, pivot_root, masked and read-only paths.

Everything here runs in the container init (process B, see ``init.py``) inside
its new mount namespace, and calls the kernel only through a
:class:`~dockyard.linux.Syscalls`, so unit tests record the exact sequence.

No path in the rootfs is used as a string (CVE-2021-30465: a container that swaps a
symlink into a destination between its check and the mount puts the mount on the
host). Each destination is resolved once by the kernel inside the rootfs
(:mod:`dockyard.linux.resolve`: ``openat2(RESOLVE_IN_ROOT)``), made there where
missing (``mkdirat``/``openat`` on the descriptor of its directory), and mounted on
through ``/proc/self/fd/N`` of its ``O_PATH`` descriptor, as runc does since
1.0.0-rc95. A magic link does not cross the mount made on its file, so a remount, a
propagation change or ``mount_setattr`` on the new mount resolves the destination
again and refuses it unless it is still the same place (:func:`_reopen`). Device
nodes, their parents and the ``/dev`` symlinks are made with ``*at`` calls on such
descriptors too. After pivot_root the masked and read-only paths are resolved the same
way in the new ``/``; ``/dev/null`` (the source of a file mask) must be the null device.

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

from dockyard.errors import DockyardError, InvalidArgument
from dockyard.linux import constants as c
from dockyard.linux.resolve import (
    PROC_SUPER_MAGIC,
    fd_path,
    fs_magic,
    mkdir_in_root,
    open_in_root,
    touch_in_root,
)
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
    "mount_one",
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
    """``root``/``path`` with every symlink resolved inside ``root`` (never above it).

    A string: between this and its use the container can swap a symlink in. The mount
    sequence resolves through descriptors instead (:func:`_dest_dir`); this stays for
    callers that only name a path (and for tests that show what a string walk misses)."""
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


_O_PATH = os.O_PATH | os.O_CLOEXEC
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def _dest_dir(root_fd: int, dest: str) -> int:
    """``O_PATH`` fd of directory ``dest`` resolved in the rootfs, made where missing."""
    try:
        return mkdir_in_root(root_fd, dest)
    except OSError as e:
        raise InvalidArgument(f"create mount point {dest}: {why(e)}") from None


def _dest_file(root_fd: int, dest: str) -> int:
    """``O_PATH`` fd of ``dest`` resolved in the rootfs, an empty file made where missing."""
    try:
        return touch_in_root(root_fd, dest)
    except OSError as e:
        raise InvalidArgument(f"create mount point {dest}: {why(e)}") from None


def _mount_on(
    sc: Syscalls,
    source: str | None,
    at: int,
    dest: str,
    fstype: str | None,
    flags: int,
    data: str | None,
    shown: str | None = None,
) -> None:
    """mount(2) onto the file of ``at`` through ``/proc/self/fd/N``; an error names
    ``dest`` (and ``shown`` for a source given as an fd path), not the fd."""
    target = fd_path(at)
    try:
        sc.mount(source, target, fstype, flags, data)
    except DockyardError as e:
        msg = str(e).replace(target, dest)
        if shown is not None and source is not None:
            msg = msg.replace(source, shown)
        raise type(e)(msg) from None


def _reopen(root_fd: int, dest: str, below: int) -> int:
    """The mount just made on ``below``'s file, as an ``O_PATH`` fd of its root.

    ``/proc/self/fd/N`` of ``below`` names the mount point *under* the new mount (a magic
    link does not cross mounts), so a remount or a propagation change needs ``dest``
    resolved again; it is refused unless it resolves to the place ``below`` is at."""
    try:
        top = open_in_root(root_fd, dest)
    except OSError as e:
        raise InvalidArgument(f"mount {dest}: {why(e)}") from None
    if os.readlink(fd_path(top)) != os.readlink(fd_path(below)):
        os.close(top)
        raise InvalidArgument(f"mount {dest}: the destination moved while it was mounted")
    return top


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
    # O_PATH fd of the rootfs (after its bind onto itself) in which every destination is
    # resolved; -1: mount_one opens one for its own call
    root_fd: int = -1

    def cgroup_ready(self) -> None:
        """Run ``before_cgroup`` if it has not run yet."""
        fn, self.before_cgroup = self.before_cgroup, None
        if fn is not None:
            fn()


def _bind(sc: Syscalls, m: Mount, opts: MountOptions, ctx: RootfsContext) -> tuple[int, int]:
    """Bind ``m.source`` (a host path, opened once: the mount is the file that was
    looked at) on its destination; (fd of the mount point, fd of the new mount or -1)."""
    src, dest = m.source or "", m.destination
    if not src.startswith("/"):
        src = os.path.join(ctx.bundle, src)
    try:
        src_fd = os.open(src, _O_PATH)
    except OSError as e:
        raise InvalidArgument(f"mount {src} on {dest}: {why(e)}") from None
    try:
        is_dir = stat.S_ISDIR(os.fstat(src_fd).st_mode)
        below = (_dest_dir if is_dir else _dest_file)(ctx.root_fd, dest)
        source = fd_path(src_fd)
        try:
            flags = c.MS_BIND | (opts.flags & c.MS_REC)
            _mount_on(sc, source, below, dest, "bind", flags, None, src)
            rest = opts.flags & _REMOUNT_MASK
            if not rest:
                return below, -1
            top = _reopen(ctx.root_fd, dest, below)
            keep = _locked_flags(fd_path(top)) if ctx.userns else 0
            flags = rest | keep | c.MS_BIND | c.MS_REMOUNT
            _mount_on(sc, source, top, dest, None, flags, None, src)
            return below, top
        except BaseException:
            os.close(below)
            raise
    finally:
        os.close(src_fd)


def _cgroup_mounts(sc: Syscalls, m: Mount, opts: MountOptions, ctx: RootfsContext) -> int:
    """/sys/fs/cgroup: the container's own cgroups, in each hierarchy of this host that the
    container joined (``ctx.joined``); the others are left out, never the caller's.
    Returns the fd of the mount point."""
    ctx.cgroup_ready()
    dest = m.destination
    flags = opts.flags & ~c.MS_RDONLY
    found = _host_hierarchies()
    unified_only = len(found) == 1 and found[0][1] == "cgroup2"
    hierarchies = [h for h in found if _is_joined(h, ctx.joined)]
    below = _dest_dir(ctx.root_fd, dest)
    try:
        if unified_only:
            if hierarchies:
                h = hierarchies[0]
                again = lambda: _reopen(ctx.root_fd, dest, below)  # noqa: E731
                _one_cgroup(sc, h, below, dest, again, flags | (opts.flags & c.MS_RDONLY), ctx)
            return below
        _mount_on(sc, "tmpfs", below, dest, "tmpfs", flags, "mode=755")
        top = _reopen(ctx.root_fd, dest, below)
        try:
            for h in hierarchies:  # in the tmpfs just made (no one else can reach it)
                _cgroup_sub(sc, h, top, dest, flags | (opts.flags & c.MS_RDONLY), ctx)
            if opts.flags & c.MS_RDONLY:
                ro = flags | c.MS_RDONLY | c.MS_REMOUNT
                _mount_on(sc, "tmpfs", top, dest, None, ro, "mode=755")
        finally:
            os.close(top)
        return below
    except BaseException:
        os.close(below)
        raise


def _cgroup_sub(
    sc: Syscalls, h: tuple[str, str, str, str], top: int, dest: str, flags: int,
    ctx: RootfsContext,
) -> None:  # fmt: skip
    """One hierarchy in a directory of the /sys/fs/cgroup tmpfs (fd ``top``)."""
    name = os.path.basename(h[0])
    try:
        os.mkdir(name, 0o755, dir_fd=top)
    except OSError as e:
        raise InvalidArgument(f"create mount point {dest}/{name}: {why(e)}") from None
    sub = os.open(name, _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=top)
    try:
        again = lambda: os.open(name, _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=top)  # noqa: E731
        _one_cgroup(sc, h, sub, f"{dest}/{name}", again, flags, ctx)
    finally:
        os.close(sub)


def _is_joined(h: tuple[str, str, str, str], joined: frozenset[str]) -> bool:
    """Whether the init is in the container's cgroup in hierarchy ``h``."""
    if h[1] == "cgroup2":
        return "unified" in joined
    return any(ctrl in joined for ctrl in h[2].split(","))


def _one_cgroup(
    sc: Syscalls, h: tuple[str, str, str, str], at: int, dest: str,
    reopen: Callable[[], int], flags: int, ctx: RootfsContext,
) -> None:  # fmt: skip
    """Hierarchy ``h`` on the file of ``at``: a fresh cgroup mount in a cgroup namespace,
    else a bind of the container's own cgroup (``reopen`` gives the new mount for the
    remount)."""
    mountpoint, fstype, options, own = h
    if ctx.cgroupns:
        _mount_on(sc, "cgroup", at, dest, fstype, flags, options or None)
        return
    src = mountpoint + own if own != "/" else mountpoint
    _mount_on(sc, src, at, dest, "bind", c.MS_BIND | c.MS_REC, None)
    top = reopen()
    try:
        _mount_on(sc, src, top, dest, None, flags | c.MS_BIND | c.MS_REMOUNT, None)
    finally:
        os.close(top)


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


def _open_root(rootfs: str) -> int:
    try:
        return os.open(rootfs, _O_PATH_DIR)
    except OSError as e:
        raise InvalidArgument(f"open rootfs {rootfs}: {why(e)}") from None


def mount_one(sc: Syscalls, m: Mount, ctx: RootfsContext) -> None:
    """Mount one entry of ``mounts[]`` on its destination resolved in the rootfs."""
    own_root = ctx.root_fd < 0
    if own_root:
        ctx.root_fd = _open_root(ctx.rootfs)
    try:
        _mount_one(sc, m, ctx)
    finally:
        if own_root:
            os.close(ctx.root_fd)
            ctx.root_fd = -1


def _mount_one(sc: Syscalls, m: Mount, ctx: RootfsContext) -> None:
    dest = m.destination
    opts = parse_mount_options(m.options)
    top = -1
    if m.is_bind:
        below, top = _bind(sc, m, opts, ctx)
    elif m.type == "cgroup":
        below = _cgroup_mounts(sc, m, opts, ctx)
    else:
        below = _dest_dir(ctx.root_fd, dest)
        try:
            flags, data = opts.flags, opts.data or None
            _mount_on(sc, m.source or m.type, below, dest, m.type, flags, data)
        except BaseException:
            os.close(below)
            raise
    try:
        if (opts.propagation or opts.rec_clear or opts.rec_set) and top < 0:
            top = _reopen(ctx.root_fd, dest, below)
        for p in opts.propagation:
            _mount_on(sc, None, top, dest, None, p, None)
        if opts.rec_clear or opts.rec_set:
            sc.mount_setattr(fd_path(top), opts.rec_clear, opts.rec_set)
    finally:
        os.close(below)
        if top >= 0:
            os.close(top)


# path, major, minor: what every container gets (runtime spec "Default devices")
DEFAULT_DEVICES = (
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
)


def _device(sc: Syscalls, root_fd: int, d: Device, userns: bool) -> None:
    """Device ``d`` made in its directory (resolved in the rootfs, made where missing) by
    ``mknod`` through the directory's fd, or bound from the host in a user namespace."""
    head, _, name = d.path.rstrip("/").rpartition("/")
    if name in ("", ".", ".."):
        raise InvalidArgument(f"create device {d.path}: not a file name")
    try:
        parent = mkdir_in_root(root_fd, head)
    except OSError as e:
        raise InvalidArgument(f"create device {d.path}: {why(e)}") from None
    try:
        _device_in(sc, parent, name, d, userns)
    finally:
        os.close(parent)


def _device_in(sc: Syscalls, parent: int, name: str, d: Device, userns: bool) -> None:
    try:
        st = os.lstat(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    else:
        kind = {"c": stat.S_ISCHR, "b": stat.S_ISBLK, "p": stat.S_ISFIFO, "u": stat.S_ISCHR}
        if kind[d.type](st.st_mode) and st.st_rdev == os.makedev(d.major, d.minor):
            return
        raise InvalidArgument(f"create device {d.path}: a different file exists there")
    if userns and d.type != "p":
        try:
            flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644, dir_fd=parent))
            at = os.open(name, _O_PATH | os.O_NOFOLLOW, dir_fd=parent)
        except OSError as e:
            raise InvalidArgument(f"create device {d.path}: {why(e)}") from None
        try:
            _mount_on(sc, d.path, at, d.path, "bind", c.MS_BIND, None)
        finally:
            os.close(at)
        return
    kind_bits = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    mode = d.file_mode if d.file_mode is not None else 0o666
    node = f"{fd_path(parent)}/{name}"  # made in the directory of the fd, whatever its path
    sc.mknod(node, kind_bits[d.type] | (mode & 0o7777), os.makedev(d.major, d.minor))
    if d.uid is not None or d.gid is not None:
        uid = d.uid if d.uid is not None else -1
        gid = d.gid if d.gid is not None else -1
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)


def create_devices(sc: Syscalls, spec: Spec, ctx: RootfsContext, *, defaults: bool) -> None:
    """Default devices (when /dev is ours), ``linux.devices``, and the /dev symlinks."""
    from dockyard.oci.runtime_spec import Device

    devices: list[Device] = []
    if defaults:
        devices += [Device("c", p, ma, mi, 0o666) for p, ma, mi in DEFAULT_DEVICES]
    if spec.linux is not None:
        given = {d.path for d in spec.linux.devices}
        devices = [d for d in devices if d.path not in given] + list(spec.linux.devices)
    own_root = ctx.root_fd < 0
    if own_root:
        ctx.root_fd = _open_root(ctx.rootfs)
    try:
        for d in devices:
            _device(sc, ctx.root_fd, d, ctx.userns)
        if defaults:
            _dev_links(ctx.root_fd)
    finally:
        if own_root:
            os.close(ctx.root_fd)
            ctx.root_fd = -1


def _dev_links(root_fd: int) -> None:
    """/dev/fd, stdin, stdout, stderr, ptmx: symlinks made in the fd of /dev."""
    dev = _dest_dir(root_fd, "/dev")
    try:
        for name, target in (
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
            ("ptmx", "pts/ptmx"),
        ):
            try:
                os.symlink(target, name, dir_fd=dev)
            except FileExistsError:
                pass
    finally:
        os.close(dev)


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
    ctx.root_fd = _open_root(ctx.rootfs)  # the bind's root: mounts in it land in it
    try:
        for m in spec.mounts:
            mount_one(sc, m, ctx)
        create_devices(sc, spec, ctx, defaults=_owns_dev(spec))
    finally:
        os.close(ctx.root_fd)
        ctx.root_fd = -1


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


def _open_existing(root_fd: int, path: str) -> int:
    """``path`` resolved in ``root_fd``; -1 where nothing is there."""
    try:
        return open_in_root(root_fd, path)
    except (FileNotFoundError, NotADirectoryError):
        return -1
    except OSError as e:
        raise InvalidArgument(f"resolve {path}: {why(e)}") from None


class _Null:
    """The container's /dev/null, opened (and checked) at the first file to mask: a
    container that made it a symlink or another file would have that file bound over
    the masked paths (CVE-2025-31133)."""

    def __init__(self, root_fd: int) -> None:
        self.root_fd, self.fd = root_fd, -1

    def get(self) -> int:
        if self.fd < 0:
            fd = _open_existing(self.root_fd, "/dev/null")
            if fd >= 0:
                st = os.fstat(fd)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 3):
                    self.fd = fd
                    return fd
                os.close(fd)
            raise InvalidArgument("mask paths: /dev/null is not the null device")
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def mask_path(sc: Syscalls, root_fd: int, path: str, null: _Null) -> None:
    """Make ``path`` unreadable: /dev/null over a file, an empty ro tmpfs over a directory."""
    at = _open_existing(root_fd, path)
    if at < 0:
        return  # nothing to mask
    try:
        if stat.S_ISDIR(os.fstat(at).st_mode):
            _mount_on(sc, "tmpfs", at, path, "tmpfs", c.MS_RDONLY, None)
        else:
            _mount_on(sc, fd_path(null.get()), at, path, None, c.MS_BIND, None, "/dev/null")
    finally:
        os.close(at)


def readonly_path(sc: Syscalls, root_fd: int, path: str) -> None:
    """Bind ``path`` onto itself and remount it read-only (keeping its other flags)."""
    at = _open_existing(root_fd, path)
    if at < 0:
        return
    try:
        src = fd_path(at)
        _mount_on(sc, src, at, path, None, c.MS_BIND | c.MS_REC, None, path)
        top = _reopen(root_fd, path, at)
        try:
            keep = _locked_flags(fd_path(top))
            flags = keep | c.MS_RDONLY | c.MS_BIND | c.MS_REMOUNT | c.MS_REC
            _mount_on(sc, fd_path(top), top, path, None, flags, None, path)
        finally:
            os.close(top)
    finally:
        os.close(at)


def _proc_is_procfs() -> bool:
    """Whether ``/proc`` (where ``/proc/self/fd/N`` is resolved) is a procfs."""
    try:
        fd = os.open("/proc", _O_PATH_DIR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return fs_magic(fd) == PROC_SUPER_MAGIC
    finally:
        os.close(fd)


def _masks(sc: Syscalls, masked: tuple[str, ...], readonly: tuple[str, ...]) -> None:
    """Masked and read-only paths, each resolved in ``/`` (the container's, now)."""
    if not _proc_is_procfs():
        raise InvalidArgument("masked and read-only paths: /proc is not a procfs mount")
    root_fd = _open_root("/")
    null = _Null(root_fd)
    try:
        for p in masked:
            mask_path(sc, root_fd, p, null)
        for p in readonly:
            readonly_path(sc, root_fd, p)
    finally:
        null.close()
        os.close(root_fd)


def finish_rootfs(sc: Syscalls, spec: Spec) -> None:
    """After pivot_root: masked and read-only paths, read-only root, propagation of /."""
    lx = spec.linux
    if lx is not None:
        if lx.masked_paths or lx.readonly_paths:
            _masks(sc, lx.masked_paths, lx.readonly_paths)
        if lx.rootfs_propagation in ("shared", "rshared", "unbindable"):
            sc.mount(None, "/", None, c.PROPAGATION_FLAGS[lx.rootfs_propagation] | c.MS_REC, None)
    if spec.root is not None and spec.root.readonly:
        keep = _locked_flags("/")
        sc.mount(None, "/", None, keep | c.MS_RDONLY | c.MS_BIND | c.MS_REMOUNT, None)
