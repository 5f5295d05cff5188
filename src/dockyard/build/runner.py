"""RUN: a command in a real container over the stage's root filesystem.

The container gets what ``docker build`` gives a RUN step: the stage's Env
(plus the build args in scope), WorkingDir (created when missing) and USER
(resolved against the image's ``/etc/passwd`` and ``/etc/group``), Docker's
default capabilities, seccomp profile, masked and read-only paths; a new
pid, ipc, uts, mount and cgroup namespace.  The network (docs/build.md, *Network*):
``default`` joins the build's sandbox network (:mod:`dockyard.build.sandboxnet`:
``lo`` and ``eth0`` behind slirp4netns, ``nameserver 10.0.2.3``), ``none`` gets a new
empty namespace, ``host`` (granted with ``--allow network.host`` only) keeps the
builder's namespace and the host's ``/etc/resolv.conf``.  Unless the step is
``none``, the host's CA bundle is bind-mounted read-only at :data:`CA_TARGET` and
named by the usual variables (``SSL_CERT_FILE``...), never copied into a layer.
Stdin is ``/dev/null``.  The mount points the runtime has to create (``/etc/hosts``,
``/proc``... and ``--mount`` targets) leave no trace in the layer.

``RUN --mount`` types: ``cache`` (a directory kept under
``<root>/buildcache/mounts``, by id), ``bind`` (from the context, a stage or
an image; read-only unless ``rw``, and then writes are thrown away),
``tmpfs``, ``secret`` (``--secret id=…,src=…``, at ``/run/secrets/<id>`` or
in an env var), ``ssh`` (an agent given with ``--ssh``, relayed through a socket at
``/run/buildkit/ssh_agent.N``: :mod:`dockyard.build.sshagent`).

Errors: a command that fails → FailedPrecondition ``process "…" did not
complete successfully: exit code: N``; a missing required secret → NotFound.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.errors import FailedPrecondition, InvalidArgument

__all__ = ["CA_TARGET", "RunRequest", "build_run_spec", "ca_mount", "redirect_stdio"]

_ETC_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")
HOSTNAME = "buildkitsandbox"
# The host's CA bundle in a RUN step: beside the image's own trust store, not over it (a RUN
# that reinstalls ca-certificates renames over /etc/ssl/certs/ca-certificates.crt).
CA_TARGET = "/run/dockyard/ca-certificates.crt"
_CA_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
            "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO")  # fmt: skip
_HOST_CA_FILES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


@dataclass
class RunRequest:
    """What one RUN step runs."""

    argv: list[str]
    env: list[str]
    cwd: str
    user: str
    network: str = ""
    netns: str = ""  # the namespace a default-network step joins (sandboxnet)
    mounts: list[dict[str, Any]] = field(default_factory=list)  # OCI mounts[] entries
    locks: list[Path] = field(default_factory=list)  # cache mounts with sharing=locked
    display: str = ""  # the command as errors name it
    ssh_mounts: int = 0  # ssh mounts seen so far (their default targets count them)


# A RUN container's annotation naming the builder process that runs it ("<pid>:<start time>"):
# a builder that dies (SIGKILL, OOM) leaves its step's container, cgroup and mount behind, and
# the next build on the same run root removes those whose builder is gone (sweep_abandoned).
OWNER = "org.dockyard.builder"


def builder_tag(pid: int | None = None) -> str:
    from dockyard.runtime.state import pid_start_time

    pid = os.getpid() if pid is None else pid
    info = pid_start_time(pid)
    return f"{pid}:{info[0] if info else 0}"


def _owner_alive(tag: str) -> bool:
    pid, _, start = tag.partition(":")
    return pid.isdigit() and builder_tag(int(pid)) == f"{pid}:{start}"


def sweep_abandoned(run_root: Path) -> list[str]:
    """Delete the RUN containers of builders that are gone (their init killed, their cgroup
    and their step's overlay mount removed); the ids removed."""
    from dockyard.build.rootfs import umount
    from dockyard.errors import DockyardError
    from dockyard.runtime import Runtime

    rt = Runtime(run_root / "runtime")
    gone: list[str] = []
    for st in rt.list():
        tag = st.annotations.get(OWNER)
        if not st.id.startswith("build-") or not tag or _owner_alive(tag):
            continue
        with contextlib.suppress(DockyardError, OSError):
            rt.delete(st.id, force=True)
            gone.append(st.id)
        if os.path.ismount(st.rootfs):
            with contextlib.suppress(DockyardError, OSError):
                umount(Path(st.rootfs))
    return gone


def build_run_spec(
    req: RunRequest, rootfs: Path, files_dir: Path, uid: int, gid: int,
    additional_gids: tuple[int, ...], home: str, cgroups_path: str,
) -> dict[str, Any]:  # fmt: skip
    """The OCI config of a RUN container (pure: no disk, no kernel)."""
    from dockyard.runtime.defaults import (
        DEFAULT_CAPS,
        DEFAULT_MASKED_PATHS,
        DEFAULT_READONLY_PATHS,
        default_mounts,
        default_seccomp,
    )

    env = list(req.env)
    names = {e.partition("=")[0] for e in env}
    if "PATH" not in names:
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if "HOME" not in names:
        env.append(f"HOME={home or '/'}")
    namespaces = [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup")]
    if req.network == "none":
        namespaces.append({"type": "network"})
    elif req.network == "default":
        if not req.netns:
            raise InvalidArgument("a default-network RUN step needs the sandbox network")
        namespaces.append({"type": "network", "path": req.netns})
    mounts = default_mounts()
    for name in _ETC_FILES:
        mounts.append({"destination": name, "type": "bind",
                       "source": str(files_dir / os.path.basename(name)),
                       "options": ["rbind", "ro", "rprivate"]})  # fmt: skip
    mounts += req.mounts
    user: dict[str, Any] = {"uid": uid, "gid": gid}
    if additional_gids:
        user["additionalGids"] = list(additional_gids)
    caps = list(DEFAULT_CAPS)
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": False,
            "user": user,
            "args": list(req.argv),
            "env": env,
            "cwd": req.cwd,
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": False,
        },
        "root": {"path": str(rootfs), "readonly": False},
        "annotations": {OWNER: builder_tag()},
        "hostname": HOSTNAME,
        "mounts": mounts,
        "linux": {
            "namespaces": namespaces,
            "cgroupsPath": cgroups_path,
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
            "seccomp": default_seccomp(),
            "rootfsPropagation": "rprivate",
        },
    }


