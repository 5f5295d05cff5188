"""``dockyard sbom`` and ``dockyard scan`` on the real python:3.11-slim image.

The SBOM is compared with what the image's own tools say (``dpkg-query -W`` and ``pip
list`` run inside a container of it); the documents are re-read and validated by the
format libraries.  The scan uses OSV records written here for package versions really
in the image, and the real insecure-version data that PyPI's ``safety-db`` ships,
converted to OSV, against an image built with a known-vulnerable distribution in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import IMAGE_CACHE, Dockyard
from dockyard.security.versions import compare_dpkg

IMAGE = "python:3.11-slim"
pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def dy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockyard]:
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not (IMAGE_CACHE / "python_3.11-slim.tar").is_file():
        pytest.skip(f"{IMAGE} is not cached in {IMAGE_CACHE} (make setup builds it)")
    base = tmp_path_factory.mktemp("sec")
    d = Dockyard(base / "root", base / "run")
    try:
        d.ensure(IMAGE)
        yield d
    finally:
        d.close()


def _sbom(dy: Dockyard, tmp_path: Path, fmt: str, image: str = IMAGE) -> tuple[str, Path]:
    out = tmp_path / f"sbom.{fmt}.json"
    dy.run("sbom", image, "--format", fmt, "-o", str(out), check=True)
    return out.read_text(), out


def _components(cdx: dict[str, Any]) -> list[dict[str, Any]]:
    return list(cdx["components"])


def _prop(c: dict[str, Any], name: str) -> str:
    return next(p["value"] for p in c.get("properties", []) if p["name"] == name)


def _layers(dy: Dockyard, image: str) -> list[str]:
    info = json.loads(dy.run("image", "inspect", image, check=True).stdout)[0]
    from dockyard.store.images import ImageStore

    img = ImageStore(dy.root).resolve(info["Id"])
    return [str(d.digest) for d in img.manifest.layers]


def test_deb_and_python_packages_equal_what_the_image_reports(dy: Dockyard, tmp_path: Path) -> None:
    text, _ = _sbom(dy, tmp_path, "cyclonedx")
    comps = _components(json.loads(text))
    fmt = "${Package}\\t${Version}\\t${Architecture}\\t${db:Status-Status}\\n"
    listed = dy.run("run", "--rm", IMAGE, "dpkg-query", "-W", "-f", fmt, check=True).stdout
    rows = [line.split("\t") for line in listed.splitlines()]
    assert rows and all(r[3] == "installed" for r in rows)
    want_debs = {(r[0], r[1], r[2]) for r in rows}
    got_debs = {
        (c["name"], c["version"], re.search(r"arch=([^&]+)", c["purl"])[1])  # type: ignore[index]
        for c in comps
        if c["purl"].startswith("pkg:deb/")
    }
    assert got_debs == want_debs
    pip = dy.run("run", "--rm", IMAGE, "python3", "-m", "pip", "list", "--format", "json")
    assert pip.returncode == 0, pip.stderr
    want_py = {(p["name"].lower(), p["version"]) for p in json.loads(pip.stdout)}
    got_py = {(c["name"].lower(), c["version"]) for c in comps if c["purl"].startswith("pkg:pypi")}
    assert got_py == want_py and want_py
    layers = _layers(dy, IMAGE)
    assert {_prop(c, "dockyard:layer:digest") for c in comps} <= set(layers)
    python3 = next(c for c in comps if c["name"] == "python3.11-minimal")
    assert _prop(python3, "dockyard:layer:digest") == layers[-1]
    base = next(c for c in comps if c["name"] == "base-files")
    assert _prop(base, "dockyard:layer:digest") == layers[0]
    assert (
        base["purl"] == f"pkg:deb/debian/base-files@{base['version'].replace('+', '%2B')}"
        "?arch=amd64&distro=debian-12"
    )


def test_documents_validate_with_the_format_libraries(dy: Dockyard, tmp_path: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    cdx, _ = _sbom(dy, tmp_path, "cyclonedx")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(cdx) is None
    assert json.loads(cdx)["specVersion"] == "1.6"
    _text, spdx_path = _sbom(dy, tmp_path, "spdx")
    doc = parse_file(str(spdx_path))
    assert validate_full_spdx_document(doc) == []
    assert doc.creation_info.spdx_version == "SPDX-2.3"
    purls = {r.locator for p in doc.packages for r in p.external_references}
    assert "pkg:pypi/pip@23.0.1" in purls
    assert len(doc.packages) == len(json.loads(cdx)["components"]) + 1  # + the image


# --- scan: records written for versions really in the image ---------------------------


def _record(rid: str, eco: str, name: str, events: list[dict[str, str]], **kw: Any) -> str:
    rec = {
        "id": rid,
        "modified": "2026-01-01T00:00:00Z",
        "summary": f"test record {rid}",
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}] if events else [],
                "versions": kw.pop("versions", []),
            }
        ],
        **kw,
    }
    return json.dumps(rec)


def test_scan_reports_affecting_records_with_their_layer(dy: Dockyard, tmp_path: Path) -> None:
    text, _ = _sbom(dy, tmp_path, "cyclonedx")
    comps = {c["name"]: c for c in _components(json.loads(text))}
    expat = comps["libexpat1"]
    expat_v = expat["version"]
    assert _prop(expat, "dockyard:deb:source") == "expat"
    base_v = comps["base-files"]["version"]
    above, below = expat_v + ".1", "2.0.0-1"
    assert compare_dpkg(above, expat_v) > 0 > compare_dpkg(below, expat_v)
    critical = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    records = {
        "DY-AFFECTED.json": _record(
            "DY-AFFECTED", "Debian:12", "expat", [{"introduced": "0"}, {"fixed": above}],
            severity=critical,
        ),
        "DY-FIXED-BELOW.json": _record(
            "DY-FIXED-BELOW", "Debian:12", "expat", [{"introduced": "0"}, {"fixed": below}]
        ),
        "DY-LAST.json": _record(
            "DY-LAST", "Debian", "base-files", [{"introduced": "0"}, {"last_affected": base_v}]
        ),
        "DY-OTHER-RELEASE.json": _record(
            "DY-OTHER-RELEASE", "Debian:11", "expat", [{"introduced": "0"}]
        ),
        "DY-PIP-FIXED.json": _record(
            "DY-PIP-FIXED", "PyPI", "pip", [{"introduced": "0"}, {"fixed": "23.0.1"}]
        ),
        "DY-PIP-LISTED.json": _record("DY-PIP-LISTED", "PyPI", "PIP", [], versions=["23.0.1"]),
    }  # fmt: skip
    src = tmp_path / "osv"
    src.mkdir()
    for name, body in records.items():
        (src / name).write_text(body)
    assert dy.run("scan", "db", "import", str(src), check=True).stdout.startswith("imported 6")
    proc = dy.run("scan", IMAGE, "--format", "json", "--exit-code", "5")
    assert proc.returncode == 5, proc.stderr
    found = {f["id"]: f for f in json.loads(proc.stdout)["findings"]}
    assert sorted(found) == ["DY-AFFECTED", "DY-LAST", "DY-PIP-LISTED"]
    layers = _layers(dy, IMAGE)
    assert found["DY-AFFECTED"]["layer"] == layers[1]
    assert (found["DY-AFFECTED"]["fixed"], found["DY-AFFECTED"]["severity"]) == (above, "CRITICAL")
    assert found["DY-LAST"]["layer"] == layers[0] and found["DY-LAST"]["fixed"] is None
    assert found["DY-PIP-LISTED"]["package"] == "pip"
    only = dy.run("scan", IMAGE, "--format", "json", "--severity", "critical,high", check=True)
    assert [f["id"] for f in json.loads(only.stdout)["findings"]] == ["DY-AFFECTED"]
    fixed = dy.run("scan", IMAGE, "--format", "json", "--ignore-unfixed", check=True)
    assert [f["id"] for f in json.loads(fixed.stdout)["findings"]] == ["DY-AFFECTED"]
    table = dy.run("scan", IMAGE, check=True).stdout
    assert re.search(rf"libexpat1\s+{re.escape(expat_v)}\s+{re.escape(above)}\s+DY-AFFECTED", table)
    sarif = json.loads(dy.run("scan", IMAGE, "--format", "sarif", check=True).stdout)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == set(found)
    # bad input leaves the database as it was: the same findings afterwards
    (src / "zz.json").write_text(_record("BAD", "crates.io", "x", [{"introduced": "0"}]))
    bad = dy.run("scan", "db", "import", str(src))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1, bad.stderr
    assert "zz.json: affected[0]: unknown ecosystem 'crates.io'" in bad.stderr
    again = dy.run("scan", IMAGE, "--format", "json", check=True)
    assert sorted(f["id"] for f in json.loads(again.stdout)["findings"]) == sorted(found)


# --- scan: safety-db's real data against a known-vulnerable distribution ----------------


def test_safety_db_finds_a_known_vulnerable_distribution(dy: Dockyard, tmp_path: Path) -> None:
    from packaging.specifiers import SpecifierSet

    from dockyard.errors import NotFound
    from dockyard.security.safetydb import default_path, osv_range

    try:
        data = json.loads(default_path().read_text())
    except NotFound:
        pytest.skip("safety-db is not installed (make setup installs the test extras)")
    proc = dy.run("scan", "db", "import", "--safety-db", check=True, timeout=300)
    imported = re.match(r"imported (\d+) records from safety-db", proc.stdout)
    assert imported and int(imported[1]) > 1000, proc.stdout

    # CVE-2020-14343 (arbitrary code execution in full_load), fixed in 5.4; safety-db's
    # CVE-2020-1747 is fixed in exactly this version and must not be reported
    name, version = "PyYAML", "5.3.1"
    ctx = tmp_path / "ctx"
    meta = ctx / "dist" / f"{name}-{version}.dist-info"
    meta.mkdir(parents=True)
    (meta / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: BSD\n\n"
    )
    (ctx / "Dockerfile").write_text(f"FROM {IMAGE}\nCOPY dist/ /usr/lib/python3/dist-packages/\n")
    dy.run("build", "-t", "vulnerable:1", str(ctx), check=True, timeout=600)
    listed = dy.run("run", "--rm", "vulnerable:1", "python3", "-m", "pip", "list")
    assert re.search(rf"^{name}\s+{re.escape(version)}$", listed.stdout, re.M), listed.stdout

    proc = dy.run("scan", "vulnerable:1", "--format", "json", "--exit-code", "3", timeout=300)
    assert proc.returncode == 3, proc.stderr
    findings = [f for f in json.loads(proc.stdout)["findings"] if f["package"] == name]
    # the oracle: packaging's SpecifierSet on safety-db's own specifiers (those OSV can say)
    want = {
        adv["id"]
        for key, advisories in data.items()
        if key.lower() == name.lower()
        for adv in advisories
        for spec in adv["specs"]
        if osv_range(spec) is not None and version in SpecifierSet(spec, prereleases=True)
    }
    assert want and {f["id"] for f in findings} == want
    by_alias = {a: f for f in findings for a in f["aliases"]}
    assert by_alias["CVE-2020-14343"]["fixed"] == "5.4"
    assert "CVE-2020-1747" not in by_alias
    top = _layers(dy, "vulnerable:1")[-1]
    assert {f["layer"] for f in findings} == {top}
    assert all(f["path"].startswith(f"/usr/lib/python3/dist-packages/{name}-") for f in findings)


def test_admission_policy_refuses_an_image_with_findings(dy: Dockyard, tmp_path: Path) -> None:
    src = tmp_path / "osv"
    src.mkdir()
    critical = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    (src / "DY-ADMIT.json").write_text(
        _record("DY-ADMIT", "Debian", "expat", [{"introduced": "0"}], severity=critical)
    )
    dy.run("scan", "db", "import", str(src), check=True)
    assert dy.run("run", "--rm", IMAGE, "true").returncode == 0  # no policy: no scan
    try:
        out = dy.run("scan", "admission", "high", check=True).stdout
        assert out == "admission: refuse images with findings at or above HIGH\n"
        refused = dy.run("run", "--rm", IMAGE, "echo", "ran")
        assert refused.returncode == 125 and "ran" not in refused.stdout
        assert "refused by the admission policy (HIGH)" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1
        assert "CRITICAL" in refused.stderr
        created = dy.run("create", IMAGE, "true")
        assert created.returncode != 0 and "admission policy" in created.stderr
        assert dy.run("ps", "-aq").stdout.strip() == ""  # nothing was made
    finally:
        assert dy.run("scan", "admission", "off", check=True).stdout == "admission: off\n"
    assert dy.run("run", "--rm", IMAGE, "echo", "ran", check=True).stdout == "ran\n"
