"""References: docker's normalisation, table-driven."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.oci.reference import parse_reference

D = "sha256:" + "b" * 64

CASES = [
    # input, full, familiar
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app", "docker.io/user/app:latest", "user/app:latest"),
    ("user/app/sub:v1", "docker.io/user/app/sub:v1", "user/app/sub:v1"),
    ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
    ("localhost:5000/app:v1", "localhost:5000/app:v1", "localhost:5000/app:v1"),
    ("quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5", "quay.io/coreos/etcd:v3.5"),
    ("Example/app", "Example/app:latest", "Example/app:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
    ("ab__c-d/e.f", "docker.io/ab__c-d/e.f:latest", "ab__c-d/e.f:latest"),
    (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
    (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
    (f"host:5000/a/b:t@{D}", f"host:5000/a/b:t@{D}", f"host:5000/a/b:t@{D}"),
]


@pytest.mark.parametrize(("s", "full", "familiar"), CASES)
def test_normalisation(s: str, full: str, familiar: str) -> None:
    ref = parse_reference(s)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert parse_reference(full) == ref


def test_fields() -> None:
    ref = parse_reference(f"localhost:5000/team/app:v2@{D}")
    assert ref.domain == "localhost:5000"
    assert ref.path == "team/app"
    assert ref.tag == "v2"
    assert str(ref.digest) == D
    assert ref.repository == "localhost:5000/team/app"
    assert ref.familiar_name() == "localhost:5000/team/app"


def test_digest_only_has_no_tag() -> None:
    assert parse_reference(f"busybox@{D}").tag is None


@pytest.mark.parametrize(
    "s",
    [
        "",
        "Busybox",
        "busybox:",
        "busybox:-tag",
        "a" * 64,
        "busybox@sha256:abc",
        "-x/y",
        "x//y",
        "x/y/",
        "busy box",
        "host:port/x",
        "x:" + "t" * 129,
        "a/" + "b" * 255,
    ],
)
def test_invalid(s: str) -> None:
    with pytest.raises(InvalidArgument, match="parse reference"):
        parse_reference(s)


def test_uppercase_message() -> None:
    with pytest.raises(InvalidArgument, match="must be lowercase"):
        parse_reference("docker.io/Library/busybox")


def test_with_tag() -> None:
    ref = parse_reference(f"busybox@{D}").with_tag("v1")
    assert str(ref) == "docker.io/library/busybox:v1"
