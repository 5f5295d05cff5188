"""dockyard.orchestrator: declarative objects, their loaders, and the pure calculators.

* :mod:`.objects`: typed, frozen records for Deployment, ReplicaSet, Pod, Service,
  HorizontalPodAutoscaler, NetworkPolicy, ConfigMap, Secret and Namespace, with the
  API server's defaults; :mod:`.quantity` and :mod:`.selectors` for their values;
* :mod:`.validation`: Kubernetes-style field errors (``spec.selector: Required value``);
* :mod:`.loader`: Kubernetes YAML/JSON (files, directories, ``-``), all or nothing;
  :mod:`.compose`: compose files → objects plus the dependency graph;
* :mod:`.hpa_algorithm`, :mod:`.rollout`, :mod:`.netpol_evaluation`: the controllers'
  arithmetic as pure functions with an injected clock; :mod:`.export`: objects back to
  YAML/JSON.

The controllers (reconcile loops that drive ``engine`` and ``network``: Deployment, ReplicaSet,
HPA, probes, Services, NetworkPolicy) live in :mod:`.controllers` and beside it, and
:mod:`.enginepods` wires them into the daemon; see ``docs/controllers.md``. The names below
are the public API (pinned by a test); submodules starting with ``_`` are private.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compose import ComposeProject, ComposeService, Dependency, load_compose, load_compose_file
    from .export import to_dict, to_json, to_yaml
    from .loader import from_dict, load_manifests, load_path, load_paths
    from .objects import (
        KINDS,
        ConfigMap,
        Deployment,
        HorizontalPodAutoscaler,
        Namespace,
        NetworkPolicy,
        Object,
        Pod,
        ReplicaSet,
        Secret,
        Service,
    )
    from .quantity import Quantity, parse_quantity
    from .selectors import LabelSelector, matches, parse_selector
    from .validation import FieldError, check, validate

# Submodules are imported on first use: ``import dockyard.orchestrator`` stays cheap.
_HOME = {
    "ComposeProject": "compose",
    "ComposeService": "compose",
    "Dependency": "compose",
    "load_compose": "compose",
    "load_compose_file": "compose",
    "to_dict": "export",
    "to_json": "export",
    "to_yaml": "export",
    "from_dict": "loader",
    "load_manifests": "loader",
    "load_path": "loader",
    "load_paths": "loader",
    "KINDS": "objects",
    "ConfigMap": "objects",
    "Deployment": "objects",
    "HorizontalPodAutoscaler": "objects",
    "Namespace": "objects",
    "NetworkPolicy": "objects",
    "Object": "objects",
    "Pod": "objects",
    "ReplicaSet": "objects",
    "Secret": "objects",
    "Service": "objects",
    "Quantity": "quantity",
    "parse_quantity": "quantity",
    "LabelSelector": "selectors",
    "matches": "selectors",
    "parse_selector": "selectors",
    "FieldError": "validation",
    "check": "validation",
    "validate": "validation",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "KINDS",
    "ComposeProject",
    "ComposeService",
    "ConfigMap",
    "Dependency",
    "Deployment",
    "FieldError",
    "HorizontalPodAutoscaler",
    "LabelSelector",
    "Namespace",
    "NetworkPolicy",
    "Object",
    "Pod",
    "Quantity",
    "ReplicaSet",
    "Secret",
    "Service",
    "check",
    "from_dict",
    "load_compose",
    "load_compose_file",
    "load_manifests",
    "load_path",
    "load_paths",
    "matches",
    "parse_quantity",
    "parse_selector",
    "to_dict",
    "to_json",
    "to_yaml",
    "validate",
]
