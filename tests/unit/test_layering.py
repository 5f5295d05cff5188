"""The layer rule of DESIGN.md: a lower package never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"

# package -> rank; a module may import packages of the same or a lower rank only.
RANK = {
    "errors": 0, "records": 0, "oci": 1, "linux": 2, "cgroups": 3, "store": 3, "runtime": 4,
    "network": 4, "build": 5, "distribution": 5, "security": 5.5, "engine": 6,
    "orchestrator": 7, "api": 8, "cli": 8,
}  # fmt: skip
# security sits above build (lint reads Dockerfiles with build's parser) and below
# engine (which may refuse to run an image by a scan's findings).


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dockyard."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dockyard."):
                    found.add(alias.name.split(".")[1])
    return found


def test_lower_layers_never_import_higher_ones() -> None:
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        pkg = rel.parts[0].removesuffix(".py")
        if pkg not in RANK:
            continue
        for imported in _imports(path):
            if imported in RANK and RANK[imported] > RANK[pkg]:
                bad.append(f"{rel} imports dockyard.{imported}")
            same_rank = imported in RANK and RANK[imported] == RANK[pkg] and imported != pkg
            if same_rank and {pkg, imported} != {"api", "cli"}:
                bad.append(f"{rel} imports sibling layer dockyard.{imported}")
    assert not bad, "\n".join(bad)
