"""Apply objects to a real Kubernetes cluster (``dockyard apply --kubeconfig FILE``).

The objects are dockyard's own — loaded and validated by the loaders, and by the caller
against the Kubernetes schemas (:mod:`.kubeschema`) before this module sends anything —
and go to the cluster of a kubeconfig through the official ``kubernetes`` client:
``kubernetes.config.load_kube_config`` into a fresh ``Configuration`` (as
``new_client_from_config``, with urllib3 retries off so an unreachable server fails at
once and ``persist_config`` off so the kubeconfig is never rewritten), and a
``kubernetes.dynamic.DynamicClient`` for discovery and requests (its discovery cache in a
private temporary directory, gone afterwards).

Each object is **server-side applied** (``PATCH`` with ``application/apply-patch+yaml``,
``fieldManager=dockyard``, ``force=true``), after a ``GET`` that tells the three outcomes
apart as ``kubectl apply`` prints them::

    namespace/shop created
    configmap/settings unchanged        (the apply left resourceVersion as it was)
    deployment.apps/web configured

Order: Namespaces, then ConfigMaps, Secrets, Services, workloads (Deployments,
ReplicaSets, Pods), HorizontalPodAutoscalers, NetworkPolicies; the input order within a
rank (other kinds rank with the workloads). The first failure stops the run with one line
(``kubectl``'s words)::

    The connection to the server 127.0.0.1:6443 was refused - did you specify the right host ...
    error: You must be logged in to the server (Unauthorized)
    Error from server (Forbidden): deployments.apps "web" is forbidden: User "x" cannot patch ...
    Error from server (Invalid): Deployment.apps "web" is invalid: spec.replicas: ...

``kubernetes`` is imported only here, on first use.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.errors import (
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)

if TYPE_CHECKING:
    from .objects import Object

__all__ = ["APPLY_ORDER", "FIELD_MANAGER", "RESOURCE_NAMES", "apply_objects", "ordered"]

FIELD_MANAGER = "dockyard"
APPLY_ORDER = {
    "Namespace": 0,
    "ConfigMap": 1,
    "Secret": 2,
    "Service": 3,
    "Deployment": 4,
    "ReplicaSet": 4,
    "Pod": 4,
    "HorizontalPodAutoscaler": 5,
    "NetworkPolicy": 6,
}
# what kubectl prints before the name: deployment.apps/web
RESOURCE_NAMES = {
    "Pod": "pod",
    "Service": "service",
    "ConfigMap": "configmap",
    "Secret": "secret",
    "Namespace": "namespace",
    "Deployment": "deployment.apps",
    "ReplicaSet": "replicaset.apps",
    "HorizontalPodAutoscaler": "horizontalpodautoscaler.autoscaling",
    "NetworkPolicy": "networkpolicy.networking.k8s.io",
}


def ordered(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents in apply order (stable within a kind's rank)."""
    return sorted(docs, key=lambda d: APPLY_ORDER.get(str(d.get("kind")), 4))


def _server_error(e: Any) -> DockyardError:
    """A DynamicApiError as one line: the server's Status message, kubectl-style."""
    status = int(getattr(e, "status", 0) or 0)
    reason, message = str(getattr(e, "reason", "") or ""), ""
    body = getattr(e, "body", None)
    if body:
        try:
            parsed = json.loads(body)
        except (TypeError, ValueError):
            message = str(body).strip().splitlines()[0] if str(body).strip() else ""
        else:
            if isinstance(parsed, dict):
                message = str(parsed.get("message") or "")
                reason = str(parsed.get("reason") or reason)
    if status == 401:
        return PermissionDenied("error: You must be logged in to the server (Unauthorized)")
    text = f"Error from server ({reason or status})" + (f": {message}" if message else "")
    if status == 403:
        return PermissionDenied(text)
    if status in (400, 409, 422):
        return InvalidArgument(text)
    if status == 404:
        return NotFound(text)
    return Unavailable(text)


def _connection_error(e: Exception, host: str) -> Unavailable:
    reason = getattr(e, "reason", None) or e
    hostport = host.split("://", 1)[-1].rstrip("/")
    text = str(reason)
    if "refused" in text.lower():
        return Unavailable(
            f"The connection to the server {hostport} was refused - "
            "did you specify the right host or port?"
        )
    detail = text.split(": ", 1)[-1] if "): " in text else text
    return Unavailable(f"Unable to connect to the server {hostport}: {detail}")


