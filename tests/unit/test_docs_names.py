"""The docs name only code that exists: every ``dockyard.pkg.module[.Name[.attr]]`` and every
source path (``engine/netplumb.py``, ``network/_dnswire.py``) that ``docs/`` and the README
mention resolves in ``src/dockyard`` (read with ``ast``; nothing is imported).

A name that was renamed or removed fails here with the page and the name, so a page cannot keep
describing code that is gone (the worked example of docs/network.md once named three functions
that never existed).  Names in a page's "history" (superseded figures, dated) are kept as they
were: paths under ``docs/decisions/`` and lines that say ``(removed)`` or ``(renamed)`` are not
checked.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "dockyard"
PAGES = [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]

_DOTTED = re.compile(r"\bdockyard(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_PATH = re.compile(r"(?<![\w/.-])((?:[a-z_]+/)+_?[a-z0-9_]+\.py)\b")
_HISTORY = ("(removed)", "(renamed)")


def _packages() -> set[str]:
    return {p.stem for p in SRC.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}


@cache
def _names(module: Path) -> dict[str, ast.AST]:
    """Names bound at a module's top level (``if`` blocks included) and lazy names
    (``_WHERE``-style maps); a class maps to its node."""
    tree = ast.parse(module.read_text())
    out: dict[str, ast.AST] = {}

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[node.name] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    out[(a.asname or a.name).split(".")[0]] = node
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name):
                        out[t.id] = node
                if isinstance(node.value, ast.Dict):  # lazy exports: {"Name": "_module"}
                    for k in node.value.keys:
                        if isinstance(k, ast.Constant) and isinstance(k.value, str):
                            out.setdefault(k.value, node)
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)

    visit(tree.body)
    return out


def _file(parts: list[str]) -> Path | None:
    rel = SRC.joinpath(*parts)
    if rel.with_suffix(".py").is_file():
        return rel.with_suffix(".py")
    if (rel / "__init__.py").is_file():
        return rel / "__init__.py"
    return None


def dotted_exists(name: str) -> bool:
    parts = name.split(".")[1:]
    for cut in range(len(parts), 0, -1):  # the longest module prefix
        module = _file(parts[:cut])
        if module is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        node = _names(module).get(rest[0])
        if node is None:
            return False
        if len(rest) > 1 and isinstance(node, ast.ImportFrom) and node.module:
            return dotted_exists(".".join([node.module, *rest]))  # a re-export: follow it
        if len(rest) > 1 and isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            where = dict(zip(node.value.keys, node.value.values, strict=True))
            for k, v in where.items():  # a lazy name: {"Name": "_module"}
                if isinstance(k, ast.Constant) and k.value == rest[0]:
                    assert isinstance(v, ast.Constant)
                    return dotted_exists(".".join(["dockyard", *parts[:cut], v.value, *rest]))
        if len(rest) > 1 and isinstance(node, ast.ClassDef):
            members = {
                getattr(n, "name", None) or getattr(getattr(n, "target", None), "id", None)
                for n in node.body
            }
            return rest[1] in members
        return True
    return False


def path_exists(path: str) -> bool:
    """``engine/netplumb.py`` or ``dockyard/engine/netplumb.py``, or (on the page of a
    package) ``_dnswire.py`` is checked elsewhere; only paths whose first part is a dockyard
    package count here."""
    parts = path.split("/")
    if parts[0] == "dockyard":
        parts = parts[1:]
    return SRC.joinpath(*parts).is_file()


def problems(page: Path) -> list[str]:
    pkgs = _packages()
    out = []
    for n, line in enumerate(page.read_text().splitlines(), 1):
        if any(h in line for h in _HISTORY):
            continue
        for name in _DOTTED.findall(line):
            if name.split(".")[1] in pkgs and not dotted_exists(name):
                out.append(f"{page.name}:{n}: {name}")
        for path in _PATH.findall(line):
            first = path.split("/")[0]
            in_src = first in pkgs or (first == "dockyard" and path.split("/")[1] in pkgs)
            if in_src and not path_exists(path):
                out.append(f"{page.name}:{n}: {path}")
    return out


def test_docs_name_only_code_that_exists() -> None:
    bad = [p for page in PAGES for p in problems(page)]
    assert not bad, "\n".join(bad)


def test_the_checker_catches_a_missing_name(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text(
        "`dockyard.network.NetworkManager` and `dockyard.store.db.StateDB` exist;\n"
        "`dockyard.store.db.save_network` and `engine/nosuch.py` do not\n"
        "`dockyard.network.NetworkManager.connect` exists, `.fly` does not:\n"
        "`dockyard.network.NetworkManager.fly`\n"
    )
    assert problems(page) == [
        "p.md:2: dockyard.store.db.save_network",
        "p.md:2: engine/nosuch.py",
        "p.md:4: dockyard.network.NetworkManager.fly",
    ]
