"""Typed OCI image documents: descriptors, manifests, indexes, configs, layouts.

Protocol
--------
Documents arrive as untrusted bytes.  ``parse_*`` decodes them strictly: a
wrong type, a missing required field or a failed semantic check (digest valid
for its algorithm, ``Env`` entries ``KEY=VALUE``, descriptor ``urls`` that are
URIs, ``data`` that is padded base64, media types of the RFC 6838 shape,
``schemaVersion`` 2, at least one layer) raises
:class:`~dockyard.errors.InvalidArgument` whose message names the JSON path,
e.g. ``parse manifest: layers[1].size: expected a non-negative integer``.
Unknown fields are ignored, as the spec requires.  Docker schema 2 media types
are accepted next to the OCI ones.

A parsed document keeps the exact bytes it came from in ``raw``; its
``digest()`` hashes those bytes, never a re-serialisation.  A document built in
code has no ``raw``: ``content()`` then returns ``to_json()``, the canonical form
(sorted keys, compact separators, UTF-8), so that building the same document
twice yields the same digest.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci import fastjson
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, parse_digest, sha256_digest
from dockyard.records import field, record

TYPE_CHECKING = False  # ``typing``, ``re``, ``json``, ``base64`` cost a start-up: see below
if TYPE_CHECKING:
    import re
    from collections.abc import Mapping
    from typing import Any, NoReturn

__all__ = [
    "ContainerConfig",
    "Descriptor",
    "Healthcheck",
    "History",
    "ImageConfig",
    "ImageLayout",
    "Index",
    "Manifest",
    "Platform",
    "RootFS",
    "canonical_json",
    "parse_config",
    "parse_descriptor",
    "parse_index",
    "parse_layout",
    "parse_manifest",
]

# Media types, Env entries and the usual date-times are checked by hand (exactly what the
# patterns accept); the patterns are compiled only for URIs and unusual date-times.
_URI = r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*"
_DATE_TIME = r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})"
_COMPILED: dict[str, re.Pattern[str]] = {}
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_MT_REST = _ALNUM | frozenset("!#$&^_.+-")
_DIGITS = frozenset("0123456789")


def _full(pattern: str, s: str) -> bool:
    c = _COMPILED.get(pattern)
    if c is None:
        import re

        c = _COMPILED[pattern] = re.compile(pattern)
    return c.fullmatch(s) is not None


def _is_media_type(s: str) -> bool:
    """``[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}`` twice, joined by ``/`` (RFC 6838)."""
    parts = s.split("/")
    return len(parts) == 2 and all(
        0 < len(p) <= 127 and p[0] in _ALNUM and _MT_REST.issuperset(p) for p in parts
    )


def _is_env(s: str) -> bool:
    """``[^=]+=.*``: a non-empty name, then ``=``."""
    return s.find("=") > 0


def _is_date_time(s: str) -> bool:
    """RFC 3339 as the pattern says; ``2024-01-02T03:04:05[.123]Z`` without ``re``."""
    if (
        len(s) >= 20
        and s[-1] == "Z"
        and s[4] == s[7] == "-"
        and s[10] == "T"
        and s[13] == s[16] == ":"
        and _DIGITS.issuperset(s[0:4] + s[5:7] + s[8:10] + s[11:13] + s[14:16] + s[17:19])
        and (len(s) == 20 or (s[19] == "." and len(s) > 21 and _DIGITS.issuperset(s[20:-1])))
    ):
        return True
    return _full(_DATE_TIME, s)


_INT64_MAX = 2**63 - 1


def canonical_json(obj: object) -> bytes:
    """Canonical JSON bytes: sorted keys, compact separators, UTF-8."""
    import json  # not fastjson: this one keeps non-ASCII as is (the digest depends on it)

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- strict JSON access -----------------------------------------------------------------


class _Node:
    """A JSON object being parsed, with its path for error messages."""

    def __init__(self, what: str, path: str, value: object) -> None:
        self.what = what
        self.path = path
        if not isinstance(value, dict):
            self.fail(path or "document", "expected an object")
        self.value: dict[str, Any] = value

    def fail(self, where: str, problem: str) -> NoReturn:
        raise InvalidArgument(f"parse {self.what}: {where}: {problem}")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, required: bool = False) -> Any:
        if key not in self.value:
            if required:
                self.fail(self.at(key), "required field missing")
            return None
        return self.value[key]

    def str_(self, key: str, required: bool = False) -> str | None:
        v: object = self.get(key, required)
        if v is not None and not isinstance(v, str):
            self.fail(self.at(key), "expected a string")
        return v

    def req_str(self, key: str) -> str:
        v = self.str_(key, required=True)
        if v is None:
            self.fail(self.at(key), "expected a string")
        return v

    def int_(self, key: str, required: bool = False, minimum: int = -_INT64_MAX) -> int | None:
        v = self.get(key, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= _INT64_MAX:
            self.fail(self.at(key), f"expected an integer >= {minimum}")
        return int(v)

    def bool_(self, key: str) -> bool | None:
        v: object = self.get(key)
        if v is not None and not isinstance(v, bool):
            self.fail(self.at(key), "expected a boolean")
        return v

    def strs(self, key: str, nullable: bool = True) -> tuple[str, ...] | None:
        v = self.get(key)
        if v is None:
            if key in self.value and not nullable:
                self.fail(self.at(key), "expected an array of strings")
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            self.fail(self.at(key), "expected an array of strings")
        return tuple(v)

    def str_map(self, key: str) -> dict[str, str]:
        v = self.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            self.fail(self.at(key), "expected an object of strings")
        return dict(v)

    def key_set(self, key: str) -> tuple[str, ...]:
        """A Go ``map[string]struct{}``: an object whose values are objects."""
        v = self.get(key)
        if v is None:
            return ()
        if not isinstance(v, dict) or not all(isinstance(x, dict) for x in v.values()):
            self.fail(self.at(key), "expected an object of objects")
        return tuple(sorted(v))

    def child(self, key: str, required: bool = False) -> _Node | None:
        v = self.get(key, required)
        if v is None and not required:
            return None
        return _Node(self.what, self.at(key), v)

    def children(self, key: str, required: bool = False) -> list[_Node]:
        v = self.get(key, required)
        if v is None and not required:
            return []
        if not isinstance(v, list):
            self.fail(self.at(key), "expected an array")
        return [_Node(self.what, f"{self.at(key)}[{i}]", x) for i, x in enumerate(v)]

    def digest(self, key: str, required: bool = True) -> Digest | None:
        s = self.str_(key, required)
        if s is None:
            return None
        try:
            return parse_digest(s)
        except InvalidArgument as e:
            self.fail(self.at(key), str(e).removeprefix("parse digest "))

    def media_type(self, key: str, required: bool = False) -> str | None:
        s = self.str_(key, required)
        if s is not None and not _is_media_type(s):
            self.fail(self.at(key), f"invalid media type {s!r}")
        return s


def _load(what: str, data: bytes) -> _Node:
    return _Node(what, "", fastjson.loads(data, what))


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", (), [], {})}


# --- descriptors ------------------------------------------------------------------------


@record
class Platform:
    """The platform an index entry is for."""

    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    variant: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"architecture": self.architecture, "os": self.os, "os.version": self.os_version}
        return _drop_empty({**d, "os.features": list(self.os_features), "variant": self.variant})


@record
class Descriptor:
    """A content descriptor: what, where (digest) and how big."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    data: bytes | None = None
    platform: Platform | None = None
    artifact_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
            "urls": list(self.urls),
            "annotations": dict(self.annotations),
            "artifactType": self.artifact_type,
            "platform": self.platform.to_dict() if self.platform else None,
        }
        if self.data is not None:
            import base64

            d["data"] = base64.b64encode(self.data).decode()
        return {k: v for k, v in _drop_empty(d).items()} | {"size": self.size}