def write_etc_files(files_dir: Path, network: str) -> None:
    """``hosts``, ``resolv.conf`` and ``hostname`` for the container (bind-mounted)."""
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    (files_dir / "hosts").write_text(hosts + f"127.0.1.1\t{HOSTNAME}\n")
    (files_dir / "hostname").write_text(HOSTNAME + "\n")
    host = ""
    if network != "none":
        with contextlib.suppress(OSError):
            host = Path("/etc/resolv.conf").read_text()
    if network == "default":
        from dockyard.build.sandboxnet import sandbox_resolv_conf

        text = sandbox_resolv_conf(host)
    else:
        text = host if host.endswith("\n") or not host else host + "\n"
    (files_dir / "resolv.conf").write_text(text or "\n")


def host_ca_bundle() -> Path | None:
    """The builder's CA bundle: ``$SSL_CERT_FILE``, else the distribution's file."""
    for name in (os.environ.get("SSL_CERT_FILE", ""), *_HOST_CA_FILES):
        if name and os.path.isfile(name):
            return Path(name)
    return None


def ca_mount(req: RunRequest, bundle: Path | None) -> dict[str, Any] | None:
    """The read-only mount of the host's CA bundle, and its variables in ``req.env``
    (those the step sets itself are kept); None for ``--network=none`` or no bundle."""
    if req.network == "none" or bundle is None:
        return None
    names = {e.partition("=")[0] for e in req.env}
    req.env += [f"{v}={CA_TARGET}" for v in _CA_VARS if v not in names]
    return {"destination": CA_TARGET, "type": "bind", "source": str(bundle),
            "options": ["rbind", "ro", "rprivate"]}  # fmt: skip


class _SharedStdio:
    """The process's fds 0 and 1 while containers run (the runtime hands them to the
    container).  Stages build in parallel threads: the first RUN to start redirects,
    the last to end restores, and a RUN that wants another fd waits for them."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.fd = -1
        self.users = 0
        self.saved: list[int] = []

    def enter(self, stdout_fd: int) -> None:
        with self.cond:
            while self.users and self.fd != stdout_fd:
                self.cond.wait()
            if not self.users:
                self.saved = [os.dup(0), os.dup(1)]
                null = os.open(os.devnull, os.O_RDONLY)
                try:
                    os.dup2(null, 0)
                    os.dup2(stdout_fd, 1)
                finally:
                    os.close(null)
                self.fd = stdout_fd
            self.users += 1

    def leave(self) -> None:
        with self.cond:
            self.users -= 1
            if not self.users:
                os.dup2(self.saved[0], 0)
                os.dup2(self.saved[1], 1)
                for fd in self.saved:
                    os.close(fd)
                self.saved = []
                self.cond.notify_all()


_STDIO = _SharedStdio()


@contextlib.contextmanager
def redirect_stdio(stdout_fd: int | None) -> Iterator[None]:
    """Stdin from /dev/null and stdout to ``stdout_fd`` while a container runs
    (the runtime hands the caller's stdio to it); restored afterwards."""
    if stdout_fd is None:
        yield
        return
    _STDIO.enter(stdout_fd)
    try:
        yield
    finally:
        _STDIO.leave()


@contextlib.contextmanager
def hold_locks(paths: list[Path]) -> Iterator[None]:
    fds = []
    try:
        for p in paths:
            fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fds.append(fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        for fd in fds:
            os.close(fd)


def cache_mount_dir(cache_root: Path, ident: str, uid: int | None, gid: int | None,
                    mode: int | None) -> Path:  # fmt: skip
    """The host directory of ``--mount=type=cache,id=…`` (made on first use)."""
    name = hashlib.sha256(ident.encode()).hexdigest()[:32]
    d = cache_root / name
    if not d.is_dir():
        d.mkdir(parents=True, mode=0o755)
        os.chmod(d, mode if mode is not None else 0o755)
        os.chown(d, uid or 0, gid or 0)
    return d


def failed(req: RunRequest, code: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"process {json.dumps(req.display)} did not complete successfully: exit code: {code}"
    )


def check_secret(ident: str, secrets: Mapping[str, Path], required: bool) -> Path | None:
    path = secrets.get(ident)
    if path is None:
        if required:
            from dockyard.errors import NotFound

            raise NotFound(f"secret {ident} not found (give it with --secret id={ident},src=FILE)")
        return None
    if not path.is_file():
        raise InvalidArgument(f"secret {ident}: {path} is not a file")
    return path


def copy_for_rw(src: Path, work: Path) -> Path:
    """A scratch copy of a bind source mounted read-write (writes are discarded)."""
    dest = work / ("rw-" + hashlib.sha256(str(src).encode()).hexdigest()[:12])
    if src.is_dir():
        shutil.copytree(src, dest, symlinks=True)
    else:
        shutil.copy2(src, dest)
    return dest