def _client(kubeconfig: str, context: str | None) -> Any:
    """An ApiClient for the kubeconfig's (or ``context``'s) cluster and credentials."""
    try:
        from kubernetes import client as kclient
        from kubernetes import config as kconfig
    except ImportError:
        raise Unavailable(
            "apply --kubeconfig needs the Kubernetes Python client: pip install kubernetes"
        ) from None
    if not Path(kubeconfig).is_file():
        raise NotFound(f"kubeconfig {kubeconfig}: no such file")
    configuration = kclient.Configuration()
    try:
        kconfig.load_kube_config(
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except kconfig.ConfigException as e:
        raise InvalidArgument(f"kubeconfig {kubeconfig}: {e}") from None
    except (OSError, ValueError) as e:  # unreadable file, bad YAML, bad base64
        raise InvalidArgument(f"kubeconfig {kubeconfig}: {e}") from None
    configuration.retries = False
    return kclient.ApiClient(configuration=configuration)


def apply_objects(
    objects: Sequence[Object],
    kubeconfig: str,
    *,
    context: str | None = None,
    namespace: str = "default",
    dry_run: bool = False,
    timeout: float = 30.0,
    echo: Callable[[str], None] | None = None,
) -> list[str]:
    """Server-side apply each object to the kubeconfig's cluster, in :func:`ordered` order.

    Returns (and passes to ``echo`` as each completes) kubectl's lines,
    ``deployment.apps/web created|configured|unchanged`` (`` (server dry run)`` with
    ``dry_run``). Objects without a namespace go to ``namespace``."""
    from .export import to_dict

    docs = ordered([to_dict(o) for o in objects])
    api = _client(kubeconfig, context)
    host = str(api.configuration.host)
    try:
        with tempfile.TemporaryDirectory(prefix="dockyard-kube-") as tmp:
            return _apply_all(api, docs, Path(tmp), namespace, dry_run, timeout, host, echo)
    finally:
        api.close()


def _apply_all(
    api: Any,
    docs: list[dict[str, Any]],
    tmp: Path,
    namespace: str,
    dry_run: bool,
    timeout: float,
    host: str,
    echo: Callable[[str], None] | None,
) -> list[str]:
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import (
        DynamicApiError,
        NotFoundError,
        ResourceNotFoundError,
    )
    from urllib3.exceptions import HTTPError

    lines: list[str] = []
    try:
        dyn = DynamicClient(api, cache_file=str(tmp / "discovery.json"))
        for doc in docs:
            kind, api_version = str(doc["kind"]), str(doc["apiVersion"])
            meta = doc["metadata"]
            name = str(meta["name"])
            try:
                resource = dyn.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                raise FailedPrecondition(
                    f'resource mapping not found for name: "{name}": '
                    f'no matches for kind "{kind}" in version "{api_version}"'
                ) from None
            ns = None
            body = doc
            if resource.namespaced:
                ns = str(meta.get("namespace") or namespace)
                body = {**doc, "metadata": {**meta, "namespace": ns}}
            try:
                old = resource.get(name=name, namespace=ns, _request_timeout=timeout)
            except NotFoundError:
                old_version = None
            else:
                old_version = str(old.metadata.resourceVersion or "")
            kwargs: dict[str, Any] = {"field_manager": FIELD_MANAGER, "force_conflicts": True}
            if dry_run:
                kwargs["dry_run"] = "All"
            new = resource.server_side_apply(
                body=body, name=name, namespace=ns, _request_timeout=timeout, **kwargs
            )
            if old_version is None:
                action = "created"
            elif str(new.metadata.resourceVersion or "") == old_version:
                action = "unchanged"
            else:
                action = "configured"
            line = f"{RESOURCE_NAMES.get(kind, kind.lower())}/{name} {action}"
            line += " (server dry run)" if dry_run else ""
            lines.append(line)
            if echo is not None:
                echo(line)
    except DynamicApiError as e:
        raise _server_error(e) from None
    except HTTPError as e:
        raise _connection_error(e, host) from None
    except ValueError as e:  # discovery: "Host value ... should start with https://"
        raise Unavailable(f"Unable to connect to the server: {e}") from None
    return lines
