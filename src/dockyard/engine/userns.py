"""User namespaces per container: the ``--userns`` modes and the id-range allocator.

Vocabulary
----------
*mode*: what ``--userns`` (``RunOptions.userns``, the API's ``HostConfig.UsernsMode``)
asks: ``host`` (no user namespace: the container's root is the host's root), ``auto``
or ``auto:size=N`` (a user namespace whose ids 0..N-1 map to a fresh range of host ids
no other live container holds), ``keep-id`` (podman's: the caller's uid maps to itself;
the daemon runs as root, so that is the identity mapping ``0 0 4294967295``: a user
namespace of its own, with its capability and mount-lock rules, and no remapping).
``""`` is the daemon's default: ``dockyardd --userns-remap default`` makes it ``auto``,
without that flag it is ``host`` (dockerd's default).
*subordinate ids*: ``/etc/subuid`` and ``/etc/subgid`` lines ``NAME:START:COUNT``.
Ranges are taken from the lines of the user ``dockyard`` (``DOCKYARD_SUBUID`` and
``DOCKYARD_SUBGID`` name other files, for tests); when that user has none, one line
each (:data:`DEFAULT_COUNT` ids where no line gives anyone any) is appended on first
use, as dockerd does for ``dockremap``.
*range*: ``(uid_base, gid_base, size)``, held by one container (its *owner*), recorded
in the state database (``userns_ranges``) in the same transaction that checks it is
free, so a daemon killed with ``kill -9`` finds it held when it starts again. It is
released when the container is removed (:func:`release`), or by :func:`sweep` when no
container record owns it any more.

Example::

    r = allocate(db, cid, parse_mode("auto").size)
    spec = with_user_namespace(spec, r)       # engine/spec.py
    ...
    release(db, cid)                          # docker rm

Errors: a bad mode raises InvalidArgument (``invalid --userns "x": ...``); no free
range raises Unavailable; an unreadable or malformed subordinate-id file raises
FailedPrecondition naming the file and line.
"""

from __future__ import annotations

import os

from dockyard.errors import FailedPrecondition, InvalidArgument, Unavailable
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.store.db import StateDB
    from dockyard.store.images import Image, ImageStore

__all__ = [
    "DEFAULT_COUNT",
    "DEFAULT_SIZE",
    "IdRange",
    "add_line",
    "check_idmappable",
    "Mode",
    "SubIds",
    "allocate",
    "effective_mode",
    "daemon_default",
    "held",
    "host_sys",
    "id_maps",
    "idmap_wanted",
    "make_reachable",
    "mount_idmapped",
    "mount_rootfs",
    "parse_mode",
    "parse_remap",
    "release",
    "remove_line",
    "shift_ids",
    "sweep",
    "unmount_idmapped",
    "wants_userns",
]

DEFAULT_SIZE = 65536
DEFAULT_COUNT = DEFAULT_SIZE * 1024  # the ids appended for ``dockyard``: 1024 ranges
SUBID_USER = "dockyard"
FULL = 4294967295  # every id: the identity mapping of keep-id as root
_FIRST = 100000  # useradd's SUB_UID_MIN: below it lie the host's own users


@record
class Mode:
    """A parsed ``--userns``: ``kind`` is host, auto or keep-id; ``size`` for auto."""

    kind: str
    size: int = DEFAULT_SIZE


@record
class IdRange:
    """Host ids ``uid_base..uid_base+size-1`` (and gids) seen as 0..size-1 inside."""

    uid_base: int
    gid_base: int
    size: int


def parse_mode(text: str) -> Mode:
    """``host``, ``auto``, ``auto:size=N``, ``keep-id`` (``""`` is host: the caller
    resolves the daemon's default first, :func:`effective_mode`)."""
    bad = f'invalid --userns "{text}": expected host, auto, auto:size=N or keep-id'
    kind, sep, rest = text.partition(":")
    if kind in ("", "host", "keep-id") and not sep:
        return Mode(kind or "host")
    if kind != "auto":
        raise InvalidArgument(bad)
    size = DEFAULT_SIZE
    for item in rest.split(",") if sep else ():
        key, eq, value = item.partition("=")
        if key != "size" or not eq or not value.isdigit():
            raise InvalidArgument(bad)
        size = int(value)
        if not 1 <= size <= DEFAULT_SIZE * 16:
            raise InvalidArgument(f'invalid --userns "{text}": size must be 1 to 1048576')
    return Mode("auto", size)


