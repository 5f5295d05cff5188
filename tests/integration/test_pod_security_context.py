"""Pods' securityContext on real containers, seen from inside them: ``id``, the
``NoNewPrivs``, ``Seccomp`` and ``CapEff`` lines of ``/proc/self/status``, a read-only root,
a ``Localhost`` seccomp profile refusing ``mkdir``; ``runAsNonRoot`` refusing a root image
with the kubelet's message (``CreateContainerConfigError``, no container made, no pod
churn) and accepting a non-root one; and the attack: a setuid-root binary gives a uid-1000
process root with ``allowPrivilegeEscalation: true`` and does not with ``false`` (nor by
dockyard's default).

Each test runs its own daemon in private namespaces (``kube_kit``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

REPORT = (
    "id; grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status;"
    " touch /rootfs-write 2>/dev/null && echo rootfs=rw || echo rootfs=ro;"
    " mkdir /tmp/d 2>&1 && echo mkdir=ok; stat -c cache=%a/%g /cache 2>/dev/null;"
    " touch /cache/w 2>/dev/null && stat -c cachefile=%u/%g /cache/w;"
    " echo ping=$(cat /proc/sys/net/ipv4/ping_group_range);"
    " echo shm=$(cat /proc/sys/kernel/shm_rmid_forced);"
    " echo done; exec sleep 1000000"
)

CONTEXTS = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: ctx}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsUser: 1000
    runAsGroup: 3000
    fsGroup: 2000
    supplementalGroups: [4000]
    seccompProfile: {{type: Unconfined}}
    sysctls:
    - {{name: net.ipv4.ping_group_range, value: "0 2147483647"}}
    - {{name: kernel.shm_rmid_forced, value: "1"}}
  volumes: [{{name: cache, emptyDir: {{}}}}]
  containers:
  - name: app
    image: busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "{REPORT}"]
    securityContext: {{allowPrivilegeEscalation: false}}
    volumeMounts: [{{name: cache, mountPath: /cache}}]
  - name: root
    image: busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "{REPORT}"]
    securityContext:
      runAsUser: 0
      runAsGroup: 0
      allowPrivilegeEscalation: true
      readOnlyRootFilesystem: true
      seccompProfile: {{type: RuntimeDefault}}
      capabilities: {{drop: [ALL], add: [CHOWN, NET_BIND_SERVICE]}}
  - name: local
    image: busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "{REPORT}"]
    securityContext:
      seccompProfile: {{type: Localhost, localhostProfile: profiles/no-mkdir.json}}
"""

# an OCI seccomp profile: everything allowed but mkdir/mkdirat (EPERM)
NO_MKDIR = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}


def _report(kube: KubeDaemon, name: str) -> dict[str, str]:
    text = wait_until(
        lambda: (out := kube.run("logs", name).stdout) and "done" in out and out,
        60,
        f"the report of {name}",
    )
    lines = str(text).splitlines()
    rep = {"id": lines[0]}
    for line in lines[1:]:
        key, sep, value = line.partition(":") if ":" in line else line.partition("=")
        if sep:
            rep[key.strip()] = value.strip()
    return rep


def _waiting(kube: KubeDaemon, pod: str) -> dict[str, str]:
    def reason() -> dict[str, str] | None:
        for st in kube.get("pod", pod)["status"].get("containerStatuses") or []:
            w = (st.get("state") or {}).get("waiting") or {}
            if w.get("reason") not in (None, "ContainerCreating"):
                return dict(w)
        return None

    found: dict[str, str] = wait_until(reason, 60, f"pod {pod} to be refused")
    return found


