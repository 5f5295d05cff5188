"""The shim: the supervisor of containers, their output and their exit codes.

Over 800 lines because it is one single-threaded event loop (one selector over sockets,
pidfds and streams) whose handlers share its state.

Terms
-----
*proc* — a process the shim supervises: a container's init (keyed by container
id) or an exec'd process (keyed by exec id). *holder* — the proc's parent on the
host (:mod:`dockyard.engine.holder`): forked from here, it launches the proc
through :class:`dockyard.runtime.Runtime`, answers, and becomes a program of a
few bytes that only waits; it keeps the proc's exit status and its output pipes
while no daemon runs. *stream* — the read end of a proc's stdout/stderr pipe, or
its pty master. *attachment* — a client's descriptors (stdout, stderr,
optionally stdin and a control socket) that receive a copy of a proc's output; it
ends when the proc ends, when its control socket closes (detach) or when a write
to it fails.

Lifecycle
---------
The shim is a thread of the daemon (:func:`start_thread`). It serves
``R/shim.sock`` (mode 0600) with the messages of :mod:`dockyard.engine.shimwire`;
the daemon is its only client. On start it takes back what the holders of an
earlier daemon keep (:meth:`Shim.adopt`: ``pidfd_getfd`` of the pipes, the exit
status of an init that ended meanwhile).

For each proc it reads the output pipes, appends each line to the container's
json-file log (:mod:`dockyard.engine.logfile`), copies it to the attachments,
learns the exit (a pidfd of the proc; the status from the zombie its holder
keeps), drains what is left in the pipes, and only then records the exit:
``<dir>/exit.json`` (written to a temporary file and renamed) and an ``exit``
event to subscribers; then it lets the holder go. A daemon started later learns
an exit from its holder or, if the holder is gone too, from ``exit.json``.

Operations (request ``op`` → answer fields)::

    subscribe                               → procs: [..]   and events from now on
    list                                    → procs: [{id, kind, pid, running, exit}]
    start   id bundle dir log{path,max_size,max_file} tty open_stdin fds:[names]
                                            → pid, cgroup
    exec    id eid process tty fds:[names] detach
                                            → pid
    attach  id fds:[names]                  → ok
    resize  id h w                          → ok
    forget  id                              → ok
    prepare id bundle                       → pid   (a container made ahead of its
                                              process, unlisted; see Runtime.create(late))
    start   id dir log process fds:[names]  → pid, started_at  (a prepared container)
    discard id                              → ok    (drop a prepared container)
    shutdown                                → ok  (only when nothing runs)

``fds`` names the descriptors that ride with a request, in order, from
``stdin``, ``stdout``, ``stderr``, ``ctl``. A container started with a client's
``stdin`` (and no tty) reads that descriptor directly; with ``open_stdin`` and no
client stdin, it gets a pipe that attachments may write to.

Why a thread of the daemon and a holder per proc: what a container needs kept
alive is its parent and its pipes, and the holder keeps both for ~12 KB; the
copying and the logs need an interpreter, and the daemon has one anyway
(docs/decisions/0006-holders.md).
"""

from __future__ import annotations

import os
import socket
import sys
import time

