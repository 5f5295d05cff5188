"""Pods' ``securityContext``: the typed records, their merge, and what the engine is asked.

Vocabulary (Kubernetes' own):

* the *pod context* (:class:`PodSecurityContext`, ``spec.securityContext``) holds the
  defaults for every container and the pod-wide fields (``fsGroup``,
  ``supplementalGroups``, ``sysctls``); the *container context* (:class:`SecurityContext`,
  ``containers[].securityContext``) holds the per-container fields (``privileged``,
  ``capabilities``, ``allowPrivilegeEscalation``, ``readOnlyRootFilesystem``,
  ``procMount``);
* the *effective context* of a container (:func:`effective`) is its own context with
  each field it shares with the pod (``runAsUser``, ``runAsGroup``, ``runAsNonRoot``,
  ``seccompProfile``, ``seLinuxOptions``, ``windowsOptions``, ``appArmorProfile``)
  taken from the pod where the container leaves it unset: the kubelet's
  ``securitycontext.DetermineEffectiveSecurityContext``;
* the *image user* is the image config's ``USER`` (``name|uid[:group|gid]``, ``""``
  for none: root).

What dockyard makes of it (:func:`engine_security`, applied to the engine's
``RunOptions`` by ``enginepods.container_options``):

=============================  ===========================================================
``runAsUser``/``runAsGroup``   ``--user UID[:GID]``; a group alone keeps the image's user
                               (``0`` when it names none), as the kubelet hands the image
                               user to the runtime
``fsGroup``,                   supplementary groups (``--group-add``), fsGroup first; the
``supplementalGroups``         volumes are not chowned to fsGroup
``privileged``                 ``--privileged``
``capabilities.add/drop``      ``--cap-add`` / ``--cap-drop``
``readOnlyRootFilesystem``     ``--read-only``
``allowPrivilegeEscalation``   ``false``: no-new-privileges; ``true``: no-new-privileges
                               off; unset: the engine's default, which is *on* (Kubernetes
                               leaves it off) — dockyard keeps its secure default
``seccompProfile``             ``RuntimeDefault`` or unset: the engine's default profile
                               (the kubelet's ``seccompDefault: true``); ``Unconfined``:
                               none; ``Localhost``: the JSON file ``localhostProfile``
                               names under ``<root>/seccomp/`` (the kubelet's
                               ``<root-dir>/seccomp/``)
``spec.hostUsers``             ``false``: a user namespace of its own (``--userns auto``);
                               ``true``: the host's (``--userns host``); unset: the
                               daemon's default
``runAsNonRoot``               checked before any container of the pod is created
                               (:func:`verify_run_as_non_root`, the kubelet's messages);
                               a refusal leaves the container waiting in
                               ``CreateContainerConfigError``
``sysctls``                    the kubelet's safe ones (``SAFE_SYSCTLS``): net ones in the
                               pod's network namespace, ipc ones in each container; any
                               other refuses the pod (``SysctlForbidden``)
=============================  ===========================================================

``seLinuxOptions``, ``appArmorProfile``, ``windowsOptions``, ``procMount``
and the change policies are kept (they survive a load/export round trip) but have no
effect on one machine. The API server's checks of these fields live in
``_validate_pod.py``.

Example::

    pod_sc = PodSecurityContext(run_as_user=1000, run_as_non_root=True)
    c_sc = SecurityContext(allow_privilege_escalation=False)
    eff = effective(pod_sc, c_sc)           # run_as_user 1000, no escalation
    engine_security(pod_sc, c_sc, host_users=None, image_user="", seccomp_dir="/x")
    # EngineSecurity(user='1000', security_opt=('no-new-privileges=true',), ...)
"""

from __future__ import annotations

import os
from typing import Any

from dockyard.records import record, replace

__all__ = [
    "RUNTIME_DEFAULT",
    "Capabilities",
    "EngineSecurity",
    "PodSecurityContext",
    "SeccompProfile",
    "SecurityContext",
    "effective",
    "engine_security",
    "image_uid",
    "pod_sysctls",
    "seccomp_profile_error",
    "sysctl_error",
    "verify_run_as_non_root",
]

RUNTIME_DEFAULT, UNCONFINED, LOCALHOST = "RuntimeDefault", "Unconfined", "Localhost"
SECCOMP_TYPES = (LOCALHOST, RUNTIME_DEFAULT, UNCONFINED)


@record
class Capabilities:
    """``capabilities``: names as Kubernetes writes them (``NET_ADMIN``, ``CAP_SYS_ADMIN``)."""

    add: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@record
