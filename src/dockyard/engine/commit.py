"""A container's writable layer as users see it: ``diff`` (its changes) and ``commit``.

``changes`` walks the container's overlay upper directory (what the container wrote) and
classifies every entry as dockerd does: ``0`` modified (the path exists in the image),
``1`` added, ``2`` deleted (an overlayfs whiteout, a 0/0 character device). Whether a path
exists in the image is decided in the image's unpacked layers, one component at a time
with ``lstat``: a symlink on the way is never followed (a layer's ``/lib -> /usr/lib``
would otherwise lead out of the layer into the host's ``/usr/lib``).

``commit`` writes that upper directory as one more layer on the container's image (the
builder's :func:`~dockyard.build.rootfs.write_layer`: tar, gzip, fsync, into the content
store), with the container's command, entrypoint, environment, user, working directory
and labels in the new config, then ``changes`` applied: Dockerfile metadata instructions
(``CMD``, ``ENTRYPOINT``, ``ENV``, ``EXPOSE``, ``LABEL``, ``ONBUILD``, ``USER``,
``VOLUME``, ``WORKDIR``, ``STOPSIGNAL``, ``HEALTHCHECK``, ``SHELL``), parsed by the
builder's parser and applied by the builder's :func:`~dockyard.build.state.apply_metadata`,
so ``commit --change`` means what the same line means in a Dockerfile. Anything else
(``RUN``, ``COPY`` …) is InvalidArgument naming it. The history gains one entry (the
container's command as ``created_by``, the message as its comment).
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import config_of
from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from dockyard.build.state import ImageState
    from dockyard.engine.daemon import Daemon
    from dockyard.store.db import ContainerRecord
    from dockyard.store.images import Image

__all__ = [
    "KIND_ADDED",
    "KIND_DELETED",
    "KIND_MODIFIED",
    "apply_changes",
    "changes",
    "commit",
    "upper_changes",
    "without_stubs",
]

KIND_MODIFIED, KIND_ADDED, KIND_DELETED = 0, 1, 2


def _in_lower(lower: Path, parts: tuple[str, ...]) -> bool:
    """Does ``parts`` exist in the layer ``lower``, no symlink followed on the way?"""
    path = lower
    for i, part in enumerate(parts):
        path = path / part
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if i < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
            return False
    return True


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def upper_changes(upper: Path, lowers: list[Path]) -> list[dict[str, Any]]:
    """``[{"Path": "/etc", "Kind": 0}, …]`` sorted by path (see the module docstring)."""
    out: list[dict[str, Any]] = []
    for dirpath, dirs, files in os.walk(upper):
        for name in sorted(dirs + files):
            full = Path(dirpath) / name
            parts = full.relative_to(upper).parts
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if _is_whiteout(st):
                kind = KIND_DELETED
            elif any(_in_lower(lower, parts) for lower in lowers):
                kind = KIND_MODIFIED
            else:
                kind = KIND_ADDED
            out.append({"Path": "/" + "/".join(parts), "Kind": kind})
    out.sort(key=lambda c: str(c["Path"]))
    return out


def _layers_of(d: Daemon, rec: ContainerRecord) -> tuple[Image, Path, list[Path]]:
    store = d.engine.images
    image = store.resolve(rec.image_id)
    upper, _work = store.snapshots.active(rec.id)
    return image, upper, store.lowerdirs(image)


def without_stubs(found: list[dict[str, Any]], stubs: set[str]) -> list[dict[str, Any]]:
    """``found`` less the mount points the engine made in the upper dir (``/etc/hosts``,
    ``/etc/resolv.conf``: dockerd keeps them in an init layer below the container's, so
    its ``diff`` never lists them), and less a directory listed only because of them."""
    kept = [c for c in found if c["Path"] not in stubs]

    def below(path: str, among: list[dict[str, Any]]) -> bool:
        return any(str(c["Path"]).startswith(path + "/") for c in among)

    return [c for c in kept
            if not (c["Kind"] == KIND_MODIFIED and below(c["Path"], found)
                    and not below(c["Path"], kept))]  # fmt: skip


def changes(d: Daemon, ref: str) -> list[dict[str, Any]]:
    """``GET /containers/{id}/changes`` (NotFound for an unknown container)."""
    rec = d.get(ref)
    _image, upper, lowers = _layers_of(d, rec)
    stubs = {str(m.get("destination")) for m in config_of(rec).spec_mounts()}
    return without_stubs(upper_changes(upper, lowers), stubs)


def _container_config(state: ImageState, rec: ContainerRecord) -> None:
    """What ``docker commit`` keeps of the container's own configuration."""
    opts = config_of(rec).options
    cfg = state.config
    if opts.command:
        cfg["Cmd"] = list(opts.command)
    if opts.entrypoint is not None:
        cfg["Entrypoint"] = list(opts.entrypoint) or None
    for item in opts.env:
        key, sep, value = str(item).partition("=")
        if sep:
            state.set_env(key, value)
    for key, given in (("User", opts.user), ("WorkingDir", opts.workdir)):
        if given:
            cfg[key] = given
    if opts.labels:
        cfg["Labels"] = {**dict(cfg.get("Labels") or {}), **opts.labels}


def apply_changes(state: ImageState, lines: list[str]) -> None:
    """``--change`` lines as Dockerfile instructions (metadata ones only)."""
    from dockyard.build.parser import parse_dockerfile
    from dockyard.build.parser.instructions import parse_instruction
    from dockyard.build.state import apply_metadata

    for line in lines:
        if not line.strip():
            continue
        result = parse_dockerfile(line + "\n", "change")
        for node in result.ast.children:
            inst = parse_instruction(node, "change")
            if apply_metadata(state, inst) is None:
                raise InvalidArgument(f"commit: {node.value.upper()} is not a valid change command")


def commit(d: Daemon, ref: str, *, tags: list[str], changes: list[str], comment: str = "",
           author: str = "") -> Image:  # fmt: skip
    """``POST /commit`` (the container is paused, if asked, by the caller)."""
    from dockyard.build.rootfs import write_layer
    from dockyard.build.state import ImageState, LayerRef
    from dockyard.oci.image import History

    rec = d.get(ref)
    image, upper, _lowers = _layers_of(d, rec)
    store = d.engine.images
    state = ImageState.from_image(image.config, image.manifest.layers, key="")
    _container_config(state, rec)
    apply_changes(state, changes)
    if author:
        state.author = author
    layer = write_layer(store, upper)
    state.layers.append(LayerRef(layer.digest, layer.diff_id, layer.size, layer.media_type))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    args = config_of(rec).args()
    state.history.append(History(created=now, created_by=" ".join(args),
                                 author=author or None, comment=comment or None))  # fmt: skip
    config = state.image_config(now)
    manifest = state.manifest(config)
    store.blobs.write_bytes(config.content())
    committed = store.add_image(manifest.to_json(), config.content(), tags=tags)
    store.db.set_parent(str(committed.id), str(image.id))
    return committed
