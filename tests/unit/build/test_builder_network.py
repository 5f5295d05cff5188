"""The RUN network's pure parts: entitlements, resolv.conf, the CA mount, the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.build.entitlements import check_allow, check_network
from dockyard.build.runner import CA_TARGET, RunRequest, build_run_spec, ca_mount
from dockyard.build.sandboxnet import sandbox_resolv_conf
from dockyard.errors import InvalidArgument


def test_host_network_needs_the_entitlement() -> None:
    check_network("default", frozenset(), "--network")
    check_network("none", frozenset(), "--network")
    check_network("host", {"network.host"}, "--network")
    with pytest.raises(InvalidArgument, match=r"^--network=host: network.host is not allowed"):
        check_network("host", frozenset(), "--network")
    with pytest.raises(InvalidArgument, match="unknown network mode"):
        check_network("bridge", {"network.host"}, "RUN --network")


def test_unknown_entitlement_is_refused() -> None:
    assert check_allow(["network.host", "network.host"]) == {"network.host"}
    with pytest.raises(InvalidArgument, match=r"^--allow network\.hots: unknown entitlement"):
        check_allow(["network.hots"])


@pytest.mark.parametrize(
    ("host", "want"),
    [
        ("nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
         "nameserver 10.0.2.3\noptions edns0 trust-ad\nsearch lan\n"),
        ("nameserver 10.255.255.53\n", "nameserver 10.0.2.3\n"),
        ("", "nameserver 10.0.2.3\n"),
        ("# comment\n\n  domain example.internal  \nnameserver ::1\n",
         "nameserver 10.0.2.3\ndomain example.internal\n"),
    ],
)  # fmt: skip
def test_sandbox_resolv_conf_uses_the_stack_forwarder(host: str, want: str) -> None:
    # a loopback stub on the host is unreachable from the sandbox: the stack's forwarder
    # (10.0.2.3) asks the host's resolvers for the step, as podman does with slirp4netns
    assert sandbox_resolv_conf(host) == want


def test_ca_bundle_is_mounted_read_only_and_named(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("x")
    req = RunRequest(argv=["true"], env=["PIP_CERT=/mine.pem"], cwd="/", user="",
                     network="default")  # fmt: skip
    m = ca_mount(req, bundle)
    assert m is not None and m["destination"] == CA_TARGET and "ro" in m["options"]
    assert f"SSL_CERT_FILE={CA_TARGET}" in req.env
    assert "PIP_CERT=/mine.pem" in req.env and f"PIP_CERT={CA_TARGET}" not in req.env
    none = RunRequest(argv=["true"], env=[], cwd="/", user="", network="none")
    assert ca_mount(none, bundle) is None and none.env == []
    assert ca_mount(RunRequest(argv=["true"], env=[], cwd="/", user=""), None) is None


def test_default_network_without_a_sandbox_is_refused() -> None:
    req = RunRequest(argv=["true"], env=[], cwd="/", user="", network="default")
    with pytest.raises(InvalidArgument):
        build_run_spec(req, Path("/r"), Path("/f"), 0, 0, (), "/root", "dockyard/x")


def test_a_proxy_on_the_host_loopback_is_warned_about() -> None:
    from dockyard.build.executor import BuildOptions, _loopback_proxies

    args = {"HTTP_PROXY": "http://127.0.0.1:3128", "https_proxy": "localhost:3129",
            "NO_PROXY": "localhost", "FTP_PROXY": "http://proxy.internal:8080"}  # fmt: skip
    warned = _loopback_proxies(BuildOptions(context=Path("."), build_args=args))
    assert [w.split("=")[0] for w in warned] == ["HTTP_PROXY", "https_proxy"]
    host = BuildOptions(context=Path("."), build_args=args, network="host")
    assert _loopback_proxies(host) == []
