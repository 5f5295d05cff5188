"""Volumes: named and anonymous volumes, bind mounts and tmpfs, as OCI mounts.

A named volume is a directory, ``<root>/volumes/<name>/_data``, with its record
beside it in ``<root>/volumes/<name>/volume.json`` (name, created, labels,
options, anonymous). The directory is the record: there is nothing to keep in
step with it (docker keeps a separate metadata database for drivers we do not
have). A volume outlives its containers; ``rm -v`` and ``--rm`` remove the
anonymous ones; ``volume prune`` removes those no container uses.

Mount specifications (docker's syntax)::

    -v NAME:/dst[:ro]        named volume (made on first use)
    -v /host/path:/dst[:ro]  bind mount (the host directory is made if absent)
    -v /dst                  anonymous volume
    --mount type=volume,source=NAME,target=/dst[,readonly][,volume-nocopy]
    --mount type=bind,source=/host,target=/dst[,readonly]
    --mount type=tmpfs,target=/dst[,tmpfs-size=64m][,tmpfs-mode=1777]

A volume that is new (empty) when a container first mounts it receives what the
image has at that path (copy-up), unless ``nocopy``; so does each path the image
declares with VOLUME, which gets an anonymous volume unless the user mounts
something there.

Errors: a malformed spec → InvalidArgument naming the flag; an unknown volume
for ``inspect``/``rm`` → NotFound; removing one in use → Conflict.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.records import field, record

__all__ = ["MountSpec", "Volume", "VolumeStore", "parse_mount", "parse_volume"]

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


@record
class MountSpec:
    """One mount a container asks for."""

    type: str  # volume | bind | tmpfs
    target: str
    source: str = ""  # volume name ("" = anonymous) or host path
    readonly: bool = False
    nocopy: bool = False
    options: tuple[str, ...] = ()  # tmpfs mount options
    idmap: bool = False  # -v SRC:DST:idmap (podman's): shown through the container's ids


@record
class Volume:
    name: str
    path: Path
    created: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False


def _check_target(target: str, flag: str, spec: str) -> str:
    if not target.startswith("/"):
        raise InvalidArgument(f'invalid {flag} "{spec}": the destination must be an absolute path')
    if any(part == ".." for part in target.split("/")):
        raise InvalidArgument(f'invalid {flag} "{spec}": the destination must not contain ".."')
    return os.path.normpath(target)


def parse_volume(spec: str) -> MountSpec:
    """``-v`` / ``--volume``: ``[SRC:]DST[:OPTS]``."""
    parts = spec.split(":")
    if not spec or len(parts) > 3 or any(p == "" for p in parts[:2]):
        raise InvalidArgument(f'invalid -v "{spec}": expected [SOURCE:]DESTINATION[:ro|rw]')
    if len(parts) == 1:
        return MountSpec("volume", _check_target(parts[0], "-v", spec))
    if len(parts) == 2 and not parts[1].startswith("/") and parts[0].startswith("/"):
        opts = [parts[1]]  # /dst:ro
        return MountSpec("volume", _check_target(parts[0], "-v", spec),
                         readonly=_mode(opts, spec))  # fmt: skip
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    target = _check_target(dst, "-v", spec)
    ro = _mode(opts, spec)
    nocopy = "nocopy" in opts
    if src.startswith("/"):
        return MountSpec("bind", target, os.path.normpath(src), ro, idmap="idmap" in opts)
    if src.startswith("."):
        raise InvalidArgument(f'invalid -v "{spec}": a host path must be absolute')
    check_name(src, "-v")
    return MountSpec("volume", target, src, ro, nocopy)


def _mode(opts: list[str], spec: str) -> bool:
    known = {"ro", "rw", "z", "Z", "nocopy", "rprivate", "private", "rslave", "slave",
             "rshared", "shared", "consistent", "cached", "delegated", "idmap"}  # fmt: skip
    for o in opts:
        if o not in known:
            raise InvalidArgument(f'invalid -v "{spec}": unknown option "{o}"')
    return "ro" in opts


def check_name(name: str, what: str = "volume") -> None:
    if not _NAME.match(name):
        raise InvalidArgument(
            f'invalid {what} name "{name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
        )


def parse_mount(spec: str) -> MountSpec:
    """``--mount type=...,source=...,target=...``."""
    kv: dict[str, str] = {}
    flags: set[str] = set()
    for item in spec.split(","):
        if not item:
            continue
        k, sep, v = item.partition("=")
        k = k.strip().lower()
        if sep:
            kv[k] = v
        else:
            flags.add(k)
    typ = kv.get("type", "volume")
    target = kv.get("target") or kv.get("destination") or kv.get("dst") or ""
    if not target:
        raise InvalidArgument(f'invalid --mount "{spec}": target is required')
    target = _check_target(target, "--mount", spec)
    source = kv.get("source") or kv.get("src") or ""
    ro = "readonly" in flags or "ro" in flags or kv.get("readonly", "false") in ("true", "1")
    ro = ro or kv.get("ro", "false") in ("true", "1")
    if typ == "bind":
        if not source.startswith("/"):
            raise InvalidArgument(f'invalid --mount "{spec}": a bind source must be absolute')
        if not os.path.exists(source):
            raise InvalidArgument(
                f'invalid --mount "{spec}": bind source path does not exist: {source}'
            )
        return MountSpec("bind", target, os.path.normpath(source), ro)
    if typ == "volume":
        if source:
            check_name(source, "--mount")
        nocopy = "volume-nocopy" in flags or kv.get("volume-nocopy") in ("true", "1")
        return MountSpec("volume", target, source, ro, nocopy)
    if typ == "tmpfs":
        options = ["nosuid", "nodev"]
        if "tmpfs-size" in kv:
            from dockyard.engine.options import parse_size

            options.append(f"size={parse_size(kv['tmpfs-size'], '--mount tmpfs-size')}")
        if "tmpfs-mode" in kv:
            try:
                options.append(f"mode={int(kv['tmpfs-mode'], 8):o}")
            except ValueError:
                raise InvalidArgument(f'invalid --mount "{spec}": bad tmpfs-mode') from None
        return MountSpec("tmpfs", target, "", ro, options=tuple(options))
    raise InvalidArgument(f'invalid --mount "{spec}": unknown type "{typ}"')


class VolumeStore:
    """Named volumes under ``<root>/volumes``."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "volumes"

    def _meta(self, name: str) -> Path:
        return self.dir / name / "volume.json"

    def create(
        self,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        *,
        exist_ok: bool = True,
    ) -> Volume:
        from dockyard.engine.logfile import format_time

        anonymous = not name
        name = name or secrets.token_hex(32)
        check_name(name)
        meta = self._meta(name)
        if meta.exists():
            if not exist_ok:
                raise AlreadyExists(f"create volume {name}: already exists")
            return self.get(name)
        data = self.dir / name / "_data"
        data.mkdir(parents=True, exist_ok=True)
        import time

        vol = {"name": name, "created": format_time(time.time_ns()), "labels": labels or {},
               "options": options or {}, "anonymous": anonymous}  # fmt: skip
        tmp = meta.with_suffix(".tmp")
        tmp.write_text(json.dumps(vol))
        tmp.replace(meta)
        return self.get(name)

    def get(self, name: str) -> Volume:
        try:
            raw = json.loads(self._meta(name).read_text())
        except (OSError, ValueError):
            raise NotFound(f"get volume {name}: no such volume") from None
        return Volume(name=raw["name"], path=self.dir / name / "_data", created=raw["created"],
                      labels=raw.get("labels") or {}, options=raw.get("options") or {},
                      anonymous=bool(raw.get("anonymous")))  # fmt: skip

    def list(self) -> builtins.list[Volume]:
        out = []
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        for n in names:
            try:
                out.append(self.get(n))
            except NotFound:
                continue
        return out

    def remove(
        self, name: str, in_use_by: builtins.list[str] | None = None, force: bool = False
    ) -> None:
        self.get(name)
        if in_use_by and not force:
            raise Conflict(f"remove volume {name}: volume is in use - [{', '.join(in_use_by)}]")
        shutil.rmtree(self.dir / name)

    def size(self, name: str) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.dir / name / "_data"):
            for f in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, f)).st_size
        return total


