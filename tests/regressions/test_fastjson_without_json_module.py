"""Regression: with ``json`` not imported, the C scanner raised SystemError on bad input.

``_json``'s scanner raises ``json.decoder.JSONDecodeError`` only when ``json.decoder``
is already imported; in a fresh ``dockyard`` process it is not, and ``{not json``
ended in a traceback instead of a one-line error. pytest imports ``json`` itself,
so the check runs in a clean interpreter.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = """
import sys
sys.path.insert(0, sys.argv[1])
assert "json" not in sys.modules
from dockyard.errors import InvalidArgument
from dockyard.oci.fastjson import loads
for text in ["{not json", '"abc', "[1,"]:
    try:
        loads(text, "config.json")
    except InvalidArgument as e:
        print(e)
"""


def test_bad_json_is_invalid_argument_in_a_fresh_interpreter() -> None:
    out = subprocess.run(
        [sys.executable, "-IS", "-c", SCRIPT, str(SRC)], capture_output=True, text=True, check=True
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.stdout + out.stderr
    assert all(line.startswith("parse config.json: invalid json") for line in lines)
