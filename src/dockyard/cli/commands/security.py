"""``dockyard sbom`` and ``dockyard scan`` (``scan db import``): the image is read from the
local store, the vulnerability database from the state root; nothing needs the network
or the daemon (docs/security.md)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context
    from dockyard.security.packages import Inventory
    from dockyard.security.scan import Finding

_SEVERITIES = ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "sbom":
        p.add_argument("image", metavar="IMAGE")
        p.add_argument(
            "--format", choices=("cyclonedx", "spdx"), default="cyclonedx", help="document format"
        )
        p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
        return
    p.add_argument(
        "image", metavar="IMAGE", help="an image, or 'db import PATH', or 'admission [LEVEL|off]'"
    )
    p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    p.add_argument(
        "--format", choices=("table", "json", "sarif"), default="table", help="output format"
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default stdout)")
    p.add_argument(
        "--severity",
        default=",".join(_SEVERITIES),
        help="comma-separated severities to report (default all)",
    )
    p.add_argument(
        "--exit-code", type=int, default=0, help="exit status when a finding is reported"
    )
    p.add_argument(
        "--ignore-unfixed", action="store_true", help="skip findings that have no fixed version"
    )
    p.add_argument(
        "--safety-db",
        nargs="?",
        const="",
        default=None,
        metavar="FILE",
        help="with 'db import': PyPI's safety-db (default: the installed package's data)",
    )


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    if name == "sbom":
        return _sbom(ctx, args)
    if args.image == "db":
        rest = list(args.rest)
        if args.safety_db is not None:
            rest += ["--safety-db", *([args.safety_db] if args.safety_db else [])]
        return _db(ctx, rest)
    if args.image == "admission":
        return _admission(ctx, args.rest)
    if args.rest:
        from dockyard.errors import InvalidArgument

        raise InvalidArgument(f"scan: one image at a time, got {len(args.rest) + 1}")
    return _scan(ctx, args)


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    import os

    from dockyard.errors import InvalidArgument

    tmp = f"{output}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, output)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InvalidArgument(f"write {output}: {e.strerror or e}") from None


def _sbom(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.security.packages import inventory
    from dockyard.security.sbom import render

    store = ctx.images()
    image = store.resolve(args.image)
    _write(render(inventory(store, image, args.image), args.format), args.output)
    return 0


def _db(ctx: Context, rest: list[str]) -> int:
    from dockyard.errors import InvalidArgument

    usage = "usage: dockyard scan db import PATH | dockyard scan db import --safety-db [FILE]"
    if len(rest) < 2 or rest[0] != "import":
        raise InvalidArgument(usage)
    from pathlib import Path

    from dockyard.security.osv import OsvDB, parse_record

    db = OsvDB.at_root(ctx.root_dir)
    if rest[1] == "--safety-db":  # PyPI's safety-db, converted (security/safetydb.py)
        if len(rest) > 3:
            raise InvalidArgument(usage)
        from dockyard.security.safetydb import default_path, records_from_safety_db

        path = Path(rest[2]) if len(rest) == 3 else default_path()
        records = [parse_record(r, f"{path}: {r['id']}") for r in records_from_safety_db(path)]
        db.store(records)
        print(f"imported {len(records)} records from safety-db ({path})")
        return 0
    if len(rest) != 2:
        raise InvalidArgument(usage)
    n = db.import_path(Path(rest[1]))
    print(f"imported {n} records from {rest[1]}")
    return 0


def _admission(ctx: Context, rest: list[str]) -> int:
    """``scan admission`` shows the policy; ``scan admission LEVEL|off`` sets it."""
    from dockyard.errors import InvalidArgument
    from dockyard.security.admission import read_policy, write_policy

    if len(rest) > 1:
        raise InvalidArgument("usage: dockyard scan admission [LEVEL|off]")
    if rest:
        write_policy(ctx.root_dir, None if rest[0].lower() == "off" else rest[0].upper())
    level = read_policy(ctx.root_dir)
    print(f"admission: refuse images with findings at or above {level}" if level else
          "admission: off")  # fmt: skip
    return 0


def _scan(ctx: Context, args: argparse.Namespace) -> int:
    from dockyard.security.osv import OsvDB
    from dockyard.security.packages import inventory
    from dockyard.security.scan import Filter, scan

    wanted = _severities(args.severity)
    store = ctx.images()
    image = store.resolve(args.image)
    db = OsvDB.at_root(ctx.root_dir)
    if db.count() == 0:
        from dockyard.errors import FailedPrecondition

        raise FailedPrecondition(
            f"scan {args.image}: no vulnerability records in {db.path}"
            " (import some: dockyard scan db import PATH)"
        )
    inv = inventory(store, image, args.image)
    findings = scan(inv, db)
    from dockyard.security.summary import record_scan

    record_scan(ctx.root_dir, str(image.id), inv, findings)  # for dockyard inspect
    findings = Filter(wanted, args.ignore_unfixed).apply(findings)
    _write(_render(inv, findings, args.format), args.output)
    return int(args.exit_code) if findings else 0


def _render(inv: Inventory, findings: list[Finding], fmt: str) -> str:
    import json

    from dockyard.security.scan import to_json, to_sarif

    if fmt == "json":
        return json.dumps(to_json(inv, findings), indent=2)
    if fmt == "sarif":
        return json.dumps(to_sarif(inv, findings), indent=2)
    from dockyard.cli.render import table

    rows = [
        [
            f.package.name,
            f.package.version,
            f.fixed or "-",
            f.id,
            f.severity,
            f.package.layer.split(":", 1)[-1][:12],
        ]
        for f in findings
    ]
    head = ["PACKAGE", "INSTALLED", "FIXED", "VULNERABILITY", "SEVERITY", "LAYER"]
    summary = f"{inv.image}: {len(inv.packages)} packages, {len(findings)} findings"
    return (table(head, rows) + "\n" + summary) if rows else summary


def _severities(text: str) -> frozenset[str]:
    from dockyard.errors import InvalidArgument

    out = frozenset(s.strip().upper() for s in text.split(",") if s.strip())
    bad = sorted(out - set(_SEVERITIES))
    if bad or not out:
        what = ", ".join(bad) or repr(text)
        raise InvalidArgument(f"scan: unknown severity {what} (want {','.join(_SEVERITIES)})")
    return out
