"""The one error the guest tool raises; ``cli.main`` prints it as one line and exits 2.

The tool lives outside ``src/`` and runs on the host's Python before any venv exists
(``make test-cgroup2`` builds the guest first), so it does not import ``dockyard.errors``.
"""

from __future__ import annotations


class GuestError(Exception):
    """A step of building or running the guest failed; the message names the step."""
