"""OSV records: strict parsing, the all-or-nothing import, range evaluation, severity."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dockyard.errors import InvalidArgument, NotFound
from dockyard.security.osv import Event, OsvDB, Range, parse_record
from dockyard.security.packages import Distro, Inventory, Package
from dockyard.security.scan import Filter, includes, rate, scan, severity_of, to_sarif

CVSS_98 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def record(rid: str, eco: str, name: str, events: list[dict[str, str]], **extra: Any) -> dict:
    return {
        "id": rid,
        "modified": "2026-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": eco, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                **extra.pop("affected_extra", {}),
            }
        ],
        **extra,
    }


def write_dir(path: Path, records: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name, rec in records.items():
        (path / name).write_text(rec if isinstance(rec, str) else json.dumps(rec))
    return path


def snapshot(db: OsvDB) -> list[tuple[object, ...]]:
    import sqlite3

    conn = sqlite3.connect(db.path)
    try:
        return (
            conn.execute("SELECT * FROM records ORDER BY id").fetchall()
            + conn.execute("SELECT * FROM affected ORDER BY record_id, name").fetchall()
        )
    finally:
        conn.close()


@pytest.fixture
def db(tmp_path: Path) -> OsvDB:
    d = OsvDB.at_root(tmp_path / "root")
    good = write_dir(
        tmp_path / "good",
        {"a.json": record("PYSEC-1", "PyPI", "Jinja2", [{"introduced": "0"}, {"fixed": "2.10"}])},
    )
    assert d.import_path(good) == 1
    return d


GOOD = record("GOOD-2", "PyPI", "x", [{"introduced": "0"}])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"bad.json": "{not json"}, "bad.json: invalid JSON"),
        ({"r.json": record("X", "npm", "left-pad", [{"introduced": "0"}])}, "unknown ecosystem"),
        ({"r.json": {"id": "X", "modified": "m", "affected": "no"}}, "affected: want a list"),
        ({"r.json": {"modified": "m"}}, "r.json: id: want a non-empty string"),
        (
            {"r.json": record("X", "PyPI", "a", [{"introduced": "0", "fixed": "1"}])},
            "events\\[0\\]: want one of",
        ),
        (
            {
                "r.json": record(
                    "X",
                    "PyPI",
                    "a",
                    [{"introduced": "0"}],
                    severity=[{"type": "CVSS_V3", "score": "x"}],
                )
            },
            "invalid CVSS_V3 vector",
        ),
    ],
)
def test_bad_records_name_the_file_and_leave_the_db_unchanged(
    db: OsvDB, tmp_path: Path, files: dict[str, Any], message: str
) -> None:
    before = snapshot(db)
    src = write_dir(tmp_path / "src", {"0-good.json": GOOD, **files})
    with pytest.raises(InvalidArgument, match=message) as info:
        db.import_path(src)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"scan db import {src}: ")
    assert snapshot(db) == before  # the good record before the bad one went nowhere


def test_a_corrupt_zip_is_refused_and_the_db_unchanged(db: OsvDB, tmp_path: Path) -> None:
    before = snapshot(db)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is no zip")
    with pytest.raises(InvalidArgument, match=r"bad.zip: not a valid zip"):
        db.import_path(bad)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("GOOD-2.json", json.dumps(GOOD))
        zf.writestr("GOOD-3.json", json.dumps({**GOOD, "id": "GOOD-3"}) + " " * 4000)
    data = bytearray(good.read_bytes())
    at = data.index(b"GOOD-3.json") + 200  # inside the second member's stored data
    data[at : at + 8] = b"\xff" * 8
    good.write_bytes(bytes(data))
    with pytest.raises(InvalidArgument, match=r"GOOD-3.json: corrupt zip member"):
        db.import_path(good)
    assert snapshot(db) == before
    with pytest.raises(NotFound):
        db.import_path(tmp_path / "missing")


def test_import_from_zip_replaces_records_by_id(db: OsvDB, tmp_path: Path) -> None:
    z = tmp_path / "PyPI.zip"
    newer = record("PYSEC-1", "PyPI", "jinja2", [{"introduced": "0"}, {"fixed": "3.0"}])
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("PYSEC-1.json", json.dumps(newer))
        zf.writestr(
            "Debian/DSA-1.json",
            json.dumps(record("DSA-1", "Debian:12", "expat", [{"introduced": "0"}])),
        )
    assert db.import_path(z) == 2
    assert db.count() == 2
    (rec,) = db.candidates("PyPI", "JINJA2")
    assert rec.affected[0].ranges[0].events[-1] == Event("fixed", "3.0")
    assert [r.id for r in db.candidates("Debian", "expat")] == ["DSA-1"]


def r(*events: tuple[str, str]) -> Range:
    return Range("ECOSYSTEM", tuple(Event(k, v) for k, v in events))


@pytest.mark.parametrize(
    ("eco", "rng", "version", "want"),
    [
        ("PyPI", r(("introduced", "0"), ("fixed", "2.0")), "1.9", (True, "2.0")),
        ("PyPI", r(("introduced", "0"), ("fixed", "2.0")), "2.0", (False, "")),
        ("PyPI", r(("introduced", "0"), ("fixed", "2.0")), "2.0rc1", (True, "2.0")),
        ("PyPI", r(("introduced", "1.0"), ("fixed", "2.0")), "0.9", (False, "")),
        ("PyPI", r(("introduced", "1.0"), ("last_affected", "1.5")), "1.5", (True, "")),
        ("PyPI", r(("introduced", "1.0"), ("last_affected", "1.5")), "1.5.1", (False, "")),
        # two intervals in one range, events out of order
        (
            "PyPI",
            r(("fixed", "1.2"), ("introduced", "2.0"), ("introduced", "0"), ("fixed", "2.3")),
            "2.1",
            (True, "2.3"),
        ),
        (
            "PyPI",
            r(("fixed", "1.2"), ("introduced", "2.0"), ("introduced", "0"), ("fixed", "2.3")),
            "1.5",
            (False, ""),
        ),
        (
            "Debian:12",
            r(("introduced", "0"), ("fixed", "2.5.0-1+deb12u1")),
            "2.5.0-1",
            (True, "2.5.0-1+deb12u1"),
        ),
        (
            "Debian:12",
            r(("introduced", "0"), ("fixed", "3.0.11-1~deb12u2")),
            "3.0.11-1",
            (False, ""),
        ),
        ("Debian:12", r(("introduced", "1:1.0"), ("fixed", "1:1.1")), "9.9", (False, "")),
        ("PyPI", r(("introduced", "0"), ("fixed", "not a version")), "1.0", (True, "")),
    ],
)
def test_range_evaluation(eco: str, rng: Range, version: str, want: tuple[bool, str]) -> None:
    assert includes(eco, rng, version) == want


@pytest.mark.parametrize(
    ("vectors", "db_sev", "want"),
    [
        ([("CVSS_V3", CVSS_98)], "", ("CRITICAL", 9.8)),
        ([("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N")], "", ("MEDIUM", 5.3)),
        ([("CVSS_V3", "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N")], "", ("LOW", 1.8)),
        ([("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N")], "", ("HIGH", 7.5)),
        ([("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N")], "", ("UNKNOWN", 0.0)),
        ([], "MODERATE", ("MEDIUM", None)),
        ([], "", ("UNKNOWN", None)),
    ],
)
def test_severity_from_cvss(
    vectors: list[tuple[str, str]], db_sev: str, want: tuple[str, float | None]
) -> None:
    assert severity_of(vectors, db_sev)[:2] == want


def test_rating_bounds() -> None:
    assert [rate(s) for s in (0.1, 3.9, 4.0, 6.9, 7.0, 8.9, 9.0, 10.0)] == [
        "LOW", "LOW", "MEDIUM", "MEDIUM", "HIGH", "HIGH", "CRITICAL", "CRITICAL",
    ]  # fmt: skip


def _pkg(kind: str, name: str, version: str, **kw: str) -> Package:
    return Package(kind, name, version, f"pkg:{kind}/{name}@{version}", "sha256:aa", 3, "/p", **kw)


def test_scan_matches_by_source_package_and_release(db: OsvDB, tmp_path: Path) -> None:
    recs = {
        "deb.json": record(
            "DSA-9", "Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u3"}],
            severity=[{"type": "CVSS_V3", "score": CVSS_98}],
        ),
        "deb11.json": record("DSA-8", "Debian:11", "openssl", [{"introduced": "0"}]),
        "withdrawn.json": record("DSA-7", "Debian", "openssl", [{"introduced": "0"}],
                                 withdrawn="2026-01-01T00:00:00Z"),
        "versions.json": record("PYSEC-5", "PyPI", "jinja2", [{"introduced": "9"}],
                                affected_extra={"versions": ["2.9.6"]}),
    }  # fmt: skip
    db.import_path(write_dir(tmp_path / "more", recs))
    inv = Inventory(
        "img",
        "id",
        ["sha256:aa"],
        Distro("debian", "12"),
        [
            _pkg("deb", "libssl3", "3.0.11-1~deb12u2", source_name="openssl",
                 source_version="3.0.11-1~deb12u2"),
            _pkg("pypi", "Jinja2", "2.9.6"),
        ],
    )  # fmt: skip
    found = scan(inv, db)
    assert [(f.id, f.package.name, f.fixed, f.severity) for f in found] == [
        ("DSA-9", "libssl3", "3.0.11-1~deb12u3", "CRITICAL"),
        ("PYSEC-1", "Jinja2", "2.10", "UNKNOWN"),
        ("PYSEC-5", "Jinja2", "", "UNKNOWN"),
    ]
    assert [f.id for f in Filter(frozenset({"CRITICAL"})).apply(found)] == ["DSA-9"]
    assert [f.id for f in Filter(frozenset({"UNKNOWN"}), True).apply(found)] == ["PYSEC-1"]
    sarif = to_sarif(inv, found)
    assert sarif["version"] == "2.1.0"
    assert [x["ruleId"] for x in sarif["runs"][0]["results"]] == ["DSA-9", "PYSEC-1", "PYSEC-5"]
    assert (
        sarif["runs"][0]["tool"]["driver"]["rules"][0]["properties"]["security-severity"] == "9.8"
    )


def test_parse_record_keeps_what_matching_needs() -> None:
    rec = parse_record(
        record("X-1", "PyPI", "a", [{"introduced": "0"}], aliases=["CVE-1"], details="d\nmore"),
        "x.json",
    )
    assert (rec.id, rec.aliases, rec.summary, rec.withdrawn) == ("X-1", ("CVE-1",), "d", False)


def test_cli_bad_input_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockyard.cli.main import main

    root = tmp_path / "root"
    src = write_dir(tmp_path / "src", {"r.json": record("X", "Go", "m", [{"introduced": "0"}])})
    assert main(["--root", str(root), "scan", "db", "import", str(src)]) == 1
    err = capsys.readouterr().err
    assert err == f"dockyard: scan db import {src}: r.json: affected[0]: unknown ecosystem 'Go'\n"
    assert not (root / "osv.db").exists() or OsvDB.at_root(root).count() == 0
    assert main(["--root", str(root), "scan", "db", "export", "x"]) == 1
    usage = "usage: dockyard scan db import PATH | dockyard scan db import --safety-db [FILE]"
    assert capsys.readouterr().err == f"dockyard: {usage}\n"
    assert main(["--root", str(root), "scan", "--severity", "SEVERE", "img"]) == 1
    assert "unknown severity SEVERE" in capsys.readouterr().err


def test_cli_scan_without_a_database_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dockyard.cli.main import main
    from dockyard.oci.image import ImageConfig
    from dockyard.store.images import ImageStore

    root = tmp_path / "root"
    ImageStore(root).create_image([], ImageConfig("amd64", "linux"), tags=("empty:1",))
    assert main(["--root", str(root), "scan", "empty:1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("dockyard: scan empty:1: no vulnerability records in ")
    assert main(["--root", str(root), "sbom", "empty:1", "-o", str(tmp_path / "no/such")]) == 1
    assert capsys.readouterr().err.startswith(f"dockyard: write {tmp_path}/no/such: ")
    assert main(["--root", str(root), "sbom", "empty:1", "--format", "spdx"]) == 0
    assert '"spdxVersion": "SPDX-2.3"' in capsys.readouterr().out


def test_admission_policy_file(tmp_path: Path) -> None:
    from dockyard.security.admission import read_policy, write_policy

    assert read_policy(tmp_path) is None
    write_policy(tmp_path, "HIGH")
    assert read_policy(tmp_path) == "HIGH"
    with pytest.raises(InvalidArgument, match="unknown severity 'SEVERE'"):
        write_policy(tmp_path, "SEVERE")
    (tmp_path / "admission.json").write_text("{}")
    with pytest.raises(InvalidArgument, match="want"):
        read_policy(tmp_path)
    write_policy(tmp_path, None)
    write_policy(tmp_path, None)  # removing no policy is fine
    assert read_policy(tmp_path) is None