class SeccompProfile:
    """``seccompProfile``: ``type`` RuntimeDefault, Unconfined or Localhost (then
    ``localhostProfile``, a path relative to the profiles directory)."""

    type: str = ""
    localhost_profile: str | None = None


@record
class SecurityContext:
    """A container's ``securityContext`` (``core/v1.SecurityContext``)."""

    capabilities: Capabilities | None = None
    privileged: bool | None = None
    se_linux_options: dict[str, Any] | None = None
    windows_options: dict[str, Any] | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: dict[str, Any] | None = None


@record
class PodSecurityContext:
    """A pod's ``spec.securityContext`` (``core/v1.PodSecurityContext``)."""

    se_linux_options: dict[str, Any] | None = None
    windows_options: dict[str, Any] | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: tuple[int, ...] = ()
    supplemental_groups_policy: str | None = None
    fs_group: int | None = None
    sysctls: tuple[dict[str, Any], ...] = ()
    fs_group_change_policy: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: dict[str, Any] | None = None
    se_linux_change_policy: str | None = None


_SHARED = (
    "se_linux_options",
    "windows_options",
    "run_as_user",
    "run_as_group",
    "run_as_non_root",
    "seccomp_profile",
    "app_armor_profile",
)


def effective(pod: PodSecurityContext | None, container: SecurityContext | None) -> SecurityContext:
    """The container's context with the pod's values where the container sets none."""
    sc = container or SecurityContext()
    if pod is None:
        return sc
    taken = {
        name: getattr(pod, name)
        for name in _SHARED
        if getattr(sc, name) is None and getattr(pod, name) is not None
    }
    return replace(sc, **taken) if taken else sc


def image_uid(image_user: str) -> tuple[int | None, str]:
    """(uid, name) of an image ``USER``: a number gives (uid, ""), a name (None, name),
    nothing (0, "") — the image runs as root (the kubelet's ``getImageUser``)."""
    user = image_user.strip().partition(":")[0]
    if not user:
        return 0, ""
    if user.isdigit():
        return int(user), ""
    return None, user


def _pod_ref(name: str, namespace: str, uid: str) -> str:
    """The kubelet's ``format.Pod``: ``name_namespace(uid)``."""
    return f"{name}_{namespace}({uid})"


def verify_run_as_non_root(
    sc: SecurityContext, image_user: str, *, pod: tuple[str, str, str], container: str
) -> str | None:
    """The kubelet's refusal for an effective context ``sc`` with ``runAsNonRoot: true``
    whose user is root, or cannot be shown not to be; None when the container may run.
    ``pod`` is (name, namespace, uid) for the message."""
    if not sc.run_as_non_root:
        return None
    where = f"(pod: {_pod_ref(*pod)!r}, container: {container})".replace("'", '"')
    if sc.run_as_user is not None:
        if sc.run_as_user == 0:
            return f"container's runAsUser breaks non-root policy {where}"
        return None
    uid, name = image_uid(image_user)
    if uid is None:
        return (
            f"container has runAsNonRoot and image has non-numeric user ({name}), "
            f"cannot verify user is non-root {where}"
        )
    if uid == 0:
        return f"container has runAsNonRoot and image will run as root {where}"
    if uid > 2147483647:
        return (
            f"container has runAsNonRoot and image has an invalid user id ({uid}). "
            f"(Must be 1-(2147483647)): must be between 0 and 2147483647, inclusive {where}"
        )
    return None


def seccomp_profile_error(sc: SecurityContext, seccomp_dir: str) -> str | None:
    """Why the ``Localhost`` profile of effective context ``sc`` cannot be used (missing,
    unreadable, not JSON), None when it can or none is asked for."""
    path = _localhost_path(sc, seccomp_dir)
    if path is None:
        return None
    import json

    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except OSError as e:
        why = (e.strerror or str(e)).lower()
        return f'cannot load seccomp profile "{path}": open {path}: {why}'
    except ValueError as e:
        return f'cannot load seccomp profile "{path}": decoding seccomp profile failed: {e}'
    if not isinstance(data, dict):
        return (
            f'cannot load seccomp profile "{path}": decoding seccomp profile failed: not an object'
        )
    return None


def _localhost_path(sc: SecurityContext, seccomp_dir: str) -> str | None:
    prof = sc.seccomp_profile
    if prof is None or prof.type != LOCALHOST or not prof.localhost_profile:
        return None
    return os.path.join(seccomp_dir, prof.localhost_profile)


