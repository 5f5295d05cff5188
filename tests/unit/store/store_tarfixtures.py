"""Builders for layer tars and image archives used by the store tests."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest


@dataclass
class Entry:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int = 0o644
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def F(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    return Entry(name, tarfile.REGTYPE, data, mode=mode)


def Dir(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode)


def Sym(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def Hard(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, linkname=target)


def Chr(name: str, major: int = 1, minor: int = 3) -> Entry:
    return Entry(name, tarfile.CHRTYPE, devmajor=major, devminor=minor)


def layer_tar(entries: list[Entry], *, compress: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.mode, info.linkname, info.mtime = e.type, e.mode, e.linkname, 1000
            info.devmajor, info.devminor = e.devmajor, e.devminor
            info.pax_headers = dict(e.pax)
            if e.type == tarfile.REGTYPE:
                info.size = len(e.data)
                tf.addfile(info, io.BytesIO(e.data))
            else:
                tf.addfile(info)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if compress else raw


def _diff_id(layer: bytes) -> str:
    raw = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
    return str(sha256_digest(raw))


def config_bytes(layers: list[bytes], diff_ids: list[str] | None = None) -> bytes:
    cfg = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids or [_diff_id(x) for x in layers]},
    }
    return json.dumps(cfg).encode()


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def oci_archive(
    path: Path,
    layers: list[bytes],
    name: str = "docker.io/library/test:v1",
    *,
    diff_ids: list[str] | None = None,
    skip_blob: int | None = None,
    corrupt_blob: int | None = None,
) -> Path:
    """An OCI layout tarball with one image named by the containerd annotation.

    ``skip_blob`` / ``corrupt_blob`` index the layers whose blob is left out or
    altered after hashing.
    """
    cfg = config_bytes(layers, diff_ids)
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": str(sha256_digest(cfg)), "size": len(cfg)},
        "layers": [
            {
                "mediaType": mt.OCI_LAYER_GZIP if x[:2] == b"\x1f\x8b" else mt.OCI_LAYER,
                "digest": str(sha256_digest(x)),
                "size": len(x),
            }
            for x in layers
        ],
    }
    mbytes = json.dumps(manifest).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(sha256_digest(mbytes)),
                "size": len(mbytes),
                "annotations": {
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": "v1",
                },
            }
        ],
    }
    with tarfile.open(path, "w") as tf:
        _add(tf, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tf, "index.json", json.dumps(index).encode())
        for blob in (cfg, mbytes):
            _add(tf, f"blobs/sha256/{sha256_digest(blob).hex}", blob)
        for i, blob in enumerate(layers):
            if i == skip_blob:
                continue
            data = blob[:-1] + b"!" if i == corrupt_blob else blob
            _add(tf, f"blobs/sha256/{sha256_digest(blob).hex}", data)
    return path


def docker_archive(path: Path, layers: list[bytes], tags: list[str] | None = None) -> Path:
    """A legacy ``docker save`` tarball: ``<id>/layer.tar`` and ``<config>.json``."""
    cfg = config_bytes(layers)
    cfg_name = f"{sha256_digest(cfg).hex}.json"
    names = [f"{sha256_digest(x).hex}/layer.tar" for x in layers]
    manifest = [{"Config": cfg_name, "RepoTags": tags or ["test:v1"], "Layers": names}]
    with tarfile.open(path, "w") as tf:
        _add(tf, "manifest.json", json.dumps(manifest).encode())
        _add(tf, cfg_name, cfg)
        for name, blob in zip(names, layers, strict=True):
            _add(tf, name, blob)
    return path