def _descriptor(n: _Node) -> Descriptor:
    media_type = n.media_type("mediaType", required=True)
    digest = n.digest("digest")
    size = n.int_("size", required=True, minimum=0)
    urls = n.strs("urls", nullable=False) or ()
    for i, url in enumerate(urls):
        if not _full(_URI, url):
            n.fail(f"{n.at('urls')}[{i}]", f"invalid uri {url!r}")
    assert media_type is not None and digest is not None and size is not None
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        urls=urls,
        annotations=n.str_map("annotations"),
        data=_data(n),
        platform=_platform(n.child("platform")),
        artifact_type=n.media_type("artifactType"),
    )


def _data(n: _Node) -> bytes | None:
    s = n.str_("data")
    if s is None:
        return None
    import base64
    import binascii

    try:
        return base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        n.fail(n.at("data"), "invalid base64")


def _platform(n: _Node | None) -> Platform | None:
    if n is None:
        return None
    return Platform(
        architecture=n.req_str("architecture"),
        os=n.req_str("os"),
        os_version=n.str_("os.version"),
        os_features=n.strs("os.features", nullable=False) or (),
        variant=n.str_("variant"),
    )


def parse_descriptor(data: bytes) -> Descriptor:
    """Parse a stand-alone content descriptor."""
    return _descriptor(_load("descriptor", data))


