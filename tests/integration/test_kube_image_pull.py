"""Pods pull their images as the kubelet does: from a registry that asks for credentials,
with an ``imagePullSecrets`` Secret of type ``kubernetes.io/dockerconfigjson``;
``ErrImagePull`` without the Secret; ``ErrImageNeverPull`` for ``Never`` and an absent image.

The registry (``dockyard registry serve`` with htpasswd auth) runs in the daemon's network
namespace (``kube_kit``), on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_kit import IMAGE_CACHE, registry_in
from kube_kit import KubeDaemon, kube, wait_until

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

bcrypt = pytest.importorskip("bcrypt")


@pytest.fixture
def registry(kube: KubeDaemon, tmp_path: Path) -> Iterator[str]:
    users = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(4)).decode()
    users.write_text(f"puller:{hashed}\n")
    with registry_in(kube.holder, tmp_path, "--auth", f"htpasswd:{users}") as addr:
        yield addr


def _secret(registry: str) -> str:
    auth = base64.b64encode(b"puller:s3cret").decode()
    config = json.dumps({"auths": {registry: {"auth": auth}}})
    data = base64.b64encode(config.encode()).decode()
    return f"""\
apiVersion: v1
kind: Secret
metadata:
  name: regcred
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: {data}
"""


def _pod(name: str, image: str, extra: str = "") -> str:
    return f"""\
---
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
{extra}  containers:
  - name: c
    image: {image}
    command: ["sleep", "100000"]
"""


def _reason(kube: KubeDaemon, name: str) -> str:
    pod = kube.get("pod", name)
    for st in pod["status"].get("containerStatuses") or []:
        waiting = (st.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(waiting["reason"])
    return str(pod["status"].get("reason") or pod["status"].get("phase"))


def test_pods_pull_with_image_pull_secrets(kube: KubeDaemon, registry: str) -> None:
    kube.start()
    kube.run("load", "-i", str(IMAGE_CACHE / "busybox_latest.tar"), check=True)
    image = f"{registry}/team/app:1"
    kube.run("tag", "busybox:latest", image, check=True)
    login = kube.run("login", "-u", "puller", "--password-stdin", registry, input="s3cret\n")
    push = kube.run("push", image)
    assert push.returncode == 0, login.stderr + push.stderr
    kube.run("logout", registry, check=True)  # the daemon has no credentials of its own now
    kube.run("rmi", image, check=True)

    # with the Secret: pulled (IfNotPresent, the default for a tag other than latest)
    r = kube.apply(
        _secret(registry) + _pod("with-secret", image, "  imagePullSecrets: [{name: regcred}]\n")
    )
    assert r.returncode == 0, r.stderr
    wait_until(lambda: "with-secret" in kube.ready_pods(), 60, "the pod pulled and running")
    assert image in kube.out("images", "--format", "{{.Repository}}:{{.Tag}}").split()

    # without it: ErrImagePull (the image removed again so that it must be pulled)
    kube.run("delete", "pod", "with-secret", check=True)
    wait_until(lambda: "with-secret" not in kube.out("get", "pods", "-o", "name"), 30, "gone")
    kube.run("rmi", image, check=True)
    assert kube.apply(_pod("no-secret", image)).returncode == 0
    reason = wait_until(lambda: (x := _reason(kube, "no-secret")) in ("ErrImagePull",) and x,
                        30, "ErrImagePull")  # fmt: skip
    assert reason == "ErrImagePull"
    # Never and an absent image: ErrImageNeverPull, and no pull was tried
    line = f"    image: {image}\n"
    never = _pod("never", image).replace(line, line + "    imagePullPolicy: Never\n")
    assert kube.apply(never).returncode == 0
    wait_until(lambda: _reason(kube, "never") == "ErrImageNeverPull", 30, "ErrImageNeverPull")
    # Always (and absent): pulled with the Secret
    always = _pod("always", image, "  imagePullSecrets: [{name: regcred}]\n").replace(
        f"    image: {image}\n", f"    image: {image}\n    imagePullPolicy: Always\n")  # fmt: skip
    assert kube.apply(always).returncode == 0
    wait_until(lambda: "always" in kube.ready_pods(), 60, "the Always pod running")
