"""``dockyard lint [-f Dockerfile] [CONTEXT|DOCKERFILE]``: argument parsing and output only.

The rules are :mod:`dockyard.security.lint`.  The exit status is 1 when a
finding is at or above ``--failure-threshold`` (default ``info``, as hadolint;
``error`` when the file says ``# check=error=true`` and no threshold is given),
else 0.  A file that does not parse, a bad config or an unknown format is one
line on stderr and status 1, with nothing on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context
    from dockyard.security.lint import LintConfig

_LEVELS = ("error", "warning", "info", "style")


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("-f", "--file", help="the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)")
    p.add_argument(
        "--format",
        default="text",
        metavar="FORMAT",
        help="text, json, sarif or checkstyle (default text)",
    )
    p.add_argument(
        "-t",
        "--failure-threshold",
        metavar="LEVEL",
        help="exit 1 only for findings at or above LEVEL: error, warning, info, "
        "style, ignore or none (default info)",
    )
    p.add_argument(
        "-c",
        "--config",
        help="a hadolint config file (default: .hadolint.yaml "
        "in the context, then in the current directory)",
    )
    p.add_argument("--ignore", action="append", default=[], metavar="RULE", help="skip RULE")
    for level in _LEVELS:
        p.add_argument(
            f"--{level}",
            action="append",
            default=[],
            metavar="RULE",
            help=f"report RULE as {level}",
        )
    p.add_argument("--no-fail", action="store_true", help="exit 0 whatever is found")
    p.add_argument("--target", help="lint as if building this stage (the final stage)")
    p.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    p.add_argument("-o", "--output", help="write the report to this file instead of stdout")
    p.add_argument(
        "context", nargs="?", default=".",
        help="build context directory (or a Dockerfile, as hadolint takes it)",
    )  # fmt: skip


def _config(args: argparse.Namespace) -> LintConfig:
    from dockyard.security.lint import LintConfig, Severity, find_config, load_config

    config = LintConfig()
    path = Path(args.config) if args.config else find_config(Path(args.context), Path.cwd())
    if path is not None:
        load_config(path, config)
    if args.ignore:
        config.ignored = {r.lower() for r in args.ignore}
    for level in _LEVELS:
        for rule_id in getattr(args, level):
            config.overrides[rule_id.lower()] = Severity.parse(level)
    if args.failure_threshold:
        config.failure_threshold = Severity.parse(args.failure_threshold)
    config.no_fail = config.no_fail or args.no_fail
    return config


def _list_rules() -> int:
    from dockyard.security.lint import rules

    for rule in rules():
        alias = f" ({rule.alias})" if rule.alias else ""
        print(f"{rule.id:<32} {rule.severity.label:<8} {rule.title}{alias}")
    return 0


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.build.parser import read_dockerfile
    from dockyard.errors import InvalidArgument
    from dockyard.security.lint import FORMATS, Severity, lint_text, render, rules

    if args.list_rules:
        return _list_rules()
    if not args.file and Path(args.context).is_file():  # hadolint's form: lint FILE
        args.file, args.context = args.context, str(Path(args.context).parent)
    if args.format not in FORMATS:
        raise InvalidArgument(f"unknown format {args.format!r}: expected {', '.join(FORMATS)}")
    config = _config(args)
    if args.file == "-":
        text, name = sys.stdin.read(), "-"
    else:
        path = Path(args.file) if args.file else Path(args.context) / "Dockerfile"
        text, name = read_dockerfile(path), str(path)
    report = lint_text(text, name, config, target=args.target)
    out = render([report], args.format, rules())
    if args.output:
        Path(args.output).write_text(out)
    else:
        sys.stdout.write(out)
    for error in report.internal_errors:
        print(f"dockyard: internal error in lint {error}", file=sys.stderr)
    threshold = config.failure_threshold
    if threshold is None:
        threshold = Severity.STYLE if config.check_error else Severity.INFO
    if report.internal_errors:
        return 125
    return 1 if report.fails(threshold) else 0
