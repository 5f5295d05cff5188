"""``dockyard build`` (and ``dockyard builder prune``): argument parsing and output only.

The builder is :mod:`dockyard.build`; this module turns flags into
:class:`~dockyard.build.BuildOptions`, writes progress lines to stderr
(``--progress plain``; RUN output goes to stderr too) and the image id to
stdout with ``-q``.  ``--print-ast`` prints BuildKit's AST dump and exits.
The lint checks of ``dockyard lint`` run first: their findings are printed after
the build as BuildKit prints its build checks, ``# check=error=true`` fails the
build before it starts, and ``--check`` prints them and exits (1 when any).
Their summary is recorded for ``dockyard inspect`` (security/summary.py);
``--sbom`` attaches the image's CycloneDX SBOM to it as an OCI artifact
(security/attest.py) that ``dockyard push`` sends after the image.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.cli.main import Context
    from dockyard.security.lint import LintReport
    from dockyard.store.images import Image


def add_arguments(p: argparse.ArgumentParser, name: str) -> None:
    if name == "builder":
        p.add_argument("action", choices=["prune"], help="prune: remove the build cache")
        p.add_argument("-a", "--all", action="store_true", help="accepted (the cache is one)")
        p.add_argument("-f", "--force", action="store_true", help="do not prompt (never does)")
        return
    p.add_argument("-f", "--file", help="name of the Dockerfile (default: CONTEXT/Dockerfile)")
    p.add_argument("-t", "--tag", action="append", default=[], help="name and optionally a tag")
    p.add_argument("--print-ast", action="store_true", help="print the parsed AST and exit")
    p.add_argument(
        "--check", action="store_true",
        help="run the lint checks (dockyard lint) only, print them and exit: 1 if any",
    )  # fmt: skip
    p.add_argument("--target", help="build this stage (and what it needs) only")
    p.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a build-time variable (KEY alone: from the environment)",
    )
    p.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    p.add_argument(
        "--progress",
        default="auto",
        choices=["auto", "plain", "tty", "quiet"],
        help="progress output (auto, tty and plain all print plain lines)",
    )
    p.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="id=ID,src=FILE",
        help="a secret for RUN --mount=type=secret",
    )
    p.add_argument("--platform", default="", help="target platform (the host's only)")
    p.add_argument(
        "--base-map",
        action="append",
        default=[],
        metavar="IMAGE=IMAGE",
        help="build FROM IMAGE with another image of the store instead",
    )
    p.add_argument(
        "--ssh", action="append", default=[], metavar="default|ID[=SOCKET]",
        help="SSH agent socket for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK)",
    )  # fmt: skip
    p.add_argument(
        "--network", default="default", metavar="default|none|host",
        help="network of RUN steps: default (a sandbox: egress only, through slirp4netns), "
        "none, or host (needs --allow network.host)",
    )  # fmt: skip
    p.add_argument(
        "--allow", action="append", default=[], metavar="ENTITLEMENT",
        help="grant an entitlement: network.host (RUN steps may use the host's network)",
    )  # fmt: skip
    p.add_argument(
        "--sbom",
        nargs="?",
        const="true",
        choices=("true", "false"),
        default="false",
        help="attach the image's CycloneDX SBOM as an OCI artifact (dockyard push sends it)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    p.add_argument("--iidfile", help="write the image id to this file")
    p.add_argument("context", nargs="?", default=".", help="build context directory")


def _pairs(values: list[str], flag: str, env_fallback: bool = False) -> dict[str, str]:
    from dockyard.errors import InvalidArgument

    out: dict[str, str] = {}
    for v in values:
        key, eq, value = v.partition("=")
        if not eq:
            if env_fallback:
                if key in os.environ:
                    out[key] = os.environ[key]
                continue
            raise InvalidArgument(f"invalid {flag} {v!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _proxy_args(build_args: dict[str, str]) -> None:
    """The caller's proxy variables reach RUN steps, as podman build passes them
    (``--build-arg`` wins; undeclared proxy args stay out of the cache key)."""
    from dockyard.build.args import PROXY_ARGS

    for name in sorted(PROXY_ARGS):
        if name in os.environ and name not in build_args:
            build_args[name] = os.environ[name]


def _secrets(values: list[str]) -> dict[str, Path]:
    from dockyard.errors import InvalidArgument

    out: dict[str, Path] = {}
    for v in values:
        fields = dict(f.partition("=")[::2] for f in v.split(","))
        ident = fields.get("id", "")
        src = fields.get("src") or fields.get("source")
        if not ident:
            raise InvalidArgument(f"invalid --secret {v!r}: id is required")
        if src is None and "env" in fields:
            import tempfile

            fd, name = tempfile.mkstemp(prefix="dockyard-secret-")
            with os.fdopen(fd, "w") as f:
                f.write(os.environ.get(fields["env"], ""))
            src = name
        if src is None:
            raise InvalidArgument(f"invalid --secret {v!r}: src is required")
        out[ident] = Path(src)
    return out


def _print_ast(args: argparse.Namespace, dockerfile: Path) -> int:
    from dockyard.build.parser import dump_ast, parse_dockerfile, read_dockerfile
    from dockyard.build.parser.instructions import KNOWN_INSTRUCTIONS
    from dockyard.errors import InvalidArgument

    name = str(dockerfile.name if args.file is None else args.file)
    result = parse_dockerfile(read_dockerfile(dockerfile), name)
    for node in result.ast.children:  # the parser accepts any word; a build would not
        if node.value.lower() not in KNOWN_INSTRUCTIONS:
            raise InvalidArgument(f"{name}:{node.start_line}: unknown instruction: {node.value}")
    print(dump_ast(result), end="")
    return 0


def _lint(args: argparse.Namespace, dockerfile: Path, text: str | None) -> LintReport:
    """The lint checks of ``dockyard lint`` over the Dockerfile (``.hadolint.yaml`` of the
    context and ``# check=`` honoured); about a millisecond for a typical file."""
    from dockyard.build.parser import read_dockerfile
    from dockyard.security.lint import LintConfig, find_config, lint_text, load_config

    config = LintConfig()
    found = find_config(Path(args.context))
    if found is not None:
        load_config(found, config)
    name = dockerfile.name  # as the builder names it in its errors
    body = text if text is not None else read_dockerfile(dockerfile)
    check = None  # BuildKit's build arg with the # check= syntax; it wins over the file
    for value in args.build_arg:
        key, eq, rest = value.partition("=")
        if key == "BUILDKIT_DOCKERFILE_CHECK" and eq:
            check = rest
    return lint_text(body, name, config, target=args.target, check=check)


def _print_checks(report: LintReport) -> None:
    """BuildKit's summary: `` - RULE: message (line N)``, to stderr."""
    if not report.findings:
        return
    count = len(report.findings)
    print(f" {count} warning{'s' if count > 1 else ''} found:", file=sys.stderr)
    for f in report.findings:
        print(f" - {f.rule}: {f.message} (line {f.line})", file=sys.stderr)


def _check_only(report: LintReport) -> int:
    from dockyard.security.lint import render

    sys.stdout.write(render([report], "text"))
    count = len(report.findings)
    if count:
        verb = "warnings have" if count > 1 else "warning has"
        print(f"Check complete, {count} {verb} been found!", file=sys.stderr)
        return 1
    print("Check complete, no warnings found.", file=sys.stderr)
    return 0


def _record(
    ctx: Context,
    args: argparse.Namespace,
    image: Image,
    report: LintReport,
    progress: Callable[[str], None],
) -> None:
    """Record the lint summary for ``dockyard inspect``; with ``--sbom`` attach the SBOM."""
    from dockyard.security.summary import record_lint

    record_lint(ctx.root_dir, str(image.id), report)
    if args.sbom != "true":
        return
    from dockyard.security.attest import attach_sbom

    name = image.repo_tags[0] if image.repo_tags else str(image.id)
    digest, new = attach_sbom(ctx.images(), image, name)
    what = "attaching SBOM" if new else "SBOM already attached"
    progress(f"#- {what} (application/vnd.cyclonedx+json) {digest} done")


def _prune(ctx: Context) -> int:
    from dockyard.build import prune_cache

    result = prune_cache(ctx.images())
    print(f"Deleted build cache records: {result.records}")
    print(f"Total reclaimed space: {result.reclaimed / 1e6:.1f}MB")
    return 0


def run(ctx: Context, args: argparse.Namespace, name: str) -> int:
    if name == "builder":
        return _prune(ctx)
    dockerfile = Path(args.file) if args.file else Path(args.context) / "Dockerfile"
    if args.print_ast:
        return _print_ast(args, dockerfile)
    from dockyard.build import Builder, BuildOptions

    text = None
    if args.file == "-":
        text = sys.stdin.read()
        dockerfile = Path(args.context) / "Dockerfile"
    report = _lint(args, dockerfile, text)
    if args.check:
        return _check_only(report)
    if report.config.check_error and report.findings:
        from dockyard.errors import FailedPrecondition

        _print_checks(report)
        rules = ", ".join(dict.fromkeys(f.rule for f in report.findings))
        raise FailedPrecondition(f"lint violation found for rules: {rules} (# check=error=true)")
    quiet = args.quiet or args.progress == "quiet"

    def progress(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    from dockyard.build.sshagent import parse_ssh_specs

    ssh = parse_ssh_specs(args.ssh, os.environ)
    null_fd = os.open(os.devnull, os.O_WRONLY) if quiet else None
    opts = BuildOptions(
        context=Path(args.context),
        dockerfile=dockerfile,
        dockerfile_text=text,
        tags=tuple(args.tag),
        target=args.target,
        build_args=_pairs(args.build_arg, "--build-arg", env_fallback=True),
        no_cache=args.no_cache,
        secrets=_secrets(args.secret),
        platform=args.platform,
        base_map=_pairs(args.base_map, "--base-map"),
        run_output_fd=null_fd if null_fd is not None else 2,
        ssh=ssh,
        network=args.network,
        allow=frozenset(args.allow),
    )
    _proxy_args(opts.build_args)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        result = Builder(ctx.images(), ctx.run_root, progress=progress).build(opts)
    finally:
        if null_fd is not None:
            os.close(null_fd)
        for path in opts.secrets.values():  # the ones made from env= are ours to remove
            if path.name.startswith("dockyard-secret-"):
                path.unlink(missing_ok=True)
    image_id = str(result.image.id)
    _record(ctx, args, result.image, report, progress)
    for warning in result.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    if not quiet:
        _print_checks(report)
    progress(f"#{'-'} writing image {image_id} done")
    for tag in result.image.repo_tags:
        progress(f"#- naming to {tag} done")
    if args.iidfile:
        Path(args.iidfile).write_text(image_id)
    if quiet:
        print(image_id)
    return 0