# --- manifest and index -----------------------------------------------------------------


@record
class Manifest:
    """An image manifest (OCI or Docker schema 2): one config and ordered layers."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    media_type: str | None = mt.OCI_MANIFEST
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    schema_version: int = 2
    raw: bytes = field(default=b"", compare=False, repr=False)

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
            "artifactType": self.artifact_type,
            "config": self.config.to_dict(),
            "layers": [x.to_dict() for x in self.layers],
            "subject": self.subject.to_dict() if self.subject else None,
            "annotations": dict(self.annotations),
        }
        return canonical_json(_drop_empty(d) | {"layers": d["layers"]})

    def content(self) -> bytes:
        """The bytes this manifest is stored as: ``raw`` if parsed, else ``to_json()``."""
        return self.raw or self.to_json()

    def digest(self) -> Digest:
        return sha256_digest(self.content())


def parse_manifest(data: bytes, *, allow_no_layers: bool = False) -> Manifest:
    """Parse an image manifest; ``allow_no_layers`` admits ``layers: []``."""
    n = _load("manifest", data)
    _schema_version(n)
    media_type = n.media_type("mediaType")
    if media_type is not None and media_type not in mt.MANIFEST_TYPES:
        n.fail("mediaType", f"not a manifest media type: {media_type}")
    config = n.child("config", required=True)
    assert config is not None
    layers = tuple(_descriptor(x) for x in n.children("layers", required=True))
    if not layers and not allow_no_layers:
        n.fail("layers", "expected at least one layer")
    subject = n.child("subject")
    return Manifest(
        config=_descriptor(config),
        layers=layers,
        media_type=media_type,
        artifact_type=n.media_type("artifactType"),
        subject=_descriptor(subject) if subject else None,
        annotations=n.str_map("annotations"),
        raw=bytes(data),
    )


def _schema_version(n: _Node) -> None:
    if n.int_("schemaVersion", required=True) != 2:
        n.fail("schemaVersion", "expected 2")


@record
class Index:
    """An image index (OCI) or manifest list (Docker): manifests per platform."""

    manifests: tuple[Descriptor, ...]
    media_type: str | None = mt.OCI_INDEX
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    schema_version: int = 2
    raw: bytes = field(default=b"", compare=False, repr=False)

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
            "artifactType": self.artifact_type,
            "manifests": [x.to_dict() for x in self.manifests],
            "subject": self.subject.to_dict() if self.subject else None,
            "annotations": dict(self.annotations),
        }
        return canonical_json(_drop_empty(d) | {"manifests": d["manifests"]})

    def content(self) -> bytes:
        return self.raw or self.to_json()

    def digest(self) -> Digest:
        return sha256_digest(self.content())


def parse_index(data: bytes) -> Index:
    """Parse an image index or a Docker manifest list."""
    n = _load("index", data)
    _schema_version(n)
    media_type = n.media_type("mediaType")
    if media_type is not None and media_type not in mt.INDEX_TYPES:
        n.fail("mediaType", f"not an index media type: {media_type}")
    subject = n.child("subject")
    return Index(
        manifests=tuple(_descriptor(x) for x in n.children("manifests", required=True)),
        media_type=media_type,
        artifact_type=n.media_type("artifactType"),
        subject=_descriptor(subject) if subject else None,
        annotations=n.str_map("annotations"),
        raw=bytes(data),
    )


@record
class ImageLayout:
    """The ``oci-layout`` file of an image layout."""

    version: str = "1.0.0"

    def to_json(self) -> bytes:
        return canonical_json({"imageLayoutVersion": self.version})


def parse_layout(data: bytes) -> ImageLayout:
    """Parse an ``oci-layout`` file."""
    return ImageLayout(_load("oci-layout", data).req_str("imageLayoutVersion"))


# --- config -----------------------------------------------------------------------------


@record
class Healthcheck:
    """Docker's health check; durations in nanoseconds, ``test`` as Docker stores it."""

    test: tuple[str, ...] = ()
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = {
            "Test": list(self.test),
            "Interval": self.interval,
            "Timeout": self.timeout,
            "StartPeriod": self.start_period,
            "StartInterval": self.start_interval,
            "Retries": self.retries,
        }
        return {k: v for k, v in d.items() if v not in (0, [])}