# The kubelet's safe sysctls (``SafeSysctlAllowlist``) and the namespace each lives in;
# anything else is refused as its default ``--allowed-unsafe-sysctls`` (none) does.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced": "ipc",
    "net.ipv4.ip_local_port_range": "net",
    "net.ipv4.tcp_syncookies": "net",
    "net.ipv4.ping_group_range": "net",
    "net.ipv4.ip_unprivileged_port_start": "net",
    "net.ipv4.ip_local_reserved_ports": "net",
    "net.ipv4.tcp_keepalive_time": "net",
    "net.ipv4.tcp_fin_timeout": "net",
    "net.ipv4.tcp_keepalive_intvl": "net",
    "net.ipv4.tcp_keepalive_probes": "net",
    "net.ipv4.tcp_rmem": "net",
    "net.ipv4.tcp_wmem": "net",
}


def _sysctl_name(name: str) -> str:
    """``net/ipv4/conf/eth0.1/x`` → ``net.ipv4.conf.eth0/1.x``: when the first separator
    is a slash, slashes and dots swap (the kubelet's ``NormalizeName``)."""
    seps = [i for i in (name.find("."), name.find("/")) if i >= 0]
    if not seps or name[min(seps)] == ".":
        return name
    return name.translate(str.maketrans("./", "/."))


def sysctl_error(
    pod: PodSecurityContext | None, *, host_network: bool, host_ipc: bool
) -> str | None:
    """The kubelet's admission refusal of the pod's ``sysctls`` (``SysctlForbidden``):
    one outside the safe set, or of a namespace the pod shares with the host."""
    for item in pod.sysctls if pod is not None else ():
        name = _sysctl_name(str(item.get("name") or ""))
        ns = SAFE_SYSCTLS.get(name)
        if ns is None:
            return f'forbidden sysctl: "{name}" not allowlisted'
        if (ns == "net" and host_network) or (ns == "ipc" and host_ipc):
            return f'forbidden sysctl: "{name}" not allowed with host {ns} enabled'
    return None


def pod_sysctls(pod: PodSecurityContext | None, *, joins_network: bool) -> dict[str, str]:
    """The sysctls one container of the pod sets: the ipc ones in each (each container
    has its own IPC namespace here), the net ones only in the container that owns the
    pod's network namespace (``joins_network`` False); checked by :func:`sysctl_error`."""
    out = {}
    for item in pod.sysctls if pod is not None else ():
        name = _sysctl_name(str(item.get("name") or ""))
        if SAFE_SYSCTLS.get(name) == "net" and joins_network:
            continue
        out[name] = str(item.get("value") or "")
    return out


@record
class EngineSecurity:
    """What one container's effective context asks of the engine (``RunOptions`` fields
    of the same names; ``user`` None: the image's USER; ``userns`` "": the daemon's)."""

    user: str | None = None
    group_add: tuple[str, ...] = ()
    privileged: bool = False
    read_only: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    userns: str = ""


def _user(sc: SecurityContext, image_user: str) -> str | None:
    if sc.run_as_user is not None:
        base = str(sc.run_as_user)
    elif sc.run_as_group is not None:
        base = image_user.strip().partition(":")[0] or "0"
    else:
        return None
    return base if sc.run_as_group is None else f"{base}:{sc.run_as_group}"


def _groups(pod: PodSecurityContext | None) -> tuple[str, ...]:
    if pod is None:
        return ()
    out: list[str] = []
    for gid in ([pod.fs_group] if pod.fs_group is not None else []) + list(pod.supplemental_groups):
        if str(gid) not in out:
            out.append(str(gid))
    return tuple(out)


def _security_opt(sc: SecurityContext, seccomp_dir: str) -> tuple[str, ...]:
    out = []
    if sc.allow_privilege_escalation is not None:
        out.append(f"no-new-privileges={'false' if sc.allow_privilege_escalation else 'true'}")
    prof = sc.seccomp_profile
    if prof is not None and prof.type == UNCONFINED:
        out.append("seccomp=unconfined")
    path = _localhost_path(sc, seccomp_dir)
    if path is not None:
        out.append(f"seccomp={path}")
    return tuple(out)


def engine_security(
    pod: PodSecurityContext | None,
    container: SecurityContext | None,
    *,
    host_users: bool | None,
    image_user: str,
    seccomp_dir: str,
) -> EngineSecurity:
    """The engine settings for a container (see the module docstring's table)."""
    sc = effective(pod, container)
    caps = sc.capabilities or Capabilities()
    return EngineSecurity(
        user=_user(sc, image_user),
        group_add=_groups(pod),
        privileged=bool(sc.privileged),
        read_only=bool(sc.read_only_root_filesystem),
        cap_add=tuple(str(c) for c in caps.add),
        cap_drop=tuple(str(c) for c in caps.drop),
        security_opt=_security_opt(sc, seccomp_dir),
        userns={None: "", True: "host", False: "auto"}[host_users],
    )
