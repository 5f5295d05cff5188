"""Kubernetes manifests → typed objects.

``load_manifests(text, source)`` reads one YAML (or JSON) stream of any number of
documents (``---``, ``...``, flow style, ``kind: List``) and returns its objects in
order. Loading is all or nothing: one bad document fails the whole stream, so a
caller never applies half a file. Errors are InvalidArgument and point at the line
where the bad document starts, or at the YAML error itself::

    app.yaml:12: mapping values are not allowed here
    app.yaml:1: kind ServiceAccount is not supported
    app.yaml:20: Deployment.apps "web" is invalid: spec.selector: Required value
    app.yaml:20: strict decoding error: unknown field "spec.replicass"

Per document: the ``(apiVersion, kind)`` pair picks the class (``KINDS``), with
``autoscaling/v1`` and ``autoscaling/v2beta2`` HorizontalPodAutoscalers converted to
``autoscaling/v2``; ``status`` is dropped (a manifest states what is wanted, as the
API server ignores status on create); the codec decodes strictly and applies
defaults; :func:`~dockyard.orchestrator.validation.check` validates.

``load_path`` reads a file or a directory (``*.yaml``, ``*.yml``, ``*.json``, sorted;
``recursive`` as ``kubectl -R``); ``load_paths`` reads several, ``-`` standing for a
text the caller read from stdin. PyYAML is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from dockyard.errors import InvalidArgument, NotFound

from ._codec import DecodeErrors, decode
from .objects import KINDS, Object
from .validation import check

__all__ = [
    "MANIFEST_SUFFIXES",
    "from_dict",
    "from_fragment",
    "load_manifests",
    "load_path",
    "load_paths",
    "parse_yaml_documents",
]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

T = TypeVar("T")
_LOADER: list[Any] = []


def _loader_class() -> Any:
    """A safe loader that keeps timestamps as strings (``creationTimestamp``)."""
    if _LOADER:
        return _LOADER[0]
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in base.yaml_implicit_resolvers.items()
    }
    _LOADER.append(Loader)
    return Loader


def parse_yaml_documents(text: str, source: str) -> list[tuple[int, Any]]:
    """Every non-empty document of a YAML stream with the line it starts on.

    A syntax error is InvalidArgument ``<source>:<line>: <problem>``."""
    import yaml

    loader = _loader_class()(text)
    docs: list[tuple[int, Any]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            data = loader.construct_document(node)
            if data is not None:
                docs.append((node.start_mark.line + 1, data))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = e.problem or e.context or "invalid YAML"
        raise InvalidArgument(f"{source}:{line}: {what}") from None
    except yaml.YAMLError as e:
        raise InvalidArgument(f"{source}: {e}") from None
    finally:
        loader.dispose()
    return docs


def _convert_hpa_v1(doc: dict[str, Any], errs: DecodeErrors) -> dict[str, Any]:
    """autoscaling/v1 → v2: ``targetCPUUtilizationPercentage`` becomes a CPU metric."""
    spec = dict(doc.get("spec") or {})
    known = {"scaleTargetRef", "minReplicas", "maxReplicas", "targetCPUUtilizationPercentage"}
    errs.unknown.extend(f"spec.{k}" for k in spec if k not in known)
    out = {k: v for k, v in spec.items() if k in known - {"targetCPUUtilizationPercentage"}}
    target = spec.get("targetCPUUtilizationPercentage")
    if target is not None:
        utilization = {"type": "Utilization", "averageUtilization": target}
        out["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": utilization}}]
    return {**doc, "apiVersion": "autoscaling/v2", "spec": out}


_CONVERSIONS: dict[tuple[str, str], Callable[[dict[str, Any], DecodeErrors], dict[str, Any]]] = {
    ("autoscaling/v1", "HorizontalPodAutoscaler"): _convert_hpa_v1,
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): lambda d, _e: {
        **d,
        "apiVersion": "autoscaling/v2",
    },
}
_KNOWN_KINDS = {kind for _, kind in KINDS}


def from_dict(doc: Any) -> Object:
    """One manifest mapping → a validated object (InvalidArgument without a location)."""
    if not isinstance(doc, dict):
        raise InvalidArgument(f"a manifest must be a mapping, not {type(doc).__name__}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    missing = [n for n, v in (("apiVersion", api_version), ("kind", kind)) if not v]
    if missing:
        raise InvalidArgument(", ".join(f"{n} not set" for n in missing))
    key = (str(api_version), str(kind))
    errs = DecodeErrors()
    if key in _CONVERSIONS:
        doc = _CONVERSIONS[key](doc, errs)
        key = (doc["apiVersion"], key[1])
    cls = KINDS.get(key)
    if cls is None:
        if kind in _KNOWN_KINDS:
            raise InvalidArgument(f'no matches for kind "{kind}" in version "{api_version}"')
        raise InvalidArgument(f"kind {kind} is not supported")
    body = {k: v for k, v in doc.items() if k != "status"}
    obj = decode(cls, body, "", errs)
    if errs:
        raise InvalidArgument(errs.message())
    check(obj)
    return obj  # type: ignore[no-any-return]


def from_fragment(cls: type[T], raw: Any, path: str = "") -> T:
    """Decode part of an object (an HPA ``behavior``, a NetworkPolicy ``spec``) strictly,
    with defaults and without validation; ``path`` prefixes field paths in errors."""
    value: T = decode(cls, raw, path)
    return value


def _flatten(line: int, doc: Any) -> Iterator[tuple[int, Any]]:
    """``kind: List`` (and ``*List``) documents yield their items."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        for item in doc["items"]:
            yield from _flatten(line, item)
    else:
        yield line, doc


