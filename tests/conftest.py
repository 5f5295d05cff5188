"""Shared fixtures: what the machine offers, the external corpus, temporary roots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DOCKYARD_CORPUS", REPO.parent / "shared" / "corpus"))
IMAGE_CACHE = REPO / ".cache" / "images"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The external test corpus (../shared/corpus); tests skip where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"external corpus not found at {CORPUS} (a fresh clone has none)")
    return CORPUS


@pytest.fixture
def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")


def need_tool(name: str) -> str:
    """Return the path of a reference tool, or skip the test with the reason."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (make setup installs it)")
    return path


@pytest.fixture
def dockyard_root(tmp_path: Path) -> Iterator[Path]:
    """A private dockyard state root for one test."""
    root = tmp_path / "dockyard-root"
    root.mkdir()
    yield root
