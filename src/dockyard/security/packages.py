"""What an image holds: the packages found in its layers, each with the layer that added it.

Terms
-----
*Package*: one installed dpkg package or Python distribution, with its purl, declared
licences, the path it was read from and the digest of the layer that added it.
*Inventory*: an image's packages and its distribution (``/etc/os-release``).

What is read
------------
- dpkg: ``var/lib/dpkg/status`` (paragraphs whose ``Status`` ends in ``installed``)
  and ``var/lib/dpkg/status.d/*`` (one file per package, as distroless images keep
  them); licences from the machine-readable ``usr/share/doc/NAME/copyright``
  (``License:`` fields).  A package's layer is the first layer after which the
  database holds it at its final version (a layer that rewrites the database without
  changing the package does not take it over).  ``Source: NAME (VERSION)`` is kept:
  Debian's advisories name source packages.
- Python: ``NAME.dist-info/METADATA``, ``NAME.egg-info/PKG-INFO`` and a
  ``NAME.egg-info`` file, directly inside a directory named ``site-packages`` or
  ``dist-packages`` anywhere in the image (system, ``/usr/local``, virtualenvs).
  Distributions vendored inside other packages (``setuptools/_vendor/*.dist-info``)
  are not installed distributions: ``pip list`` does not show them, nor does this.
  Licence: ``License-Expression``, else a one-line ``License``, else the licence
  classifiers.

Example::

    inv = inventory(store, store.resolve("python:3.11-slim"))
    [p.purl for p in inv.packages if p.kind == "deb"][:1]
    # ['pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12']

Errors: a layer that is not a valid tar raises InvalidArgument naming it; a missing
layer blob raises NotFound.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser

from dockyard.security.rootfs import Change, Content, final_view, resolve, walk_layers

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from dockyard.store.images import Image, ImageStore

__all__ = ["Distro", "Inventory", "Package", "inventory", "inventory_from_changes"]

_DPKG_STATUS = "var/lib/dpkg/status"
_DPKG_STATUS_D = "var/lib/dpkg/status.d/"
_OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_SITE_DIRS = ("site-packages", "dist-packages")
_COPYRIGHT = re.compile(r"^usr/share/doc/[^/]+/copyright$")


@dataclass(frozen=True, slots=True)
class Distro:
    """The image's distribution from ``os-release``: ``id`` (``debian``), ``version_id``
    (``12``), ``pretty_name``; empty strings when absent."""

    id: str = ""
    version_id: str = ""
    pretty_name: str = ""

    @property
    def purl_distro(self) -> str:
        """The purl ``distro`` qualifier: ``debian-12``."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package (see the module doc)."""

    kind: str  # "deb" or "pypi"
    name: str
    version: str
    purl: str
    layer: str  # digest of the layer that added it
    layer_index: int
    path: str  # where it was read, absolute in the image
    licenses: tuple[str, ...] = ()
    arch: str = ""
    source_name: str = ""  # deb: the source package (itself when not given)
    source_version: str = ""


@dataclass(slots=True)
class Inventory:
    """An image's packages, in a stable order (kind, name, version, path)."""

    image: str
    image_id: str
    layers: list[str]
    distro: Distro
    packages: list[Package] = field(default_factory=list)


def wanted(path: str) -> bool:
    """Whether a layer path is one of the files :func:`inventory` reads."""
    if path == _DPKG_STATUS or path in _OS_RELEASE:
        return True
    if path.startswith(_DPKG_STATUS_D):
        rest = path[len(_DPKG_STATUS_D) :]
        return "/" not in rest and not rest.endswith(".md5sums")
    if path.endswith("/copyright"):
        return _COPYRIGHT.match(path) is not None
    return _python_meta(path)


def _python_meta(path: str) -> bool:
    head, base = posixpath.split(path)
    meta_file = {"METADATA": ".dist-info", "PKG-INFO": ".egg-info"}.get(base)
    if meta_file is not None and head.endswith(meta_file):
        site = posixpath.dirname(head)
    elif base.endswith(".egg-info"):
        site = head
    else:
        return False
    return posixpath.basename(site) in _SITE_DIRS


def inventory(store: ImageStore, image: Image, name: str = "") -> Inventory:
    """Read the packages of ``image`` from its layer blobs (nothing is unpacked)."""
    layers = [d.digest for d in image.manifest.layers]
    streams = _streams(store, [str(d) for d in layers])
    changes = walk_layers(streams, wanted)
    return inventory_from_changes(changes, [str(d) for d in layers], name, str(image.id))


def _streams(store: ImageStore, digests: list[str]) -> Iterator[tuple[str, BinaryIO]]:
    from dockyard.oci.digest import parse_digest

    for i, d in enumerate(digests):
        with store.blobs.open(parse_digest(d)) as f:
            yield f"layer {i + 1} ({d[:19]})", f


def inventory_from_changes(
    changes: list[Change], layers: list[str], name: str, image_id: str
) -> Inventory:
    """The inventory from :func:`~dockyard.security.rootfs.walk_layers`' output."""
    files = final_view(changes)
    distro = _distro(files)
    licences = _deb_licences(files)
    pkgs = list(_deb_packages(changes, layers, distro, licences))
    pkgs += list(_python_packages(files, layers))
    pkgs.sort(key=lambda p: (p.kind, p.name, p.version, p.path))
    return Inventory(name, image_id, layers, distro, pkgs)


# --- os-release -----------------------------------------------------------------------


