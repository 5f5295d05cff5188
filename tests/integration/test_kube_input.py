"""Bad manifests are refused with Kubernetes-style messages, and nothing is applied."""

from __future__ import annotations

import pytest
from kube_kit import KubeDaemon, kube, web_deployment

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

GOOD_CM = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
"""


def _refused(kube: KubeDaemon, text: str, *expected: str) -> str:
    r = kube.apply(text)
    assert r.returncode != 0, r.stdout
    for e in expected:
        assert e in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    return r.stderr


def test_bad_input_is_refused_and_applies_nothing(kube: KubeDaemon) -> None:
    kube.start()
    good = web_deployment()
    _refused(
        kube,
        good.replace("  selector:\n    matchLabels: {app: web}\n", ""),
        'Deployment.apps "web" is invalid',
        "spec.selector: Required value",
    )
    _refused(
        kube,
        good.replace("matchLabels: {app: web}", "matchLabels: {app: other}"),
        "spec.template.metadata.labels",
        "selector does not match template labels",
    )
    _refused(
        kube,
        good.replace("replicas: 3", "replicas: -1"),
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    )
    _refused(
        kube,
        good.replace("        image:", "        imagee: x\n        image:"),
        'strict decoding error: unknown field "spec.template.spec.containers[0].imagee"',
    )
    _refused(
        kube,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n   bad: [\n",
        "<stdin>:5: mapping values are not allowed in this context",
    )
    # one invalid document among good ones: nothing at all is applied
    mixed = GOOD_CM + "---\n" + good.replace("replicas: 3", "replicas: -2")
    err = _refused(kube, mixed, "<stdin>:6:", "spec.replicas")
    assert "spec.replicas" in err
    assert kube.out("get", "cm", "-o", "name") == ""
    assert kube.out("get", "deploy", "-o", "name") == ""
    # an invalid second document of another kind: still all or nothing
    r = kube.run(
        "apply",
        "-f",
        "-",
        input=GOOD_CM + "---\nkind: Service\napiVersion: v1\n"
        "metadata: {name: Bad_Name}\nspec: {ports: [{port: 80}]}\n",
    )
    assert r.returncode != 0 and 'Service "Bad_Name" is invalid' in r.stderr, r.stderr
    assert kube.out("get", "cm", "-o", "name") == ""
    # and a valid file applies
    assert kube.apply(GOOD_CM).stdout.strip() == "configmap/settings created"
    assert kube.apply(GOOD_CM).stdout.strip() == "configmap/settings unchanged"
    assert kube.out("get", "cm", "-o", "name") == "configmap/settings"
