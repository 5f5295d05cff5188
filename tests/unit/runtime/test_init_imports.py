"""The container's init imports nothing that costs milliseconds: every container start pays
its imports between fork and exec (``bench startup``: ``dockyard-runtime run`` against runc)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("dataclasses", "inspect", "ast", "typing", "enum", "re", "json", "logging", "tokenize")


def test_init_path_imports_stay_lean() -> None:
    # what container_main imports on a default run, the rootless check included (issue 18's
    # `running_in_userns` came with `dataclasses`: 9 ms, dockyard-runtime run 28 -> 36 ms)
    src = str(Path(__file__).resolve().parents[3] / "src")
    code = (
        f"import sys; sys.path[:0] = [{src!r}]\n"
        "import dockyard.runtime.init, dockyard.runtime.mounts, dockyard.linux.userns\n"
        "import dockyard.runtime.console, dockyard.oci.fastjson, dockyard.oci.runtime_spec\n"
        f"print(sorted(set({HEAVY!r}) & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"
