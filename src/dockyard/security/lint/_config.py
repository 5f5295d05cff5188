"""What configures a run: ``.hadolint.yaml``, inline pragmas and ``# check=``.

* ``.hadolint.yaml`` (hadolint's keys): ``ignored`` (list of rule ids),
  ``failure-threshold``, ``override`` (``error``/``warning``/``info``/``style``
  -> list of ids), ``trustedRegistries``, ``no-fail``, ``disable-ignore-pragma``.
  Other keys (``label-schema``, ``format`` ...) are accepted and not used.
* inline ``# hadolint ignore=DL3006,DL3008`` silences those rules on the next
  instruction; ``# hadolint global ignore=...`` silences them in the whole file.
* BuildKit's directive ``# check=skip=JSONArgsRecommended,DL3008;error=true``
  (``skip=all`` skips every rule).  Names are matched without regard to case,
  BuildKit names and rule ids alike.
"""

from __future__ import annotations

import re
from pathlib import Path

from dockyard.errors import InvalidArgument

from ._model import LintConfig, Severity

__all__ = ["CONFIG_NAMES", "apply_check_directive", "find_config", "inline_ignores", "load_config"]

CONFIG_NAMES = (".hadolint.yaml", ".hadolint.yml")
_PRAGMA = re.compile(r"^\s*#\s*hadolint\s+(global\s+)?ignore\s*=\s*([A-Za-z0-9_,\s]+?)\s*$")


def find_config(*dirs: Path) -> Path | None:
    """The first ``.hadolint.yaml``/``.yml`` in ``dirs`` (hadolint looks in the cwd)."""
    for directory in dirs:
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def _ids(value: object, path: Path, key: str) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"lint config {path}: {key} must be a list of rule ids")
    return {v.strip().lower() for v in value}


def load_config(path: Path, config: LintConfig | None = None) -> LintConfig:
    """Read ``path`` into ``config`` (a new one if None)."""
    import yaml

    config = config or LintConfig()
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidArgument(f"lint config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidArgument(f"lint config {path}:{where} not valid YAML") from None
    if data is None:
        return config
    if not isinstance(data, dict):
        raise InvalidArgument(f"lint config {path}: expected a mapping at the top")
    config.ignored |= _ids(data.get("ignored"), path, "ignored")
    if "failure-threshold" in data:
        config.failure_threshold = Severity.parse(str(data["failure-threshold"]))
    override = data.get("override") or {}
    if not isinstance(override, dict):
        raise InvalidArgument(f"lint config {path}: override must be a mapping")
    for level, ids in override.items():
        severity = Severity.parse(str(level))
        for rule_id in _ids(ids, path, f"override.{level}"):
            config.overrides[rule_id] = severity
    registries = data.get("trustedRegistries") or []
    if not isinstance(registries, list):
        raise InvalidArgument(f"lint config {path}: trustedRegistries must be a list")
    config.trusted_registries += [str(r) for r in registries]
    config.no_fail = config.no_fail or bool(data.get("no-fail", False))
    config.disable_ignore_pragma = bool(data.get("disable-ignore-pragma", False))
    return config


def inline_ignores(text: str) -> tuple[dict[int, set[str]], set[str]]:
    """(line of an instruction -> ids to ignore there, ids ignored file-wide)."""
    per_line: dict[int, set[str]] = {}
    global_ids: set[str] = set()
    pending: set[str] = set()
    for number, line in enumerate(text.split("\n"), start=1):
        match = _PRAGMA.match(line)
        if match:
            ids = {i.strip().lower() for i in match.group(2).split(",") if i.strip()}
            if match.group(1):
                global_ids |= ids
            else:
                pending |= ids
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if pending:
            per_line[number] = pending
            pending = set()
    return per_line, global_ids


def apply_check_directive(value: str | None, config: LintConfig) -> None:
    """BuildKit's ``# check=skip=A,B;error=true`` into ``config``."""
    if not value:
        return
    for part in value.split(";"):
        key, _, val = part.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "skip":
            names = {n.strip().lower() for n in val.split(",") if n.strip()}
            if "all" in names:
                config.skip_all = True
            config.ignored |= names
        elif key == "error":
            config.check_error = val.lower() == "true"
