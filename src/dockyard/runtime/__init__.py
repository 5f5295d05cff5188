"""dockyard.runtime — the OCI runtime: bundle → container, and its lifecycle.

See :mod:`dockyard.runtime.runtime` for the protocol, ``init.py`` for the
container init sequence, ``state.py`` for the state directory, and
``docs/runtime.md``. Security defaults for ``dockyard run`` are in
:mod:`dockyard.runtime.defaults`.
"""

from __future__ import annotations

from dockyard.runtime.runtime import ExitStatus, Runtime
from dockyard.runtime.state import State

__all__ = ["ExitStatus", "Runtime", "State"]
