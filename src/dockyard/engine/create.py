"""What the daemon adds to a container beyond the bundle: volumes, mounts, the
image's defaults it needs later (stop signal, health check), and its network.

Steps, each undone by the next ones' failure (the caller removes the container)::

    prepare_container   after ContainerEngine.create: mounts into config.json,
                        options into the record
    before_start        networking for this run (namespace, addresses, ports)
    after_stop          release what before_start took
    after_remove        anonymous volumes (and named ones with ``rm -v``? no:
                        docker removes only anonymous ones)
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import ContainerState, UserNamespace, config_of
from dockyard.engine.volumes import MountSpec, VolumeStore, copy_up, parse_mount, parse_volume

if TYPE_CHECKING:
    from dockyard.engine.containers import Created
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.options import DaemonOptions, RunOptions
    from dockyard.store.db import ContainerRecord

__all__ = ["after_remove", "after_stop", "before_start", "prepare_container"]


def _mount_specs(dopts: DaemonOptions, image_cfg: dict[str, Any]) -> list[MountSpec]:
    specs = [parse_volume(v) for v in dopts.volumes] + [parse_mount(m) for m in dopts.mounts]
    seen = set()
    for s in specs:
        if s.target in seen:
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(f"duplicate mount point: {s.target}")
        seen.add(s.target)
    for path in sorted(image_cfg.get("Volumes") or {}):
        import os

        target = os.path.normpath(path)
        if target not in seen:
            specs.append(MountSpec("volume", target))
            seen.add(target)
    return specs


def validate(d: Daemon, opts: RunOptions, dopts: DaemonOptions) -> None:
    """Checks before anything is made: first the admission policy (``d.admission``: the
    daemon sets security/admission.py's check, off unless ``<root>/admission.json``
    exists), then the flags."""
    from dockyard.engine.options import parse_restart
    from dockyard.errors import NotFound

    if d.admission is not None:
        d.admission(d.root, d.engine.images, opts.image)
    from dockyard.engine.spec import check_userns
    from dockyard.engine.userns import daemon_default, effective_mode

    userns = effective_mode(opts.userns, daemon_default()).kind
    check_userns(opts, userns)
    if d.engine.mount_hook is None:  # (the root of a --userns auto container: first-hand)
        d.engine.mount_hook = lambda *a: _mount_hook(d, *a)

    for v in dopts.volumes:
        spec = parse_volume(v)
        if spec.idmap and userns != "auto":
            from dockyard.errors import InvalidArgument

            raise InvalidArgument(f'-v "{v}": idmap needs a user namespace of its own '
                                  "(--userns auto)")  # fmt: skip
        if spec.idmap:
            from dockyard.engine.userns import check_idmappable

            check_idmappable(spec.source)
    for m in dopts.mounts:
        parse_mount(m)
    parse_restart(dopts.restart + (f":{dopts.restart_max}" if dopts.restart_max else ""))
    if d.net is not None:  # networks, -p, --ip, --dns, --add-host
        d.net.validate(opts, dopts)
        return
    mode = opts.network
    if mode not in ("none", "host", "default", "bridge") and not mode.startswith("container:"):
        raise NotFound(f"network {mode} not found")
    if mode.startswith("container:"):
        d.get(mode.partition(":")[2])


def prepare_container(
    d: Daemon, created: Created, opts: RunOptions, dopts: DaemonOptions
) -> ContainerRecord:
    image = d.engine.images.resolve(opts.image)
    image_cfg = image.config.config.to_dict()
    if dopts.health is None and not dopts.no_healthcheck:
        hc = image_cfg.get("Healthcheck")
        if hc and hc.get("Test") and hc["Test"] != ["NONE"]:
            from dockyard.engine.options import HealthConfig

            ns = 1e-9
            dopts.health = HealthConfig(
                test=list(hc["Test"]),
                interval=(hc.get("Interval") or 30e9) * ns,
                timeout=(hc.get("Timeout") or 30e9) * ns,
                retries=int(hc.get("Retries") or 3),
                start_period=(hc.get("StartPeriod") or 0) * ns,
            )
    specs = _mount_specs(dopts, image_cfg)
    driver = dopts.volume_driver or "local"
    if driver != "local" and any(s.type == "volume" for s in specs):  # dockerd's words
        from dockyard.errors import NotFound

        raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
    spec_path = created.bundle / "config.json"
    spec = json.loads(spec_path.read_text())
    created.bundle.chmod(0o710)  # (its parents may become searchable: --userns auto)
    userns = _user_namespace(d, created, image, opts, spec)
    mounts = _resolve_mounts(d, created, specs, userns)
    if mounts["oci"] or userns:
        spec["mounts"].extend(mounts["oci"])
        spec_path.write_text(json.dumps(spec))
    rec = d.engine.db.get_container(created.id)
    cfg = config_of(rec)
    cfg.spec, cfg.daemon, cfg.mounts = spec, dopts, mounts["records"]
    kept = ("StopSignal", "Healthcheck", "Volumes", "ExposedPorts", "Env", "Cmd", "Entrypoint",
            "WorkingDir", "User")  # fmt: skip
    cfg.image_config = {k: image_cfg.get(k) for k in kept}
    cfg.state = ContainerState()
    if userns:
        cfg.userns = UserNamespace.from_json(userns)
    from dockyard.records import replace

    rec = replace(rec, config=cfg.to_json())
    d.engine.db.update_container(rec)
    return rec


def _user_namespace(
    d: Daemon, created: Created, image: Any, opts: RunOptions, spec: dict[str, Any]
) -> dict[str, Any]:
    """The container's user namespace (engine/userns.py) into ``spec``: for ``auto`` a
    range taken for it and its root mounted again with the image's files owned by that
    range; what the record keeps of it (``{}``: none, ``--userns host``)."""
    from dockyard.engine import userns as u
    from dockyard.engine.spec import with_user_namespace

    mode = u.effective_mode(opts.userns, u.daemon_default())
    if mode.kind == "host":
        return {}
    sys_source = None if opts.network == "none" else u.host_sys(str(d.root))
    if mode.kind == "keep-id":  # as root: the identity (docs/decisions/userns.md)
        full = [(0, 0, u.FULL)]
        with_user_namespace(spec, full, full, sys_source=sys_source)
        return {"mode": "keep-id"}
    r = u.allocate(d.engine.db, created.id, mode.size)  # (the hook's, if it took one)
    with_user_namespace(spec, *u.id_maps(r), sys_source=sys_source)
    u.make_reachable(str(created.bundle), r)
    up, work = d.engine.images.snapshots.active(created.id)
    how = _FIRST_HAND.pop(created.id, None)
    if how is None:  # engine.create mounted it unshifted (no hook, as for a spare)
        from dockyard.engine.containers import _umount

        _umount(created.rootfs, known_mounted=True)
        how = _mount_rootfs(d, created.id, image, r, str(up), str(work), str(created.rootfs))
    u.shift_ids(str(up), r)  # what engine.create made in it since (the working directory)
    _shift_etc_files(created.bundle, r)
    return {"mode": "auto", "range": [r.uid_base, r.gid_base, r.size], "rootfs": how}


_FIRST_HAND: dict[str, str] = {}  # container id -> how the hook mounted its root


def _mount_hook(
    d: Daemon, opts: RunOptions, image: Any, cid: str, upper: str, work: str, target: str
) -> str | None:
    """``ContainerEngine.mount_hook``: a ``--userns auto`` container's root mounted shifted
    from the start, so that no unshifted root is unmounted on the way (unmounting an
    overlay syncs its upper filesystem: up to 44 ms measured here). The range is taken
    before the container's record exists; a create that fails then leaves it to the next
    allocation's sweep (engine/userns.py)."""
    from dockyard.engine.userns import allocate, daemon_default, effective_mode

    mode = effective_mode(opts.userns, daemon_default())
    if mode.kind != "auto":
        return None
    r = allocate(d.engine.db, cid, mode.size)
    how = _FIRST_HAND[cid] = _mount_rootfs(d, cid, image, r, upper, work, target)
    return how


