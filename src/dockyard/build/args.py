"""Build arguments: which ``ARG`` is in scope where, and with what value.

Docker's rules, as BuildKit applies them:

* ARGs before the first FROM are *meta args*: they are in scope for FROM lines
  only.  ``--build-arg`` overrides their defaults.  The automatic platform
  args (``TARGETPLATFORM``, ``TARGETOS``, ``TARGETARCH``, ``TARGETVARIANT``
  and the ``BUILD*`` ones) are meta args too.
* Inside a stage an ARG is in scope from its line to the end of the stage.
  ``ARG NAME=default`` takes ``--build-arg NAME`` or the default;
  ``ARG NAME`` takes ``--build-arg NAME``, else the meta arg's value (so a
  stage can reuse a global default), else it has no value.
* ENV wins over an ARG of the same name when words are expanded.
* RUN sees the args in scope as environment variables; they are not saved in
  the image.  The predefined proxy args (``HTTP_PROXY`` and friends) need no
  ARG line, and are kept out of the cache key and the history unless declared.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.records import field, record

__all__ = ["PROXY_ARGS", "ArgScope", "host_architecture", "platform_args", "unused_build_args"]

PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})  # fmt: skip


_OCI_ARCH = {
    "x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
    "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
}  # fmt: skip


def host_architecture() -> str:
    """The host's architecture in OCI terms (``amd64``, ``arm64``...), from ``uname``
    (the same table as ``bootstrap.oci_architecture``, without importing ``platform``)."""
    import os

    machine = os.uname().machine
    return _OCI_ARCH.get(machine, machine)


def platform_args(os_: str, arch: str, variant: str = "") -> dict[str, str]:
    """The automatic platform args for building ``os_/arch[/variant]`` on the same host."""
    plat = f"{os_}/{arch}" + (f"/{variant}" if variant else "")
    out = {}
    for prefix in ("TARGET", "BUILD"):
        out[f"{prefix}PLATFORM"] = plat
        out[f"{prefix}OS"] = os_
        out[f"{prefix}ARCH"] = arch
        out[f"{prefix}VARIANT"] = variant
    return out


@record(frozen=False)
class ArgScope:
    """The ARGs of one stage: ``values`` holds those declared so far (None: no value)."""

    build_args: Mapping[str, str]
    meta: Mapping[str, str]
    values: dict[str, str | None] = field(default_factory=dict)

    def declare(self, name: str, default: str | None) -> None:
        if name in self.build_args:
            self.values[name] = self.build_args[name]
        elif default is not None:
            self.values[name] = default
        elif name in self.meta:
            self.values[name] = self.meta[name]
        else:
            self.values[name] = None

    def defined(self) -> dict[str, str]:
        """Declared args that have a value, in declaration order."""
        return {k: v for k, v in self.values.items() if v is not None}

    def proxies(self) -> dict[str, str]:
        """Proxy args given with --build-arg but not declared (RUN sees them)."""
        return {
            k: v for k, v in self.build_args.items() if k in PROXY_ARGS and k not in self.values
        }

    def expansion_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """What ``$NAME`` means in an instruction: args, then ENV over them."""
        return {**self.defined(), **env}

    def run_env(self, env_list: list[str]) -> list[str]:
        """RUN's environment: the image's Env plus args not shadowed by ENV."""
        names = {item.partition("=")[0] for item in env_list}
        extra = {**self.proxies(), **self.defined()}
        return list(env_list) + [f"{k}={v}" for k, v in extra.items() if k not in names]


def unused_build_args(build_args: Mapping[str, str], consumed: set[str]) -> list[str]:
    """Build args nobody declared (Docker warns about them), proxies excepted."""
    return sorted(k for k in build_args if k not in consumed and k not in PROXY_ARGS)