def effective_mode(requested: str, daemon_default: str) -> Mode:
    """The mode a container gets: its own ``--userns``, else the daemon's
    ``--userns-remap`` (``default`` → auto, ``""`` → host)."""
    if requested:
        return parse_mode(requested)
    return Mode("auto") if daemon_default else Mode("host")


# ------------------------------------------------------------------ /etc/subuid


class SubIds:
    """The subordinate id lines of ``user`` in the subuid and subgid files."""

    def __init__(
        self, uid_file: str | None = None, gid_file: str | None = None, user: str = SUBID_USER
    ) -> None:
        self.uid_file = uid_file or os.environ.get("DOCKYARD_SUBUID") or "/etc/subuid"
        self.gid_file = gid_file or os.environ.get("DOCKYARD_SUBGID") or "/etc/subgid"
        self.user = user

    def ranges(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(uid ranges, gid ranges)`` of the user, each ``(start, count)``; appended to
        the files first when the user has none there."""
        return self._ensure(self.uid_file), self._ensure(self.gid_file)

    def _ensure(self, path: str) -> list[tuple[int, int]]:
        mine = [(s, n) for name, s, n in _read(path) if name == self.user]
        if mine:
            return mine
        with _FileLock(path + ".lock"):
            lines = _read(path)  # again, under the lock: another process may have added it
            mine = [(s, n) for name, s, n in lines if name == self.user]
            if mine:
                return mine
            start = _gap([(s, n) for _, s, n in lines], path)
            _append(path, f"{self.user}:{start}:{DEFAULT_COUNT}\n")
            return [(start, DEFAULT_COUNT)]


def _align(n: int) -> int:
    return -(-n // DEFAULT_SIZE) * DEFAULT_SIZE


def _gap(taken: list[tuple[int, int]], path: str) -> int:
    """The lowest aligned start, from 100000 on, of :data:`DEFAULT_COUNT` ids that no
    line of the file gives anyone (podman's ``containers:2147483647:2147483648`` leaves
    the room below it)."""
    start = _align(_FIRST)
    for s, n in sorted(taken):
        if start + DEFAULT_COUNT <= s:
            break
        start = max(start, _align(s + n))
    if start + DEFAULT_COUNT > FULL:
        raise FailedPrecondition(f"{path}: no room for {DEFAULT_COUNT} ids")
    return start


def _read(path: str) -> list[tuple[str, int, int]]:
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise FailedPrecondition(f"read {path}: {e.strerror or e}") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise FailedPrecondition(f"{path}: line {n}: expected NAME:START:COUNT")
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


def _append(path: str, line: str) -> None:
    """Append ``line`` by writing a new file and renaming it over the old one (readers
    see the old or the new file, never half a line)."""
    try:
        with open(path) as f:
            old = f.read()
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        old, mode = "", 0o644
    if old and not old.endswith("\n"):
        old += "\n"
    tmp = f"{path}.dockyard-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(old + line)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


class _FileLock:
    """shadow-utils' lock for ``/etc/subuid``: ``<file>.lock`` made with O_EXCL (what
    ``usermod`` makes too, so neither writes the file while the other does). A lock
    whose holder is dead is broken; a live one is waited for (5 s at most)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        import time

        deadline = time.monotonic() + 5.0
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                if self._holder_dead():
                    os.unlink(self.path)
                    continue
                if time.monotonic() > deadline:
                    raise Unavailable(f"lock {self.path}: held by another process") from None
                time.sleep(0.01)  # a lock file gives no event to wait for
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            return

    def _holder_dead(self) -> bool:
        try:
            with open(self.path) as f:
                pid = int(f.read().strip() or "0")
        except (OSError, ValueError):
            return False
        if pid <= 0:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def __exit__(self, *exc: object) -> None:
        os.unlink(self.path)


# ------------------------------------------------------------------ the allocator


def _first_fit(entries: list[tuple[int, int]], used: list[tuple[int, int]], size: int) -> int:
    """The lowest id ``b`` in one of ``entries`` with ``[b, b+size)`` free of ``used``."""
    for start, count in entries:
        base = start
        for u_base, u_size in sorted(used):
            if u_base + u_size <= base:
                continue
            if u_base >= base + size:
                break
            base = u_base + u_size
        if base + size <= start + count:
            return base
    raise Unavailable(
        f"--userns auto: no free range of {size} ids left for user {SUBID_USER} "
        f"(remove containers or give it more in /etc/subuid and /etc/subgid)"
    )


