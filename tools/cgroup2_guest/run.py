"""Boot the guest, run one command in it, shut it down (see guestfiles.py for the guest side).

Channels between host and guest:

- the checkout, over virtio-9p at the same path (``security_model=passthrough``: qemu runs
  as root, so the guest's root owns what it writes and modes are the host's own);
- the request (argv, cwd, env), a JSON file in ``.cache/cgroup2-guest/runs/ID/`` on that share;
- the command's stdout and stderr, a virtio serial port read here from a unix socket and
  copied to our stdout as it comes;
- ``started UPTIME CGROUP`` / ``exit RC`` / ``error WHY`` lines on a second serial port;
- the serial console (ttyS0: kernel, systemd, getty) into a boot log, or to our stderr
  with ``--console``.

One thread: a selector waits on the two listening sockets, their connections and a pidfd
of qemu; the run is over when qemu has exited and both connections are drained.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import guestfiles
from .build import Cache, is_built
from .errors import GuestError

# a path that is safe on the kernel command line and in qemu's comma-separated options
SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@-]*")
EXIT_TIMEOUT = 124
EXIT_NO_STATUS = 125


@dataclass(frozen=True)
class Machine:
    """The guest's hardware."""

    memory_mb: int = 2048
    cpus: int = 2
    cpu_model: str = "max"


@dataclass
class Outcome:
    """What the status port said, with the host's clock at each line."""

    started_after: float | None = None
    guest_uptime: float | None = None
    cgroup: str = ""
    exit_code: int | None = None
    error: str = ""
    lines: list[str] = field(default_factory=list)

    def feed(self, line: str, elapsed: float) -> None:
        self.lines.append(line)
        word, _, rest = line.partition(" ")
        if word == "started":
            uptime, _, cgroup = rest.partition(" ")
            self.started_after = elapsed
            self.guest_uptime = float(uptime)
            self.cgroup = cgroup.strip()
        elif word == "exit":
            self.exit_code = int(rest)
        elif word == "error":
            self.error = rest


def kernel_cmdline(checkout: Path, run_id: str) -> str:
    """The guest kernel's command line; the checkout path must survive it unquoted."""
    return " ".join([
        "console=ttyS0",
        "root=/dev/vda",
        "rw",
        "quiet",
        "loglevel=3",
        "systemd.show_status=false",
        "panic=-1",
        f"cg2guest.root={checkout}",
        f"cg2guest.run={run_id}",
    ])  # fmt: skip


def check_checkout(checkout: Path) -> None:
    if not SAFE_PATH.fullmatch(str(checkout)):
        raise GuestError(f"run: checkout path {str(checkout)!r} has characters the guest "
                         "cannot be given (only letters, digits and ._/+@-)")  # fmt: skip


def qemu_argv(cache: Cache, checkout: Path, run_id: str, machine: Machine,
              out_sock: Path, status_sock: Path) -> list[str]:  # fmt: skip
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise GuestError("run: qemu-system-x86_64 is not installed (make cgroup2-guest-deps)")
    share = f"local,path={checkout},mount_tag={guestfiles.MOUNT_TAG}"
    return [
        qemu, "-nodefaults", "-no-user-config",
        # TCG: /dev/kvm exists on the CI machines but nested KVM runs no guest vCPU
        "-accel", "tcg", "-cpu", machine.cpu_model,
        "-smp", str(machine.cpus), "-m", str(machine.memory_mb),
        "-display", "none", "-serial", "stdio", "-no-reboot",
        "-kernel", str(cache.kernel), "-initrd", str(cache.initrd),
        "-append", kernel_cmdline(checkout, run_id),
        "-drive", f"file={cache.disk},format=raw,if=virtio,snapshot=on",
        "-virtfs", share + ",security_model=passthrough,multidevs=remap",
        "-device", "virtio-rng-pci",
        "-device", "virtio-serial-pci",
        "-chardev", f"socket,id=out,path={out_sock}",
        "-device", f"virtserialport,chardev=out,name={guestfiles.OUT_PORT}",
        "-chardev", f"socket,id=status,path={status_sock}",
        "-device", f"virtserialport,chardev=status,name={guestfiles.STATUS_PORT}",
    ]  # fmt: skip


