"""Host devices in a container: ``--device`` (docker's form and CDI names) and ``--gpus``.

``--device HOST[:CONTAINER][:PERMISSIONS]`` (docker's ``parseDevice``): ``HOST`` must be a
character or block device (a symlink to one is followed); the container gets a node of the
same type and numbers at ``CONTAINER`` (default: ``HOST``) with the host node's mode and
owner, and a device-cgroup rule allowing ``PERMISSIONS`` (``rwm`` by default, any of ``r``,
``w``, ``m``).

``--device VENDOR/CLASS=NAME`` names a device of a Container Device Interface spec (CDI 0.x,
as podman and docker 25+ read them): the JSON or YAML files in ``/etc/cdi`` and
``/var/run/cdi`` (``DOCKYARD_CDI_SPEC_DIRS``, colon-separated, replaces the list: tests and
unusual hosts). A spec's ``kind`` is ``VENDOR/CLASS``; the named device's
``containerEdits`` and the spec's own are applied: ``deviceNodes`` (``path`` in the
container, ``hostPath`` defaulting to it; type and numbers from the host node unless given;
``permissions`` → the cgroup rule), ``env``, ``mounts`` (bind mounts) and ``hooks`` (OCI
hooks, run by the runtime). ``NAME`` ``all`` selects every device of the kind.

``--gpus all|N|device=I[,J]`` is docker's request for NVIDIA GPUs; it is served through the
CDI kind ``nvidia.com/gpu`` (the spec ``nvidia-ctk cdi generate`` writes). Without such a
spec the error is docker's: ``could not select device driver "" with capabilities: [[gpu]]``.

Resolution happens when the container's spec is built (the daemon, at create): a device
unplugged later is the runtime's error at start.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.records import field, record

__all__ = ["DeviceEdits", "gpu_devices", "is_cdi_name", "parse_device", "resolve_devices"]

_CDI_NAME = re.compile(
    r"^([a-z0-9][a-z0-9.-]*/[a-zA-Z0-9][a-zA-Z0-9_.-]*)=([a-zA-Z0-9][a-zA-Z0-9_.:-]*)$"
)
_PERMS = re.compile(r"^[rwm]{1,3}$")
DEFAULT_SPEC_DIRS = ("/etc/cdi", "/var/run/cdi")
GPU_KIND = "nvidia.com/gpu"


@record(frozen=False)
class DeviceEdits:
    """What the requested devices add to an OCI spec."""

    devices: list[dict[str, Any]] = field(default_factory=list)  # linux.devices
    rules: list[dict[str, Any]] = field(default_factory=list)  # linux.resources.devices
    env: list[str] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    hooks: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def is_cdi_name(value: str) -> bool:
    return _CDI_NAME.match(value) is not None


def gpu_devices(value: str) -> list[str]:
    """``--gpus`` → the CDI names it asks for (docker's forms: ``all``, a count, ``device=``)."""
    text = value.strip().strip('"')
    opts = dict(p.partition("=")[::2] for p in text.split(",")) if "=" in text else {}
    if text == "all" or opts.get("count") == "all":
        return [f"{GPU_KIND}=all"]
    if "device" in opts or text.startswith("device="):
        ids = text.split("device=", 1)[1].split(",")
        return [f"{GPU_KIND}={i.strip()}" for i in ids if i.strip()]
    count = opts.get("count", text)
    try:
        n = int(count)
    except ValueError:
        raise InvalidArgument(f'invalid --gpus "{value}": want all, a count or device=ID') from None
    if n < 1:
        raise InvalidArgument(f'invalid --gpus "{value}": the count must be at least 1')
    return [f"{GPU_KIND}={i}" for i in range(n)]


def _node(
    host: str, container: str, perms: str, what: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        st = os.stat(host)
    except OSError as e:
        # a bad flag (docker: 125), not a missing command (127)
        raise InvalidArgument(f"{what}: {host}: {(e.strerror or str(e)).lower()}") from None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        raise InvalidArgument(f"{what}: {host} is not a device")
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = {"path": container, "type": kind, "major": major, "minor": minor,
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}  # fmt: skip
    rule = {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms}
    return node, rule


def parse_device(value: str) -> tuple[str, str, str]:
    """docker's ``parseDevice``: (host, container, permissions)."""
    parts = value.split(":")
    host, container, perms = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if _PERMS.match(parts[1]):
            perms = parts[1]
        else:
            container = parts[1]
    elif len(parts) == 3:
        container, perms = parts[1], parts[2]
    elif len(parts) > 3:
        raise InvalidArgument(f'invalid --device "{value}": too many colons')
    if not host.startswith("/") or not container.startswith("/"):
        raise InvalidArgument(f'invalid --device "{value}": paths must be absolute')
    if not _PERMS.match(perms):
        raise InvalidArgument(f'invalid --device "{value}": permissions must be r, w and/or m')
    if ".." in Path(container).parts:
        raise InvalidArgument(f'invalid --device "{value}": the container path must not climb')
    return host, container, perms


def spec_dirs() -> list[Path]:
    env = os.environ.get("DOCKYARD_CDI_SPEC_DIRS")
    return [Path(p) for p in (env.split(":") if env else DEFAULT_SPEC_DIRS) if p]


def _load_specs(dirs: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """kind → its specs (later directories win over earlier ones for the same device)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for d in dirs:
        try:
            names = sorted(p for p in d.iterdir() if p.suffix in (".json", ".yaml", ".yml"))
        except OSError:
            continue
        for path in names:
            try:
                text = path.read_text()
                if path.suffix == ".json":
                    doc = json.loads(text)
                else:
                    import yaml

                    doc = yaml.safe_load(text)
            except (OSError, ValueError) as e:
                raise InvalidArgument(f"cdi spec {path}: {e}") from None
            except Exception as e:  # yaml.YAMLError
                raise InvalidArgument(f"cdi spec {path}: {str(e).splitlines()[0]}") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
                raise InvalidArgument(f"cdi spec {path}: no kind")
            found.setdefault(doc["kind"], []).append({**doc, "_path": str(path)})
    return found


def _apply_edits(edits: dict[str, Any], out: DeviceEdits, where: str) -> None:
    if not isinstance(edits, dict):
        return
    for n in edits.get("deviceNodes") or []:
        path = str(n.get("path") or "")
        if not path.startswith("/"):
            raise InvalidArgument(f"{where}: deviceNodes: path must be absolute")
        host = str(n.get("hostPath") or path)
        node, rule = _node(host, path, str(n.get("permissions") or "rwm"), where)
        for key, name in (("fileMode", "fileMode"), ("uid", "uid"), ("gid", "gid")):
            if n.get(name) is not None:
                node[key] = int(n[name])
        out.devices.append(node)
        out.rules.append(rule)
    out.env += [str(e) for e in edits.get("env") or []]
    for m in edits.get("mounts") or []:
        options = [str(o) for o in m.get("options") or ["bind"]]
        if "bind" not in options and "rbind" not in options:
            options.append("bind")
        out.mounts.append({"destination": str(m["containerPath"]), "type": m.get("type") or "bind",
                           "source": str(m["hostPath"]), "options": options})  # fmt: skip
    for h in edits.get("hooks") or []:
        hook = {k: h[k] for k in ("path", "args", "env", "timeout") if k in h}
        out.hooks.setdefault(str(h.get("hookName") or "createContainer"), []).append(hook)


def _cdi(name: str, specs: dict[str, list[dict[str, Any]]], out: DeviceEdits) -> None:
    m = _CDI_NAME.match(name)
    assert m is not None
    kind, device = m.group(1), m.group(2)
    if kind not in specs:
        if kind == GPU_KIND:
            raise InvalidArgument('could not select device driver "" with capabilities: [[gpu]]')
        raise InvalidArgument(f"cdi device {name}: no spec for kind {kind} in "
                       f"{', '.join(map(str, spec_dirs()))}")  # fmt: skip
    matched = False
    for spec in specs[kind]:
        where = f"cdi spec {spec['_path']}"
        devices = [d for d in spec.get("devices") or [] if isinstance(d, dict)]
        chosen = devices if device == "all" else [d for d in devices if d.get("name") == device]
        if not chosen:
            continue
        matched = True
        _apply_edits(spec.get("containerEdits") or {}, out, where)
        for d in chosen:
            _apply_edits(d.get("containerEdits") or {}, out, f"{where}: device {d.get('name')}")
    if not matched:
        raise InvalidArgument(f"cdi device {name}: not found in the specs of {kind}")


def resolve_devices(values: list[str]) -> DeviceEdits:
    """The spec edits of ``--device`` values (docker's form or CDI names)."""
    out = DeviceEdits()
    specs: dict[str, list[dict[str, Any]]] | None = None
    for value in values:
        if is_cdi_name(value):
            if specs is None:
                specs = _load_specs(spec_dirs())
            _cdi(value, specs, out)
            continue
        host, container, perms = parse_device(value)
        node, rule = _node(host, container, perms, f'--device "{value}"')
        out.devices.append(node)
        out.rules.append(rule)
    return out