def allocate(db: StateDB, owner: str, size: int, sub: SubIds | None = None) -> IdRange:
    """A range of ``size`` ids no other owner holds, recorded for ``owner`` (the one it
    already holds, if any)."""
    uid_entries, gid_entries = (sub or SubIds()).ranges()
    with db.transaction(write=True) as conn:
        row = conn.execute(
            "SELECT uid_base, gid_base, size FROM userns_ranges WHERE owner = ?", (owner,)
        ).fetchone()
        if row is not None:
            return IdRange(int(row[0]), int(row[1]), int(row[2]))
        # ranges of containers whose record is gone (a daemon killed between the two)
        conn.execute("DELETE FROM userns_ranges WHERE owner NOT IN (SELECT id FROM containers)")
        rows = conn.execute("SELECT uid_base, gid_base, size FROM userns_ranges").fetchall()
        uid = _first_fit(uid_entries, [(int(r[0]), int(r[2])) for r in rows], size)
        gid = _first_fit(gid_entries, [(int(r[1]), int(r[2])) for r in rows], size)
        conn.execute(
            "INSERT INTO userns_ranges (owner, uid_base, gid_base, size) VALUES (?, ?, ?, ?)",
            (owner, uid, gid, size),
        )
    return IdRange(uid, gid, size)


def held(db: StateDB, owner: str | None = None) -> dict[str, IdRange]:
    """The ranges held, by owner (only ``owner``'s when given)."""
    with db.transaction() as conn:
        if owner is None:
            rows = conn.execute("SELECT owner, uid_base, gid_base, size FROM userns_ranges")
        else:
            rows = conn.execute(
                "SELECT owner, uid_base, gid_base, size FROM userns_ranges WHERE owner = ?",
                (owner,),
            )
        return {str(r[0]): IdRange(int(r[1]), int(r[2]), int(r[3])) for r in rows}


def release(db: StateDB, owner: str) -> None:
    """``owner`` holds no range any more (nothing happens if it held none)."""
    with db.transaction(write=True) as conn:
        conn.execute("DELETE FROM userns_ranges WHERE owner = ?", (owner,))


def sweep(db: StateDB, live: set[str]) -> list[str]:
    """Release the ranges whose owner is not in ``live`` (container records); their
    owners. A daemon killed between taking a range and writing the record leaves one."""
    with db.transaction(write=True) as conn:
        owners = [str(r[0]) for r in conn.execute("SELECT owner FROM userns_ranges")]
        gone = [o for o in owners if o not in live]
        for o in gone:
            conn.execute("DELETE FROM userns_ranges WHERE owner = ?", (o,))
    return gone


# ------------------------------------------------------------------ the container's files


def idmap_wanted(snapshots_root: str) -> bool:
    """Whether layers are idmapped (else shifted copies are used): the filesystem of the
    snapshots can be idmapped, and ``DOCKYARD_USERNS_IDMAP=0`` does not ask for copies."""
    if os.environ.get("DOCKYARD_USERNS_IDMAP", "1") == "0":
        return False
    from dockyard.linux.idmap import supported

    return supported(snapshots_root)


def mount_rootfs(
    images: ImageStore, image: Image, r: IdRange, upper: str, work: str, target: str,
    scratch: str,
) -> str:  # fmt: skip
    """Mount the container's root on ``target`` with the image's files owned by the range:
    overlayfs over idmapped layers (``idmap``) or over shifted copies (``copy``); which one
    is returned. ``scratch``: an empty directory for the idmapped layers' mount points
    while the overlay is mounted (never inside a tree someone removes recursively: an
    idmapped layer mounted there would be emptied)."""
    from dockyard.linux import LibcSyscalls
    from dockyard.store.snapshots import chain_ids

    sc = LibcSyscalls()
    lowers = images.lower_dirs(image)  # (unpacks what is missing)
    _shift_upper(upper, r)
    if not idmap_wanted(images.snapshots._root):
        chain = chain_ids(image.config.rootfs.diff_ids)
        lowers = images.snapshots.shifted_lower_dirs(chain, r.uid_base, r.gid_base, r.size)
        sc.mount("overlay", target, "overlay", 0, _overlay_data(lowers, upper, work))
        return "copy"
    from dockyard.linux import idmap

    ns = _ns_fd(r)
    points: list[str] = []
    try:
        os.makedirs(scratch, 0o700, exist_ok=True)
        for i, lower in enumerate(lowers):
            point = os.path.join(scratch, str(i))
            os.mkdir(point, 0o700)
            points.append(point)
            fd = idmap.idmapped_tree(lower, ns)
            try:
                idmap.attach(fd, point)
            except BaseException:
                os.rmdir(point)
                points.pop()
                raise
            finally:
                os.close(fd)
        sc.mount("overlay", target, "overlay", 0, _overlay_data(points, upper, work))
    finally:
        for point in points:  # overlayfs holds its own private copies of the layers
            sc.umount2(point, 2)  # MNT_DETACH
            os.rmdir(point)
        try:
            os.rmdir(scratch)
        except OSError:
            pass
    return "idmap"


