"""Per-repository authorization for htpasswd accounts: the ``--access`` file.

The file (YAML, or JSON, which YAML reads too) maps users and groups to
repository patterns and the actions they may take there, as distribution's
token auth and Harbor's project roles do::

    groups:
      ci: [builder, deployer]
    access:
      alice:                  # a user
        "alice/*": [pull, push, delete]
      "@ci":                  # a group
        "apps/*": [pull, push]
      "*":                    # every authenticated user
        "library/*": [pull]
    catalog: [alice]          # who may list /v2/_catalog (nobody by default)

Actions are ``pull``, ``push``, ``delete`` and ``*`` (all three).  Patterns are
shell globs matched against the whole repository name (``fnmatch``, so ``*``
also matches ``/``, as in ``--token-acl``).  What a user holds is the union of
every entry naming the user, one of the user's groups, or ``*``; anything not
granted is refused.  Uploads ask for ``pull`` and ``push`` (as a token scope
does), deletes for ``delete``, reads for ``pull``.

Errors: a malformed file raises InvalidArgument naming the file and the entry.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.errors import InvalidArgument

__all__ = ["ACTIONS", "AccessPolicy", "load_access"]

ACTIONS = frozenset({"pull", "push", "delete"})
_KEYS = frozenset({"groups", "access", "catalog"})


@dataclass(frozen=True)
class AccessPolicy:
    """Who may do what, by repository pattern (see the module docstring)."""

    grants: tuple[tuple[str, str, frozenset[str]], ...] = ()  # (who, pattern, actions)
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    catalog: frozenset[str] = frozenset()

    def _names(self, account: str) -> set[str]:
        names = {account, "*"}
        names |= {f"@{g}" for g, members in self.groups.items() if account in members}
        return names

    def actions(self, account: str, repository: str) -> frozenset[str]:
        """The actions ``account`` holds on ``repository``."""
        names = self._names(account)
        held: set[str] = set()
        for who, pattern, actions in self.grants:
            if who in names and fnmatch.fnmatchcase(repository, pattern):
                held |= actions
        return frozenset(held)

    def allows(self, account: str | None, kind: str, name: str, action: str) -> bool:
        if account is None:
            return False
        if kind == "registry":
            return name == "catalog" and bool(self._names(account) & self.catalog)
        return kind == "repository" and action in self.actions(account, name)


def load_access(path: Path) -> AccessPolicy:
    """Read and check an access file."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise InvalidArgument(f"load access file {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"load access file {path}: {str(e).splitlines()[0]}") from None
    return parse_access(data, str(path))


def parse_access(data: object, source: str = "access file") -> AccessPolicy:
    """An :class:`AccessPolicy` from the decoded file."""
    if not isinstance(data, dict):
        raise InvalidArgument(f"load access file {source}: expected a mapping")
    unknown = set(data) - _KEYS
    if unknown:
        first = sorted(map(str, unknown))[0]
        raise InvalidArgument(f"load access file {source}: unknown key {first!r}")
    groups = {g: frozenset(m) for g, m in _str_lists(data.get("groups"), source, "groups").items()}
    grants = []
    access = data.get("access") or {}
    if not isinstance(access, dict):
        raise InvalidArgument(f"load access file {source}: access: expected a mapping")
    for who, patterns in access.items():
        _check_who(who, groups, source)
        for pattern, actions in _str_lists(patterns, source, f"access.{who}").items():
            grants.append((str(who), pattern, _actions(actions, source, f"access.{who}.{pattern}")))
    catalog = data.get("catalog") or []
    if not isinstance(catalog, list) or not all(isinstance(c, str) for c in catalog):
        raise InvalidArgument(f"load access file {source}: catalog: expected a list of names")
    for who in catalog:
        _check_who(who, groups, source)
    return AccessPolicy(tuple(grants), groups, frozenset(catalog))


def _str_lists(value: object, source: str, where: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    ok = isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
        for k, v in value.items()
    )
    if not ok:
        raise InvalidArgument(f"load access file {source}: {where}: expected name: [strings]")
    assert isinstance(value, dict)
    return value


def _check_who(who: object, groups: Mapping[str, frozenset[str]], source: str) -> None:
    if not isinstance(who, str) or not who:
        raise InvalidArgument(f"load access file {source}: expected a user or @group name")
    if who.startswith("@") and who[1:] not in groups:
        raise InvalidArgument(f"load access file {source}: unknown group {who}")


def _actions(actions: list[str], source: str, where: str) -> frozenset[str]:
    out: set[str] = set()
    for a in actions:
        if a == "*":
            out |= ACTIONS
        elif a in ACTIONS:
            out.add(a)
        else:
            raise InvalidArgument(f"load access file {source}: {where}: unknown action {a!r}")
    return frozenset(out)
