"""Rewrite the virtualenv's ``dockyard`` and ``dockyard-runtime`` scripts as fast launchers.

Usage: ``python tools/write-launchers.py [VENV]`` (``make setup`` runs it after
``pip install -e``; VENV defaults to ``.venv`` beside this repository).

pip's console scripts start the interpreter normally, so ``site`` runs first: it
reads ``pyvenv.cfg``, scans site-packages and executes every ``.pth`` file there
(``distutils-precedence.pth`` imports ``_distutils_hack``; the editable install's
``.pth`` adds ``src``) — about 5 to 6 ms of every command on this machine. The
launchers written here start Python with ``-I -S`` instead and set ``sys.path``
themselves: this checkout's ``src`` first, then the standard library, then the
venv's site-packages (so pyseccomp, PyYAML, aiohttp still import). They call the
same ``main()`` as the console scripts and, when the command says it is safe
(``fast_exit_ok()``), end with ``os._exit`` after flushing stdout and stderr, skipping
the interpreter's teardown. See docs/decisions/0002-fast-launchers.md.

``-I`` also means: no ``PYTHON*`` environment variables, no user site-packages,
and the script's directory is not on ``sys.path``. dockyard reads only its own
``DOCKYARD_*`` variables (through ``os.environ``), so nothing changes for it.
"""

from __future__ import annotations

import os
import sys
import sysconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TEMPLATE = """\
#!{python} -IS
# Written by tools/write-launchers.py (make setup); pip's console script, minus `site`.
# See docs/decisions/0002-fast-launchers.md. `make setup` rewrites it after `pip install`.
import os
import sys

sys.path[:0] = [{src!r}]
sys.path.append({site_packages!r})
from {module} import fast_exit_ok, main

if __name__ == "__main__":
    sys.argv[0] = sys.argv[0].removesuffix(".exe")
    code = main()
    if fast_exit_ok():  # skip the interpreter's teardown (see the decision record)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            sys.exit(code)
        os._exit(code)
    sys.exit(code)
"""

SCRIPTS = {
    "dockyard": "dockyard.cli.main",
    "dockyard-runtime": "dockyard.cli.runtime_main",
}


def site_packages(venv: str) -> str:
    """The venv's purelib directory (where pip installed the dependencies)."""
    return sysconfig.get_path("purelib", vars={"base": venv, "platbase": venv})


def write(venv: str) -> list[str]:
    venv = os.path.abspath(venv)
    python = os.path.join(venv, "bin", "python")
    if not os.access(python, os.X_OK):
        raise SystemExit(f"write-launchers: {python}: no such interpreter")
    sp = site_packages(venv)
    if not os.path.isdir(sp):
        raise SystemExit(f"write-launchers: {sp}: no such directory")
    written = []
    for name, module in SCRIPTS.items():
        path = os.path.join(venv, "bin", name)
        text = TEMPLATE.format(
            python=python, src=os.path.join(REPO, "src"), site_packages=sp, module=module
        )
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
        written.append(path)
    return written


def main() -> int:
    venv = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".venv")
    for path in write(venv):
        print(f"write-launchers: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