def _mount_rootfs(
    d: Daemon, cid: str, image: Any, r: Any, upper: str, work: str, target: str
) -> str:  # fmt: skip
    from dockyard.engine.userns import mount_rootfs

    scratch = str(d.run_root / "idmap" / cid)
    return mount_rootfs(d.engine.images, image, r, upper, work, target, scratch)


def _range_of(rec: ContainerRecord) -> Any:
    from dockyard.engine.userns import IdRange

    u = config_of(rec).userns
    return IdRange(*u.range) if u is not None and u.range else None


def _shift_etc_files(bundle: Any, r: Any) -> None:
    """``/etc/hostname``, ``hosts``, ``resolv.conf`` owned by the container's root, as
    dockerd does under ``--userns-remap`` (the container may rewrite them)."""
    import os

    for name in ("hostname", "hosts", "resolv.conf"):
        path = os.path.join(bundle, name)
        with contextlib.suppress(FileNotFoundError):
            os.lchown(path, r.uid_base, r.gid_base)


def _resolve_mounts(
    d: Daemon, created: Created, specs: list[MountSpec], userns: dict[str, Any] | None = None
) -> dict[str, Any]:
    import os

    store = VolumeStore(d.root)
    oci: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for s in specs:
        opts = ["rbind", "rprivate"] + (["ro"] if s.readonly else [])
        if s.type == "tmpfs":
            oci.append({"destination": s.target, "type": "tmpfs", "source": "tmpfs",
                        "options": list(s.options) + (["ro"] if s.readonly else [])})  # fmt: skip
            records.append({"Type": "tmpfs", "Source": "", "Destination": s.target,
                            "Mode": "", "RW": not s.readonly, "Propagation": ""})  # fmt: skip
            continue
        if s.type == "bind":
            if not os.path.lexists(s.source):  # docker creates a missing bind source as a dir
                os.makedirs(s.source, exist_ok=True)
            source, name = s.source, ""
            if s.idmap and userns:  # (validate refused it without a range)
                point = str(d.root / "userns" / "mnt" / f"{created.id}-{len(oci)}")
                userns.setdefault("idmapped", []).append([source, point])
                oci.append({"destination": s.target, "type": "bind", "source": point,
                            "options": opts})  # fmt: skip
                records.append(_bind_record(s, source))
                continue
        else:
            new = not s.source or not (d.root / "volumes" / s.source / "volume.json").exists()
            vol = store.create(s.source or None)
            source, name = str(vol.path), vol.name
            if new and not s.nocopy:
                from dockyard.runtime.users import resolve_in_root

                with contextlib.suppress(OSError):
                    copy_up(resolve_in_root(created.rootfs, s.target), vol.path)
            rng = (userns or {}).get("range")
            if new and rng:  # a new volume belongs to the container's root
                from dockyard.engine.userns import IdRange, shift_ids

                shift_ids(str(vol.path), IdRange(*rng))
        oci.append({"destination": s.target, "type": "bind", "source": source, "options": opts})
        records.append(_bind_record(s, source, name))
    return {"oci": oci, "records": records}