def _healthcheck(n: _Node | None) -> Healthcheck | None:
    if n is None:
        return None
    return Healthcheck(
        test=n.strs("Test") or (),
        interval=n.int_("Interval") or 0,
        timeout=n.int_("Timeout") or 0,
        start_period=n.int_("StartPeriod") or 0,
        start_interval=n.int_("StartInterval") or 0,
        retries=n.int_("Retries") or 0,
    )


@record
class ContainerConfig:
    """The ``config`` object of an image config: defaults for running it."""

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    healthcheck: Healthcheck | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    args_escaped: bool = False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "User": self.user,
            "ExposedPorts": {p: {} for p in self.exposed_ports},
            "Env": list(self.env),
            "Entrypoint": None if self.entrypoint is None else list(self.entrypoint),
            "Cmd": None if self.cmd is None else list(self.cmd),
            "Volumes": {v: {} for v in self.volumes},
            "WorkingDir": self.working_dir,
            "Labels": dict(self.labels),
            "StopSignal": self.stop_signal,
            "Healthcheck": self.healthcheck.to_dict() if self.healthcheck else None,
            "OnBuild": list(self.on_build),
            "Shell": None if self.shell is None else list(self.shell),
            "ArgsEscaped": self.args_escaped or None,
        }
        out = _drop_empty(d)
        for key, value in (("Entrypoint", self.entrypoint), ("Cmd", self.cmd)):
            if value is not None:
                out[key] = list(value)
        return out


def _container_config(n: _Node | None) -> ContainerConfig:
    if n is None:
        return ContainerConfig()
    env = n.strs("Env") or ()
    for i, entry in enumerate(env):
        if not _is_env(entry):
            n.fail(f"{n.at('Env')}[{i}]", f"expected KEY=VALUE, got {entry!r}")
    return ContainerConfig(
        user=n.str_("User") or "",
        exposed_ports=n.key_set("ExposedPorts"),
        env=env,
        entrypoint=n.strs("Entrypoint"),
        cmd=n.strs("Cmd"),
        volumes=n.key_set("Volumes"),
        working_dir=n.str_("WorkingDir") or "",
        labels=n.str_map("Labels"),
        stop_signal=n.str_("StopSignal") or "",
        healthcheck=_healthcheck(n.child("Healthcheck")),
        on_build=n.strs("OnBuild") or (),
        shell=n.strs("Shell"),
        args_escaped=bool(n.bool_("ArgsEscaped")),
    )


