"""Namespaces on the daemon: an object needs its namespace, and deleting a namespace deletes
what it holds (orchestrator/namespaces.py behind the object API)."""

from __future__ import annotations

import pytest
from kube_kit import KubeDaemon, kube

pytestmark = [pytest.mark.root]
__all__ = ["kube"]

SHOP = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {a: "1"}
"""
ELSEWHERE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: nowhere}
data: {a: "1"}
"""


def test_namespace_is_needed_and_its_deletion_empties_it(kube: KubeDaemon) -> None:
    kube.start()
    r = kube.apply(ELSEWHERE)
    assert r.returncode != 0 and 'namespaces "nowhere" not found' in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1, r.stderr  # one line, no traceback
    r = kube.apply(SHOP)
    assert r.returncode == 0, r.stderr
    assert "namespace/shop created" in r.stdout and "configmap/settings created" in r.stdout
    assert kube.out("get", "cm", "-n", "shop", "-o", "name") == "configmap/settings"
    assert kube.out("delete", "ns", "shop") == 'namespace "shop" deleted'
    r = kube.run("get", "cm", "settings", "-n", "shop")
    assert r.returncode != 0 and "not found" in r.stderr, (r.stdout, r.stderr)
