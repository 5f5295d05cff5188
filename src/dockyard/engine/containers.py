"""Containers as users see them: made from an image, run, listed, removed.

Lifecycle of one container (no daemon yet: the CLI runs it in the foreground)::

    create   resolve the image, unpack its layers once (shared snapshots),
             prepare a writable upper dir, mount the overlay root at
             containers/<id>/rootfs, resolve USER against the image's files,
             write the bundle (config.json, hostname, hosts, resolv.conf),
             record the container in state.db as "created"
    run      hand the bundle to the OCI runtime (same code as dockyard-runtime),
             record "running", wait, record the exit code and OOMKilled,
             unmount the root; with --rm remove everything
    remove   refuse a running container unless forced; unmount, delete the
             bundle, the upper dir and the database row

A failure while creating undoes every step taken (mount, directories, row), so
bad input leaves nothing half-made; a cleanup failure is attached as a note to
the original error.
"""

from __future__ import annotations

import os
import time

from dockyard.engine.names import new_id, random_name
from dockyard.errors import AlreadyExists, FailedPrecondition, NotFound
from dockyard.linux.fspath import FsPath, rmtree
from dockyard.records import record

# ``dockyard run`` comes through here on every start: no pathlib, typing, shutil, datetime
# or contextlib (each costs milliseconds to import); paths are plain strings (FsPath).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from dockyard.engine.options import RunOptions
    from dockyard.engine.spec import SpecInputs
    from dockyard.runtime import Runtime
    from dockyard.store.db import ContainerRecord, StateDB
    from dockyard.store.images import Image, ImageStore

__all__ = ["ContainerEngine", "Created"]


