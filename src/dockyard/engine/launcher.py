"""The launcher: a small process that forks holders for the shim.

A holder (:mod:`dockyard.engine.holder`) runs the runtime library in a fork, and the
container's init is a fork of that fork. Forked from the daemon (~60 MB resident), each
fork copied the daemon's page tables (a fork of a 50 MB Python process took ~2.4 ms more
than one of a bare interpreter, measured by hand), and a prepared init that waits shared
the daemon's pages (two of them showed 100 MB RSS in ``bench daemon`` then). So holders
are forked here instead: ``python -I -S`` with the runtime's modules loaded and nothing
else (11.8 MB RSS, ~4.5 MB PSS in ``bench daemon``).

The launcher holds nothing a container needs; it is the daemon's helper for starting
containers, like a zygote. It reads launch requests from its socket (the shim's end is
the only other one) and exits at EOF, i.e. when the daemon goes away. It reaps the
holders it forked once the shim has killed them, and (a child subreaper) the inits
those holders kept.

A request (:mod:`dockyard.engine.shimwire` framing) names its descriptors in ``fds``:
``stdin``, ``stdout``, ``stderr`` (the proc's fds 0-2), ``answer`` (where the holder
answers the shim) and the descriptors the holder keeps (``keep:<name>``, see
:data:`dockyard.engine.holder.HOLD_FDS`)::

    {"what": "run" | "exec" | "prepare", "id": container id, "key": proc key,
     "bundle": …, "process": {…} (exec), "console": true | null, "keep_tty": bool,
     "record": {…} (what the holder writes into its record), "fds": [names]}

With ``console`` the holder makes a console socket for the runtime (``--console-socket``)
at ``<run_root>/consoles/<holder pid>.sock``, in a directory only root may enter (0700),
and takes the pty master only from a connection whose ``SO_PEERCRED`` is the holder
itself (the runtime's send runs in it): a process that connects first (any local user
could reach the abstract socket the shim once used, as could a ``--network host``
container or a build step) is closed unread (docs/daemon.md, "Terminals").

A failure before the holder answers is sent on ``answer`` as ``{"error", "kind"}``.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import time

from dockyard.engine import holder as holders
from dockyard.engine.logfile import format_time
from dockyard.engine.shimwire import Decoder, recv_into, send_msg
from dockyard.errors import DockyardError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from dockyard.runtime import Runtime

__all__ = ["argv", "main"]


def argv(run_root: str, state_root: str, fd: int) -> list[str]:
    """How the launcher is started: ``python -I -S`` (no ``site``: nothing a launch does
    not need is loaded) with this process's ``sys.path``."""
    path = [p for p in sys.path if p and os.path.isdir(p)]
    code = (f"import sys; sys.path[:0] = {path!r}; "
            "from dockyard.engine.launcher import main; sys.exit(main(sys.argv[1:]))")  # fmt: skip
    return [sys.executable, "-I", "-S", "-c", code, run_root, state_root, str(fd)]


def main(args: list[str]) -> int:
    run_root, state_root, fd = args[0], args[1], int(args[2])
    # a holder joins its container's systemd scope (cgroups/systemd.py): the scope outlives
    # the container's last process until the holder is let go, so its OOM count is read
    os.environ["DOCKYARD_SCOPE_KEEPER"] = "1"
    sock = socket.socket(fileno=fd)
    os.set_inheritable(fd, False)
    import dockyard.runtime.init  # noqa: F401  (what every holder runs: loaded once, here)
    from dockyard.cgroups import create_manager
    from dockyard.runtime import Runtime

    create_manager("dockyard/preload")
    rt = Runtime(state_root)
    from dockyard.linux import constants as c

    # a container's init whose holder the shim killed comes to us (not to whatever
    # subreaper is above the daemon, which may never wait for it): reaped below
    rt.syscalls.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
    path = os.path.join(run_root, "dockyard-holder")
    if not os.access(path, os.X_OK):
        path = ""
    dec = Decoder()
    # reap at once on SIGCHLD: a holder the shim let go may have left us the zombie of an
    # exec'd process, and the init of its PID namespace cannot finish dying (nor report its
    # exit) until that zombie is reaped (docs/decisions/orchestrator-endpoints-leave-
    # before-sigterm.md, "pods with exec probes")
    woken_r, woken_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, _on_child)
    signal.set_wakeup_fd(woken_w, warn_on_full_buffer=False)
    try:
        while True:
            readable, _, _ = select.select([sock.fileno(), woken_r], [], [], 1.0)
            more = True
            if sock.fileno() in readable:
                more = recv_into(sock, dec)
            for msg, fds in dec.messages():
                _launch(rt, run_root, path, msg, fds)
            if woken_r in readable:
                _drain(woken_r)
            _reap()
            if not more:
                return 0
    finally:
        signal.set_wakeup_fd(-1)
        dec.close()


def _on_child(_signum: int, _frame: object) -> None:
    """SIGCHLD: nothing here; the wake-up byte makes the loop reap."""


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 512):
            pass


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _launch(rt: Runtime, run_root: str, path: str, msg: dict[str, Any], fds: list[int]) -> None:
    named = dict(zip(msg.get("fds") or [], fds, strict=False))
    try:
        if len(named) != len(fds) or "answer" not in named:
            raise InvalidArgument("launcher: descriptor names do not match the descriptors")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the holder (coverage does not follow forks)
            _holder_main(rt, run_root, path, msg, named)
    except BaseException as e:  # the fork failed: the shim waits on "answer"
        if "answer" in named:
            try:
                with socket.socket(fileno=os.dup(named["answer"])) as answer:
                    send_msg(answer, _error(e))
            except OSError:
                pass
    finally:
        for fd in fds:
            os.close(fd)