def _bind_record(s: MountSpec, source: str, name: str = "") -> dict[str, Any]:
    return {
        "Type": s.type, "Name": name, "Source": source, "Destination": s.target,
        "Driver": "local" if name else "", "Mode": "ro" if s.readonly else "",
        "RW": not s.readonly, "Propagation": "rprivate",
        "Anonymous": s.type == "volume" and not s.source,
    }  # fmt: skip


def before_start(d: Daemon, rec: ContainerRecord, opts: RunOptions, dopts: DaemonOptions) -> None:
    from dockyard.engine.containers import _is_mountpoint, _mount_overlay

    rootfs = d.bundle(rec.id) / "rootfs"
    r = _range_of(rec)
    if not _is_mountpoint(rootfs):
        image = d.engine.images.resolve(rec.image_id)
        up, work = d.engine.images.snapshots.active(rec.id)
        if r is not None:
            _mount_rootfs(d, rec.id, image, r, str(up), str(work), str(rootfs))
        else:
            _mount_overlay(d.engine.images.lowerdirs(image), up, work, rootfs)
    for ext in d.extensions:
        ext.before_start(rec, opts, dopts)
    if opts.network != "none" and config_of(rec).userns is not None:
        from dockyard.engine.userns import host_sys

        host_sys(str(d.root))  # (gone after a reboot; the spec binds it as /sys)
    if r is not None:  # (the network renders hosts and resolv.conf at each start; the
        # daemon's start tightened the root's modes again)
        from dockyard.engine.userns import make_reachable

        _shift_etc_files(d.bundle(rec.id), r)
        make_reachable(str(d.bundle(rec.id)), r)
        u = config_of(rec).userns
        pairs = u.pairs() if u is not None else []
        if pairs:  # -v SRC:DST:idmap
            from dockyard.engine.userns import mount_idmapped

            mount_idmapped(pairs, r)


def after_stop(d: Daemon, rec: ContainerRecord) -> None:
    u = config_of(rec).userns
    pairs = u.pairs() if u is not None else []
    if pairs:  # made again by the next start
        from dockyard.engine.userns import unmount_idmapped

        unmount_idmapped(pairs)
    for ext in d.extensions:
        try:
            ext.after_stop(rec)
        except Exception as e:  # releasing must not hide the exit
            d.set_state(rec.id, error=f"release network: {e}")


def after_remove(d: Daemon, rec: ContainerRecord, volumes: bool) -> None:
    for ext in d.extensions:
        ext.after_remove(rec)
    cfg = config_of(rec)
    if cfg.userns is not None:
        from dockyard.engine.userns import release, unmount_idmapped

        unmount_idmapped(cfg.userns.pairs(), remove=True)
        release(d.engine.db, rec.id)
    store = VolumeStore(d.root)
    for m in cfg.mounts or []:
        if m.get("Anonymous") and (volumes or cfg.options.remove):
            with contextlib.suppress(Exception):
                store.remove(str(m["Name"]), force=True)


def run_remove(rec: ContainerRecord) -> bool:
    return config_of(rec).options.remove
