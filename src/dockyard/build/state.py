"""The image a stage is building: config, layers, history, cache key.

A stage starts from its base (an image from the store, another stage, or
``scratch``) and every instruction turns one :class:`ImageState` into the next.
The metadata instructions (ENV, LABEL, CMD, ...) are pure functions here —
:func:`apply_metadata` — so the planner's tests can run them without a kernel.
The ``config`` dict is the ``config`` object of a Docker/OCI image config, in
its JSON spelling (``Env``, ``Cmd``, ``WorkingDir``...).  History entries are
written as BuildKit writes them: ``created_by`` is the instruction, layer
steps end with ``# buildkit``, metadata steps are ``empty_layer``, and every
entry has the comment ``buildkit.dockerfile.v0``.
"""

from __future__ import annotations

import copy
import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from dockyard.build.parser.instructions import (
    Cmd,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.image import (
    Descriptor,
    History,
    ImageConfig,
    Manifest,
    RootFS,
    parse_config,
)

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_SHELL",
    "HISTORY_COMMENT",
    "ImageState",
    "Layer",
    "LayerRef",
    "apply_metadata",
    "go_quote_list",
    "shell_words",
]

DEFAULT_SHELL = ("/bin/sh", "-c")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HISTORY_COMMENT = "buildkit.dockerfile.v0"


class Layer(Protocol):
    """A layer of a stage: a :class:`LayerRef`, or a layer whose blob is still being
    written (:class:`dockyard.build.commits.PendingLayer`): its files are at ``location``
    already, and reading its digests waits for the blob."""

    @property
    def digest(self) -> Digest: ...
    @property
    def diff_id(self) -> Digest: ...
    @property
    def size(self) -> int: ...
    @property
    def media_type(self) -> str: ...
    @property
    def location(self) -> Path | None:
        """Where its files are when that is not the store's snapshot of its chain ID."""


@dataclass(frozen=True)
class LayerRef:
    """One layer of an image: its blob and its diff ID."""

    digest: Digest
    diff_id: Digest
    size: int
    media_type: str = mt.OCI_LAYER_GZIP

    @property
    def location(self) -> Path | None:
        return None  # the snapshot of its chain ID, unpacked from the blob when missing

    def to_json(self) -> dict[str, Any]:
        return {"digest": str(self.digest), "diff_id": str(self.diff_id),
                "size": self.size, "media_type": self.media_type}  # fmt: skip

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> LayerRef:
        return cls(parse_digest(d["digest"]), parse_digest(d["diff_id"]), int(d["size"]),
                   str(d["media_type"]))  # fmt: skip


@dataclass
class ImageState:
    """A stage's image as it is being built."""

    architecture: str
    os: str
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    history: list[History] = field(default_factory=list)
    key: str = ""
    variant: str | None = None
    author: str | None = None
    cmd_set: bool = False  # CMD given in this stage (ENTRYPOINT then keeps it)

    @classmethod
    def scratch(cls, architecture: str, os_: str, key: str) -> ImageState:
        return cls(architecture, os_, {"Env": [f"PATH={DEFAULT_PATH}"]}, key=key)

    @classmethod
    def from_image(cls, config: ImageConfig, layers: Iterable[Descriptor], key: str) -> ImageState:
        """The state of a base image (its ``config`` object copied, not shared)."""
        cfg = config.config.to_dict()
        refs: list[Layer] = [
            LayerRef(d.digest, diff, d.size, d.media_type)
            for d, diff in zip(layers, config.rootfs.diff_ids, strict=True)
        ]
        return cls(
            config.architecture, config.os, cfg, refs, list(config.history), key,
            config.variant, config.author,
        )  # fmt: skip

    def copy(self) -> ImageState:
        return replace(self, config=copy.deepcopy(self.config), layers=list(self.layers),
                       history=list(self.history))  # fmt: skip

    # --- views ---------------------------------------------------------------------------

    @property
    def env_list(self) -> list[str]:
        return list(self.config.get("Env") or [])

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env_list:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    @property
    def shell(self) -> tuple[str, ...]:
        return tuple(self.config.get("Shell") or DEFAULT_SHELL)

    @property
    def workdir(self) -> str:
        return str(self.config.get("WorkingDir") or "/")

    @property
    def user(self) -> str:
        return str(self.config.get("User") or "")

    def set_env(self, key: str, value: str) -> None:
        env = [e for e in self.env_list if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
        self.config["Env"] = env

    def add_history(self, created: str, created_by: str, *, empty: bool) -> None:
        self.history.append(History(created=created, created_by=created_by,
                                    comment=HISTORY_COMMENT, empty_layer=empty))  # fmt: skip

    # --- output --------------------------------------------------------------------------

    def image_config(self, created: str) -> ImageConfig:
        """The image config document (``rootfs.diff_ids`` from the layers)."""
        doc: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "created": created,
            "config": _clean_config(self.config),
            "rootfs": RootFS(tuple(x.diff_id for x in self.layers)).to_dict(),
            "history": [h.to_dict() for h in self.history],
        }
        if self.variant:
            doc["variant"] = self.variant
        if self.author:
            doc["author"] = self.author
        raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
        return parse_config(raw)

    def manifest(self, config: ImageConfig) -> Manifest:
        cfg_bytes = config.content()
        from dockyard.oci.digest import sha256_digest

        return Manifest(
            config=Descriptor(mt.OCI_CONFIG, sha256_digest(cfg_bytes), len(cfg_bytes)),
            layers=tuple(Descriptor(x.media_type, x.digest, x.size) for x in self.layers),
        )