_SUN_PATH_MAX = 107  # sockaddr_un.sun_path less the terminating NUL


def _console_socket(run_root: str) -> tuple[socket.socket, str, int]:
    """A listening console socket in ``<run_root>/consoles`` (0700, ours): the socket,
    the path the runtime connects to, a descriptor of the directory (a path too long for
    ``sun_path`` goes through ``/proc/self/fd/<it>``, in this process only)."""
    from dockyard.errors import PermissionDenied

    d = os.path.join(run_root, "consoles")
    os.makedirs(d, mode=0o700, exist_ok=True)
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(dfd)
        if st.st_uid != os.geteuid():
            raise PermissionDenied(f"console socket directory {d}: not owned by this user")
        if st.st_mode & 0o077:
            os.fchmod(dfd, 0o700)
        name = f"{os.getpid()}.sock"
        path = os.path.join(d, name)
        if len(path.encode()) > _SUN_PATH_MAX:
            path = f"/proc/self/fd/{dfd}/{name}"
        try:
            os.unlink(name, dir_fd=dfd)  # a holder of the same pid before us left it
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            listener.bind(path)
            listener.listen(8)  # room for callers refused before the runtime's
        except BaseException:
            listener.close()
            raise
    except BaseException:
        os.close(dfd)
        raise
    return listener, path, dfd


def _take_master(listener: socket.socket, path: str, dfd: int) -> int:
    """The pty master the runtime (in this process) sent to ``listener``; the socket and
    its name are gone after."""
    from dockyard.runtime.console import accept_from

    try:
        fd = accept_from(listener, os.getpid(), 5.0)
    finally:
        listener.close()
        try:
            os.unlink(os.path.basename(path), dir_fd=dfd)
        except OSError:
            pass
        os.close(dfd)
    os.set_inheritable(fd, False)
    return fd


def _error(e: BaseException) -> dict[str, Any]:
    if isinstance(e, DockyardError):
        return {"error": str(e), "kind": type(e).__name__}
    return {"error": f"launch: {type(e).__name__}: {e}", "kind": "Internal"}


def _holder_main(
    rt: Runtime, run_root: str, path: str, msg: dict[str, Any], named: dict[str, int]
) -> NoReturn:  # pragma: no cover - runs in the forked holder
    """Launch what ``msg`` says with fds 0-2 at the named ones, write the record, answer,
    become the holder program keeping the ``keep:*`` descriptors."""
    answer_sock = socket.socket(fileno=named["answer"])
    console: str | None = None
    try:
        signal.set_wakeup_fd(-1)  # the launcher's: its SIGCHLDs are not ours
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # the daemon's terminal and process group are not the container's
        for i, name in enumerate(("stdin", "stdout", "stderr")):
            fd = named.get(name, -1)
            if fd >= 0 and fd != i:
                os.dup2(fd, i)
        keep = {k.removeprefix("keep:"): fd for k, fd in named.items() if k.startswith("keep:")}
        cid, what = str(msg["id"]), msg.get("what")
        if msg.get("console"):
            listener, console, dfd = _console_socket(run_root)
        send: list[int] = []
        cgroup = ""
        if what == "prepare":  # background work: at the lowest priority, as its init
            os.setpriority(os.PRIO_PROCESS, 0, 19)
            state = rt.create(cid, str(msg["bundle"]), late=True)
            pid, cgroup = state.pid, state.cgroup_path
            send = list(rt.late_handles(cid))
        elif what == "run":
            pid = rt.run(cid, str(msg["bundle"]), detach=True, console_socket=console).pid
        elif what == "exec":
            from dockyard.oci.runtime_spec import parse_process

            process = parse_process(msg["process"])
            pid = rt.exec(cid, process, detach=True, console_socket=console).pid
        else:
            raise InvalidArgument(f"launcher: unknown launch {what!r}")
        if console is not None:
            master = _take_master(listener, console, dfd)
            send.append(master)
            if msg.get("keep_tty"):
                keep["tty"] = master
        me = os.getpid()
        started_at = format_time(time.time_ns())
        rec = {**dict(msg.get("record") or {}), "holder": me,
               "holder_start": holders.start_time(me), "pid": pid,
               "pid_start": holders.start_time(pid), "started_at": started_at,
               "fds": sorted(keep)}  # fmt: skip
        holders.write_record(run_root, str(msg["key"]), rec)
        answer = {"ok": True, "pid": pid, "cgroup": cgroup, "started_at": started_at,
                  "record": rec}  # fmt: skip
    except BaseException as e:
        if console is not None:  # the runtime failed before it called: no name left
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(run_root, "consoles", f"{os.getpid()}.sock"))
        try:
            send_msg(answer_sock, _error(e))
        finally:
            os._exit(1)
    try:
        send_msg(answer_sock, answer, send)
    except OSError:
        pass  # the daemon is gone: the record lets the next one take this container
    holders.exec_holder(path, keep)
