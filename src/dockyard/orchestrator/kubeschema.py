"""Offline validation against the Kubernetes OpenAPI schemas (PyPI ``kubernetes-validate``).

``kubernetes-validate`` ships the JSON schemas generated from each Kubernetes release's
OpenAPI document (``<kind>-<group>-<version>.json`` plus ``_definitions.json``), in a plain
and a *strict* flavour (``additionalProperties: false``: unknown fields are errors).
dockyard validates against the strict schemas of :data:`SCHEMA_VERSION`, the oldest
release still in wide use that has every kind dockyard models at the versions it writes
(``autoscaling/v2`` HPAs are GA since 1.23).

:func:`schema_errors` lists every violation of one document with its field path, as the
API server words them::

    spec.replicas: Invalid value: "3": must be of type integer
    spec.template.spec.containers[0].image: Required value
    unknown field "spec.template.spec.containers[0].imagePullPolize"
    spec.type: Unsupported value: "Nodeport": supported values: "ClusterIP", ...

:func:`validate_documents` / :func:`validate_objects` check a whole batch and raise one
InvalidArgument naming each bad object (``Deployment.apps "web" is invalid: ...``), so a
caller applies all or nothing. Validators are built once per kind and cached; the
package (and ``jsonschema``) is imported on first use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument

if TYPE_CHECKING:
    from .objects import Object

__all__ = [
    "SCHEMA_VERSION",
    "document_problems",
    "schema_errors",
    "validate_documents",
    "validate_objects",
]

SCHEMA_VERSION = "1.29"
"""The Kubernetes release whose schemas dockyard validates against."""

_VALIDATORS: dict[tuple[str, str, bool], Any] = {}
_DEFINITIONS: dict[bool, Any] = {}


def _schema_dir(strict: bool) -> str:
    return f"kubernetes-json-schema/v{SCHEMA_VERSION}.0-local{'-strict' if strict else ''}"


def _validator(api_version: str, kind: str, strict: bool) -> Any:
    """The cached jsonschema validator of one kind, or None when the release has none."""
    key = (api_version, kind, strict)
    if key in _VALIDATORS:
        return _VALIDATORS[key]
    import jsonschema
    from kubernetes_validate.utils import schema_contents
    from referencing import Registry, Resource

    # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    name = f"{_schema_dir(strict)}/{kind.lower()}-{group_version}.json"
    try:
        schema = schema_contents(name, SCHEMA_VERSION)
    except FileNotFoundError:
        _VALIDATORS[key] = None
        return None
    if strict not in _DEFINITIONS:
        _DEFINITIONS[strict] = schema_contents(
            f"{_schema_dir(strict)}/_definitions.json", SCHEMA_VERSION
        )
    registry: Any = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(_DEFINITIONS[strict]) @ registry
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    _VALIDATORS[key] = validator
    return validator


def _path(parts: Sequence[Any]) -> str:
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
    return out


def _value(v: Any) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    text = json.dumps(v, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(t: Any) -> str:
    types = [x for x in (t if isinstance(t, list) else [t]) if x != "null"]
    return " or ".join(str(x) for x in types) or "null"


def _messages(error: Any) -> list[str]:
    """One jsonschema error in the API server's words (several for extra properties)."""
    where = _path(list(error.absolute_path))
    prefix = f"{where}: " if where else ""
    kind = error.validator
    if kind == "required":
        missing = re.match(r"^'(.*)' is a required property$", error.message)
        field = missing.group(1) if missing else str(error.message)
        return [f"{_path([*error.absolute_path, field])}: Required value"]
    if kind == "additionalProperties":
        allowed = set((error.schema.get("properties") or {}).keys())
        extra = sorted(k for k in error.instance if k not in allowed)
        return [f'unknown field "{_path([*error.absolute_path, k])}"' for k in extra]
    if kind == "type":
        expected = _type_name(error.validator_value)
        return [f"{prefix}Invalid value: {_value(error.instance)}: must be of type {expected}"]
    if kind == "enum":
        values = ", ".join(_value(v) for v in error.validator_value if v is not None)
        return [f"{prefix}Unsupported value: {_value(error.instance)}: supported values: {values}"]
    if kind in ("oneOf", "anyOf") and error.context:
        # int-or-string and friends: name the acceptable types
        types = sorted(
            {_type_name(sub.validator_value) for sub in error.context if sub.validator == "type"}
        )
        if types:
            wanted = " or ".join(types)
            return [f"{prefix}Invalid value: {_value(error.instance)}: must be of type {wanted}"]
    return [f"{prefix}Invalid value: {_value(error.instance)}: {error.message}"]


def _sort_key(error: Any) -> tuple[str, str]:
    return (_path(list(error.absolute_path)), str(error.message))


def schema_errors(doc: dict[str, Any], *, strict: bool = True) -> list[str]:
    """Every schema violation of one manifest mapping, with its field path ([] if valid)."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{n}: Required value" for n in ("apiVersion", "kind") if not doc.get(n)]
    validator = _validator(api_version, kind, strict)
    if validator is None:
        return [f'no Kubernetes {SCHEMA_VERSION} schema for kind "{kind}" in "{api_version}"']
    out: list[str] = []
    for error in sorted(validator.iter_errors(doc), key=_sort_key):
        out.extend(m for m in _messages(error) if m not in out)
    return out


def _resource(doc: dict[str, Any]) -> str:
    """``Deployment.apps "web"``, as the API server names an object in errors."""
    kind = str(doc.get("kind") or "<kind>")
    api_version = str(doc.get("apiVersion") or "")
    group = api_version.rpartition("/")[0]
    name = (doc.get("metadata") or {}).get("name") if isinstance(doc, dict) else None
    return f'{kind}{"." + group if group else ""} "{name or ""}"'


def document_problems(docs: Sequence[dict[str, Any]], *, strict: bool = True) -> list[str]:
    """One line per invalid document: ``Deployment.apps "web" is invalid: ...``."""
    problems: list[str] = []
    for doc in docs:
        errs = schema_errors(doc, strict=strict)
        if not errs:
            continue
        detail = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
        problems.append(f"{_resource(doc)} is invalid: {detail}")
    return problems


def validate_documents(docs: Sequence[dict[str, Any]], *, strict: bool = True) -> None:
    """InvalidArgument naming every invalid document (all or nothing); None when all pass."""
    problems = document_problems(docs, strict=strict)
    if problems:
        head = f"schema validation failed (Kubernetes {SCHEMA_VERSION}; --validate=false skips):"
        raise InvalidArgument("\n".join([head, *problems]))


def validate_objects(objects: Sequence[Object], *, strict: bool = True) -> None:
    """Validate what would be sent: each object's exported Kubernetes form."""
    from .export import to_dict

    validate_documents([to_dict(o) for o in objects], strict=strict)
