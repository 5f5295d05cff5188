"""Least-privilege advice printed by ``dockyard run``/``create`` and ``dockyard apply``.

Two warnings, each one line on stderr, never a refusal (admission is the gate,
``security/admission.py``):

* *privileged*: ``--privileged``, or a pod container whose ``securityContext``
  (the pod's merged with the container's, as ``orchestrator/enginepods.py`` merges
  them) says ``privileged: true``;
* *root*: the process runs as root because the image's final ``USER`` is unset,
  ``0`` or ``root`` (with or without a group) and nothing overrides it: ``--user``
  (run) or ``runAsUser`` (pods) naming another user, or ``runAsNonRoot: true``,
  silences it; ``--user 0`` or ``runAsUser: 0`` warns whatever the image says.

The decisions are pure functions of strings and mappings; the CLI looks the image up
in the local store (an image that is not there yet gives no root warning).
``DOCKYARD_SECURITY_WARNINGS=0`` turns both off (the test suite does, so that tests
comparing a container's exact stderr are not disturbed; the tests of these warnings
turn them back on).

Example::

    run_warnings("busybox", privileged=True, image_user="", user="")
    # ['--privileged: ...', 'busybox runs as root ...']
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # nothing imported at run time: ``dockyard run`` imports this module
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    from dockyard.store.images import ImageStore

__all__ = ["enabled", "image_user", "is_root", "manifest_warnings", "pod_specs", "run_warnings"]

PRIVILEGED = (
    "every capability, every host device and no seccomp or AppArmor confinement;"
    " add only the capabilities it needs instead"
)


def enabled() -> bool:
    """Whether the warnings are wanted (``DOCKYARD_SECURITY_WARNINGS`` not ``0``)."""
    import os

    return os.environ.get("DOCKYARD_SECURITY_WARNINGS", "1").lower() not in ("0", "false", "no")


def is_root(user: str) -> bool:
    """Whether a ``USER``/``--user`` value (``name|uid[:group|gid]``) is root."""
    name = user.strip().partition(":")[0]
    return name in ("", "0", "root")


def run_warnings(image: str, *, privileged: bool, image_user: str | None, user: str) -> list[str]:
    """The warnings for ``dockyard run``; ``image_user`` None when the image is unknown."""
    out = []
    if privileged:
        out.append(f"--privileged: the container gets {PRIVILEGED} (--cap-add)")
    if user.strip():
        if is_root(user):
            out.append(f"{image}: runs as root (--user {user})")
    elif image_user is not None and is_root(image_user):
        why = f"USER {image_user}" if image_user.strip() else "no USER"
        out.append(
            f"{image}: runs as root ({why} in the image); set a non-root USER or pass --user"
        )
    return out


_TEMPLATED = (
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "ReplicationController",
)


def pod_specs(doc: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The pod spec(s) of a Kubernetes object mapping (none for other kinds)."""
    kind = doc.get("kind")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Pod":
        yield spec
    elif kind in _TEMPLATED:
        yield from _template_spec(spec)
    elif kind == "CronJob":
        job = spec.get("jobTemplate")
        if isinstance(job, dict) and isinstance(job.get("spec"), dict):
            yield from _template_spec(job["spec"])


def _template_spec(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        yield template["spec"]


def _containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        for c in pod.get(key) or ():
            if isinstance(c, dict):
                yield c


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def manifest_warnings(doc: Mapping[str, Any], image_user: Callable[[str], str | None]) -> list[str]:
    """The warnings for one object of ``dockyard apply``; ``image_user(image)`` gives the
    image's USER, or None when the image is not known."""
    kind = str(doc.get("kind", "")).lower()
    name = _mapping(doc.get("metadata")).get("name", "")
    out = []
    for pod in pod_specs(doc):
        pod_sc = _mapping(pod.get("securityContext"))
        for c in _containers(pod):
            sc = {**pod_sc, **_mapping(c.get("securityContext"))}
            where = f"{kind}/{name} container {c.get('name', '')}"
            if sc.get("privileged") is True:
                out.append(f"{where}: privileged: it gets {PRIVILEGED} (capabilities.add)")
            root = _runs_as_root(sc, str(c.get("image", "")), image_user)
            if root:
                out.append(f"{where}: {root}")
    return out


def _runs_as_root(
    sc: Mapping[str, Any], image: str, image_user: Callable[[str], str | None]
) -> str | None:
    uid = sc.get("runAsUser")
    if isinstance(uid, int) and not isinstance(uid, bool):
        return "runs as root (runAsUser: 0)" if uid == 0 else None
    if sc.get("runAsNonRoot") is True or not image:
        return None
    user = image_user(image)
    if user is None or not is_root(user):
        return None
    why = f"USER {user}" if user.strip() else "no USER"
    return f"runs as root ({why} in image {image}); set runAsUser or a non-root USER"


def image_user(store: ImageStore, ref: str) -> str | None:
    """The final USER of image ``ref`` in ``store``; None when it is not there (or ``ref``
    names no image)."""
    from dockyard.errors import DockyardError

    try:
        return store.resolve(ref).config.config.user
    except DockyardError:
        return None
