"""Write the pip configuration that the image build's RUN steps get as the `pipconf` secret.

pip inside a build container must reach the same index the host's pip reaches, through the
same intercepting proxy. This reads the host's pip settings at run time (`pip config list`
and the PIP_* environment; nothing is written into the repository) and keeps only what means
the same inside a container: index-url, extra-index-url and trusted-host entries that are
network URLs, and the timeout. Host paths (file:// indexes, find-links, constraints, cert)
are dropped: the CA bundle travels as its own secret (`ca`).

Usage: python pipconf.py OUT  (prints what it kept, host names elided)
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from urllib.parse import urlsplit

KEYS = ("index-url", "extra-index-url", "trusted-host", "timeout", "default-timeout")


def host_settings() -> dict[str, str]:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        name, _, value = line.partition("=")
        key = name.rpartition(".")[2]
        if key in KEYS and value:
            found[key] = ast.literal_eval(value) if value[0] in "'\"" else value
    for key in KEYS:  # the environment wins, as in pip
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            found[key] = env
    return found


def networked(urls: str) -> list[str]:
    return [u for u in urls.split() if urlsplit(u).scheme in ("http", "https")]


def main() -> None:
    settings = host_settings()
    lines = ["[global]"]
    for key in ("index-url", "extra-index-url"):
        urls = networked(settings.get(key, ""))
        if urls:
            lines.append(f"{key} = {' '.join(urls)}")
    if settings.get("trusted-host"):
        lines.append(f"trusted-host = {settings['trusted-host']}")
    timeout = settings.get("timeout") or settings.get("default-timeout") or "120"
    lines.append(f"timeout = {timeout}")
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(sys.argv[1], 0o600)
    kept = [line.split(" = ")[0] for line in lines[1:]]
    print(f"pip settings for RUN steps (from the host's pip config): {', '.join(kept)}")


if __name__ == "__main__":
    main()