from dockyard.cgroups.warm import SharedWarmer, own_procs_file
from dockyard.engine import holder as holders
from dockyard.engine.detachkeys import scan as scan_detach
from dockyard.engine.logfile import LogWriter, format_time
from dockyard.engine.shimwire import Decoder, encode, recv_into, send_msg
from dockyard.errors import (
    DockyardError,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    Unavailable,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from typing import Any

    from dockyard.runtime import Runtime

__all__ = ["Shim", "start_thread"]

_CHUNK = 65536
_LATER = object()  # an operation's answer that is sent later, by the operation
_WRITE_CHUNK = 4096  # a pipe or tty reported writable takes this much without blocking
_ATTACH_HIGH_WATER = 1 << 20
_DRAIN_TIMEOUT = 2.0
_DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_ORPHAN_CHECK = 1.0
_LAUNCH_TIMEOUT = 120.0
_LOST = 255 << 8  # the wait status of a proc whose exit nobody kept (exit code 255)


def _close(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def exit_code_of(status: int) -> int:
    """Docker's convention: the exit status, or 128 + the signal that killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 255


class Attachment:
    """A client's view of one proc's output (see the module docstring)."""

    def __init__(self, fds: dict[str, int]) -> None:
        self.out = fds.get("stdout", -1)
        self.err = fds.get("stderr", -1)
        self.inp = fds.get("stdin", -1)
        self.ctl: socket.socket | None = None
        ctl = fds.get("ctl", -1)
        if ctl >= 0:
            self.ctl = socket.socket(fileno=ctl)
        self.pending: dict[int, bytearray] = {}
        self.keys = b""  # typed input held back: it may begin the detach sequence
        self.detach = _DETACH_KEYS

    def fds(self) -> list[int]:
        return [fd for fd in (self.out, self.err, self.inp) if fd >= 0]

    def pending_bytes(self) -> int:
        return sum(len(b) for b in self.pending.values())

    def tell(self, msg: dict[str, Any]) -> None:
        if self.ctl is None:
            return
        try:
            self.ctl.setblocking(True)
            self.ctl.settimeout(1.0)
            self.ctl.sendall(encode(msg))
        except OSError:
            pass

    def close(self) -> None:
        for fd in self.fds():
            _close(fd)
        self.out = self.err = self.inp = -1
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        self.pending.clear()


class Proc:
    """A supervised process: a container init (``kind`` "container") or an exec."""

    def __init__(self, key: str, kind: str, cid: str) -> None:
        self.key = key
        self.kind = kind
        self.cid = cid
        self.pid = 0
        self.dir = ""
        self.cgroup = ""
        self.log: LogWriter | None = None
        self.streams: dict[int, str] = {}  # fd -> "stdout" | "stderr" | "tty"
        self.master = -1
        self.stdin_w = -1
        self.attachments: list[Attachment] = []
        self.status: int | None = None  # raw wait status once reaped
        self.deadline = 0.0
        self.exit: dict[str, Any] | None = None
        self.started_at = ""
        self.spare = False  # prepared ahead, waiting for its process (op_prepare)
        self.preparing = False  # its holder has not answered yet
        self.holder = 0  # the holder's pid (see dockyard.engine.holder)
        self.exit_fd = -1  # a pidfd of the proc, readable once it has exited
        self.oom = False  # its cgroup counted an OOM kill when it exited
        self.record: dict[str, Any] | None = None  # what the holder record says

    def running(self) -> bool:
        return self.exit is None

    def describe(self) -> dict[str, Any]:
        return {"id": self.key, "kind": self.kind, "container": self.cid, "pid": self.pid,
                "running": self.exit is None, "exit": self.exit}  # fmt: skip


class Shim:
    """The shim's state and event loop (see the module docstring)."""

    def __init__(self, run_root: str, state_root: str, runtime: Runtime | None = None) -> None:
        import selectors

        self.run_root = run_root
        self.state_root = state_root
        self.sel = selectors.DefaultSelector()
        self._ev_read = selectors.EVENT_READ
        self._ev_write = selectors.EVENT_WRITE
        self.procs: dict[str, Proc] = {}
        self.spares: dict[str, Proc] = {}  # prepared containers: not in procs until started
        self.orphans: dict[str, Proc] = {}  # execs of an earlier daemon: their holders wait
        self.subscribers: list[socket.socket] = []
        self.conns: dict[socket.socket, Decoder] = {}
        self.running = True
        self._last_check = time.monotonic()
        self._rt = runtime
        self._after_reply: list[Any] = []
        self.listener: socket.socket | None = None
        self._sock_ino = 0
        self._launcher: subprocess.Popen[bytes] | None = None  # see engine/launcher.py
        self._launcher_conn: socket.socket | None = None
        self._warmer = SharedWarmer(own_procs_file())  # see dockyard.cgroups.warm

    @property
    def rt(self) -> Runtime:
        if self._rt is None:
            from dockyard.runtime import Runtime

            self._rt = Runtime(self.state_root)
        return self._rt

    # ------------------------------------------------------------------ setup

    def listen(self) -> None:
        path = os.path.join(self.run_root, "shim.sock")
        _unlink(path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            s.bind(path)
        finally:
            os.umask(old)
        s.listen(64)
        s.setblocking(False)
        self.listener = s
        self._sock_ino = os.stat(path).st_ino
        self.sel.register(s, self._ev_read, ("listen", None))

    def adopt(self) -> None:
        """Take back what the holders of an earlier daemon keep: each container's output
        pipes (``pidfd_getfd``) and its exit, now or later. A holder that is gone leaves
        its container unknown (the daemon then reads ``exit.json``); prepared containers
        are let go (the daemon sweeps their records)."""
        for rec in holders.read_records(self.run_root):
            key, hp = str(rec["key"]), int(rec["holder"])
            if holders.start_time(hp) != int(rec.get("holder_start") or -1):
                holders.remove_record(self.run_root, key)  # the holder is gone
                continue
            p = Proc(key, str(rec.get("kind") or "container"), str(rec.get("id") or key))
            p.holder, p.pid, p.record = hp, int(rec.get("pid") or 0), rec
            init_start = holders.start_time(p.pid)
            if rec.get("spare") or init_start != int(rec.get("pid_start") or -1):
                self._release(p)  # prepared and never started, or its init is gone
                continue
            if p.kind != "container":  # an exec: nobody reads it now; let it end
                self.orphans[key] = p
                self._watch_exit(p)
                continue
            p.dir = str(rec.get("dir") or "")
            p.cgroup = str(rec.get("cgroup") or "")
            p.started_at = str(rec.get("started_at") or "")
            try:
                p.log = _log_writer(rec.get("log") or {})
                pidfd = os.pidfd_open(hp)
                try:
                    for name in rec.get("fds") or []:
                        fd = holders.pidfd_getfd(pidfd, holders.HOLD_FDS[name])
                        p.streams[fd] = name
                        if name == "tty":
                            p.master = fd
                finally:
                    os.close(pidfd)
            except (OSError, KeyError, ValueError) as e:
                sys.stderr.write(f"shim: adopt {key}: {e}\n")
                for fd in p.streams:
                    _close(fd)
                if p.log is not None:
                    p.log.close()
                continue  # the holder stays: the daemon finds the container unknown
            for fd in p.streams:
                os.set_blocking(fd, False)
                self.sel.register(fd, self._ev_read, ("stream", p))
            self.procs[key] = p
            self._watch_exit(p)

    # ------------------------------------------------------------------ loop

    def serve(self) -> None:
        while self.running:
            timeout = self._next_timeout()
            for key, mask in self.sel.select(timeout):
                kind, obj = key.data
                try:
                    self._dispatch(kind, obj, key.fileobj, mask)
                except Exception as exc:  # never let one client or proc stop the shim
                    sys.stderr.write(f"shim: {kind}: {type(exc).__name__}: {exc}\n")
            self._check_deadlines()
            self._check_orphaned()
        for spare in list(self.spares.values()):  # nothing prepared outlives the shim
            self._discard(spare)
        self._stop_launcher()

    def _dispatch(self, kind: str, obj: Any, fileobj: Any, mask: int) -> None:
        if kind == "listen":
            self._accept()
        elif kind == "conn":
            self._conn_readable(fileobj)
        elif kind == "stream":
            self._stream_readable(obj, fileobj)
        elif kind == "exit":
            self._exited(obj)
        elif kind == "prepared":
            self._prepared(*obj)
        elif kind == "ain":
            self._attach_input(obj[0], obj[1])
        elif kind == "aout":
            self._attach_writable(obj[0], obj[1], fileobj)
        elif kind == "ctl":
            self._ctl_readable(obj[0], obj[1])

    def _next_timeout(self) -> float:
        waits = [p.deadline for p in self.procs.values() if p.status is not None and p.deadline]
        if not waits:
            return _ORPHAN_CHECK
        return min(_ORPHAN_CHECK, max(0.0, min(waits) - time.monotonic()))

    def _check_orphaned(self) -> None:
        """A shim whose socket was deleted (its run root removed) ends its containers and
        stops; one whose socket path now names another shim's socket (a second daemon
        was started meanwhile: nobody can reach this one) stops once nothing of it runs."""
        now = time.monotonic()
        if now - self._last_check < _ORPHAN_CHECK:
            return
        self._last_check = now
        try:
            ino = os.stat(os.path.join(self.run_root, "shim.sock")).st_ino
        except OSError:
            ino = 0
        if ino and ino == self._sock_ino:
            return
        if ino:  # replaced
            if not any(p.running() for p in self.procs.values()):
                sys.stderr.write("shim: another shim took the socket; stopping\n")
                self.running = False
            return
        sys.stderr.write("shim: socket removed; killing what runs and stopping\n")
        for p in [*self.procs.values(), *self.orphans.values()]:
            if p.running() and p.pid > 0:
                try:
                    os.kill(p.pid, 9)
                except ProcessLookupError:
                    pass
            self._release(p)
        self.running = False

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for p in list(self.procs.values()):
            if p.status is not None and p.exit is None and p.deadline and now >= p.deadline:
                self._finish(p)

    # ------------------------------------------------------------------ clients

    def _accept(self) -> None:
        assert self.listener is not None
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self.conns[conn] = Decoder()
        self.sel.register(conn, self._ev_read, ("conn", None))

    def _drop_conn(self, conn: socket.socket) -> None:
        dec = self.conns.pop(conn, None)
        if dec is not None:
            dec.close()
        if conn in self.subscribers:
            self.subscribers.remove(conn)
        try:
            self.sel.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()

    def _conn_readable(self, conn: socket.socket) -> None:
        dec = self.conns[conn]
        try:
            more = recv_into(conn, dec)
            msgs = dec.messages()
        except (OSError, ValueError):
            self._drop_conn(conn)
            return
        for msg, fds in msgs:
            self._reply(conn, msg, fds)
        if not more:
            self._drop_conn(conn)

    def _reply(self, conn: socket.socket, msg: dict[str, Any], fds: list[int]) -> None:
        rid = msg.get("rid")
        handler = getattr(self, "op_" + str(msg.get("op")), None)
        try:
            if handler is None:
                raise InvalidArgument(f"shim: unknown operation {msg.get('op')!r}")
            answer = handler(msg, fds, conn)
            fds = []
            if answer is _LATER:  # the handler replies itself (see op_prepare)
                return
            out: dict[str, Any] = {"rid": rid, "ok": True, **(answer or {})}
        except DockyardError as e:
            out = {"rid": rid, "error": str(e), "kind": type(e).__name__}
        except Exception as e:
            out = {"rid": rid, "error": f"shim: {type(e).__name__}: {e}", "kind": "Internal"}
        finally:
            for fd in fds:  # a failed request leaves nothing open
                _close(fd)
        self._send(conn, out)
        while self._after_reply:  # bookkeeping the answer did not wait for
            self._after_reply.pop(0)()

    def _send(self, conn: socket.socket, msg: dict[str, Any]) -> None:
        try:
            conn.setblocking(True)
            conn.settimeout(5.0)
            conn.sendall(encode(msg))
            conn.setblocking(False)
        except OSError:
            self._drop_conn(conn)

    def _event(self, msg: dict[str, Any]) -> None:
        for conn in list(self.subscribers):
            self._send(conn, msg)

    # ------------------------------------------------------------------ operations

    def op_subscribe(self, _m: dict[str, Any], _f: list[int], conn: socket.socket) -> Any:
        for spare in list(self.spares.values()):  # a new daemon: it knows none of them
            self._discard(spare)
        if conn not in self.subscribers:
            self.subscribers.append(conn)
        return {"procs": [p.describe() for p in self.procs.values()], "pid": os.getpid()}

    def op_list(self, _m: dict[str, Any], _f: list[int], _c: socket.socket) -> Any:
        return {"procs": [p.describe() for p in self.procs.values()], "pid": os.getpid()}

    def op_forget(self, m: dict[str, Any], _f: list[int], _c: socket.socket) -> Any:
        p = self.procs.get(str(m.get("id")))
        if p is not None and not p.running():
            del self.procs[p.key]
        return {}

    def op_shutdown(self, _m: dict[str, Any], _f: list[int], _c: socket.socket) -> Any:
        if any(p.running() for p in self.procs.values()):
            raise FailedPrecondition("shutdown shim: containers are running")
        for spare in list(self.spares.values()):
            self._discard(spare)
        self.running = False
        return {}

    def op_prepare(self, m: dict[str, Any], _f: list[int], conn: socket.socket) -> Any:
        """Prepare container ``id`` ahead of its process (``Runtime.create(late=True)``):
        root, namespaces, cgroup and mounts are made; ``start`` with ``process`` runs it.
        Prepared containers are not listed; ``discard`` (or a new subscriber) drops them.
        The holder prepares it while the shim goes on serving; its answer comes later."""
        cid = str(m["id"])
        if cid in self.procs or cid in self.spares:
            raise FailedPrecondition(f"prepare container {cid}: id in use")
        p = Proc(cid, "container", cid)
        p.spare = True
        p.preparing = True
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        warm = self._warmer.hold()
        try:
            req = {"what": "prepare", "id": cid, "key": cid, "bundle": str(m["bundle"]),
                   "record": {"kind": "container", "id": cid, "spare": True}}  # fmt: skip
            fds = [("stdin", null), ("stdout", out_w), ("stderr", err_w),
                   ("keep:stdout", out_r), ("keep:stderr", err_r)]  # fmt: skip
            answers = self._launch(req, fds)
        except BaseException:
            warm.stop()
            _close(out_r)
            _close(err_r)
            raise
        finally:
            for fd in (null, out_w, err_w):
                _close(fd)
        p.streams = {out_r: "stdout", err_r: "stderr"}
        self.spares[cid] = p
        self.sel.register(
            answers, self._ev_read, ("prepared", (p, answers, conn, m.get("rid"), warm))
        )
        return _LATER

    def _prepared(self, p: Proc, answers: socket.socket, conn: socket.socket, rid: Any,
                  warm: Any) -> None:  # fmt: skip
        """A preparing holder answered: supervise what it launched, answer the request."""
        self._unwatch(answers.fileno())
        warm.stop()
        p.preparing = False
        err: BaseException | None = None
        try:
            answer, fds = _receive(answers, p)
            if len(fds) != 2:
                for fd in fds:
                    _close(fd)
                raise Internal(f"prepare container {p.cid}: the holder sent {len(fds)} descriptors")
            p.pid, p.cgroup = int(answer["pid"]), str(answer.get("cgroup") or "")
            p.record = answer.get("record")
            p.holder = int((p.record or {}).get("holder") or 0)
            self.rt.adopt_late(p.cid, fds[0], fds[1])
        except BaseException as e:
            err = e
        finally:
            answers.close()
        if err is None:
            for fd in p.streams:
                os.set_blocking(fd, False)
                self.sel.register(fd, self._ev_read, ("stream", p))
            self._watch_exit(p)
            if p.key not in self.spares:  # discarded meanwhile
                self.spares[p.key] = p
                self._discard(p)
                err = FailedPrecondition(f"prepare container {p.cid}: discarded")
        else:
            self.spares.pop(p.key, None)
            for fd in list(p.streams):
                _close(fd)
            p.streams.clear()
            self._release(p)
        if err is None:
            out: dict[str, Any] = {"rid": rid, "ok": True, "pid": p.pid}
        elif isinstance(err, DockyardError):
            out = {"rid": rid, "error": str(err), "kind": type(err).__name__}
        else:
            out = {"rid": rid, "error": f"shim: {type(err).__name__}: {err}",
                   "kind": "Internal"}  # fmt: skip
        if conn in self.conns:
            self._send(conn, out)

    def _launch(self, req: dict[str, Any], fds: list[tuple[str, int]]) -> socket.socket:
        """Ask the launcher (:mod:`dockyard.engine.launcher`) to fork a holder for
        ``req`` with the named descriptors ``fds``; the socket its answer comes on."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            names = [n for n, _ in fds] + ["answer"]
            body = {**req, "fds": names}
            for attempt in range(2):
                try:
                    send_msg(self._launcher_sock(), body, [fd for _, fd in fds] + [theirs.fileno()])
                    break
                except OSError as e:
                    self._stop_launcher()
                    if attempt:
                        raise Unavailable(f"launch {req.get('key')}: launcher: {e}") from None
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        return mine

    def _launcher_sock(self) -> socket.socket:
        if self._launcher is not None and self._launcher.poll() is not None:
            self._stop_launcher()
        if self._launcher is None or self._launcher_conn is None:
            import subprocess

            from dockyard.engine.launcher import argv

            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self._launcher = subprocess.Popen(
                    argv(self.run_root, self.state_root, theirs.fileno()),
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            except BaseException:
                mine.close()
                raise
            finally:
                theirs.close()
            mine.setblocking(True)
            self._launcher_conn = mine
        return self._launcher_conn

    def _stop_launcher(self) -> None:
        if self._launcher_conn is not None:
            self._launcher_conn.close()  # the launcher exits at EOF
            self._launcher_conn = None
        if self._launcher is not None:
            try:
                self._launcher.wait(5)
            except Exception:
                self._launcher.kill()
                self._launcher.wait()
            self._launcher = None

    def op_discard(self, m: dict[str, Any], _f: list[int], _c: socket.socket) -> Any:
        p = self.spares.get(str(m.get("id")))
        if p is not None:
            self._discard(p)
        return {}

    def _discard(self, p: Proc) -> None:
        """Drop a prepared container: its init leaves without a process; all is removed."""
        self.spares.pop(p.key, None)
        if p.preparing:  # its holder is still at it: _prepared drops it
            return
        try:
            self.rt.discard_late(p.cid)
        except DockyardError as e:
            sys.stderr.write(f"shim: discard {p.cid}: {e}\n")
        for fd in list(p.streams):
            self._unwatch(fd)
            _close(fd)
        p.streams.clear()
        self._release(p)

    def _start_prepared(self, p: Proc, m: dict[str, Any], fds: list[int]) -> Any:
        named = _named(m, fds)
        p.dir = str(m["dir"])
        _unlink(os.path.join(p.dir, "exit.json"))
        log = m.get("log") or {}
        p.log = _log_writer(log)
        try:
            self.rt.start_late(p.cid, dict(m["process"]), later=self._after_reply, pid=p.pid)
        except BaseException:  # (_reply closes the request's fds)
            if p.log is not None:
                p.log.close()
            self._discard(p)
            raise
        del self.spares[p.key]
        p.spare = False
        p.started_at = format_time(time.time_ns())
        self.procs[p.key] = p
        if named:
            self._attach(p, named)
        _set_detach_keys(p, m)
        # before the answer: a daemon killed right after it must find a container here,
        # not a prepared one (whose holder the next daemon would let go)
        p.record = {**(p.record or {}), "spare": False, "dir": p.dir, "log": log,
                    "started_at": p.started_at, "cgroup": p.cgroup}  # fmt: skip
        holders.write_record(self.run_root, p.key, p.record)
        return {"pid": p.pid, "started_at": p.started_at}

    def op_resize(self, m: dict[str, Any], _f: list[int], _c: socket.socket) -> Any:
        p = self._get(str(m.get("id")))
        if p.master < 0:
            raise FailedPrecondition(f"resize {p.key}: no terminal")
        import fcntl
        import struct

        from dockyard.linux import constants as c

        fcntl.ioctl(p.master, c.TIOCSWINSZ, struct.pack("HHHH", int(m["h"]), int(m["w"]), 0, 0))
        return {}

    def op_attach(self, m: dict[str, Any], fds: list[int], _c: socket.socket) -> Any:
        p = self._get(str(m.get("id")))
        if not p.running():
            raise FailedPrecondition(f"attach {p.key}: not running")
        self._attach(p, _named(m, fds))
        _set_detach_keys(p, m)
        return {}

    def _get(self, key: str) -> Proc:
        p = self.procs.get(key)
        if p is None:
            raise NotFound(f"shim: no process {key}")
        return p

    def op_start(self, m: dict[str, Any], fds: list[int], _c: socket.socket) -> Any:
        cid = str(m["id"])
        spare = self.spares.get(cid)
        if m.get("process") is not None:  # a prepared container, never the bundle's process
            if spare is None or spare.preparing:  # (_reply closes the fds of a failure)
                raise Unavailable(f"start container {cid}: its prepared init is gone; run again")
            return self._start_prepared(spare, m, fds)
        old = self.procs.get(cid)
        if old is not None and old.running():
            raise FailedPrecondition(f"start container {cid}: already running")
        named = _named(m, fds)
        p = Proc(cid, "container", cid)
        p.dir = str(m["dir"])
        _unlink(os.path.join(p.dir, "exit.json"))
        log = m.get("log") or {}
        p.log = _log_writer(log)
        req = {"what": "run", "id": cid, "bundle": str(m["bundle"]),
               "record": {"kind": "container", "id": cid, "dir": p.dir, "log": log}}  # fmt: skip
        warm = self._warmer.hold()
        try:
            self._spawn(p, named, bool(m.get("tty")), bool(m.get("open_stdin")), req)
        except BaseException:
            if p.log is not None:
                p.log.close()
            raise
        finally:
            warm.stop()
        _set_detach_keys(p, m)
        self.procs[cid] = p
        return {"pid": p.pid, "started_at": p.started_at}

    def op_exec(self, m: dict[str, Any], fds: list[int], _c: socket.socket) -> Any:
        from dockyard.oci.runtime_spec import parse_process

        cid, eid = str(m["id"]), str(m["eid"])
        parse_process(m["process"])  # (InvalidArgument here, not in the holder)
        named = _named(m, fds)
        p = Proc(eid, "exec", cid)
        detach = bool(m.get("detach"))
        tty = bool(m.get("tty")) and not detach
        direct = not tty  # a non-tty exec writes straight into the client's descriptors
        req = {"what": "exec", "id": cid, "process": m["process"],
               "record": {"kind": "exec", "id": cid}}  # fmt: skip
        self._spawn(p, named, tty, False, req, direct=direct, detach=detach)
        _set_detach_keys(p, m)
        self.procs[eid] = p
        return {"pid": p.pid}

    def _spawn(
        self,
        p: Proc,
        named: dict[str, int],
        tty: bool,
        open_stdin: bool,
        req: dict[str, Any],
        *,
        direct: bool = False,
        detach: bool = False,
    ) -> None:
        """Set up the proc's stdio, have a holder launch ``req`` (see
        :mod:`dockyard.engine.launcher`) with fds 0-2 pointing there (a container's holder
        keeps the streams), then supervise it."""
        mine: list[int] = []  # ours to close after the launch
        stdio = [-1, -1, -1]
        keep: dict[str, int] = {}
        answers: socket.socket | None = None
        req = {**req, "key": p.key, "console": None}
        try:
            null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
            mine.append(null)
            if tty:  # the holder makes the console socket, and takes only its own call
                req["console"] = True
                req["keep_tty"] = p.kind == "container"
                stdio = [null, null, null]
            elif detach:
                stdio = [null, null, null]
            elif direct:
                stdio = [named.get("stdin", null), named.get("stdout", null),
                         named.get("stderr", named.get("stdout", null))]  # fmt: skip
            else:
                out_r, out_w = os.pipe2(os.O_CLOEXEC)
                err_r, err_w = os.pipe2(os.O_CLOEXEC)
                p.streams[out_r] = "stdout"
                p.streams[err_r] = "stderr"
                if p.kind == "container":  # an exec's output is not kept for a later daemon
                    keep = {"stdout": out_r, "stderr": err_r}
                mine += [out_w, err_w]
                stdin = named.pop("stdin", -1)
                if stdin >= 0:
                    mine.append(stdin)
                elif open_stdin:
                    # (not kept by the holder: the container must see EOF when its
                    # last client closes stdin; a daemon killed meanwhile closes it too)
                    in_r, p.stdin_w = os.pipe2(os.O_CLOEXEC)
                    mine.append(in_r)
                    stdin = in_r
                else:
                    stdin = null
                stdio = [stdin, out_w, err_w]
            fds = [("stdin", stdio[0]), ("stdout", stdio[1]), ("stderr", stdio[2])]
            fds += [("keep:" + name, fd) for name, fd in keep.items()]
            answers = self._launch(req, fds)
            for fd in mine:
                _close(fd)
            mine = []
            answer, got = _receive(answers, p)
        except BaseException:
            for fd in [*p.streams, p.stdin_w, *mine, *named.values()]:
                _close(fd)
            p.streams.clear()
            raise
        finally:
            if answers is not None:
                answers.close()
        p.pid = int(answer["pid"])
        p.record = answer.get("record")
        p.holder = int((p.record or {}).get("holder") or 0)
        p.started_at = str(answer.get("started_at") or format_time(time.time_ns()))
        if direct or detach:
            for fd in named.values():
                _close(fd)
            named = {}
        if got:
            p.master = got[0]
            os.set_blocking(p.master, False)
            p.streams[p.master] = "tty"
        for fd in p.streams:
            os.set_blocking(fd, False)
            self.sel.register(fd, self._ev_read, ("stream", p))
        self._watch_exit(p)
        if named:
            self._attach(p, named)
        if p.kind == "container":
            p.cgroup = str(answer.get("cgroup") or "")
            if not p.cgroup:
                try:
                    p.cgroup = self.rt.state(p.cid).cgroup_path
                except DockyardError:
                    p.cgroup = ""

    # ------------------------------------------------------------------ output

    def _stream_readable(self, p: Proc, fd: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:  # EIO: the pty's last slave closed
            data = b""
        if not data:
            self._close_stream(p, fd)
            return
        name = p.streams[fd]
        stream = "stdout" if name == "tty" else name
        if p.log is not None:
            p.log.write(stream, data)
        for a in list(p.attachments):
            target = a.out if stream == "stdout" else (a.err if a.err >= 0 else a.out)
            if target >= 0:
                self._queue(p, a, target, data)

    def _close_stream(self, p: Proc, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        p.streams.pop(fd, None)
        if fd == p.master:
            p.master = -1
        _close(fd)
        if not p.streams and p.status is not None:
            self._finish(p)

    def _queue(self, p: Proc, a: Attachment, fd: int, data: bytes) -> None:
        buf = a.pending.get(fd)
        if buf is not None:
            buf += data
        else:
            try:
                rest = _write_ready(fd, data)
            except OSError:
                self._detach(p, a)
                return
            if rest:
                a.pending[fd] = bytearray(rest)
                self._watch_write(p, a, fd)
        if a.pending_bytes() > _ATTACH_HIGH_WATER:  # a reader that does not keep up
            self._detach(p, a)

    def _watch_write(self, p: Proc, a: Attachment, fd: int) -> None:
        try:
            self.sel.register(fd, self._ev_write, ("aout", (p, a)))
        except KeyError:
            pass
        except (ValueError, OSError):
            self._detach(p, a)

    def _attach_writable(self, p: Proc, a: Attachment, fd: int) -> None:
        buf = a.pending.get(fd)
        if not buf:
            self._unwatch(fd)
            a.pending.pop(fd, None)
            return
        try:
            n = os.write(fd, buf[:_WRITE_CHUNK])
        except BlockingIOError:
            return
        except OSError:
            self._detach(p, a)
            return
        del buf[:n]
        if not buf:
            a.pending.pop(fd, None)
            self._unwatch(fd)

    def _unwatch(self, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def _flush_blocking(self, a: Attachment) -> None:
        """At the end of a proc: write what is pending, giving a slow reader a short time."""
        deadline = time.monotonic() + _DRAIN_TIMEOUT
        for fd, buf in list(a.pending.items()):
            self._unwatch(fd)
            while buf and time.monotonic() < deadline:
                if not _writable(fd, max(0.0, deadline - time.monotonic())):
                    break
                try:
                    n = os.write(fd, buf[:_WRITE_CHUNK])
                except BlockingIOError:
                    continue
                except OSError:
                    break
                del buf[:n]
        a.pending.clear()

    # ------------------------------------------------------------------ attachments

    def _attach(self, p: Proc, named: dict[str, int]) -> None:
        a = Attachment(named)
        p.attachments.append(a)
        if a.inp >= 0:
            if p.master >= 0 or p.stdin_w >= 0:
                try:
                    self.sel.register(a.inp, self._ev_read, ("ain", (p, a)))
                except (ValueError, KeyError, OSError):
                    pass
            else:
                _close(a.inp)
                a.inp = -1
        if a.ctl is not None:
            a.ctl.setblocking(False)
            self.sel.register(a.ctl, self._ev_read, ("ctl", (p, a)))

    def _attach_input(self, p: Proc, a: Attachment) -> None:
        try:
            data = os.read(a.inp, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._unwatch(a.inp)
            _close(a.inp)
            a.inp = -1
            if p.stdin_w >= 0 and p.master < 0:  # stdin closed: the container sees EOF
                _close(p.stdin_w)
                p.stdin_w = -1
            return
        if p.master >= 0:
            out, a.keys, detached = scan_detach(a.keys, data, a.detach)
            if out:
                _write_all(p.master, out)
            if detached:
                a.tell({"detached": True})
                self._detach(p, a)
        elif p.stdin_w >= 0:
            _write_all(p.stdin_w, data)

    def _ctl_readable(self, p: Proc, a: Attachment) -> None:
        assert a.ctl is not None
        try:
            data = a.ctl.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._detach(p, a)

    def _detach(self, p: Proc, a: Attachment) -> None:
        for fd in [*a.fds(), *list(a.pending)]:
            self._unwatch(fd)
        if a.ctl is not None:
            self._unwatch(a.ctl.fileno())
        a.close()
        if a in p.attachments:
            p.attachments.remove(a)

    # ------------------------------------------------------------------ exits

    def _watch_exit(self, p: Proc) -> None:
        """Learn ``p``'s exit from a pidfd (it is the holder's child, not ours)."""
        try:
            p.exit_fd = os.pidfd_open(p.pid)
        except OSError:  # already gone (reaped by someone else: its status is lost)
            self._exited(p)
            return
        self.sel.register(p.exit_fd, self._ev_read, ("exit", p))

    def _unwatch_exit(self, p: Proc) -> None:
        if p.exit_fd >= 0:
            self._unwatch(p.exit_fd)
            _close(p.exit_fd)
            p.exit_fd = -1

    def _exited(self, p: Proc) -> None:
        self._unwatch_exit(p)
        status = holders.exit_status(p.pid)
        p.status = _LOST if status is None else status
        # the OOM count now, before the output is drained: the cgroup is surely there (a
        # systemd scope is kept by the holder until _release, cgroups/systemd.py)
        p.oom = exit_code_of(p.status) != 0 and self._oom(p)
        if p.key in self.orphans:
            del self.orphans[p.key]
            self._release(p)
            return
        if not p.streams:
            self._finish(p)
        else:
            p.deadline = time.monotonic() + _DRAIN_TIMEOUT

    def _release(self, p: Proc) -> None:
        """Let ``p``'s holder go (its init's exit is recorded, or nobody will ask for it);
        the zombie init goes to whoever inherits it."""
        self._unwatch_exit(p)
        if p.holder > 0:  # (the launcher that forked it, or PID 1, reaps it)
            try:
                os.kill(p.holder, 9)
            except ProcessLookupError:
                pass
            p.holder = 0
        holders.remove_record(self.run_root, p.key)

    def _finish(self, p: Proc) -> None:
        """Everything the proc wrote is handled: record and announce its exit."""
        if p.spare:  # a prepared container's init died before its start: nobody to tell
            self._discard(p)
            return
        for fd in list(p.streams):
            while True:  # what is still in the pipe
                try:
                    data = os.read(fd, _CHUNK)
                except OSError:
                    break
                if not data:
                    break
                self._stream_readable_data(p, fd, data)
            self._unwatch(fd)
            _close(fd)
        p.streams.clear()
        p.master = -1
        _close(p.stdin_w)
        p.stdin_w = -1
        if p.log is not None:
            p.log.close()
        status = p.status if p.status is not None else 0
        code = exit_code_of(status)
        oom = p.oom
        p.exit = {"code": code, "oom_killed": oom, "finished_at": format_time(time.time_ns()),
                  "started_at": p.started_at, "pid": p.pid}  # fmt: skip
        if status == _LOST:
            p.exit["error"] = "exit status lost (its holder was killed)"
        for a in list(p.attachments):
            self._flush_blocking(a)
            self._detach(p, a)
        # the event first (a waiting `run --rm` answers on it), then exit.json: a daemon
        # killed meanwhile asks `list` (exit records stay until `forget`)
        self._event({"event": "exit", **p.describe()})
        if p.kind == "container" and p.dir:
            _write_durably(os.path.join(p.dir, "exit.json"), {**p.exit, "id": p.cid})
        self._release(p)

    def _stream_readable_data(self, p: Proc, fd: int, data: bytes) -> None:
        name = p.streams.get(fd, "stdout")
        stream = "stdout" if name == "tty" else name
        if p.log is not None:
            p.log.write(stream, data)
        for a in p.attachments:
            target = a.out if stream == "stdout" else (a.err if a.err >= 0 else a.out)
            if target >= 0:
                a.pending.setdefault(target, bytearray()).extend(data)

    def _oom(self, p: Proc) -> bool:
        if p.kind != "container" or not p.cgroup:
            return False
        try:
            from dockyard.cgroups import create_manager

            return create_manager(p.cgroup).oom_kill_count() > 0
        except DockyardError:
            return False


def _set_detach_keys(p: Proc, m: dict[str, Any]) -> None:
    """A request's ``detach_keys`` (byte values) for the attachment it just made."""
    keys = m.get("detach_keys")
    if keys is not None and p.attachments:
        p.attachments[-1].detach = bytes(int(k) & 0xFF for k in keys)