def load_manifests(
    text: str,
    source: str = "<stdin>",
    *,
    on_unsupported: Callable[[str], None] | None = None,
) -> list[Object]:
    """All objects of a YAML/JSON stream, or InvalidArgument for the first bad document.

    With ``on_unsupported``, a document of an unsupported kind is reported to it (the
    message, ``<source>:<line>: kind X is not supported``) and skipped instead."""
    objects: list[Object] = []
    for line, doc in parse_yaml_documents(text, source):
        for item_line, item in _flatten(line, doc):
            try:
                objects.append(from_dict(item))
            except InvalidArgument as e:
                message = f"{source}:{item_line}: {e}"
                if on_unsupported is not None and str(e).startswith("kind "):
                    on_unsupported(message)
                    continue
                raise InvalidArgument(message) from None
    return objects


def _manifest_files(path: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    return sorted(
        p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES
    )


def load_path(
    path: str | Path,
    *,
    recursive: bool = False,
    on_unsupported: Callable[[str], None] | None = None,
) -> list[Object]:
    """The objects of one manifest file, or of every manifest file in a directory."""
    p = Path(path)
    if p.is_dir():
        files = _manifest_files(p, recursive)
    elif p.is_file():
        files = [p]
    else:
        raise NotFound(f"load {path}: no such file or directory")
    objects: list[Object] = []
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidArgument(f"load {f}: {e}") from None
        objects.extend(load_manifests(text, str(f), on_unsupported=on_unsupported))
    return objects


def load_paths(
    paths: Sequence[str],
    *,
    stdin: str | None = None,
    recursive: bool = False,
    on_unsupported: Callable[[str], None] | None = None,
) -> list[Object]:
    """``kubectl apply -f a.yaml -f dir/ -f -``: everything or nothing; ``-`` is ``stdin``."""
    objects: list[Object] = []
    for path in paths:
        if path == "-":
            if stdin is None:
                raise InvalidArgument("load -: no standard input given")
            objects.extend(load_manifests(stdin, "<stdin>", on_unsupported=on_unsupported))
        else:
            objects.extend(load_path(path, recursive=recursive, on_unsupported=on_unsupported))
    return objects
