"""Layers: applying OCI layer tars to directories, and making layer tars from them.

Terms
-----
*layer*: a tar stream (plain, gzip, bzip2 or xz; detected by magic number)
whose entries add, replace or delete files of the filesystem below it.
*diff ID*: sha256 of the uncompressed tar; *digest*: sha256 of the bytes as
stored (compressed).  *Whiteout*: an entry ``dir/.wh.NAME`` that deletes
``dir/NAME`` from lower layers; ``dir/.wh..wh..opq`` makes ``dir`` opaque (its
lower contents are hidden).

Apply
-----
``apply_layer(stream, target)`` unpacks onto ``target`` and returns the diff
ID.  Whiteouts are applied (``overlay=False``, the default: ``target`` is a
merged rootfs) or recorded in overlayfs form (``overlay=True``: ``target`` is
one overlay lower dir).  Extraction is safe: every entry is checked by the
policy of :mod:`dockyard.store._safepath` (no absolute names, no ``..``, no
writing through a symlink that leaves the root, relative symlinks and
hardlinks stay inside), and device nodes are refused unless
``allow_devices``.  Owners (numeric), modes, mtimes and xattrs are set where
the process may.  A refusal raises InvalidArgument with one line naming the
entry, e.g. ``apply layer: path escapes root: ../etc/passwd``; what was
written before the refusal stays in ``target`` (unpack into a scratch
directory, as :mod:`dockyard.store.snapshots` does, to get all or nothing).
``scan_layers`` runs the same checks without writing, across the layers of
one image.  ``read_layer`` yields a layer's members in order, for readers that
look into an image without unpacking it (the SBOM); it checks nothing, so its
caller must treat every name as untrusted.

Diff
----
``tar_directory(src, out)`` writes a whole tree as a layer;
``diff_upper(upper, out)`` writes an overlayfs upper dir, converting its
whiteouts to the OCI form.  Both are reproducible: sorted entries, numeric
owners, mtimes clamped to ``SOURCE_DATE_EPOCH`` when set, and a gzip header
with mtime 0 and no file name.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest
from dockyard.records import record
from dockyard.store._apply import Applier
from dockyard.store._scan import Scanner
from dockyard.store._tarwrite import TreeWriter
from dockyard.store.streams import HashingReader, HashingWriter, TarTail, drain, open_plain

_COPY_BUF = 1 << 20

__all__ = [
    "LayerInfo",
    "apply_layer",
    "diff_id_of",
    "diff_upper",
    "read_layer",
    "scan_layers",
    "tar_directory",
]


@record
class LayerInfo:
    """What a written layer is: its diff ID, its stored digest and size, its media type."""

    diff_id: Digest
    digest: Digest
    size: int
    media_type: str


def _members(
    reader: HashingReader, where: str
) -> Iterable[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    try:
        with tarfile.open(fileobj=TarTail(reader), mode="r|") as tf:
            for member in tf:
                yield member, tf
    except (tarfile.TarError, EOFError, OSError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise InvalidArgument(f"{where}: invalid tar: {e}") from None


def _plain_reader(stream: BinaryIO, where: str) -> HashingReader:
    try:
        return HashingReader(open_plain(stream))
    except (OSError, EOFError) as e:
        raise InvalidArgument(f"{where}: invalid compressed stream: {e}") from None


def _finish(reader: HashingReader, where: str) -> Digest:
    try:
        drain(reader)
    except (OSError, EOFError) as e:
        raise InvalidArgument(f"{where}: invalid compressed stream: {e}") from None
    return reader.digest()


def apply_layer(
    stream: BinaryIO,
    target: Path,
    *,
    allow_devices: bool = False,
    overlay: bool = False,
    where: str = "apply layer",
) -> Digest:
    """Apply the layer read from ``stream`` onto ``target``; return its diff ID."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    applier = Applier(target, allow_devices=allow_devices, overlay=overlay, where=where)
    reader = _plain_reader(stream, where)
    for member, tf in _members(reader, where):
        applier.entry(member, tf)
    applier.finish()
    return _finish(reader, where)


def scan_layers(
    streams: Iterable[tuple[str, BinaryIO]], *, allow_devices: bool = False
) -> list[Digest]:
    """Check the layers of one image, bottom first, without writing; return their diff IDs.

    Each item is ``(where, stream)``; ``where`` prefixes the error messages.
    """
    scanner = Scanner(allow_devices=allow_devices)
    out = []
    for where, stream in streams:
        scanner.begin(where)
        reader = _plain_reader(stream, where)
        for member, _tf in _members(reader, where):
            scanner.entry(member)
        out.append(_finish(reader, where))
    return out


def read_layer(
    stream: BinaryIO, where: str = "read layer"
) -> Iterator[tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """The members of a (possibly compressed) layer, in order, each with its tar file so
    that a regular member's data can be read (``tf.extractfile(member)``) before the next
    member is asked for.  Names are as stored: untrusted, not cleaned."""
    reader = _plain_reader(stream, where)
    yield from _members(reader, where)


def diff_id_of(stream: BinaryIO, where: str = "read layer") -> Digest:
    """The diff ID of a (possibly compressed) layer stream."""
    return _finish(_plain_reader(stream, where), where)


def _write(src: Path, out: BinaryIO, *, compress: bool, overlay: bool) -> LayerInfo:
    import gzip

    outer = HashingWriter(out)
    gz = None
    if compress:
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=outer, mtime=0, compresslevel=6)
    # uncompressed, the stored bytes are the tar bytes: one hash serves both digests
    inner = HashingWriter(gz) if gz is not None else outer
    # "w" (not the "w|" stream mode, which re-buffers every write in 10 KiB records):
    # the tar goes straight to ``inner``, file data in 1 MiB reads; the bytes are the same
    with tarfile.TarFile(fileobj=inner, mode="w", format=tarfile.PAX_FORMAT,
                         copybufsize=_COPY_BUF) as tf:  # fmt: skip
        TreeWriter(tf, overlay=overlay).add_tree(Path(src))
    if gz is not None:
        gz.close()
    media_type = mt.OCI_LAYER_GZIP if compress else mt.OCI_LAYER
    return LayerInfo(inner.digest(), outer.digest(), outer.hasher.size, media_type)


def tar_directory(src: Path, out: BinaryIO, *, compress: bool = True) -> LayerInfo:
    """Write the whole tree ``src`` as one layer to ``out``."""
    return _write(src, out, compress=compress, overlay=False)


def diff_upper(upper: Path, out: BinaryIO, *, compress: bool = True) -> LayerInfo:
    """Write an overlayfs upper dir as a layer, whiteouts converted to the OCI form."""
    return _write(upper, out, compress=compress, overlay=True)
