"""The Debian mirror the guest is bootstrapped from: read from the host's apt sources.

No mirror host is written into the repository: the host already names one (deb822
``/etc/apt/sources.list.d/*.sources`` or one-line ``/etc/apt/sources.list``), and the
guest uses the first ``deb`` entry that carries ``SUITE`` with the ``main`` component.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .errors import GuestError

APT_DIR = Path("/etc/apt")


@dataclass(frozen=True)
class Source:
    """One apt source entry: a repository URI, its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def parse_deb822(text: str) -> list[Source]:
    """``Types: deb`` stanzas of a ``.sources`` file (``Enabled: no`` ones are left out)."""
    found: list[Source] = []
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        components = tuple(fields.get("components", "").split())
        found += [Source(uri, suites, components) for uri in fields.get("uris", "").split()]
    return found


def parse_one_line(text: str) -> list[Source]:
    """``deb [options] URI SUITE COMPONENT...`` lines of a ``sources.list`` file."""
    found: list[Source] = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) < 3 or words[0] != "deb":
            continue
        words = words[1:]
        if words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            found.append(Source(words[0], (words[1],), tuple(words[2:])))
    return found


def host_sources(apt_dir: Path = APT_DIR) -> list[Source]:
    """Every enabled ``deb`` source of the host, in apt's reading order."""
    found: list[Source] = []
    main_list = apt_dir / "sources.list"
    if main_list.is_file():
        found += parse_one_line(main_list.read_text())
    parts = apt_dir / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                found += parse_one_line(path.read_text())
            elif path.suffix == ".sources":
                found += parse_deb822(path.read_text())
    return found


def pick_mirror(sources: Iterable[Source], suite: str) -> str:
    """The URI of the first source that serves ``suite`` with ``main``."""
    for source in sources:
        served = suite in source.suites and "main" in source.components
        if served and source.uri.startswith(("http://", "https://", "file:/")):
            return source.uri
    raise GuestError(f"find a mirror: no apt source of this host serves {suite} main")