@record
class RootFS:
    """The uncompressed layer digests (diff IDs), bottom first."""

    diff_ids: tuple[Digest, ...] = ()
    type: str = "layers"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "diff_ids": [str(d) for d in self.diff_ids]}


def _rootfs(n: _Node) -> RootFS:
    type_ = n.req_str("type")
    if type_ != "layers":
        n.fail(n.at("type"), f"expected 'layers', got {type_!r}")
    raw = n.strs("diff_ids", nullable=False)
    if raw is None:
        n.fail(n.at("diff_ids"), "required field missing")
    diff_ids = []
    for i, s in enumerate(raw or ()):
        try:
            diff_ids.append(parse_digest(s))
        except InvalidArgument as e:
            n.fail(f"{n.at('diff_ids')}[{i}]", str(e).removeprefix("parse digest "))
    return RootFS(tuple(diff_ids), type_)


@record
class History:
    """One entry of the image history; ``empty_layer`` entries add no layer."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {
            "created": self.created,
            "created_by": self.created_by,
            "author": self.author,
            "comment": self.comment,
            "empty_layer": self.empty_layer or None,
        }
        return _drop_empty(d)


def _history(n: _Node) -> History:
    return History(
        created=_created(n),
        created_by=n.str_("created_by"),
        author=n.str_("author"),
        comment=n.str_("comment"),
        empty_layer=bool(n.bool_("empty_layer")),
    )


def _created(n: _Node) -> str | None:
    s = n.str_("created")
    if s is not None and not _is_date_time(s):
        n.fail(n.at("created"), f"expected an RFC 3339 date-time, got {s!r}")
    return s


@record
class ImageConfig:
    """An image configuration (OCI or Docker ``container.image.v1``)."""

    architecture: str
    os: str
    rootfs: RootFS = field(default_factory=RootFS)
    config: ContainerConfig = field(default_factory=ContainerConfig)
    created: str | None = None
    author: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    history: tuple[History, ...] = ()
    raw: bytes = field(default=b"", compare=False, repr=False)

    def to_json(self) -> bytes:
        d: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "variant": self.variant,
            "os.version": self.os_version,
            "os.features": list(self.os_features),
            "created": self.created,
            "author": self.author,
            "config": self.config.to_dict(),
            "history": [h.to_dict() for h in self.history],
        }
        return canonical_json(_drop_empty(d) | {"rootfs": self.rootfs.to_dict()})

    def content(self) -> bytes:
        return self.raw or self.to_json()

    def digest(self) -> Digest:
        """The image ID: the digest of the config bytes."""
        return sha256_digest(self.content())

    def layer_history(self) -> list[History]:
        """History entries that produced a layer, bottom first."""
        return [h for h in self.history if not h.empty_layer]


def parse_config(data: bytes) -> ImageConfig:
    """Parse an image config."""
    n = _load("config", data)
    rootfs = n.child("rootfs", required=True)
    assert rootfs is not None
    return ImageConfig(
        architecture=n.req_str("architecture"),
        os=n.req_str("os"),
        rootfs=_rootfs(rootfs),
        config=_container_config(n.child("config")),
        created=_created(n),
        author=n.str_("author"),
        variant=n.str_("variant"),
        os_version=n.str_("os.version"),
        os_features=n.strs("os.features", nullable=False) or (),
        history=tuple(_history(h) for h in n.children("history")),
        raw=bytes(data),
    )
