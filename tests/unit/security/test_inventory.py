"""The layer walk and the package inventory on layers made here: whiteouts, opaque
directories, symlinked os-release, hardlinks, dpkg layer attribution, where Python
metadata counts."""

from __future__ import annotations

import io
import tarfile
from typing import BinaryIO

import pytest

from dockyard.errors import InvalidArgument
from dockyard.security.packages import inventory_from_changes, wanted
from dockyard.security.rootfs import Symlink, final_view, resolve, walk_layers

Entry = tuple[str, bytes | str | None]  # name -> data, "->target" symlink, "=>x" hardlink


def layer(*entries: Entry, gz: bool = True) -> BinaryIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            elif isinstance(data, str) and data.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:]
                tf.addfile(info)
            elif isinstance(data, str) and data.startswith("=>"):
                info.type, info.linkname = tarfile.LNKTYPE, data[2:]
                tf.addfile(info)
            else:
                raw = data.encode() if isinstance(data, str) else data
                info.size = len(raw)
                tf.addfile(info, io.BytesIO(raw))
    buf.seek(0)
    return buf


def walk(*layers: BinaryIO) -> list[dict[str, bytes | Symlink | None]]:
    return walk_layers([(f"layer {i}", f) for i, f in enumerate(layers)], wanted)


STATUS_1 = """\
Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.2-1)
Version: 1.2-1+b1

Package: bar
Status: install ok installed
Architecture: all
Version: 2.0

Package: gone
Status: deinstall ok config-files
Architecture: all
Version: 0.1
"""

STATUS_2 = (
    STATUS_1.replace("Version: 2.0", "Version: 2.1")
    + "\nPackage: newpkg\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:3.0\n"
)

META = "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n\n"
SITE = "usr/local/lib/python3.11/site-packages"


def test_whiteout_hides_lower_files_and_opaque_hides_lower_dirs() -> None:
    changes = walk(
        layer((f"{SITE}/a-1.dist-info/METADATA", META), (f"{SITE}/b-1.dist-info/METADATA", META)),
        layer((f"{SITE}/.wh.a-1.dist-info", b""), (f"{SITE}/c-1.dist-info/METADATA", META)),
        layer((f"{SITE}/c-1.dist-info/METADATA", META), (f"{SITE}/.wh..wh..opq", b"")),
    )
    view = final_view(changes)
    # the opaque marker of layer 2 hides b (layer 0) but keeps c, written by layer 2 itself
    assert sorted(view) == [f"{SITE}/c-1.dist-info/METADATA"]
    assert view[f"{SITE}/c-1.dist-info/METADATA"][0] == 2
    assert changes[1][f"{SITE}/a-1.dist-info/METADATA"] is None


def test_a_file_replacing_a_directory_hides_what_was_below() -> None:
    view = final_view(
        walk(layer((f"{SITE}/a-1.dist-info/METADATA", META)), layer((SITE, "->/elsewhere")))
    )
    assert view == {}


def test_a_directory_replacing_a_file_hides_it() -> None:
    egg = f"{SITE}/a-1.egg-info"
    changes = walk(layer((egg, META.format(name="a", version="1"))), layer((egg, None)))
    assert final_view(changes) == {}