def test_each_field_as_seen_from_inside(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    profiles = kube.root / "seccomp" / "profiles"
    profiles.mkdir(parents=True)
    (profiles / "no-mkdir.json").write_text(json.dumps(NO_MKDIR))
    kube.apply(CONTEXTS).check_returncode()

    app = _report(kube, "ctx")
    assert app["id"].startswith("uid=1000 gid=3000 groups=2000,4000"), app
    assert (app["NoNewPrivs"], app["Seccomp"]) == ("1", "0"), app  # pod's Unconfined
    assert app["CapEff"] == "0000000000000000" and app["mkdir"] == "ok", app
    # its emptyDir: empty, world-writable, the fsGroup's with setgid (the kubelet's)
    assert (app["cache"], app["cachefile"]) == ("2777/2000", "1000/2000"), app
    # the pod's sysctls: net ones in the pod's network namespace, ipc ones in each container
    assert (app["ping"].split(), app["shm"]) == (["0", "2147483647"], "1"), app

    root = _report(kube, "k8s_root_ctx_default")
    assert root["id"].startswith("uid=0(root) gid=0(root)"), root
    assert "2000" in root["id"] and "4000" in root["id"], root  # pod-wide groups
    assert (root["NoNewPrivs"], root["Seccomp"]) == ("0", "2"), root  # its own RuntimeDefault
    assert int(root["CapEff"], 16) == (1 << 0) | (1 << 10), root  # CHOWN, NET_BIND_SERVICE
    assert root["rootfs"] == "ro", root
    assert (root["ping"].split(), root["shm"]) == (["0", "2147483647"], "1"), root

    local = _report(kube, "k8s_local_ctx_default")
    assert local["id"].startswith("uid=1000 gid=3000"), local
    assert local["Seccomp"] == "2" and local.get("mkdir") != "ok", local
    assert "Operation not permitted" in kube.run("logs", "k8s_local_ctx_default").stdout
    assert local["NoNewPrivs"] == "1", local  # unset: dockyard's default stays on


def test_localhost_profile_missing_is_a_clear_error(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    pod = CONTEXTS.split("  - name: app", maxsplit=1)[0] + (
        "  - name: app\n    image: busybox:latest\n    imagePullPolicy: Never\n"
        '    command: ["sleep", "1000000"]\n'
        "    securityContext:\n"
        "      seccompProfile: {type: Localhost, localhostProfile: nope.json}\n"
    )
    kube.apply(pod).check_returncode()
    w = _waiting(kube, "ctx")
    path = kube.root / "seccomp" / "nope.json"
    assert w == {
        "reason": "CreateContainerError",
        "message": f'cannot load seccomp profile "{path}": open {path}: no such file or directory',
    }
    assert kube.out("ps", "-aq") == ""  # nothing made
    unsafe = pod.replace("name: ctx", "name: unsafe").replace(
        "    sysctls:\n", "    sysctls:\n    - {name: kernel.msgmax, value: '65536'}\n"
    )
    kube.apply(unsafe).check_returncode()
    assert _waiting(kube, "unsafe") == {
        "reason": "SysctlForbidden",
        "message": 'forbidden sysctl: "kernel.msgmax" not allowlisted',
    }
    assert kube.out("ps", "-aq") == ""
    # the profile put in place: the next check (the kubelet's back-off, 10 s) starts the pod
    path.parent.mkdir()
    path.write_text(json.dumps(NO_MKDIR))
    wait_until(lambda: kube.ready_pods() == ["ctx"], 40, "ctx running once its profile exists")
    assert _waiting(kube, "unsafe")["reason"] == "SysctlForbidden"  # still refused
    kube.run("delete", "pod", "unsafe", check=True)  # at once, not after its back-off
    wait_until(lambda: [p["metadata"]["name"] for p in kube.pods()] == ["ctx"], 5, "unsafe gone")


def _deployment(name: str, image: str, extra: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      securityContext: {{runAsNonRoot: true}}
      containers:
      - name: main
        image: {image}
        imagePullPolicy: Never
        command: ["sh", "-c", "id -u; exec sleep 1000000"]
{extra}"""


def test_run_as_non_root_refuses_root_and_accepts_non_root(
    kube: KubeDaemon, tmp_path: Path
) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    for tag, user in (("nonroot:1", "1000"), ("named:1", "nobody")):
        ctx = tmp_path / tag.replace(":", "-")
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox:latest\nUSER {user}\n")
        kube.run("build", "-t", tag, str(ctx), timeout=120, check=True)

    kube.apply(_deployment("rootimg", "busybox:latest")).check_returncode()
    kube.apply(_deployment("named", "named:1")).check_returncode()
    [refused] = wait_until(lambda: kube.pods("app=rootimg"), 30, "the rootimg pod")
    name = refused["metadata"]["name"]
    w = _waiting(kube, name)
    assert w["reason"] == "CreateContainerConfigError", w
    uid = refused["metadata"]["uid"]
    assert w["message"] == (
        "container has runAsNonRoot and image will run as root "
        f'(pod: "{name}_default({uid})", container: main)'
    )
    assert "CreateContainerConfigError" in kube.out("get", "pods", name)
    assert "container has runAsNonRoot and image will run as root" in kube.out(
        "describe", "pod", name
    )
    events = [e for e in kube.out("get", "events").splitlines() if name in e]
    assert any("Failed" in e and "Error: container has runAsNonRoot" in e for e in events), events
    [named] = wait_until(lambda: kube.pods("app=named"), 30, "the named pod")
    w = _waiting(kube, named["metadata"]["name"])
    assert w["reason"] == "CreateContainerConfigError", w
    assert w["message"].startswith(
        "container has runAsNonRoot and image has non-numeric user (nobody), "
        "cannot verify user is non-root"
    ), w

    # accepted: a numeric non-root USER, and a root image given runAsUser
    kube.apply(_deployment("nonroot", "nonroot:1")).check_returncode()
    given = "        securityContext: {runAsUser: 65534}\n"
    kube.apply(_deployment("given", "busybox:latest", given)).check_returncode()
    for app, uid_seen in (("nonroot", "1000"), ("given", "65534")):
        [pod] = wait_until(lambda a=app: kube.ready_pods(f"app={a}"), 60, f"{app} running")
        assert wait_until(lambda p=pod: kube.run("logs", p).stdout.strip(), 30, "id") == uid_seen

    # no churn: the refused pods are the same ones, never restarted, no container made
    assert [p["metadata"]["name"] for p in kube.pods("app=rootimg")] == [name]
    st = kube.get("pod", name)["status"]
    assert st["phase"] == "Pending" and st["containerStatuses"][0]["restartCount"] == 0
    names = kube.out("ps", "-a", "--format", "{{.Names}}").split()
    assert not [n for n in names if n.startswith(("rootimg-", "named-"))], names


SETUID_PY = "/shared/py"
ATTACK = (
    f"until [ -e /shared/ready ]; do sleep 0.05; done; {SETUID_PY} -c "
    '\'import os\nprint("euid", os.geteuid())\ntry:\n  open("/etc/shadow").read()'
    '\n  print("shadow read")\nexcept OSError as e:\n  print("shadow", e.strerror)\''
    "; exec sleep 1000000"
)


def _attacker(name: str, ape: str) -> str:
    sc = "{runAsUser: 1000" + (f", allowPrivilegeEscalation: {ape}" if ape else "") + "}"
    return f"""\
  - name: {name}
    image: python:3.11-slim
    imagePullPolicy: Never
    command: ["sh", "-c", {json.dumps(ATTACK)}]
    securityContext: {sc}
    volumeMounts: [{{name: shared, mountPath: /shared}}]
"""


ESCALATION = (
    """\
apiVersion: v1
kind: Pod
metadata: {name: esc}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: prep
    image: python:3.11-slim
    imagePullPolicy: Never
    command: ["sh", "-c", "cp $(readlink -f $(command -v python3)) /shared/py
      && chmod 4755 /shared/py && touch /shared/ready && exec sleep 1000000"]
    volumeMounts: [{name: shared, mountPath: /shared}]
"""
    + _attacker("guarded", "false")
    + _attacker("open", "true")
    + _attacker("default", "")
)


def test_setuid_escalation_blocked_by_allow_privilege_escalation_false(kube: KubeDaemon) -> None:
    """The attack: a uid-1000 process runs a setuid-root interpreter (made by a root
    container of the same pod in a shared emptyDir) and reads /etc/shadow. It works with
    ``allowPrivilegeEscalation: true`` (no-new-privileges off: the defence switched off)
    and fails with ``false``, and with the field unset (dockyard's default)."""
    archive = IMAGE_CACHE / "python_3.11-slim.tar"
    if not archive.is_file():
        pytest.skip(f"python:3.11-slim is not cached in {IMAGE_CACHE} (make setup fetches it)")
    kube.start()
    kube.run("load", "-i", str(archive), timeout=180, check=True)
    kube.apply(ESCALATION).check_returncode()

    def result(container: str) -> str:
        name = f"k8s_{container}_esc_default"
        text: str = wait_until(
            lambda: "shadow" in (out := kube.run("logs", name).stdout) and out,
            90,
            f"the attack in {container}",
        )
        return " ".join(text.split())

    assert result("open") == "euid 0 shadow read"
    assert result("guarded") == "euid 1000 shadow Permission denied"
    assert result("default") == "euid 1000 shadow Permission denied"
    status = kube.out("exec", "k8s_open_esc_default", "--", "cat", "/proc/self/status")
    assert "NoNewPrivs:\t0" in status
    status = kube.out("exec", "k8s_guarded_esc_default", "--", "cat", "/proc/self/status")
    assert "NoNewPrivs:\t1" in status


def test_host_users_false_gives_a_user_namespace(kube: KubeDaemon) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    kube.apply(
        """\
apiVersion: v1
kind: Pod
metadata: {name: userns}
spec:
  terminationGracePeriodSeconds: 1
  hostUsers: false
  securityContext: {runAsUser: 1000, fsGroup: 2000}
  volumes: [{name: cache, emptyDir: {}}]
  containers:
  - name: main
    image: busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "cat /proc/self/uid_map; touch /cache/w && stat -c %u/%g /cache/w;
      echo done; exec sleep 1000000"]
    volumeMounts: [{name: cache, mountPath: /cache}]
"""
    ).check_returncode()
    text = wait_until(
        lambda: "done" in (out := kube.run("logs", "userns").stdout) and out, 60, "uid_map"
    )
    words = str(text).split()
    assert words[0] == "0" and words[1] != "0", text  # root inside is not root outside
    assert "1000/2000" in words, text  # its emptyDir: writable, fsGroup's inside the range