def _distro(files: dict[str, tuple[int, Content]]) -> Distro:
    for path in _OS_RELEASE:
        found = resolve(files, path)
        if found is not None:
            values = _os_release(found[1].decode("utf-8", "replace"))
            return Distro(
                values.get("ID", ""), values.get("VERSION_ID", ""), values.get("PRETTY_NAME", "")
            )
    return Distro()


def _os_release(text: str) -> dict[str, str]:
    import shlex

    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            continue
        out[key] = words[0] if words else ""
    return out


# --- dpkg ----------------------------------------------------------------------------


def _paragraphs(data: bytes) -> Iterator[dict[str, str]]:
    """RFC 822-style stanzas of a dpkg database file."""
    fields: dict[str, str] = {}
    key = ""
    for raw in data.decode("utf-8", "replace").splitlines():
        if not raw.strip():
            if fields:
                yield fields
            fields, key = {}, ""
        elif raw[0] in " \t":
            if key:
                fields[key] += "\n" + raw.strip()
        else:
            key, _, value = raw.partition(":")
            key = key.strip()
            fields[key] = value.strip()
    if fields:
        yield fields


_DebKey = tuple[str, str]  # (name, arch)


@dataclass(frozen=True, slots=True)
class _Deb:
    name: str
    version: str
    arch: str
    source: str
    source_version: str
    path: str


def _debs_in(path: str, data: bytes) -> Iterator[_Deb]:
    for p in _paragraphs(data):
        name, version = p.get("Package", ""), p.get("Version", "")
        status = p.get("Status", "install ok installed").split()
        if not name or not version or status[-1:] != ["installed"]:
            continue
        source, _, rest = p.get("Source", name).partition(" ")
        source_version = rest.strip("() ") or version
        yield _Deb(name, version, p.get("Architecture", ""), source, source_version, path)


def _deb_state(state: dict[str, bytes]) -> dict[_DebKey, _Deb]:
    out: dict[_DebKey, _Deb] = {}
    for path in sorted(state):
        for deb in _debs_in(path, state[path]):
            out[(deb.name, deb.arch)] = deb
    return out


def _deb_packages(
    changes: list[Change], layers: list[str], distro: Distro, licences: dict[str, tuple[str, ...]]
) -> Iterator[Package]:
    state: dict[str, bytes] = {}  # dpkg database files as they stand after each layer
    since: dict[_DebKey, tuple[int, _Deb]] = {}
    for index, change in enumerate(changes):
        touched = False
        for path, content in change.items():
            if path == _DPKG_STATUS or path.startswith(_DPKG_STATUS_D):
                touched = True
                if isinstance(content, bytes):
                    state[path] = content
                else:
                    state.pop(path, None)
        if not touched:
            continue
        now = _deb_state(state)
        since = {
            key: since[key]
            if key in since and since[key][1].version == deb.version
            else (index, deb)
            for key, deb in now.items()
        }
    for (_name, _arch), (index, deb) in sorted(since.items()):
        yield _deb_package(deb, index, layers, distro, licences.get(deb.name, ()))


def _deb_package(
    deb: _Deb, index: int, layers: list[str], distro: Distro, licences: tuple[str, ...]
) -> Package:
    from packageurl import PackageURL

    qualifiers = {"arch": deb.arch} if deb.arch else {}
    if distro.id:
        qualifiers["distro"] = distro.purl_distro
    purl = PackageURL(
        type="deb",
        namespace=distro.id or "debian",
        name=deb.name,
        version=deb.version,
        qualifiers=qualifiers,
    ).to_string()
    return Package(
        "deb",
        deb.name,
        deb.version,
        purl,
        layers[index],
        index,
        "/" + deb.path,
        licences,
        deb.arch,
        deb.source,
        deb.source_version,
    )


def _deb_licences(files: dict[str, tuple[int, Content]]) -> dict[str, tuple[str, ...]]:
    """Licence names from machine-readable copyright files, by package name."""
    out: dict[str, tuple[str, ...]] = {}
    for path, (_layer, content) in files.items():
        if not isinstance(content, bytes) or not _COPYRIGHT.match(path):
            continue
        if not content.startswith(b"Format:"):
            continue  # not DEP-5: free text, nothing declared in a form one can read
        names: list[str] = []
        for p in _paragraphs(content):
            first = p.get("License", "").split("\n", 1)[0].strip()
            if first and first not in names:
                names.append(first)
        out[path.split("/")[3]] = tuple(names)
    return out


# --- Python ----------------------------------------------------------------------------


def _python_packages(files: dict[str, tuple[int, Content]], layers: list[str]) -> Iterator[Package]:
    from packageurl import PackageURL

    for path, (index, content) in files.items():
        if not isinstance(content, bytes) or not _python_meta(path):
            continue
        meta = BytesHeaderParser().parsebytes(content)
        name, version = meta.get("Name", ""), meta.get("Version", "")
        if not name or not version:
            continue
        name, version = str(name).strip(), str(version).strip()
        purl = PackageURL(type="pypi", name=name, version=version).to_string()
        yield Package(
            "pypi", name, version, purl, layers[index], index, "/" + path, _py_licences(meta)
        )


def _py_licences(meta: object) -> tuple[str, ...]:
    from email.message import Message

    assert isinstance(meta, Message)
    expr = str(meta.get("License-Expression", "") or "").strip()
    if expr:
        return (expr,)
    text = str(meta.get("License", "") or "").strip()
    if text and "\n" not in text and len(text) <= 100 and text.upper() != "UNKNOWN":
        return (text,)
    names = [
        str(c).rsplit("::", 1)[-1].strip()
        for c in meta.get_all("Classifier", [])
        if str(c).startswith("License ::") and str(c).count("::") >= 2
    ]
    return tuple(dict.fromkeys(names))
