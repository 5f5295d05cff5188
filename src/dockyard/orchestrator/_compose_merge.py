"""Several compose files → one model, as the compose spec merges them; profiles; the keys
dockyard does not translate (pure).

Merge (``compose -f a.yaml -f b.yaml``: ``b`` overrides ``a``), the spec's rules:

- a mapping merges key by key, recursively; a scalar is replaced;
- a sequence is appended to — except ``command``, ``entrypoint`` and ``healthcheck.test``
  (replaced), and the *unique resources* merged by their key: ``volumes``, ``secrets``,
  ``configs`` by target, ``ports`` by (host ip, target, published, protocol);
- what compose models as a mapping but lets a file write as a list is merged as the
  mapping: ``environment``, ``labels``, ``annotations``, ``extra_hosts``, ``sysctls``,
  ``build.args`` (``KEY=VALUE`` items), ``depends_on`` and ``networks`` (names), ``build``
  (a string is the context);
- ``!reset`` removes what the earlier files set; ``!override`` replaces it whole.

Profiles: a service with ``profiles`` runs only when one of them is active (``--profile``,
``COMPOSE_PROFILES``) or when it is named on the command line; the services an enabled one
depends on are enabled with it.

Unknown keys: every key dockyard does not translate gives a warning naming it (compose's
own ``version`` is "obsolete"; ``x-`` extensions are silent), instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = [
    "KNOWN_SERVICE_KEYS",
    "Override",
    "Reset",
    "active_services",
    "merge_documents",
    "parse_compose_yaml",
    "unknown_keys",
]


class Reset:
    """``!reset``: the key is removed from the merged model."""


class Override:
    """``!override VALUE``: VALUE replaces the earlier files' value, unmerged."""

    def __init__(self, value: Any) -> None:
        self.value = value


_LOADERS: list[Any] = []


