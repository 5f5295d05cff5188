"""Image documents: strict parsing with JSON paths, canonical serialisation, raw bytes."""

from __future__ import annotations

import json
import re

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import sha256_digest
from dockyard.oci.image import (
    ContainerConfig,
    Descriptor,
    Healthcheck,
    ImageConfig,
    Index,
    Manifest,
    RootFS,
    parse_config,
    parse_index,
    parse_manifest,
)

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def manifest_doc(**over: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 10},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D2, "size": 20}],
    }
    doc.update(over)
    return doc


def test_manifest_roundtrip_keeps_raw_bytes() -> None:
    raw = json.dumps(manifest_doc(), indent=3).encode()
    m = parse_manifest(raw)
    assert m.raw == raw
    assert m.digest() == sha256_digest(raw)
    assert m.layers[0].size == 20
    again = parse_manifest(m.to_json())
    assert again == m
    assert (
        m.to_json()
        == json.dumps(json.loads(m.to_json()), sort_keys=True, separators=(",", ":")).encode()
    )


def test_docker_manifest_accepted() -> None:
    m = parse_manifest(json.dumps(manifest_doc(mediaType=mt.DOCKER_MANIFEST)).encode())
    assert m.media_type == mt.DOCKER_MANIFEST


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"schemaVersion": 1}, "schemaVersion"),
        ({"schemaVersion": True}, "schemaVersion"),
        ({"mediaType": mt.OCI_INDEX}, "mediaType"),
        ({"layers": []}, "layers"),
        ({"layers": [{"mediaType": mt.OCI_LAYER, "digest": D2, "size": "1"}]}, "layers[0].size"),
        (
            {"layers": [{"mediaType": mt.OCI_LAYER, "digest": "md5:x", "size": -1}]},
            "layers[0].size",
        ),
        ({"config": {"mediaType": "bad", "digest": D1, "size": 1}}, "config.mediaType"),
        (
            {"config": {"mediaType": mt.OCI_CONFIG, "digest": "sha256:AB", "size": 1}},
            "config.digest",
        ),
        ({"annotations": {"a": 1}}, "annotations"),
        ({"subject": "x"}, "subject"),
    ],
)
def test_manifest_errors_name_the_json_path(over: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidArgument, match="^parse manifest: " + re.escape(path)):
        parse_manifest(json.dumps(manifest_doc(**over)).encode())


def test_not_json_and_not_object() -> None:
    with pytest.raises(InvalidArgument, match="invalid json"):
        parse_manifest(b"{")
    with pytest.raises(InvalidArgument, match="expected an object"):
        parse_manifest(b"[]")
    with pytest.raises(InvalidArgument, match="invalid json"):
        parse_manifest(b"\xff")


def test_unknown_fields_ignored() -> None:
    parse_manifest(json.dumps(manifest_doc(extra={"x": 1})).encode())


def test_index() -> None:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            {
                "mediaType": mt.DOCKER_MANIFEST,
                "digest": D1,
                "size": 3,
                "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
            }
        ],
    }
    idx = parse_index(json.dumps(doc).encode())
    p = idx.manifests[0].platform
    assert p is not None and (p.architecture, p.variant) == ("arm64", "v8")
    assert parse_index(idx.to_json()).manifests == idx.manifests


CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-02T03:04:05.123Z",
    "config": {
        "User": "1000:1000",
        "ExposedPorts": {"80/tcp": {}},
        "Env": ["PATH=/bin", "EMPTY="],
        "Entrypoint": ["/bin/sh"],
        "Cmd": None,
        "Volumes": {"/data": {}},
        "WorkingDir": "/w",
        "Labels": {"a": "b"},
        "StopSignal": "SIGTERM",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5, "Retries": 3},
        "OnBuild": None,
        "Shell": ["/bin/bash", "-c"],
        "ArgsEscaped": True,
    },
    "rootfs": {"type": "layers", "diff_ids": [D1]},
    "history": [{"created_by": "x", "empty_layer": True}, {"created": "2024-01-02T03:04:05Z"}],
}


def test_config_full() -> None:
    c = parse_config(json.dumps(CONFIG).encode())
    cc = c.config
    assert cc.user == "1000:1000" and cc.exposed_ports == ("80/tcp",)
    assert cc.env == ("PATH=/bin", "EMPTY=") and cc.entrypoint == ("/bin/sh",) and cc.cmd is None
    assert cc.volumes == ("/data",) and cc.labels == {"a": "b"} and cc.args_escaped
    assert cc.healthcheck == Healthcheck(test=("CMD", "true"), interval=5, retries=3)
    assert cc.shell == ("/bin/bash", "-c")
    assert [str(d) for d in c.rootfs.diff_ids] == [D1]
    assert len(c.layer_history()) == 1
    again = parse_config(c.to_json())
    assert again == c


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"os": 1}, "os"),
        ({"rootfs": {"type": "layers"}}, "rootfs.diff_ids"),
        ({"rootfs": {"type": "other", "diff_ids": []}}, "rootfs.type"),
        ({"rootfs": {"type": "layers", "diff_ids": ["x"]}}, r"rootfs.diff_ids\[0\]"),
        ({"config": {"Env": ["NOEQUALS"]}}, r"config.Env\[0\]"),
        ({"config": {"Volumes": ["/a"]}}, "config.Volumes"),
        ({"created": "yesterday"}, "created"),
        ({"history": "x"}, "history"),
    ],
)
def test_config_errors(patch: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^parse config: {path}"):
        parse_config(json.dumps({**CONFIG, **patch}).encode())


def test_built_documents_are_canonical_and_stable() -> None:
    cfg = ImageConfig(
        "amd64", "linux", RootFS((sha256_digest(b"l"),)), ContainerConfig(cmd=("sh",))
    )
    assert cfg.content() == cfg.to_json()
    assert (
        cfg.digest()
        == ImageConfig(
            "amd64", "linux", RootFS((sha256_digest(b"l"),)), ContainerConfig(cmd=("sh",))
        ).digest()
    )
    desc = Descriptor(mt.OCI_CONFIG, cfg.digest(), len(cfg.content()))
    m = Manifest(desc, (Descriptor(mt.OCI_LAYER, sha256_digest(b"l"), 1),))
    assert parse_manifest(m.to_json()) == m
    assert parse_index(Index((desc,)).to_json()).manifests == (desc,)


def test_descriptor_data_roundtrip() -> None:
    m = Manifest(Descriptor(mt.OCI_EMPTY, sha256_digest(b"{}"), 2, data=b"{}"), ())
    again = parse_manifest(m.to_json(), allow_no_layers=True)
    assert again.config.data == b"{}"
