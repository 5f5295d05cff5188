"""The network of RUN steps: a private namespace whose only way out is slirp4netns.

Vocabulary:

* *sandbox network*: one network namespace per build, made on the first RUN step that
  uses ``--network=default`` and shared by the build's later default-network steps. It holds
  ``lo`` and ``eth0`` (a tap device, ``10.0.2.100/24``, MTU 65520, default route via
  ``10.0.2.2``) and nothing else: no host interface, no host abstract unix socket (those are
  per network namespace), no host route.
* *stack*: the ``slirp4netns`` process on the other side of ``eth0``. It lives in the
  builder's network namespace and turns the step's packets into ordinary sockets there, so
  egress works without ip_forward, NAT rules, a bridge or a veth. It runs with
  ``--disable-host-loopback`` (``10.0.2.2`` does not lead to the host's ``127.0.0.1``),
  ``--enable-sandbox`` (its own mount namespace, capabilities dropped) and
  ``--enable-seccomp``. ``10.0.2.3`` is its DNS forwarder, which sends queries to the
  host's resolvers as the host's ``/etc/resolv.conf`` names them, so a ``127.0.0.53`` stub
  still answers (podman's choice for slirp4netns).
* *holder*: ``unshare --net sh`` reading its stdin; its ``/proc/<pid>/ns/net`` is the
  path each RUN container joins (OCI ``linux.namespaces[].path``).

Lifecycle::

    net = SandboxNetwork()
    path = net.netns_path()      # starts holder and stack (once), waits for the stack
    ...                          # RUN containers join ``path``
    net.close()                  # ends the stack (exit fd) and the holder (stdin EOF)

Nothing outlives the builder: the stack ends when its ``--exit-fd`` pipe closes and the
holder when its stdin does, so a killed builder leaves no process and no namespace.

Errors: no ``slirp4netns`` → Unavailable; a stack that does not come up → Unavailable
with its last line of output.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from typing import IO

from dockyard.errors import Unavailable

__all__ = ["DNS_ADDRESS", "IFNAME", "SandboxNetwork", "sandbox_resolv_conf"]

IFNAME = "eth0"
DNS_ADDRESS = "10.0.2.3"
MTU = 65520  # podman's slirp4netns MTU: far fewer packets per byte than 1500


def sandbox_resolv_conf(host: str) -> str:
    """The step's ``resolv.conf``: the stack's DNS forwarder, then the host's search and
    options lines (the host's nameservers may be loopback stubs the step cannot reach)."""
    lines = [f"nameserver {DNS_ADDRESS}"]
    for line in host.splitlines():
        word = line.split(maxsplit=1)[0] if line.split() else ""
        if word in ("search", "domain", "options"):
            lines.append(line.strip())
    return "\n".join(lines) + "\n"


class SandboxNetwork:
    """One build's sandbox network, started on first use (thread-safe: stages run on
    worker threads)."""

    def __init__(self, *, host_loopback: bool = False) -> None:
        self.host_loopback = host_loopback  # True only in the test that shows the attack
        self._lock = threading.Lock()
        self._holder: subprocess.Popen[bytes] | None = None
        self._stack: subprocess.Popen[bytes] | None = None
        self._exit_w = -1
        self._log: IO[bytes] | None = None

    def netns_path(self) -> str:
        """The namespace a default-network RUN joins (started on the first call)."""
        with self._lock:
            if self._holder is None:
                try:
                    self._start()
                except BaseException:
                    self._stop()
                    raise
            assert self._holder is not None
            return f"/proc/{self._holder.pid}/ns/net"

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> None:
        slirp = shutil.which("slirp4netns")
        unshare = shutil.which("unshare")
        if slirp is None or unshare is None:
            raise Unavailable(
                "the build network needs slirp4netns and unshare (make setup installs them); "
                "use --network none to build without a network"
            )
        holder = subprocess.Popen(
            [unshare, "--net", "--", "/bin/sh", "-c", "echo ready; read _"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
        self._holder = holder
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != b"ready":
            raise Unavailable("start the build network: unshare --net failed")
        holder.stdout.close()
        self._start_stack(slirp, f"/proc/{holder.pid}/ns/net")

    def _start_stack(self, slirp: str, netns: str) -> None:
        ready_r, ready_w = os.pipe()
        exit_r, self._exit_w = os.pipe()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (kept until close())
        try:
            # slirp4netns's --enable-sandbox unshares a mount namespace and detaches the old
            # root after pivot_root, but makes "/" private without MS_REC (1.2.0): on a host
            # whose mounts are shared (systemd), that detach propagated and unmounted the
            # host's /sys/fs/cgroup and more. It starts in a namespace made rprivate first.
            unshare = shutil.which("unshare") or "unshare"
            self._stack = subprocess.Popen(
                [unshare, "--mount", "--propagation", "private", "--",
                 slirp, "--configure", f"--mtu={MTU}",
                 *([] if self.host_loopback else ["--disable-host-loopback"]),
                 "--enable-sandbox", "--enable-seccomp", f"--ready-fd={ready_w}",
                 f"--exit-fd={exit_r}", "--netns-type=path", netns, IFNAME],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                pass_fds=(ready_w, exit_r), start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(ready_w)
            os.close(exit_r)
        try:
            ready = os.read(ready_r, 1)  # the stack writes "1" when eth0 is configured
        finally:
            os.close(ready_r)
        if ready != b"1":
            raise Unavailable(f"start the build network: slirp4netns: {self._last_log_line()}")

    def _last_log_line(self) -> str:
        if self._stack is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._stack.wait(timeout=5)
        if self._log is None:
            return "no output"
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode(errors="replace").splitlines() if ln]
        return lines[-1] if lines else "exited without a word"

    def _stop(self) -> None:
        if self._exit_w >= 0:
            os.close(self._exit_w)  # slirp4netns ends when its exit fd reads EOF
            self._exit_w = -1
        for proc in (self._stack, self._holder):
            if proc is None:
                continue
            if proc.stdin is not None:
                proc.stdin.close()  # the holder's `read` sees EOF and ends
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._stack = self._holder = None
        if self._log is not None:
            self._log.close()
            self._log = None