def test_symlinked_os_release_and_hardlinks_resolve() -> None:
    changes = walk(
        layer(
            ("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            ("etc/os-release", "->../usr/lib/os-release"),
            (f"{SITE}/x-1.dist-info/METADATA", META.format(name="x", version="1")),
            (f"{SITE}/y-1.dist-info/METADATA", f"=>{SITE}/x-1.dist-info/METADATA"),
        )
    )
    view = final_view(changes)
    assert resolve(view, "etc/os-release") == (0, b'ID=debian\nVERSION_ID="12"\n')
    assert view[f"{SITE}/y-1.dist-info/METADATA"][1] == view[f"{SITE}/x-1.dist-info/METADATA"][1]


def test_names_that_climb_out_are_skipped_and_huge_files_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view = final_view(walk(layer(("../var/lib/dpkg/status", STATUS_1), gz=False)))
    assert view == {}
    monkeypatch.setattr("dockyard.security.rootfs.MAX_FILE", 10)
    with pytest.raises(InvalidArgument, match="layer 0: var/lib/dpkg/status: larger than"):
        walk(layer(("var/lib/dpkg/status", STATUS_1)))


def test_a_layer_that_is_not_a_tar_names_itself() -> None:
    with pytest.raises(InvalidArgument, match=r"^layer 0: invalid"):
        walk(io.BytesIO(b"\x1f\x8bnot gzip at all"))


@pytest.mark.parametrize(
    ("path", "want"),
    [
        (f"{SITE}/a-1.dist-info/METADATA", True),
        ("usr/lib/python3/dist-packages/a-1.egg-info/PKG-INFO", True),
        ("opt/venv/lib/python3.12/site-packages/a-1.egg-info", True),
        (f"{SITE}/setuptools/_vendor/jaraco.text-3.12.1.dist-info/METADATA", False),
        ("app/a-1.dist-info/METADATA", False),
        (f"{SITE}/a-1.dist-info/RECORD", False),
        ("var/lib/dpkg/status.d/libc6", True),
        ("var/lib/dpkg/status.d/libc6.md5sums", False),
        ("var/lib/dpkg/status-old", False),
        ("usr/share/doc/bash/copyright", True),
    ],
)
def test_wanted_paths(path: str, want: bool) -> None:
    assert wanted(path) is want


def _inventory(*layers: BinaryIO) -> list[tuple[str, str, str, int]]:
    changes = walk(*layers)
    digests = [f"sha256:{i:064x}" for i in range(len(layers))]
    inv = inventory_from_changes(changes, digests, "img", "sha256:" + "f" * 64)
    assert all(p.layer == digests[p.layer_index] for p in inv.packages)
    return [(p.kind, p.name, p.version, p.layer_index) for p in inv.packages]


def test_dpkg_packages_keep_the_layer_that_installed_their_version() -> None:
    got = _inventory(
        layer(("var/lib/dpkg/status", STATUS_1), ("etc/os-release", "ID=debian\n")),
        layer(("var/lib/dpkg/status", STATUS_1)),  # rewritten, nothing changed
        layer(("var/lib/dpkg/status", STATUS_2)),  # bar upgraded, newpkg added
    )
    assert got == [
        ("deb", "bar", "2.1", 2),
        ("deb", "libfoo1", "1.2-1+b1", 0),
        ("deb", "newpkg", "1:3.0", 2),
    ]


def test_dpkg_fields_purl_source_and_licence() -> None:
    copyright_text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: someone\nLicense: GPL-2+\n text\n\n"
        "Files: x/*\nCopyright: other\nLicense: MIT\n"
    )
    changes = walk(
        layer(
            ("var/lib/dpkg/status", STATUS_1),
            ("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            ("usr/share/doc/libfoo1/copyright", copyright_text),
        )
    )
    inv = inventory_from_changes(changes, ["sha256:" + "0" * 64], "img", "id")
    foo = next(p for p in inv.packages if p.name == "libfoo1")
    assert foo.purl == "pkg:deb/debian/libfoo1@1.2-1%2Bb1?arch=amd64&distro=debian-12"
    assert (foo.source_name, foo.source_version) == ("foo", "1.2-1")
    assert foo.licenses == ("GPL-2+", "MIT")
    bar = next(p for p in inv.packages if p.name == "bar")
    assert (bar.source_name, bar.source_version, bar.licenses) == ("bar", "2.0", ())


def test_status_d_files_count_each_in_their_own_layer() -> None:
    got = _inventory(
        layer(("var/lib/dpkg/status.d/base", "Package: base\nVersion: 1\nArchitecture: all\n")),
        layer(("var/lib/dpkg/status.d/libc6", "Package: libc6\nVersion: 2.36-9\n")),
    )
    assert got == [("deb", "base", "1", 0), ("deb", "libc6", "2.36-9", 1)]


def test_python_distributions_with_purl_and_licence() -> None:
    meta = META.format(name="Foo_Bar", version="1.0") + "body\n"
    egg = "Metadata-Version: 1.1\nName: legacy\nVersion: 0.9\nLicense: UNKNOWN\n"
    egg += "Classifier: License :: OSI Approved :: BSD License\n"
    changes = walk(
        layer((f"{SITE}/Foo_Bar-1.0.dist-info/METADATA", meta)),
        layer(("opt/venv/lib/python3.11/site-packages/legacy-0.9.egg-info", egg)),
    )
    inv = inventory_from_changes(changes, ["sha256:" + "0" * 64, "sha256:" + "1" * 64], "", "")
    foo, legacy = inv.packages
    assert (foo.purl, foo.licenses, foo.layer_index) == ("pkg:pypi/foo-bar@1.0", ("MIT",), 0)
    assert foo.path == f"/{SITE}/Foo_Bar-1.0.dist-info/METADATA"
    assert (legacy.purl, legacy.licenses, legacy.layer_index) == (
        "pkg:pypi/legacy@0.9",
        ("BSD License",),
        1,
    )


def test_both_documents_validate_with_awkward_licences_and_duplicate_purls() -> None:
    import json

    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    from dockyard.security.sbom import render

    expr = "Metadata-Version: 2.4\nName: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\n"
    venv = "opt/venv/lib/python3.11/site-packages"
    changes = walk(
        layer(
            ("var/lib/dpkg/status", STATUS_1),
            ("usr/lib/os-release", 'ID=debian\nVERSION_ID="12"\n'),
            ("usr/share/doc/bar/copyright", "Format: x\n\nLicense: GPL-2+ and/or weird\n\n"
             "License: BSD-3-clause\n"),
            (f"{SITE}/a-1.dist-info/METADATA", expr),
            (f"{venv}/a-1.dist-info/METADATA", expr),  # the same purl twice
        )
    )  # fmt: skip
    inv = inventory_from_changes(changes, ["sha256:" + "0" * 64], "img:1", "sha256:" + "e" * 64)
    cdx = render(inv, "cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx) is None
    comps = json.loads(cdx)["components"]
    assert len(comps) == 4 and len({c["bom-ref"] for c in comps}) == 4
    a = next(c for c in comps if c["name"] == "a")
    assert a["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
    spdx = json.loads(render(inv, "spdx"))
    doc = JsonLikeDictParser().parse(spdx)
    assert validate_full_spdx_document(doc) == []
    declared = {p["name"]: p.get("licenseDeclared") for p in spdx["packages"]}
    assert declared["a"] == "MIT OR Apache-2.0"
    assert declared["bar"] == "NOASSERTION"
    bar = next(p for p in spdx["packages"] if p["name"] == "bar")
    assert bar["licenseComments"] == "declared: GPL-2+ and/or weird; BSD-3-clause"
    with pytest.raises(InvalidArgument, match="unknown format"):
        render(inv, "syft")