_NS_FDS: dict[IdRange, int] = {}
_NS_KEEP = 64


def _ns_fd(r: IdRange) -> int:
    """A user namespace holding ``r``'s maps, for idmapped mounts: made once per range and
    kept (a fork of the daemon costs ~9 ms at 80 MB; ``run --rm`` takes the same lowest
    range again and again); at most :data:`_NS_KEEP` are kept, the oldest closed first.
    The caller does not close it."""
    fd = _NS_FDS.get(r)
    if fd is None:
        from dockyard.linux import idmap

        if len(_NS_FDS) >= _NS_KEEP:
            os.close(_NS_FDS.pop(next(iter(_NS_FDS))))
        fd = _NS_FDS[r] = idmap.userns_fd(*id_maps(r))
    return fd


def _overlay_data(lowers: list[str], upper: str, work: str) -> str:
    return f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work}"


def id_maps(r: IdRange) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    return [(0, r.uid_base, r.size)], [(0, r.gid_base, r.size)]


def shift_ids(path: str, r: IdRange) -> None:
    """Owners below the range's size moved into it, for ``path`` and what it holds
    (a container's new upper dir, a new volume: a handful of entries)."""
    st = os.lstat(path)
    if st.st_uid < r.size and st.st_gid < r.size:
        os.lchown(path, r.uid_base + st.st_uid, r.gid_base + st.st_gid)
        if not os.path.islink(path):
            os.chmod(path, st.st_mode & 0o7777)  # chown cleared set-id bits
    if os.path.isdir(path) and not os.path.islink(path):
        for entry in os.scandir(path):
            shift_ids(entry.path, r)


def _shift_upper(upper: str, r: IdRange) -> None:
    """The upper dir is the root directory the container sees: its root owns it."""
    shift_ids(upper, r)


def daemon_default() -> str:
    """The daemon's ``--userns-remap`` (``default`` or ``""``), which ``dockyardd`` keeps
    in its environment as ``DOCKYARD_USERNS_REMAP``."""
    return os.environ.get("DOCKYARD_USERNS_REMAP", "")


def wants_userns(requested: str) -> bool:
    """Whether a container asking ``requested`` gets a user namespace (cheap: for the
    spare pool's key, which prepares no such container ahead)."""
    return requested not in ("", "host") or (not requested and bool(daemon_default()))


def parse_remap(value: str) -> str:
    """``--userns-remap``: ``default`` (ranges of the user ``dockyard``) or ``""``."""
    if value in ("", "default", SUBID_USER):
        return "default" if value else ""
    raise InvalidArgument(
        f'invalid --userns-remap "{value}": only "default" (the user {SUBID_USER}) is supported'
    )


def make_reachable(bundle: str, r: IdRange) -> None:
    """Let the container's root reach its bundle (the runtime bind-mounts ``rootfs`` and
    the ``/etc`` files after it has taken the namespace's ids, as runc does): the bundle
    becomes ``root:<range gid> 0710`` (no other host user walks in) and every directory
    above it that others cannot search gets ``o+x`` (search, never list), what dockerd
    does to its root under ``--userns-remap``."""
    import stat

    os.chown(bundle, 0, r.gid_base)
    os.chmod(bundle, 0o710)
    d = os.path.dirname(os.path.abspath(bundle))
    while d != "/":
        st = os.stat(d)
        if not st.st_mode & 0o001:
            os.chmod(d, stat.S_IMODE(st.st_mode) | 0o001)
        d = os.path.dirname(d)