def _named(m: dict[str, Any], fds: list[int]) -> dict[str, int]:
    names = list(m.get("fds") or [])
    if len(names) != len(fds):
        for fd in fds:
            _close(fd)
        raise InvalidArgument("shim: descriptor names do not match the descriptors sent")
    return dict(zip(names, fds, strict=True))


def _writable(fd: int, timeout: float) -> bool:
    import select

    p = select.poll()
    p.register(fd, select.POLLOUT)
    return any(ev & (select.POLLOUT | select.POLLERR) for _fd, ev in p.poll(timeout * 1000))


def _write_ready(fd: int, data: bytes) -> bytes:
    """Write what ``fd`` takes without blocking (pieces of at most a pipe's atomic size)."""
    view = memoryview(data)
    while view:
        if not _writable(fd, 0):
            break
        n = os.write(fd, view[:_WRITE_CHUNK])
        view = view[n:]
    return bytes(view)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            return  # the container does not read its input: drop it rather than stall
        except OSError:
            return
        view = view[n:]


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _write_durably(path: str, data: dict[str, Any]) -> None:
    """Write, then rename over ``path``: a reader sees the old file or the whole new one.

    No fsync: ``exit.json`` is for a shim (or daemon) that dies, not for the host losing
    power (which ends every container anyway; the next daemon then records 255,
    "supervisor lost"), and two fsyncs were several ms of every container's exit."""
    from dockyard.oci.runtime_spec import dumps_json

    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, dumps_json(data).encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except FileNotFoundError:  # the container's directory is gone (removed meanwhile)
        pass
    except OSError as e:
        sys.stderr.write(f"shim: record exit {path}: {e}\n")


