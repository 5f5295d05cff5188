"""Docker's confirmation prompt for destructive commands (``prune`` without ``-f``)."""

from __future__ import annotations

import sys

__all__ = ["confirm"]


def confirm(warning: str) -> bool:
    """Print ``warning`` and docker's question on stdout, read one line from stdin:
    ``y`` or ``Y`` confirms; anything else, or end of input, declines (docker reads
    stdin whether or not it is a terminal, so ``echo y | dockyard image prune`` works)."""
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):
        sys.stdout.write("\n")
    return answer.strip().lower() == "y"
