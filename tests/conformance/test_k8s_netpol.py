"""NetworkPolicy evaluation against the corpus examples (k8s/NETPOL.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.orchestrator.loader import from_fragment, load_path, parse_yaml_documents
from dockyard.orchestrator.netpol_evaluation import Endpoint, connection_allowed
from dockyard.orchestrator.objects import NetworkPolicy, NetworkPolicySpec, ObjectMeta

pytestmark = pytest.mark.corpus


@pytest.fixture
def networking(corpus_dir: Path) -> Path:
    return corpus_dir / "k8s" / "manifests" / "k8s-website" / "service" / "networking"


def policy(networking: Path, name: str) -> NetworkPolicy:
    (p,) = load_path(networking / name)
    assert isinstance(p, NetworkPolicy)
    return p


DB = Endpoint("db", "default", {"role": "db"})
FRONTEND = Endpoint("fe", "default", {"role": "frontend"})
OTHER = Endpoint("other", "default", {"role": "other"})
PROJECT_POD = Endpoint("p", "team", {"x": "y"})
NAMESPACES = {"team": {"project": "myproject"}, "elsewhere": {}}


@pytest.mark.parametrize(
    ("src", "dst", "port", "allowed"),
    [
        (FRONTEND, DB, 6379, True),  # role=frontend in default
        (FRONTEND, DB, 6380, False),  # wrong port
        (OTHER, DB, 6379, False),  # not a listed peer
        (PROJECT_POD, DB, 6379, True),  # namespace labelled project=myproject
        (
            Endpoint("q", "elsewhere", {"role": "frontend"}),
            DB,
            6379,
            False,
        ),  # podSelector is the policy's namespace
        (Endpoint(ip="172.17.0.5"), DB, 6379, True),
        (Endpoint(ip="172.17.1.5"), DB, 6379, False),  # in the except range
        (Endpoint(ip="172.17.200.1"), DB, 6379, True),
        (Endpoint(ip="10.1.1.1"), DB, 6379, False),
        (DB, Endpoint(ip="10.0.0.7"), 5978, True),  # egress to 10.0.0.0/24 on 5978
        (DB, Endpoint(ip="10.0.0.7"), 53, False),  # DNS is blocked too
        (DB, Endpoint(ip="10.0.1.7"), 5978, False),
        (DB, FRONTEND, 80, False),
        (FRONTEND, OTHER, 80, True),  # pods no policy selects are not isolated
    ],
)
def test_worked_example(
    networking: Path, src: Endpoint, dst: Endpoint, port: int, allowed: bool
) -> None:
    p = policy(networking, "networkpolicy.yaml")
    assert p.spec.policy_types == ("Ingress", "Egress")
    got = connection_allowed(src, dst, port, "TCP", [p], NAMESPACES)
    assert got.allowed is allowed, got


def test_udp_does_not_match_a_tcp_rule(networking: Path) -> None:
    p = policy(networking, "networkpolicy.yaml")
    assert not connection_allowed(FRONTEND, DB, 6379, "UDP", [p], NAMESPACES).allowed


A = Endpoint("a", "default", {"app": "a"})
B = Endpoint("b", "default", {"app": "b"})


@pytest.mark.parametrize(
    ("files", "ingress", "egress"),
    [
        (["network-policy-default-deny-ingress.yaml"], False, True),
        (
            ["network-policy-default-deny-ingress.yaml", "network-policy-allow-all-ingress.yaml"],
            True,
            True,
        ),
        (["network-policy-default-deny-egress.yaml"], True, False),
        (
            ["network-policy-default-deny-egress.yaml", "network-policy-allow-all-egress.yaml"],
            True,
            True,
        ),
        (["network-policy-default-deny-all.yaml"], False, False),
        (["network-policy-allow-all-egress-deny-all-ingress.yaml"], False, True),
    ],
)
def test_default_policies_table(
    networking: Path, files: list[str], ingress: bool, egress: bool
) -> None:
    policies = [policy(networking, f) for f in files]
    # into a: only a's ingress is involved when the source is outside the cluster
    assert connection_allowed(Endpoint(ip="192.0.2.1"), A, 80, "TCP", policies).allowed is ingress
    # out of a: only a's egress
    assert connection_allowed(A, Endpoint(ip="192.0.2.1"), 80, "TCP", policies).allowed is egress
    # pod to pod needs both
    assert connection_allowed(A, B, 80, "TCP", policies).allowed is (ingress and egress)


def test_nginx_policy_is_ingress_only(networking: Path) -> None:
    p = policy(networking, "nginx-policy.yaml")
    assert p.spec.policy_types == ("Ingress",)
    nginx = Endpoint("n", "default", {"app.kubernetes.io/name": "nginx"})
    client = Endpoint("c", "default", {"access": "true"})
    stranger = Endpoint("s", "default", {})
    assert connection_allowed(client, nginx, 8080, "TCP", [p]).allowed  # all ports
    assert not connection_allowed(stranger, nginx, 80, "TCP", [p]).allowed
    assert not connection_allowed(
        Endpoint("c2", "other", {"access": "true"}), nginx, 80, "TCP", [p]
    ).allowed
    assert connection_allowed(nginx, stranger, 80, "TCP", [p]).allowed  # egress unaffected


def test_multiport_egress_range(networking: Path) -> None:
    p = policy(networking, "networkpolicy-multiport-egress.yaml")
    pod = Endpoint("x", "default", {"role": "db"})
    remote = Endpoint(ip="10.0.0.9")
    assert [
        connection_allowed(pod, remote, port, "TCP", [p]).allowed
        for port in (31999, 32000, 32768, 32769)
    ] == [False, True, True, False]


def test_peer_and_versus_or(corpus_dir: Path) -> None:
    path = corpus_dir / "k8s/manifests/k8s-website-docs/netpol-peer-and-vs-or.yaml"
    specs = [
        from_fragment(NetworkPolicySpec, d)
        for _, d in parse_yaml_documents(path.read_text(), str(path))
    ]
    and_policy, or_policy = (
        NetworkPolicy(metadata=ObjectMeta(name=f"p{i}", namespace="default"), spec=s)
        for i, s in enumerate(specs)
    )
    target = Endpoint("t", "default", {})
    namespaces = {"alice": {"user": "alice"}, "default": {}}
    client_in_alice = Endpoint("c", "alice", {"role": "client"})
    other_in_alice = Endpoint("o", "alice", {"role": "server"})
    client_here = Endpoint("h", "default", {"role": "client"})
    # one peer: role=client pods inside namespaces labelled user=alice
    assert [
        connection_allowed(p, target, 80, "TCP", [and_policy], namespaces).allowed
        for p in (client_in_alice, other_in_alice, client_here)
    ] == [True, False, False]
    # two peers: role=client here OR anything in alice's namespaces
    assert [
        connection_allowed(p, target, 80, "TCP", [or_policy], namespaces).allowed
        for p in (client_in_alice, other_in_alice, client_here)
    ] == [True, True, True]


def test_namespace_by_name_label(networking: Path) -> None:
    spec = from_fragment(
        NetworkPolicySpec,
        {
            "podSelector": {},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "ops"}
                            }
                        }
                    ]
                }
            ],
        },
    )
    p = NetworkPolicy(metadata=ObjectMeta(name="p", namespace="default"), spec=spec)
    assert connection_allowed(Endpoint("m", "ops"), A, 80, "TCP", [p]).allowed
    assert not connection_allowed(Endpoint("m", "dev"), A, 80, "TCP", [p]).allowed


def test_named_port(networking: Path) -> None:
    spec = from_fragment(
        NetworkPolicySpec, {"podSelector": {}, "ingress": [{"ports": [{"port": "http"}]}]}
    )
    p = NetworkPolicy(metadata=ObjectMeta(name="p", namespace="default"), spec=spec)
    web = Endpoint("w", "default", {}, ports={"http": 8080})
    assert connection_allowed(B, web, 8080, "TCP", [p]).allowed
    assert not connection_allowed(B, web, 80, "TCP", [p]).allowed