def _listen(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(1)
    return s


def _pump(proc: subprocess.Popen[bytes], listeners: Mapping[str, socket.socket],
          out: IO[bytes], outcome: Outcome, deadline: float | None) -> bool:  # fmt: skip
    """Copy the ports until qemu has exited and both are drained; False on the deadline."""
    started = time.monotonic()
    sel = selectors.DefaultSelector()
    pidfd = os.pidfd_open(proc.pid)
    sel.register(pidfd, selectors.EVENT_READ, ("qemu", None))
    for name, listener in listeners.items():
        sel.register(listener, selectors.EVENT_READ, ("listen", name))
    open_conns = 0
    qemu_done = False
    pending = b""
    try:
        while not qemu_done or open_conns:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if timeout == 0.0:
                return False
            for key, _ in sel.select(timeout):
                kind, name = key.data
                if kind == "qemu":
                    sel.unregister(pidfd)
                    qemu_done = True
                elif kind == "listen":
                    conn, _ = listeners[name].accept()
                    sel.unregister(listeners[name])
                    sel.register(conn, selectors.EVENT_READ, ("conn", name))
                    open_conns += 1
                else:
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    data = sock.recv(65536)
                    if not data:
                        sel.unregister(sock)
                        sock.close()
                        open_conns -= 1
                    elif name == "out":
                        out.write(data)
                        out.flush()
                    else:
                        pending += data
                        while b"\n" in pending:
                            line, pending = pending.split(b"\n", 1)
                            outcome.feed(line.decode(errors="replace"),
                                         time.monotonic() - started)  # fmt: skip
        return True
    finally:
        os.close(pidfd)
        for key in list(sel.get_map().values()):
            if key.data[0] == "conn":
                key.fileobj.close()  # type: ignore[union-attr]
        sel.close()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r", "").splitlines()[-lines:])


def run(cache: Cache, checkout: Path, argv: Sequence[str], *, env: Mapping[str, str],
        machine: Machine, timeout: float | None, console: bool, timings: bool) -> int:  # fmt: skip
    """Run ``argv`` in a fresh guest; the command's exit status (124: timed out,
    125: the guest ended without reporting one)."""
    if not argv:
        raise GuestError("run: no command (usage: tools/cgroup2-guest run -- COMMAND...)")
    if not is_built(cache):
        raise GuestError("run: the guest is not built or is out of date "
                         "(tools/cgroup2-guest build)")  # fmt: skip
    check_checkout(checkout)
    here = Path.cwd().resolve()
    cwd = here if here == checkout or checkout in here.parents else checkout
    run_id = f"{os.getpid()}-{secrets.token_hex(4)}"
    ctl = cache.runs / run_id
    ctl.mkdir(parents=True)
    boot_log = cache.runs / f"{run_id}.boot.log"
    request = {"argv": list(argv), "cwd": str(cwd), "env": dict(env)}
    (ctl / "request.json").write_text(json.dumps(request))
    outcome = Outcome()
    began = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="cgroup2-guest-") as tmp:
            socks = {"out": Path(tmp, "out.sock"), "status": Path(tmp, "status.sock")}
            listeners = {name: _listen(path) for name, path in socks.items()}
            qemu = qemu_argv(cache, checkout, run_id, machine, socks["out"], socks["status"])
            with open(boot_log, "wb") as log:
                console_out: IO[bytes] = sys.stderr.buffer if console else log
                proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=console_out,
                                        stderr=subprocess.STDOUT)  # fmt: skip
                try:
                    deadline = None if timeout is None else began + timeout
                    finished = _pump(proc, listeners, sys.stdout.buffer, outcome, deadline)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait()
                    for listener in listeners.values():
                        listener.close()
    finally:
        shutil.rmtree(ctl, ignore_errors=True)
    total = time.monotonic() - began
    if timings:
        _report(outcome, total)
    if not finished:
        _fail(f"run: timed out after {timeout:.0f} s", boot_log, console)
        return EXIT_TIMEOUT
    if outcome.exit_code is None:
        why = outcome.error or f"qemu exited with status {proc.returncode}"
        _fail(f"run: the guest ended without the command's exit status ({why})",
              boot_log, console)  # fmt: skip
        return EXIT_NO_STATUS
    boot_log.unlink(missing_ok=True)
    return outcome.exit_code


def _report(outcome: Outcome, total: float) -> None:
    boot = "-" if outcome.started_after is None else f"{outcome.started_after:.1f} s"
    uptime = "-" if outcome.guest_uptime is None else f"{outcome.guest_uptime:.1f} s"
    print(f"cgroup2-guest: boot to command {boot} (guest uptime {uptime}), total {total:.1f} s, "
          f"command cgroup {outcome.cgroup or '-'}", file=sys.stderr, flush=True)  # fmt: skip


def _fail(message: str, boot_log: Path, console: bool) -> None:
    print(f"cgroup2-guest: {message}", file=sys.stderr)
    if not console:
        print(f"cgroup2-guest: last lines of the console ({boot_log}):", file=sys.stderr)
        print(_tail(boot_log), file=sys.stderr, flush=True)
