"""The layer rules of ``../shared/DESIGN.md``, read from the source with ``ast`` (no imports).

What is checked, for every module under ``src/dockyard/``:

1. *Layers*: a package imports only packages of a lower rank, and never a sibling of its own
   rank (``cgroups``/``store``, ``runtime``/``network``, ``build``/``distribution``,
   ``api``/``cli``).  DESIGN.md's layer line gives the order; ``security``, which the line leaves
   out, ranks where DESIGN.md's table lists it: after ``orchestrator``, before ``api``/``cli``.
2. *Privacy*: a module never imports another package's ``_private`` module
   (``dockyard.store._streams`` from ``build/``); inside one package they are free.
3. *The kernel seam*: ``ctypes`` is imported only in ``dockyard/linux/``.
4. *The orchestrator drives the engine and the network, never the kernel*: ``orchestrator/``
   imports neither ``dockyard.cgroups``, ``dockyard.linux`` nor ``dockyard.runtime``; of
   ``dockyard.network`` only the package's exported names and the modules made for
   controllers (``services``, ``netpol_nft``, ``conntrack``), never ``in_netns``; it holds no
   ``/proc/`` path and no SQL outside its own store module (``sqlite_store.py``).  What it
   needs from cgroups and namespaces comes through ``orchestrator/engine_port.py``
   (``docs/decisions/house-engine-interface.md``).

Every form of import counts: ``import dockyard.x.y``, ``from dockyard.x import y``,
``from dockyard import x``, relative imports (``from . import y``, ``from ..engine import z``),
and imports inside functions or ``TYPE_CHECKING`` blocks.  ``docs/architecture.md`` states the
same rules; ``docs/decisions/house-layering.md`` says why.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "dockyard"

# package -> rank, from DESIGN.md:
#   oci → linux → cgroups, store → runtime, network → build, distribution → engine
#   → orchestrator → api, cli
# errors.py and records.py (typed records, imports nothing) sit beneath everything.
RANK = {
    "errors": 0, "records": 0, "oci": 1, "linux": 2, "cgroups": 3, "store": 3, "runtime": 4,
    "network": 4, "build": 5, "distribution": 5, "engine": 6, "orchestrator": 7,
    "security": 8, "api": 9, "cli": 9,
}  # fmt: skip

# Known violations in api/ and cli/, which another change (issue #17, items 3 and 4: the split of
# api/objects.py and cli/commands/kube.py) removes.  One entry per (module, imported name);
# this list only ever shrinks — the test fails when an entry no longer occurs, so that a fixed
# violation is struck off here too.
KNOWN: set[tuple[str, str]] = set()  # empty since `dockyard daemon` execs the server

_ALLOWED_CTYPES = ("linux",)


def _module_name(path: Path, src: Path) -> tuple[str, str]:
    """``(module, package)`` for a file: ``dockyard.a.b`` and the package it resolves in."""
    parts = ("dockyard", *path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _is_module(dotted: str, src: Path) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (src / rel).with_suffix(".py").is_file() or (src / rel).is_dir()


def _resolve(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = package.split(".")
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(path: Path, src: Path = SRC) -> set[str]:
    """Every module name ``path`` imports (dotted, absolute), ``ctypes`` included."""
    _, package = _module_name(path, src)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # `from dockyard.x import y` imports the module dockyard.x.y when y is one
                found.add(sub if base.startswith("dockyard") and _is_module(sub, src) else base)
    return found


def _top(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "dockyard" else ""


def problems(path: Path, src: Path = SRC) -> list[tuple[str, str, str]]:
    """``(module, imported, why)`` for each rule ``path`` breaks."""
    module, _ = _module_name(path, src)
    pkg = _top(module)
    out: list[tuple[str, str, str]] = []
    for target in sorted(imports(path, src)):
        if target.split(".")[0] == "ctypes":
            if pkg not in _ALLOWED_CTYPES:
                out.append((module, target, "ctypes outside dockyard/linux/"))
            continue
        other = _top(target)
        if not other or other == pkg or pkg not in RANK:
            continue
        if other not in RANK:
            out.append((module, target, f"dockyard.{other} has no rank in DESIGN.md"))
        elif RANK[other] > RANK[pkg]:
            out.append((module, target, f"{pkg} imports the higher layer {other}"))
        elif RANK[other] == RANK[pkg]:
            out.append((module, target, f"{pkg} imports its sibling layer {other}"))
        if any(p.startswith("_") and not p.startswith("__") for p in target.split(".")[2:]):
            out.append((module, target, f"private module of {other}"))
    return out


def test_layers_privacy_and_the_kernel_seam() -> None:
    found = [p for path in sorted(SRC.rglob("*.py")) for p in problems(path)]
    bad = [f"{m} imports {t}: {why}" for m, t, why in found if (m, t) not in KNOWN]
    stale = KNOWN - {(m, t) for m, t, _ in found}
    assert not bad, "\n".join(bad)
    assert not stale, f"fixed, strike off KNOWN: {sorted(stale)}"


def _problems_of(src: Path, rel: str, text: str) -> list[str]:
    path = src / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return [why for _, _, why in problems(path, src)]


def test_the_checker_sees_every_form_of_import(tmp_path: Path) -> None:
    root = tmp_path / "dockyard"
    (root / "store").mkdir(parents=True)
    (root / "store" / "_streams.py").write_text("")
    (root / "engine").mkdir()
    (root / "engine" / "x.py").write_text("")
    (root / "api").mkdir()
    (root / "api" / "server.py").write_text("")
    cases = {
        "from ..engine import x\n": "build imports the higher layer engine",
        "from dockyard import engine\n": "build imports the higher layer engine",
        "import dockyard.engine.x\n": "build imports the higher layer engine",
        "def f():\n    from dockyard.api.server import y\n": "build imports the higher layer api",
        "from dockyard.store import _streams\n": "private module of store",
        "from ..store._streams import z\n": "private module of store",
        "import ctypes\n": "ctypes outside dockyard/linux/",
        "from ctypes import CDLL\n": "ctypes outside dockyard/linux/",
        "from dockyard.distribution import y\n": "build imports its sibling layer distribution",
    }
    for text, why in cases.items():
        assert why in _problems_of(root, "build/m.py", text), text
    assert _problems_of(root, "build/ok.py", "from . import m\nfrom ..store import y\n") == []
    assert _problems_of(root, "linux/k.py", "import ctypes\n") == []
    assert _problems_of(root, "store/s.py", "from . import _streams\n") == []
    assert "cli imports its sibling layer api" in _problems_of(
        root, "cli/c.py", "from dockyard.api import server\n"
    )


# --- rule 4: the orchestrator and the kernel ---------------------------------------------

_ORCH_FORBIDDEN = ("dockyard.cgroups", "dockyard.linux", "dockyard.runtime")
_ORCH_NETWORK = frozenset({
    "dockyard.network", "dockyard.network.services", "dockyard.network.netpol_nft",
    "dockyard.network.conntrack",
})  # fmt: skip
_ORCH_NAMES = frozenset({"in_netns"})  # entering a namespace is the engine's (podsupport.py)
_SQL = ("SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", "CREATE TABLE", "DROP TABLE")
_ORCH_SQL_HOME = "dockyard.orchestrator.sqlite_store"


def orchestrator_problems(path: Path, src: Path = SRC) -> list[str]:
    """What ``path`` (a module of ``orchestrator/``) does that rule 4 forbids."""
    module, package = _module_name(path, src)
    out = []
    for target in sorted(imports(path, src)):
        if target.startswith(_ORCH_FORBIDDEN):
            out.append(f"{module} imports {target}: the orchestrator never calls the kernel")
        elif _top(target) == "network" and target not in _ORCH_NETWORK:
            out.append(f"{module} imports {target}: not one of network's modules for it")
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(node, package)
            for alias in node.names:
                if _top(base) == "network" and alias.name in _ORCH_NAMES:
                    out.append(f"{module} imports {base}.{alias.name}: enters a namespace")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.lstrip()
            if text.startswith("/proc/"):
                out.append(f"{module} names a /proc path: {node.value!r}")
            elif text.startswith(_SQL) and module != _ORCH_SQL_HOME:  # (as SQL is written)
                out.append(f"{module} holds SQL outside {_ORCH_SQL_HOME}: {text[:30]!r}")
    return out


def test_the_orchestrator_calls_no_kernel_and_no_sql() -> None:
    found = [
        p
        for path in sorted((SRC / "orchestrator").rglob("*.py"))
        for p in orchestrator_problems(path)
    ]
    assert not found, "\n".join(found)


def test_the_orchestrator_check_sees_what_it_forbids(tmp_path: Path) -> None:
    root = tmp_path / "dockyard"
    (root / "network").mkdir(parents=True)
    for name in ("services.py", "_netns.py", "_links.py"):
        (root / "network" / name).write_text("")
    (root / "cgroups").mkdir()
    (root / "orchestrator").mkdir()
    (root / "orchestrator" / "sqlite_store.py").write_text("")

    def check(rel: str, text: str) -> list[str]:
        path = root / rel
        path.write_text(text)
        return orchestrator_problems(path, root)

    forbidden = {
        "from dockyard.cgroups import create_manager\n": "never calls the kernel",
        "def f():\n    from ..linux import syscalls\n": "never calls the kernel",
        "from dockyard.network import in_netns\n": "enters a namespace",
        "from ..network._netns import in_netns\n": "not one of network's modules",
        "import dockyard.network._links\n": "not one of network's modules",
        "P = f'/proc/{1}/ns/net'\nQ = '/proc/self/ns/net'\n": "/proc path",
        "Q = 'SELECT value FROM orchestrator_meta'\n": "SQL outside",
    }
    for text, why in forbidden.items():
        assert any(why in p for p in check("orchestrator/m.py", text)), text
    allowed = (
        "from dockyard.network import Ipam\nfrom ..network.services import ServiceSpec\n"
        "from dockyard.engine.podsupport import NetProbe\n"
    )
    assert check("orchestrator/ok.py", allowed) == []
    assert check("orchestrator/sqlite_store.py", "Q = 'SELECT 1'\n") == []
