"""``dockyard build``: for now the parser (``--print-ast``); the builder follows."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dockyard.cli.main import Context


def add_arguments(p: argparse.ArgumentParser, _name: str) -> None:
    p.add_argument("-f", "--file", help="name of the Dockerfile (default: CONTEXT/Dockerfile)")
    p.add_argument("-t", "--tag", action="append", default=[], help="name and optionally a tag")
    p.add_argument("--print-ast", action="store_true", help="print the parsed AST and exit")
    p.add_argument("context", nargs="?", default=".", help="build context directory")


def run(ctx: Context, args: argparse.Namespace, _name: str) -> int:
    from dockyard.errors import Unavailable

    dockerfile = Path(args.file) if args.file else Path(args.context) / "Dockerfile"
    if args.print_ast:
        from dockyard.build.parser import dump_ast, parse_dockerfile, read_dockerfile
        from dockyard.build.parser.instructions import KNOWN_INSTRUCTIONS
        from dockyard.errors import InvalidArgument

        name = str(dockerfile.name if args.file is None else args.file)
        result = parse_dockerfile(read_dockerfile(dockerfile), name)
        for node in result.ast.children:  # the parser accepts any word; a build would not
            if node.value.lower() not in KNOWN_INSTRUCTIONS:
                raise InvalidArgument(
                    f"{name}:{node.start_line}: unknown instruction: {node.value}"
                )
        print(dump_ast(result), end="")
        return 0
    raise Unavailable("build: the image builder is not built yet; use --print-ast")
