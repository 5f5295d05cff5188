"""Shared fixtures: what the machine offers, the external corpus, temporary roots."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("DOCKYARD_CORPUS", REPO.parent / "shared" / "corpus"))
IMAGE_CACHE = REPO / ".cache" / "images"

# The least-privilege warnings of run/create/apply (security/advice.py) are off for the
# suite: many tests compare a container's exact stderr, and busybox runs as root. The
# tests of the warnings (test_security_attach.py) turn them on.
os.environ.setdefault("DOCKYARD_SECURITY_WARNINGS", "0")

# --userns auto takes its ranges from the ``dockyard`` lines of the subordinate-id files,
# appending one on first use (engine/userns.py), as dockerd does for ``dockremap``. The suite
# must not change the host's /etc/subuid and /etc/subgid: every daemon a test starts (they
# inherit this environment) uses files of the session's own, removed at its end.
_SUBIDS = tempfile.mkdtemp(prefix="dockyard-test-subids-")
for _name in ("subuid", "subgid"):
    Path(_SUBIDS, _name).write_text("")
os.environ.setdefault("DOCKYARD_SUBUID", os.path.join(_SUBIDS, "subuid"))
os.environ.setdefault("DOCKYARD_SUBGID", os.path.join(_SUBIDS, "subgid"))


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SUBIDS, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    """On a pure cgroup v2 host, move this test process into a leaf of its own cgroup first
    (as the daemon does, dockyard.cgroups.delegate), so the containers that tests create
    beneath it can be limited: the no-internal-process rule forbids controllers for the
    children of a cgroup that holds processes. Run the suite in a delegated cgroup of its
    own (``systemd-run --scope -p Delegate=yes``, as ``make test-cgroup2`` does)."""
    if os.geteuid() != 0 or not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return
    from dockyard.cgroups.delegate import enter_leaf

    d = enter_leaf()
    if d.problem:  # the limit tests then fail with this reason in their error
        import sys

        print(f"conftest: warning: {d.problem}", file=sys.stderr)


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