def _loader() -> Any:
    if _LOADERS:
        return _LOADERS[0]
    from .loader import _loader_class

    class ComposeLoader(_loader_class()):  # type: ignore[misc]
        pass

    def reset(_loader: Any, _node: Any) -> Reset:
        return Reset()

    def override(loader: Any, node: Any) -> Override:
        import yaml

        if isinstance(node, yaml.MappingNode):
            return Override(loader.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return Override(loader.construct_sequence(node, deep=True))
        return Override(loader.construct_scalar(node))

    ComposeLoader.add_constructor("!reset", reset)
    ComposeLoader.add_constructor("!override", override)
    _LOADERS.append(ComposeLoader)
    return ComposeLoader


def parse_compose_yaml(text: str, source: str) -> dict[str, Any]:
    """One compose file: a single YAML mapping, ``!reset``/``!override`` understood."""
    import yaml

    loader = _loader()(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            if data is not None:
                docs.append(data)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise InvalidArgument(
            f"{source}:{line}: {e.problem or e.context or 'invalid YAML'}"
        ) from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{source}: {e}") from None
    finally:
        loader.dispose()
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise InvalidArgument(f"{source}: a compose file must be one mapping")
    return docs[0]


# ---------------------------------------------------------------------- merge

_REPLACED = {"command", "entrypoint"}
_AS_MAPPING = {"environment", "labels", "annotations", "extra_hosts", "sysctls"}
_NAMES_AS_MAPPING = {"depends_on", "networks"}
_UNIQUE = {"volumes": "volume", "secrets": "file", "configs": "file", "ports": "port"}


def merge_documents(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The files merged in order; the markers of the first file resolved too."""
    out: dict[str, Any] = {}
    for doc in docs:
        out = _merge_map(out, doc, ())
    return out


def _merge_map(
    base: Mapping[str, Any], over: Mapping[str, Any], path: tuple[str, ...]
) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Reset):
            out.pop(key, None)
        elif isinstance(value, Override):
            out[key] = _plain(value.value)
        elif key in out:
            out[key] = _merge_value(out[key], value, (*path, str(key)))
        else:
            out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    """``value`` with markers resolved (a first file's ``!reset`` is null)."""
    if isinstance(value, Override):
        return _plain(value.value)
    if isinstance(value, Reset):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [_plain(v) for v in value if not isinstance(v, Reset)]
    return value


def _in_service(path: tuple[str, ...]) -> str:
    """The service attribute at ``path`` (``services.NAME.ATTR``), else ""."""
    return path[2] if len(path) == 3 and path[0] == "services" else ""


def _merge_value(base: Any, over: Any, path: tuple[str, ...]) -> Any:
    attr = _in_service(path)
    if attr in _REPLACED or (path[-2:] == ("healthcheck", "test") and len(path) == 4):
        return _plain(over)
    if attr in _AS_MAPPING or path[-2:] == ("build", "args"):
        return _merge_map(_kv_map(base, path), _kv_map(over, path), path)
    if attr in _NAMES_AS_MAPPING:
        return _merge_map(_names_map(base), _names_map(over), path)
    if attr == "build":
        return _merge_map(_build_map(base), _build_map(over), path)
    if attr in _UNIQUE and isinstance(base, list) and isinstance(over, list):
        return _merge_unique(base, over, _UNIQUE[attr])
    if isinstance(base, dict) and isinstance(over, dict):
        return _merge_map(base, over, path)
    if isinstance(base, list) and isinstance(over, list):
        return [*base, *_plain(over)]
    return _plain(over)


def _kv_map(value: Any, path: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, v = str(item).partition(":" if path[-1] == "extra_hosts" else "=")
            if path[-1] == "extra_hosts" and not sep:
                key, sep, v = str(item).partition("=")
            out[key.strip()] = v if sep else None
        return out
    raise InvalidArgument(f"{'.'.join(path)}: must be a mapping or a list")


def _names_map(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, list):
        return {str(n): None for n in value}
    return dict(value)


def _build_map(value: Any) -> dict[str, Any]:
    return {"context": value} if isinstance(value, str) else dict(value or {})


def _unique_key(item: Any, kind: str) -> Any:
    if kind == "volume":
        if isinstance(item, dict):
            return item.get("target")
        parts = str(item).split(":")
        return parts[1] if len(parts) > 1 else parts[0]
    if kind == "file":
        if isinstance(item, dict):
            return item.get("target") or item.get("source")
        return str(item)
    if isinstance(item, dict):
        return (item.get("host_ip"), str(item.get("target")), str(item.get("published")),
                item.get("protocol") or "tcp")  # fmt: skip
    return str(item)


def _merge_unique(base: list[Any], over: list[Any], kind: str) -> list[Any]:
    out = list(base)
    index = {_unique_key(item, kind): i for i, item in enumerate(out)}
    for item in _plain(over):
        key = _unique_key(item, kind)
        if key in index:
            prev = out[index[key]]
            both = isinstance(prev, dict) and isinstance(item, dict)
            out[index[key]] = {**prev, **item} if both else item
        else:
            index[key] = len(out)
            out.append(item)
    return out


# ---------------------------------------------------------------------- profiles


def active_services(
    services: Mapping[str, Any], profiles: Iterable[str], named: Iterable[str] = ()
) -> set[str]:
    """The services that run: no ``profiles``, an active profile (``*``: all), or named
    on the command line; then everything they depend on."""
    active = set(profiles)
    wanted = set(named)
    on: set[str] = set()
    for name, svc in services.items():
        own = (svc or {}).get("profiles") if isinstance(svc, dict) else None
        if not own or name in wanted or "*" in active or active & {str(p) for p in own}:
            on.add(str(name))
    todo = list(on)
    while todo:
        svc = services.get(todo.pop()) or {}
        deps = svc.get("depends_on") if isinstance(svc, dict) else None
        for dep in deps if isinstance(deps, (list, dict)) else ():
            if str(dep) in services and str(dep) not in on:
                on.add(str(dep))
                todo.append(str(dep))
    return on


# ---------------------------------------------------------------------- unknown keys

KNOWN_TOP_KEYS = {"name", "services", "networks", "volumes", "secrets", "configs"}
KNOWN_SERVICE_KEYS = {
    "build", "cap_add", "cap_drop", "command", "configs", "container_name", "cpus",
    "depends_on", "deploy", "entrypoint", "env_file", "environment", "expose",
    "healthcheck", "hostname", "image", "labels", "mem_limit", "mem_reservation",
    "network_mode", "networks", "ports", "privileged", "profiles", "pull_policy",
    "read_only", "restart", "scale", "secrets", "stdin_open", "stop_grace_period", "tty",
    "user", "volumes", "working_dir",
}  # fmt: skip


def unknown_keys(doc: Mapping[str, Any], source: str) -> list[str]:
    """One warning per key the translation ignores (``x-`` extensions excepted)."""
    out = []
    for key in doc:
        if key == "version":
            out.append(f"{source}: the attribute `version` is obsolete, it will be ignored")
        elif key not in KNOWN_TOP_KEYS and not str(key).startswith("x-"):
            out.append(f"{source}: {key}: not supported by dockyard, ignored")
    for name, svc in (doc.get("services") or {}).items():
        if not isinstance(svc, dict):
            continue
        for key in svc:
            if key not in KNOWN_SERVICE_KEYS and not str(key).startswith("x-"):
                out.append(f"{source}: services.{name}.{key}: not supported by dockyard, ignored")
    return out