def add_line(path: str, line: str) -> None:
    """Append ``line`` (``NAME:START:COUNT``) to a subordinate-id file under its lock."""
    with _FileLock(path + ".lock"):
        _append(path, line if line.endswith("\n") else line + "\n")


def remove_line(path: str, line: str) -> None:
    """Remove exactly ``line`` from a subordinate-id file under its lock (other lines,
    written meanwhile by others, stay)."""
    want = line.strip()
    with _FileLock(path + ".lock"):
        with open(path) as f:
            lines = f.read().splitlines(keepends=True)
        keep = [x for x in lines if x.strip() != want]
        if len(keep) != len(lines):
            mode = os.stat(path).st_mode & 0o7777
            tmp = f"{path}.dockyard-{os.getpid()}"
            with open(tmp, "w") as f:
                f.write("".join(keep))
            os.chmod(tmp, mode)
            os.replace(tmp, path)


def host_sys(state_root: str) -> str:
    """A bind of the host's ``/sys`` without its submounts, at ``<root>/userns/sys`` (made
    once per boot, shared by every container that needs it): what a container in a user
    namespace gets as ``/sys`` where its network namespace is the daemon's (the kernel
    refuses it a sysfs of its own). Binding ``/sys`` itself from inside the container's
    namespaces would have to be recursive (its submounts are locked there) and would
    bring the host's cgroup hierarchies, debugfs, tracefs and securityfs along. The
    runtime binds it after taking the namespace's ids: ``userns/`` is 0711 (search
    only), beside the bundles that :func:`make_reachable` opens the same way."""
    top = os.path.join(state_root, "userns")
    path = os.path.join(top, "sys")
    os.makedirs(path, 0o755, exist_ok=True)
    os.chmod(top, 0o711)
    if os.stat(path).st_dev != os.stat("/sys").st_dev:  # not bound yet
        from dockyard.linux import LibcSyscalls

        LibcSyscalls().mount("/sys", path, "", 0x1000, None)  # MS_BIND, not MS_REC
    return path


# ------------------------------------------------------------------ -v SRC:DST:idmap


def check_idmappable(source: str) -> None:
    """Unavailable, naming the filesystem and the kernel, where ``source`` cannot be
    idmapped (``-v SRC:DST:idmap``)."""
    from dockyard.errors import DockyardError
    from dockyard.linux import idmap

    if not os.path.exists(source):
        return  # made as a directory of the parent's filesystem: checked when mounted
    try:
        ns = idmap.userns_fd([(0, _FIRST, 1)], [(0, _FIRST, 1)])
    except DockyardError as e:
        raise Unavailable(f"-v {source}:...:idmap: {e}") from None
    try:
        os.close(idmap.idmapped_tree(source, ns, recursive=True))
    except DockyardError as e:
        raise Unavailable(f"-v {source}:...:idmap: {e}") from None
    finally:
        os.close(ns)


def mount_idmapped(pairs: list[list[str]], r: IdRange) -> None:
    """Each ``[source, point]``: ``source`` (and what is mounted beneath it) idmapped by
    the range on ``point`` unless mounted there already. ``point`` lies under
    ``<root>/userns/mnt`` (0711): the runtime binds it into the container after taking
    the namespace's ids."""
    from dockyard.linux import idmap

    todo = [(s, p) for s, p in pairs if not _is_mount(p)]
    if not todo:
        return
    ns = _ns_fd(r)
    for source, point in todo:
        os.makedirs(os.path.dirname(point), 0o711, exist_ok=True)
        os.chmod(os.path.dirname(point), 0o711)
        os.makedirs(point, 0o700, exist_ok=True)
        fd = idmap.idmapped_tree(source, ns, recursive=True)
        try:
            idmap.attach(fd, point)
        finally:
            os.close(fd)


def unmount_idmapped(pairs: list[list[str]], remove: bool = False) -> None:
    """Detach the idmapped mounts of ``pairs`` (never a recursive removal: the source's
    files are behind them); ``remove``: their mount points too."""
    from dockyard.errors import DockyardError
    from dockyard.linux import LibcSyscalls

    for _source, point in pairs:
        while _is_mount(point):
            try:
                LibcSyscalls().umount2(point, 2)  # MNT_DETACH
            except DockyardError:
                break
        if remove:
            try:
                os.rmdir(point)
            except OSError:
                pass


def _is_mount(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False