def copy_up(src: Path, dst: Path) -> None:
    """Copy what the image has at a volume's path into the new, empty volume."""
    if not src.is_dir() or src.is_symlink() or any(dst.iterdir()):
        return
    for entry in os.scandir(src):
        s = Path(entry.path)
        d = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(s, d, symlinks=True, copy_function=_copy_keep_owner)
        else:
            _copy_keep_owner(str(s), str(d))
    st = src.stat()
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, st.st_mode & 0o7777)


def _copy_keep_owner(s: str, d: str) -> Any:
    if os.path.islink(s):
        os.symlink(os.readlink(s), d)
    else:
        shutil.copy2(s, d)
    st = os.lstat(s)
    os.lchown(d, st.st_uid, st.st_gid)
    return d


def write_object_volume(
    target: Path, files: dict[str, tuple[bytes, int]], *, memory: bool, where: str
) -> None:
    """The files of a ConfigMap or Secret volume (``files``: relative path → (content,
    mode)) in directory ``target``, as the kubelet writes them: a Secret's (``memory``) on
    a tmpfs mounted there (nosuid, nodev, noexec), so its values never reach a disk;
    each file with its ``mode`` (the item's, else the volume's ``defaultMode``); the
    directory 0755 so that a container's non-root user lists it. Paths are resolved inside
    ``target`` (an item's ``../x`` or ``/x`` is refused: InvalidArgument naming it).
    Written again on each call; :func:`release_object_volume` unmounts."""
    from dockyard.linux.resolve import mkdir_in_root

    for rel in files:
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if rel.startswith("/") or ".." in parts or not parts:
            raise InvalidArgument(f"{where}: invalid path {rel!r}: must be relative, no '..'")
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    if memory and not os.path.ismount(target):
        from dockyard.linux import constants as c
        from dockyard.linux.syscalls import LibcSyscalls

        size = sum(len(content) for content, _ in files.values()) + (1 << 20)
        flags = c.MS_NOSUID | c.MS_NODEV | c.MS_NOEXEC
        LibcSyscalls().mount("tmpfs", str(target), "tmpfs", flags, f"mode=0700,size={size}")
    root_fd = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for rel, (content, mode) in files.items():
            head, _, name = rel.strip("/").rpartition("/")
            dir_fd = mkdir_in_root(root_fd, head)
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
                with os.fdopen(os.open(name, flags, 0o600, dir_fd=dir_fd), "wb") as f:
                    os.fchmod(f.fileno(), mode & 0o7777)
                    f.write(content)
            finally:
                os.close(dir_fd)
    finally:
        os.close(root_fd)
    os.chmod(target, 0o755)


def release_object_volume(target: Path) -> None:
    """Unmount a Secret volume's tmpfs (lazily: a container may still hold it)."""
    if os.path.ismount(target):
        from dockyard.linux import constants as c
        from dockyard.linux.syscalls import LibcSyscalls

        LibcSyscalls().umount2(str(target), c.MNT_DETACH)