def _log_writer(log: dict[str, Any]) -> LogWriter | None:
    """The json-file writer a start's (or a holder record's) ``log`` names, if any."""
    if not log.get("path"):
        return None
    return LogWriter(str(log["path"]), int(log.get("max_size") or 10 << 20),
                     int(log.get("max_file") or 3))  # fmt: skip


def _receive(answers: socket.socket, p: Proc) -> tuple[dict[str, Any], list[int]]:
    """The holder's answer and the descriptors with it; its error raised as it was."""
    dec = Decoder()
    answers.setblocking(True)
    answers.settimeout(_LAUNCH_TIMEOUT)
    try:
        msgs = dec.messages()
        while not msgs:
            more = recv_into(answers, dec)
            msgs = dec.messages()
            if not msgs and not more:
                raise Internal(f"launch {p.key}: its holder exited without an answer")
        msg, fds = msgs[0]
    except TimeoutError:
        raise Internal(f"launch {p.key}: its holder did not answer") from None
    finally:
        dec.close()
    if msg.get("error") is not None:
        for fd in fds:
            _close(fd)
        from dockyard.engine.shimclient import error_from

        raise error_from(msg)
    return msg, fds


def start_thread(run_root: str, state_root: str) -> Shim:
    """Start the shim in a thread of this process: listening, with what earlier holders
    keep taken back, its launcher starting."""
    import threading

    holders.install(run_root)
    shim = Shim(run_root, state_root)
    shim.listen()
    shim.adopt()
    shim._launcher_sock()  # it loads the runtime meanwhile: the first start finds it ready
    threading.Thread(target=shim.serve, name="shim", daemon=True).start()
    return shim
