"""Pods' securityContext, pure halves: typed decoding, the pod/container merge, the engine
settings, the kubelet's runAsNonRoot refusals, the API server's checks, and the pod
status a refusal leaves (``observe_pod``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.errors import InvalidArgument
from dockyard.orchestrator.enginepods import (
    config_error,
    config_retry_delay,
    container_options,
    empty_dir_access,
    observe_pod,
)
from dockyard.orchestrator.export import to_dict
from dockyard.orchestrator.loader import load_manifests
from dockyard.orchestrator.objects import Pod
from dockyard.orchestrator.security_context import (
    Capabilities,
    PodSecurityContext,
    SeccompProfile,
    SecurityContext,
    effective,
    engine_security,
    image_uid,
    pod_sysctls,
    sysctl_error,
    verify_run_as_non_root,
)
from dockyard.records import replace


def _pod(spec_extra: str = "", container_extra: str = "") -> Pod:
    text = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: p, uid: u-1}}
spec:
{spec_extra}  containers:
  - name: app
    image: busybox
{container_extra}"""
    (pod,) = load_manifests(text)
    assert isinstance(pod, Pod)
    return pod


# -- decoding ------------------------------------------------------------------------------


def test_contexts_decode_into_typed_records_and_round_trip() -> None:
    pod = _pod(
        "  hostUsers: false\n"
        "  securityContext:\n"
        "    runAsUser: 1000\n    fsGroup: 2000\n    supplementalGroups: [3000]\n"
        "    seccompProfile: {type: Localhost, localhostProfile: p/x.json}\n"
        "    seLinuxOptions: {level: 's0:c1'}\n",
        "    securityContext:\n"
        "      allowPrivilegeEscalation: false\n"
        "      capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}\n",
    )
    psc = pod.spec.security_context
    assert psc == PodSecurityContext(
        run_as_user=1000,
        fs_group=2000,
        supplemental_groups=(3000,),
        seccomp_profile=SeccompProfile("Localhost", "p/x.json"),
        se_linux_options={"level": "s0:c1"},
    )
    sc = pod.spec.containers[0].security_context
    assert sc == SecurityContext(
        allow_privilege_escalation=False,
        capabilities=Capabilities(add=("NET_BIND_SERVICE",), drop=("ALL",)),
    )
    assert pod.spec.host_users is False
    wire = to_dict(pod)
    assert wire["spec"]["hostUsers"] is False
    assert wire["spec"]["securityContext"]["seLinuxOptions"] == {"level": "s0:c1"}
    assert wire["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False


def test_a_misspelt_field_is_refused_not_ignored() -> None:
    """``runAsNonroot`` silently ignored would run the container as root."""
    with pytest.raises(InvalidArgument, match=r'unknown field "spec.securityContext.runAsNonroot"'):
        _pod("  securityContext: {runAsNonroot: true}\n")
    with pytest.raises(InvalidArgument, match="privileged"):
        _pod("  securityContext: {privileged: true}\n")  # a container-only field


# -- the merge -----------------------------------------------------------------------------


MERGE_CASES = [
    # (pod, container, expected effective)
    (None, None, SecurityContext()),
    (PodSecurityContext(run_as_user=1), None, SecurityContext(run_as_user=1)),
    (
        PodSecurityContext(run_as_user=1, run_as_group=2, run_as_non_root=True),
        SecurityContext(run_as_user=5),
        SecurityContext(run_as_user=5, run_as_group=2, run_as_non_root=True),
    ),
    (
        PodSecurityContext(run_as_non_root=True),
        SecurityContext(run_as_non_root=False),  # the container's false wins
        SecurityContext(run_as_non_root=False),
    ),
    (
        PodSecurityContext(seccomp_profile=SeccompProfile("Unconfined")),
        SecurityContext(seccomp_profile=SeccompProfile("RuntimeDefault")),
        SecurityContext(seccomp_profile=SeccompProfile("RuntimeDefault")),
    ),
    (
        PodSecurityContext(seccomp_profile=SeccompProfile("Unconfined"), fs_group=7),
        SecurityContext(privileged=True),
        SecurityContext(privileged=True, seccomp_profile=SeccompProfile("Unconfined")),
    ),
]


@pytest.mark.parametrize(("pod", "container", "want"), MERGE_CASES)
def test_container_fields_override_the_pods(
    pod: PodSecurityContext | None, container: SecurityContext | None, want: SecurityContext
) -> None:
    assert effective(pod, container) == want


# -- engine settings -----------------------------------------------------------------------


def _engine(
    pod: PodSecurityContext | None = None,
    c: SecurityContext | None = None,
    host_users: bool | None = None,
    image_user: str = "",
) -> tuple[object, ...]:
    e = engine_security(pod, c, host_users=host_users, image_user=image_user, seccomp_dir="/sd")
    return (e.user, e.group_add, e.security_opt, e.userns)


ENGINE_CASES = [
    ({}, (None, (), (), "")),
    ({"pod": PodSecurityContext(run_as_user=1000)}, ("1000", (), (), "")),
    ({"c": SecurityContext(run_as_user=1000, run_as_group=0)}, ("1000:0", (), (), "")),
    # a group alone keeps the image's user (root when it names none)
    ({"c": SecurityContext(run_as_group=50), "image_user": "app:app"}, ("app:50", (), (), "")),
    ({"c": SecurityContext(run_as_group=50)}, ("0:50", (), (), "")),
    (
        {"pod": PodSecurityContext(fs_group=2000, supplemental_groups=(3000, 2000))},
        (None, ("2000", "3000"), (), ""),
    ),
    (
        {"c": SecurityContext(allow_privilege_escalation=False)},
        (None, (), ("no-new-privileges=true",), ""),
    ),
    (
        {"c": SecurityContext(allow_privilege_escalation=True)},
        (None, (), ("no-new-privileges=false",), ""),
    ),
    (
        {"pod": PodSecurityContext(seccomp_profile=SeccompProfile("Unconfined"))},
        (None, (), ("seccomp=unconfined",), ""),
    ),
    (
        {"pod": PodSecurityContext(seccomp_profile=SeccompProfile("Localhost", "a/b.json"))},
        (None, (), ("seccomp=/sd/a/b.json",), ""),
    ),
    (
        {
            "pod": PodSecurityContext(seccomp_profile=SeccompProfile("Unconfined")),
            "c": SecurityContext(seccomp_profile=SeccompProfile("RuntimeDefault")),
        },
        (None, (), (), ""),
    ),
    ({"host_users": False}, (None, (), (), "auto")),
    ({"host_users": True}, (None, (), (), "host")),
]


@pytest.mark.parametrize(("kw", "want"), ENGINE_CASES)
def test_engine_settings(kw: dict[str, object], want: tuple[object, ...]) -> None:
    assert _engine(**kw) == want  # type: ignore[arg-type]


def test_container_options_carry_the_effective_context() -> None:
    pod = _pod(
        "  hostUsers: false\n"
        "  securityContext: {runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000,"
        " seccompProfile: {type: Unconfined}}\n",
        "    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,"
        " capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}\n",
    )
    opts, _ = container_options(pod, 0, seccomp_dir="/sd")
    assert opts.user == "1000:1000" and opts.group_add == ["2000"]
    assert opts.security_opt == ["no-new-privileges=true", "seccomp=unconfined"]
    assert opts.read_only and not opts.privileged
    assert (opts.cap_add, opts.cap_drop) == (["NET_BIND_SERVICE"], ["ALL"])
    assert opts.userns == "auto"


# -- runAsNonRoot --------------------------------------------------------------------------

REF = ("web-x", "default", "u-1")
WHERE = '(pod: "web-x_default(u-1)", container: app)'
NONROOT_CASES = [
    (SecurityContext(), "", None),  # not asked
    (SecurityContext(run_as_non_root=True), "", "image will run as root"),
    (SecurityContext(run_as_non_root=True), "0", "image will run as root"),
    (SecurityContext(run_as_non_root=True), "0:0", "image will run as root"),
    (SecurityContext(run_as_non_root=True), "root", "non-numeric user (root), cannot verify"),
    (SecurityContext(run_as_non_root=True), "app:app", "non-numeric user (app), cannot verify"),
    (SecurityContext(run_as_non_root=True), "1000", None),
    (SecurityContext(run_as_non_root=True), "1000:0", None),
    (SecurityContext(run_as_non_root=True, run_as_user=1000), "", None),  # runAsUser wins
    (SecurityContext(run_as_non_root=True, run_as_user=0), "1000", "runAsUser breaks non-root"),
    (SecurityContext(run_as_non_root=False), "", None),
]


@pytest.mark.parametrize(("sc", "image_user", "want"), NONROOT_CASES)
def test_run_as_non_root(sc: SecurityContext, image_user: str, want: str | None) -> None:
    got = verify_run_as_non_root(sc, image_user, pod=REF, container="app")
    if want is None:
        assert got is None
    else:
        assert got is not None and want in got and got.endswith(WHERE), got


def test_kubelet_messages_verbatim() -> None:
    sc = SecurityContext(run_as_non_root=True)
    assert verify_run_as_non_root(sc, "", pod=REF, container="app") == (
        f"container has runAsNonRoot and image will run as root {WHERE}"
    )
    assert verify_run_as_non_root(sc, "nobody", pod=REF, container="app") == (
        "container has runAsNonRoot and image has non-numeric user (nobody), "
        f"cannot verify user is non-root {WHERE}"
    )


def test_image_uid() -> None:
    assert image_uid("") == (0, "")
    assert image_uid("42:7") == (42, "")
    assert image_uid("www-data") == (None, "www-data")


def test_config_error_reasons(tmp_path: Path) -> None:
    root = _pod("  securityContext: {runAsNonRoot: true}\n")
    reason, message = config_error(root, root.spec.containers[0], "", str(tmp_path)) or ("", "")
    assert reason == "CreateContainerConfigError"
    assert message.startswith("container has runAsNonRoot and image will run as root")
    assert config_error(root, root.spec.containers[0], "65534", str(tmp_path)) is None
    local = _pod("  securityContext: {seccompProfile: {type: Localhost, localhostProfile: x}}\n")
    path = tmp_path / "x"
    assert config_error(local, local.spec.containers[0], "", str(tmp_path)) == (
        "CreateContainerError",
        f'cannot load seccomp profile "{path}": open {path}: no such file or directory',
    )
    path.write_text("{not json")
    bad = config_error(local, local.spec.containers[0], "", str(tmp_path))
    assert bad is not None and "decoding seccomp profile failed" in bad[1]
    path.write_text('{"defaultAction": "SCMP_ACT_ALLOW"}')
    assert config_error(local, local.spec.containers[0], "", str(tmp_path)) is None


def test_a_refused_container_waits_with_reason_and_message() -> None:
    pod = _pod()
    why = ("CreateContainerConfigError", "container has runAsNonRoot and image will run as root")
    seen = observe_pod(pod, {"app": None}, created=0.0, waiting={"app": why})
    assert seen.phase == "Pending" and seen.active  # counted: the ReplicaSet makes no other
    [st] = seen.containers
    assert (st.state, st.reason, st.message) == ("waiting", *why)
    [wire] = seen.to_pod().status.container_statuses  # type: ignore[union-attr]
    assert wire["state"] == {"waiting": {"reason": why[0], "message": why[1]}}


# -- the API server's checks ---------------------------------------------------------------

INVALID = [
    (
        "",
        "    securityContext: {allowPrivilegeEscalation: false, privileged: true}\n",
        "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
    ),
    (
        "",
        "    securityContext: {allowPrivilegeEscalation: false,"
        " capabilities: {add: [CAP_SYS_ADMIN]}}\n",
        "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
    ),
    (
        "  securityContext: {seccompProfile: {type: Localhost}}\n",
        "",
        "spec.securityContext.seccompProfile.localhostProfile: Required value: "
        "must be set when seccomp type is Localhost",
    ),
    (
        "",
        "    securityContext: {seccompProfile: {type: RuntimeDefault, localhostProfile: x}}\n",
        "spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: "
        '"x": can only be set when seccomp type is Localhost',
    ),
    (
        "  securityContext: {seccompProfile: {type: Localhost, localhostProfile: ../x}}\n",
        "",
        "must not contain '..'",
    ),
    (
        "  securityContext: {seccompProfile: {type: Localhost, localhostProfile: /etc/x}}\n",
        "",
        "must be a relative path",
    ),
    (
        "  securityContext: {seccompProfile: {type: Strict}}\n",
        "",
        'spec.securityContext.seccompProfile.type: Unsupported value: "Strict"',
    ),
    (
        "  securityContext: {runAsUser: -1}\n",
        "",
        "spec.securityContext.runAsUser: Invalid value: -1: must be between 0 and 2147483647",
    ),
    (
        "  securityContext: {supplementalGroups: [2147483648]}\n",
        "",
        "spec.securityContext.supplementalGroups[0]: Invalid value: 2147483648",
    ),
    (
        "",
        "    securityContext: {procMount: Unmasked}\n",
        'spec.containers[0].securityContext.procMount: Invalid value: "Unmasked": '
        "`hostUsers` must be false to use `Unmasked`",
    ),
    (
        "  hostUsers: false\n  hostNetwork: true\n",
        "",
        "spec.securityContext.hostNetwork: Forbidden: when `hostUsers` is false",
    ),
]


@pytest.mark.parametrize(("spec_extra", "container_extra", "message"), INVALID)
def test_api_server_checks(spec_extra: str, container_extra: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        _pod(spec_extra, container_extra)
    assert message in str(exc.value)


def test_valid_contexts_pass() -> None:
    _pod(
        "  hostUsers: false\n"
        "  securityContext: {runAsNonRoot: true, runAsUser: 2147483647,"
        " seccompProfile: {type: Localhost, localhostProfile: profiles/a.json}}\n",
        "    securityContext: {allowPrivilegeEscalation: false, privileged: false,"
        " capabilities: {add: [SYS_ADMIN]}}\n",  # k8s checks the CAP_-prefixed name only
    )


# -- emptyDir: the kubelet's mode and fsGroup ----------------------------------------------


def test_empty_dir_access() -> None:
    plain = _pod("  volumes: [{name: v, emptyDir: {}}]\n")
    assert empty_dir_access(plain, None) == (0o777, None)
    grouped = _pod("  securityContext: {fsGroup: 2000}\n")
    assert empty_dir_access(grouped, None) == (0o2777, 2000)
    assert empty_dir_access(grouped, (100000, 200000, 65536)) == (0o2777, 202000)
    compose = _pod()
    compose = replace(
        compose,
        metadata=replace(compose.metadata, labels={"dockyard.io/compose-project": "demo"}),
    )
    assert empty_dir_access(compose, None) == (0, None)  # docker's volume semantics
    opts = container_options(
        _pod(
            "  volumes: [{name: v, emptyDir: {}}]\n",
            "    volumeMounts: [{name: v, mountPath: /c, readOnly: true}]\n",
        ),
        0,
    )[1]
    assert opts.volumes == ["pod-u-1-v:/c:ro,nocopy"]


# -- sysctls: the kubelet's safe set -------------------------------------------------------


def _sysctls(*names: str) -> PodSecurityContext:
    return PodSecurityContext(sysctls=tuple({"name": n, "value": "1"} for n in names))


SYSCTL_CASES = [
    ((), False, False, None),
    (("kernel.shm_rmid_forced", "net.ipv4.tcp_syncookies"), False, False, None),
    (("net/ipv4/tcp_syncookies",), False, False, None),  # slashes: the same name
    (("kernel.msgmax",), False, False, 'forbidden sysctl: "kernel.msgmax" not allowlisted'),
    (
        ("net.ipv4.ping_group_range",),
        True,
        False,
        'forbidden sysctl: "net.ipv4.ping_group_range" not allowed with host net enabled',
    ),
    (
        ("kernel.shm_rmid_forced",),
        False,
        True,
        'forbidden sysctl: "kernel.shm_rmid_forced" not allowed with host ipc enabled',
    ),
]


@pytest.mark.parametrize(("names", "net", "ipc", "want"), SYSCTL_CASES)
def test_sysctl_admission(names: tuple[str, ...], net: bool, ipc: bool, want: str | None) -> None:
    assert sysctl_error(_sysctls(*names), host_network=net, host_ipc=ipc) == want


def test_sysctls_per_container() -> None:
    sc = _sysctls("kernel.shm_rmid_forced", "net/ipv4/tcp_syncookies")
    assert pod_sysctls(sc, joins_network=False) == {
        "kernel.shm_rmid_forced": "1",
        "net.ipv4.tcp_syncookies": "1",
    }
    assert pod_sysctls(sc, joins_network=True) == {"kernel.shm_rmid_forced": "1"}
    pod = _pod("  securityContext: {sysctls: [{name: kernel.msgmax, value: '1'}]}\n")
    assert config_error(pod, pod.spec.containers[0], "1000", "/sd") == (
        "SysctlForbidden",
        'forbidden sysctl: "kernel.msgmax" not allowlisted',
    )
    with pytest.raises(InvalidArgument, match=r"sysctls\[1\].name: Duplicate value"):
        _pod("  securityContext: {sysctls: [{name: a.b, value: '1'}, {name: a.b, value: '2'}]}\n")


def test_refused_pods_are_checked_again_with_the_kubelets_back_off() -> None:
    assert [config_retry_delay(n) for n in range(8)] == [10, 20, 40, 80, 160, 300, 300, 300]


def test_unmasked_proc_is_refused_not_ignored() -> None:
    pod = _pod("  hostUsers: false\n", "    securityContext: {procMount: Unmasked}\n")
    assert config_error(pod, pod.spec.containers[0], "", "/sd") == (
        "CreateContainerConfigError",
        "procMount Unmasked is not supported by dockyard",
    )
