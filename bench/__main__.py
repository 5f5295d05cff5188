"""``make bench``: every benchmark, one after the other; ``python -m bench NAME`` for one."""

from __future__ import annotations

import importlib
import sys

BENCHES = [
    "startup",
    "daemon",
    "build",
    "registry",
    "deploy",
    "endpoints",
    "security",
    "userns",
    "dns",
    "inference",
]


def main() -> int:
    names = sys.argv[1:] or BENCHES
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        print(mod.main(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