def _now() -> str:
    """UTC now as ``2024-01-02T03:04:05.123456Z`` (what ``datetime`` would format)."""
    ns = time.time_ns()
    secs, micros = divmod(ns // 1000, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{micros:06d}Z"


@record(frozen=False)
class Created:
    """A container made by :meth:`ContainerEngine.create`, ready to run."""

    id: str
    name: str
    bundle_dir: str
    rootfs_dir: str
    remove: bool

    @property
    def bundle(self) -> Path:
        from pathlib import Path

        return Path(self.bundle_dir)

    @property
    def rootfs(self) -> Path:
        from pathlib import Path

        return Path(self.rootfs_dir)


class ContainerEngine:
    """Create, run, list and remove containers under one state root."""

    # ``mount_hook(opts, image, cid, upper, work, rootfs)``: mounts a container's root in
    # place of the plain overlay and says how, or None to leave it to the overlay (the
    # daemon's: --userns auto shows the image with its owners shifted, engine/create.py)
    mount_hook: Callable[[RunOptions, Image, str, str, str, str], str | None] | None = None

    def __init__(self, root: str | os.PathLike[str], run_root: str | os.PathLike[str]) -> None:
        self.root = FsPath(root)
        self.run_root = FsPath(run_root)
        self._images: ImageStore | None = None

    @property
    def images(self) -> ImageStore:
        if self._images is None:
            from dockyard.store.images import ImageStore

            self._images = ImageStore(self.root)
        return self._images

    @property
    def db(self) -> StateDB:
        return self.images.db

    def _runtime(self) -> Runtime:
        from dockyard.runtime import Runtime

        return Runtime(os.path.join(self.run_root, "runtime"))

    # -- create -----------------------------------------------------------------

    def create(
        self, opts: RunOptions, *, etc_files: bool = True, status: str = "created"
    ) -> Created:
        """Make the container's root, bundle and record. ``etc_files=False``: ``hosts`` and
        ``resolv.conf`` are left to the caller (the daemon renders them at each start).
        ``status="spare"``: a container prepared ahead (engine/spares.py), named
        ``.spare-…`` and invisible to lookups by name and to listings."""
        image = self.images.resolve(opts.image)
        cid = new_id()
        name = f".spare-{cid[:12]}" if status == "spare" else self.pick_name(opts)
        undo: list[Any] = []
        try:
            return self._create(opts, image, cid, name, undo, etc_files, status)
        except BaseException as exc:
            for step in reversed(undo):
                try:
                    step()
                except Exception as cleanup_exc:
                    exc.add_note(f"cleanup failed: {cleanup_exc}")
            raise

    def pick_name(self, opts: RunOptions) -> str:
        """``--name`` (checked, free) or a random free name."""
        name = opts.name or random_name()
        if opts.name is not None:
            _check_name(opts.name)
        else:  # 49 x 36 names: with dozens of containers a collision is likely; try others
            for _ in range(32):
                if not self.db.container_name_taken(name):
                    break
                name = random_name()
        if self.db.container_name_taken(name):
            raise AlreadyExists(f'create {name}: the container name "/{name}" is already in use')
        return name

    def _create(
        self, opts: RunOptions, image: Image, cid: str, name: str, undo: list[Any],
        etc_files: bool = True, status: str = "created",
    ) -> Created:  # fmt: skip
        lowers = self.images.lower_dirs(image)
        upper, work = self.images.snapshots.prepare_dirs(cid)
        undo.append(lambda: self.images.snapshots.remove(cid))
        bundle = self.root / "containers" / cid
        rootfs = bundle / "rootfs"
        os.makedirs(rootfs)
        undo.append(lambda: rmtree(bundle, ignore_errors=True))
        hook = self.mount_hook
        if hook is None or hook(opts, image, cid, upper, work, str(rootfs)) is None:
            _mount_overlay(lowers, upper, work, rootfs)
        undo.append(lambda: _umount(rootfs, known_mounted=True))
        hostname = opts.hostname or cid[:12]
        _write_etc_files(bundle, hostname, network_files=etc_files)
        spec = self.spec_for(opts, image, cid, bundle)
        from dockyard.oci.fastjson import dumps

        _write(bundle / "config.json", dumps(spec), 0o600)  # env: Secrets (store/perms.py)
        self.db.add_container(_new_record(cid, name, opts, image, spec, bundle, status))
        undo.append(lambda: self.db.remove_container(cid))
        return Created(cid, name, bundle, rootfs, opts.remove)

    def spec_for(self, opts: RunOptions, image: Image, cid: str, bundle: str) -> dict[str, Any]:
        """The OCI spec of container ``cid`` (its root mounted at ``bundle``/rootfs)."""
        from dockyard.engine.spec import build_spec

        return build_spec(opts, self.spec_inputs(opts, image, cid, bundle))

    def spec_inputs(self, opts: RunOptions, image: Image, cid: str, bundle: str) -> SpecInputs:
        """What the spec is built from besides ``opts``: the image's USER resolved against
        the root's files, the working directory made."""
        from dockyard.engine.spec import SpecInputs
        from dockyard.runtime.users import host_path_in_root, read_in_root, resolve_user

        rootfs = os.path.join(bundle, "rootfs")
        cfg = image.config.config.to_dict()
        user = resolve_user(
            opts.user if opts.user is not None else (cfg.get("User") or None),
            read_in_root(rootfs, "/etc/passwd"),
            read_in_root(rootfs, "/etc/group"),
            opts.group_add,
        )
        cwd = opts.workdir or cfg.get("WorkingDir") or "/"
        if not cwd.startswith("/"):
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(f"invalid -w {cwd!r}: the working directory must be absolute")
        os.makedirs(host_path_in_root(rootfs, cwd), exist_ok=True)
        from dockyard.engine.placement import cgroup_path

        return SpecInputs(
            container_id=cid,
            rootfs=rootfs,
            image_config=cfg,
            user=user,
            hostname=os.uname().nodename if opts.uts_mode == "host" else opts.hostname or cid[:12],
            files_dir=bundle,
            cgroups_path=cgroup_path(cid),
        )

    # -- run --------------------------------------------------------------------

    def run(self, created: Created) -> int:
        """Run a created container in the foreground; return its exit code."""
        runtime = self._runtime()
        self.db.set_container_status(
            created.id, status="running", started_at=_now(), pid=os.getpid()
        )
        code, oom = 125, False
        try:
            status = runtime.run(created.id, created.bundle_dir)
            code, oom = int(status.code), bool(status.oom_killed)
        finally:
            finished = _now()
            _umount(created.rootfs_dir, known_mounted=True)
            if created.remove:
                self._remove_exited(created.id)
            else:
                self.db.set_container_status(
                    created.id, status="exited", exit_code=code, oom_killed=oom,
                    finished_at=finished, pid=0,
                )  # fmt: skip
        return code

    def _remove_exited(self, cid: str) -> None:
        """``--rm``: the container this process ran has exited (its root is unmounted)."""
        rmtree(self.root / "containers" / cid, ignore_errors=True)
        try:  # (not contextlib.suppress: contextlib is slow to import)
            self.images.snapshots.remove(cid)
        except NotFound:
            pass
        self.db.remove_container(cid)

    # -- query / remove -----------------------------------------------------------

    def _name_taken(self, name: str) -> bool:
        return self.db.container_name_taken(name)

    def _update(self, cid: str, **changes: Any) -> ContainerRecord:
        from dockyard.records import replace

        rec = replace(self.db.get_container(cid), **changes)
        self.db.update_container(rec)
        return rec

    def get(self, ref: str) -> ContainerRecord:
        rec = self.db.get_container(ref)
        return self._refresh(rec)

    def list(self, all_: bool = False) -> list[ContainerRecord]:
        recs = [self._refresh(r) for r in self.db.list_containers()]
        return [r for r in recs if all_ or r.status in ("running", "paused", "restarting")]

    def _refresh(self, rec: ContainerRecord) -> ContainerRecord:
        """A container whose foreground CLI died without recording the end is exited."""
        if rec.status == "running" and rec.pid and not _alive(rec.pid):
            return self._update(rec.id, status="exited", pid=0, finished_at=_now())
        return rec

    def remove(self, ref: str, force: bool = False) -> str:
        rec = self.get(ref)
        if rec.status == "running" and not force:
            raise FailedPrecondition(
                f"remove {rec.name}: you cannot remove a running container {rec.id[:12]}. "
                "Stop the container before attempting removal or force remove"
            )
        if rec.status == "running":
            try:  # (not contextlib.suppress: contextlib is slow to import)
                self._runtime().delete(rec.id, force=True)
            except NotFound:
                pass
        bundle = self.root / "containers" / rec.id
        _umount(bundle / "rootfs")
        rmtree(bundle, ignore_errors=True)
        self.images.snapshots.remove(rec.id)
        self.db.remove_container(rec.id)
        return rec.id


def _check_name(name: str) -> None:
    import re

    from dockyard.errors import InvalidArgument

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise InvalidArgument(
            f'invalid container name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _new_record(
    cid: str,
    name: str,
    opts: RunOptions,
    image: Image,
    spec: dict[str, Any],
    bundle: str,
    status: str = "created",
) -> ContainerRecord:
    from dockyard.engine.record import ContainerConfig
    from dockyard.store.db import ContainerRecord

    return ContainerRecord(
        id=cid,
        name=name,
        image_ref=opts.image,
        image_id=str(image.id),
        created=_now(),
        status=status,
        config=ContainerConfig(options=opts, spec=spec, bundle=str(bundle)).to_json(),
        labels=dict(opts.labels),
    )


def _write(path: str, text: str, mode: int = 0o644) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    with open(fd, "w") as f:
        f.write(text)


def _write_etc_files(bundle: str, hostname: str, *, network_files: bool = True) -> None:
    _write(os.path.join(bundle, "hostname"), hostname + "\n")
    if not network_files:
        return
    _write(
        os.path.join(bundle, "hosts"),
        f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n",
    )
    lines = []
    try:
        with open("/etc/resolv.conf") as f:
            host_lines = f.read().splitlines()
        for line in host_lines:
            parts = line.split()
            if parts[:1] == ["nameserver"] and len(parts) > 1 and parts[1].startswith("127."):
                continue
            lines.append(line)
    except OSError:
        pass
    _write(os.path.join(bundle, "resolv.conf"), "\n".join(lines) + "\n")


def _mount_overlay(
    lowers: list[str] | list[Path],
    upper: str | os.PathLike[str],
    work: str | os.PathLike[str],
    target: str | os.PathLike[str],
) -> None:
    """Mount the container's root: the image's layers read-only under its upper dir."""
    from dockyard.linux import LibcSyscalls

    lowerdir = ":".join(os.fspath(p) for p in lowers)
    data = f"lowerdir={lowerdir},upperdir={os.fspath(upper)},workdir={os.fspath(work)}"
    LibcSyscalls().mount("overlay", os.fspath(target), "overlay", 0, data)


def _is_mountpoint(target: str | os.PathLike[str]) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            wanted = os.fspath(target)
            return any(line.split()[4] == wanted for line in f)
    except OSError:
        return False


def _umount(target: str | os.PathLike[str], *, known_mounted: bool = False) -> None:
    """Unmount the container's root if it is mounted (lazily, so a busy fs never blocks).

    ``known_mounted``: this process mounted it, so mountinfo is not read first; EINVAL
    (not a mount point after all) is ignored.
    """
    from dockyard.errors import InvalidArgument
    from dockyard.linux import LibcSyscalls

    if not known_mounted and not _is_mountpoint(target):
        return
    try:
        LibcSyscalls().umount2(os.fspath(target), 2)  # MNT_DETACH
    except InvalidArgument:
        if not known_mounted:
            raise