def _clean_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """Drop empty fields, as Docker's JSON (``omitempty``) does."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        if (k in ("Cmd", "Entrypoint") and v is not None) or v not in (None, "", [], {}, False):
            out[k] = v
    return out


# --- formatting ---------------------------------------------------------------------------


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def go_quote_list(items: Iterable[str]) -> str:
    """Go's ``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(_go_quote(x) for x in items) + "]"


def shell_words(state: ImageState, cmd_line: list[str], prepend_shell: bool) -> list[str]:
    """The argv of a shell-form or exec-form command."""
    return [*state.shell, *cmd_line] if prepend_shell else list(cmd_line)


# --- metadata instructions ---------------------------------------------------------------


def _ports(ports: list[str]) -> list[str]:
    out = []
    for p in ports:
        port, _, proto = p.partition("/")
        proto = (proto or "tcp").lower()
        if not port or not all(c.isdigit() or c == "-" for c in port):
            raise InvalidArgument(f"invalid containerPort: {port}")
        out.append(f"{port}/{proto}")
    return out


def _workdir(state: ImageState, path: str) -> str:
    if not path.startswith("/"):
        path = posixpath.join(state.workdir, path)
    return posixpath.normpath(path) if path != "/" else "/"


def apply_metadata(state: ImageState, inst: Instruction) -> str | None:
    """Apply a metadata-only instruction (already expanded) to ``state``.

    Returns the history ``created_by`` text, or None when ``inst`` is not a
    metadata instruction (RUN, COPY, ADD, ARG, FROM are handled elsewhere).
    WORKDIR updates the config here; creating the directory is the executor's.
    """
    cfg = state.config
    if isinstance(inst, Env):
        for pair in inst.pairs:
            state.set_env(pair.key, pair.value)
        return "ENV " + " ".join(f"{p.key}={p.value}" for p in inst.pairs)
    if isinstance(inst, Label):
        labels = dict(cfg.get("Labels") or {})
        for pair in inst.pairs:
            labels[pair.key] = pair.value
        cfg["Labels"] = labels
        return "LABEL " + " ".join(f"{p.key}={p.value}" for p in inst.pairs)
    if isinstance(inst, Cmd):
        cfg["Cmd"] = shell_words(state, inst.cmd_line, inst.prepend_shell)
        state.cmd_set = True
        return "CMD " + go_quote_list(cfg["Cmd"])
    if isinstance(inst, Entrypoint):
        cfg["Entrypoint"] = shell_words(state, inst.cmd_line, inst.prepend_shell)
        if not state.cmd_set:
            cfg["Cmd"] = None
        return "ENTRYPOINT " + go_quote_list(cfg["Entrypoint"])
    if isinstance(inst, Expose):
        ports = dict(cfg.get("ExposedPorts") or {})
        for p in _ports(inst.ports):
            ports[p] = {}
        cfg["ExposedPorts"] = ports
        return "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"
    if isinstance(inst, Workdir):
        workdir = _workdir(state, inst.path)
        cfg["WorkingDir"] = workdir
        return "WORKDIR " + workdir
    if isinstance(inst, User):
        cfg["User"] = inst.user
        return "USER " + inst.user
    if isinstance(inst, Volume):
        vols = dict(cfg.get("Volumes") or {})
        for v in inst.volumes:
            vols[v] = {}
        cfg["Volumes"] = vols
        return "VOLUME [" + " ".join(inst.volumes) + "]"
    if isinstance(inst, StopSignal):
        cfg["StopSignal"] = inst.signal
        return "STOPSIGNAL " + inst.signal
    if isinstance(inst, Healthcheck):
        return _healthcheck(state, inst)
    if isinstance(inst, Shell):
        cfg["Shell"] = list(inst.shell)
        return "SHELL " + go_quote_list(inst.shell)
    if isinstance(inst, Onbuild):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), inst.expression]
        return "ONBUILD " + inst.expression
    if isinstance(inst, Maintainer):
        state.author = inst.maintainer
        return "MAINTAINER " + inst.maintainer
    return None


def _healthcheck(state: ImageState, inst: Healthcheck) -> str:
    hc: dict[str, Any] = {"Test": list(inst.test)}
    for key, value in (
        ("Interval", inst.interval),
        ("Timeout", inst.timeout),
        ("StartPeriod", inst.start_period),
        ("StartInterval", inst.start_interval),
        ("Retries", inst.retries),
    ):
        if value:
            hc[key] = value  # fmt: skip
    state.config["Healthcheck"] = hc
    return "HEALTHCHECK " + go_quote_list(inst.test)
