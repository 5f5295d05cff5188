"""export.exportable: a stored object as ``kubectl apply`` takes it back."""

from __future__ import annotations

from dockyard.orchestrator.export import exportable


def test_server_fields_are_dropped() -> None:
    stored = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "uid": "u", "resourceVersion": "7",
                     "generation": 2, "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "web"},
                     "annotations": {"deployment.kubernetes.io/revision": "3", "team": "a"}},
        "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"port": 80}]},
        "status": {"loadBalancer": {}},
    }  # fmt: skip
    assert exportable(stored) == {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"},
                     "annotations": {"team": "a"}},
        "spec": {"ports": [{"port": 80}]},
    }  # fmt: skip


def test_headless_service_keeps_none_and_no_annotations_key_when_all_were_the_servers() -> None:
    stored = {"kind": "Service", "metadata": {"name": "db", "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"clusterIP": "None"}}  # fmt: skip
    assert exportable(stored) == {"kind": "Service", "metadata": {"name": "db"},
                                  "spec": {"clusterIP": "None"}}  # fmt: skip
