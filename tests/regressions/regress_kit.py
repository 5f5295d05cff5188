"""The integration kit (a private daemon per test: ``dyd``) for regression tests that
drive the CLI on real containers, with the integration suite's settings (no spares)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
os.environ.setdefault("DOCKYARD_SPARES", "0")  # as tests/integration/conftest.py

from daemon_kit import Daemonized, daemonized, dyd

__all__ = ["Daemonized", "daemonized", "dyd"]
