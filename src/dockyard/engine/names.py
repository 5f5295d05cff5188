"""Container ids and docker-style random names (``adjective_scientist``)."""

from __future__ import annotations

import secrets

__all__ = ["new_id", "random_name"]

_LEFT = (
    "admiring amazing angry awesome blissful bold brave busy charming clever cool "
    "dazzling determined eager ecstatic elegant epic fervent focused friendly gallant "
    "gifted happy hopeful jolly keen kind laughing loving lucid modest nifty nostalgic "
    "optimistic peaceful practical quirky relaxed serene sharp stoic sweet tender "
    "trusting upbeat vibrant wizardly youthful zealous"
).split()
_RIGHT = (
    "archimedes babbage bohr curie darwin dijkstra einstein euclid euler faraday "
    "fermat feynman gauss goldberg hamilton hopper hypatia kepler knuth lamport "
    "lovelace maxwell mccarthy meitner newton noether pascal pike ritchie shannon "
    "thompson torvalds turing wescoff wilson wozniak"
).split()


def new_id() -> str:
    return secrets.token_hex(32)


def random_name() -> str:
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"
