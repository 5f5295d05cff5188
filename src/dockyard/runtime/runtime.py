"""The OCI runtime: a bundle (``config.json`` + rootfs) becomes a container.

Over 800 lines because create, start, run and exec share the fork-and-sync protocol with
the init (pipes, console, signal forwarding), read in one place; the init's side is init.py.

Vocabulary: the *caller* is the process using :class:`Runtime` (``dockyard run``,
``dockyard-runtime``); the *init* is the container's PID 1 (process B of
``init.py``); the *state root* holds one state directory per container (see
``state.py``).

Lifecycle (each operation reads the observed state first and checks it)::

    rt = Runtime(Path("/run/dockyard/runtime"))
    rt.create("c1", "/bundles/c1")      # namespaces, cgroup, mounts; init waits
    rt.start("c1")                      # init execs process.args
    rt.state("c1").status               # "running"
    rt.kill("c1", signal.SIGTERM)
    rt.delete("c1")                     # cgroup removed, poststop hooks, state gone
    rt.run("c2", "/bundles/c2")         # all of it in the foreground → ExitStatus

Errors: a bad id or config → InvalidArgument; an unknown id → NotFound; an id in
use → AlreadyExists; an operation the status forbids → FailedPrecondition; what
the init could not do comes back as the class it raised in the child. A failed
create or run leaves nothing behind (state dir, cgroup, processes).
"""

from __future__ import annotations

import builtins
import os

from dockyard import errors
from dockyard.errors import (
    AlreadyExists,
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from dockyard.linux import constants as c
from dockyard.linux.syscalls import why
from dockyard.records import record
from dockyard.runtime import state as st

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
    from pathlib import Path
    from typing import Any

    from dockyard.cgroups import Manager
    from dockyard.linux.syscalls import Syscalls
    from dockyard.oci.resources import LinuxResources
    from dockyard.oci.runtime_spec import Process, Spec

else:
    import _signal as signal  # the same constants and calls; ``signal`` would import enum

__all__ = ["ExitStatus", "Runtime"]


@record
class ExitStatus:
    """How a container's (or an exec'd) process ended: ``code`` is 128+signal for a signal."""

    code: int
    signal: int | None = None
    oom_killed: bool = False
    pid: int = 0

    @classmethod
    def from_wait(cls, status: int, *, oom_killed: bool = False, pid: int = 0) -> ExitStatus:
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return cls(128 + sig, sig, oom_killed, pid)
        return cls(os.WEXITSTATUS(status), None, oom_killed, pid)


_ERROR_CLASSES = {
    name: getattr(errors, name)
    for name in [
        "NotFound",
        "AlreadyExists",
        "InvalidArgument",
        "FailedPrecondition",
        "Conflict",
        "PermissionDenied",
        "Unavailable",
        "Internal",
    ]
}
_NO_FORWARD = {signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD, signal.SIGPIPE, signal.SIGURG}


EXEC_LINE = b"exec\n"  # the init's last word before execve (init.EXEC_LINE)


def _read_line(fd: int) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        buf += chunk
    return buf


def _child_error(line: bytes, what: str) -> DockyardError:
    kind, _, msg = line.decode(errors="replace").rstrip("\n").partition("\t")
    cls = _ERROR_CLASSES.get(kind, errors.Internal)
    return cls(f"{what}: {msg}" if msg else f"{what}: {kind}")  # type: ignore[no-any-return]


class _Children:
    """The pipes between the caller and the init, and the pids on the way."""

    def __init__(self) -> None:
        self.err_r, self.err_w = os.pipe()
        self.pid_r, self.pid_w = os.pipe()
        self.go_r, self.go_w = os.pipe()
        self.a = 0
        self.b = 0

    def close_child_ends(self) -> None:
        for fd in (self.err_w, self.pid_w, self.go_r):
            os.close(fd)
        self.err_w = self.pid_w = self.go_r = -1

    def close(self) -> None:
        for fd in (self.err_r, self.err_w, self.pid_r, self.pid_w, self.go_r, self.go_w):
            if fd >= 0:
                os.close(fd)
        self.err_r = self.err_w = self.pid_r = self.pid_w = self.go_r = self.go_w = -1

    def collect_b(self, what: str) -> int:
        """B's pid (A exits after sending it), or the error A reported."""
        line = _read_line(self.pid_r)
        try:  # not contextlib.suppress: slow to import
            os.waitpid(self.a, 0)
        except ChildProcessError:  # a caller reaping every child (the shim) was first
            pass
        self.a = 0
        if not line:
            raise _child_error(_read_line(self.err_r) or b"Internal\tinit exited early", what)
        self.b = int(line)
        return self.b

    def early_error(self, what: str) -> DockyardError | None:
        """The error B reported before "go" (it mounts while the caller works), if any."""
        os.set_blocking(self.err_r, False)
        try:
            line = _read_line(self.err_r)
        except BlockingIOError:
            line = b""
        finally:
            os.set_blocking(self.err_r, True)
        return _child_error(line, what) if line and line != b"ready\n" else None

    def release(self, joined: list[str] | None = None) -> None:
        """Let B go on; ``joined`` (the init) names the cgroup hierarchies it was put in, the
        only ones it mounts (v1 controller names, ``unified`` for cgroup2), in one write
        (atomic below PIPE_BUF, so B reads it whole)."""
        msg = b"g"
        if joined is not None:
            msg += " ".join(n or "unified" for n in joined).encode() + b"\n"
        try:  # not contextlib.suppress: slow to import
            os.write(self.go_w, msg)
        except BrokenPipeError:  # B failed before "go": its error is on the error pipe
            pass
        os.close(self.go_w)
        self.go_w = -1

    def abort(self) -> None:
        """Kill and reap what was started (an error path).

        B's pid may not have been read yet (the cgroup failed while A was still on its
        way): "go" is closed first (a B waiting for it leaves by itself), then A's answer is
        read (A sends B's pid and exits, or dies: EOF), so that B is killed too, never left
        orphaned in its own pid namespace (issue 22)."""
        if self.go_w >= 0:
            os.close(self.go_w)
            self.go_w = -1
        if self.a > 0 and self.b == 0 and self.pid_r >= 0:
            line = _read_line(self.pid_r)
            if line.strip().isdigit():
                self.b = int(line)
        for pid in (self.a, self.b):  # A first: B is this process's child once A is reaped
            if pid > 0:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
        self.a = self.b = 0


class Runtime:
    """An OCI runtime keeping its state under ``state_root``.

    ``syscalls`` is the kernel seam (a RecordingSyscalls in unit tests);
    ``cgroups`` builds the cgroup manager for a path (default
    :func:`dockyard.cgroups.create_manager`).
    """

    def __init__(
        self,
        state_root: str | os.PathLike[str] = "/run/dockyard/runtime",
        *,
        syscalls: Syscalls | None = None,
        cgroups: Callable[[str], Manager] | None = None,
    ) -> None:
        self._root = os.fspath(state_root)
        if syscalls is None:
            from dockyard.linux.syscalls import LibcSyscalls

            syscalls = LibcSyscalls()
        self.syscalls = syscalls
        self._cgroups = cgroups
        self.warnings: list[str] = []  # poststop hook failures and the like
        self._proxy: Any = None
        self._last_manager: tuple[str, Manager] | None = None
        self._late: dict[str, tuple[int, int]] = {}  # prepared: (process pipe, error pipe)

    @property
    def state_root(self) -> Path:
        """The directory holding one state directory per container."""
        from pathlib import Path

        return Path(self._root)

    def _stop_proxy(self) -> None:
        if self._proxy is not None:
            self._proxy.wait()
            self._proxy = None

    # ------------------------------------------------------------------ helpers

    def _dir(self, cid: str) -> str:
        return os.path.join(self._root, cid)

    def _manager(self, path: str, own: dict[str, str] | None = None) -> Manager:
        """The cgroup manager for ``path`` placed beneath ``own`` (the creator's cgroups;
        None: this process's); the last one is kept, since a foreground run asks for it
        three times (each reads /proc/self/cgroup and lists the hierarchies)."""
        if self._last_manager is not None and self._last_manager[0] == path:
            return self._last_manager[1]
        if self._cgroups is not None:
            m = self._cgroups(path)
        else:
            from dockyard.cgroups import create_manager

            m = create_manager(path, own_cgroups=own or None)
        self._last_manager = (path, m)
        return m

    def _manager_of(self, s: st.State) -> Manager:
        """The manager of a container's cgroup, as it was placed at create."""
        return self._manager(s.cgroup_path, s.cgroup_own)

    def _load_spec(self, bundle: str) -> tuple[Spec, bytes]:
        from dockyard.oci.runtime_spec import parse_spec

        try:
            with open(os.path.join(bundle, "config.json"), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise NotFound(f"load bundle {bundle}: config.json does not exist") from None
        except OSError as e:
            raise InvalidArgument(f"load bundle {bundle}: {why(e)}") from None
        try:
            return parse_spec(raw), raw
        except InvalidArgument as e:
            raise InvalidArgument(f"load bundle {bundle}: {e}") from None

    def stored_spec(self, cid: str) -> Spec:
        """The config a container was created with."""
        return self._stored_spec(cid)

    def _stored_spec(self, cid: str) -> Spec:
        from dockyard.oci.runtime_spec import parse_spec

        try:
            with open(os.path.join(self._dir(cid), "config.json"), "rb") as f:
                return parse_spec(f.read())
        except FileNotFoundError:
            raise NotFound(f"container {cid}: does not exist") from None

    def _read(self, cid: str) -> st.State:
        st.check_id(cid)
        s = st.read_state(self._dir(cid), cid)
        if s.status == st.RUNNING and s.cgroup_path:
            try:
                if self._manager_of(s).frozen():
                    s.status = st.PAUSED
            except DockyardError:
                pass
        return s

    # ------------------------------------------------------------------ create / start / run

    def create(
        self,
        cid: str,
        bundle: str | Path,
        *,
        console_socket: str | None = None,
        pid_file: str | None = None,
        preserve_fds: int = 0,
        no_pivot: bool = False,
        late: bool = False,
    ) -> st.State:
        """Create the container; its init waits for :meth:`start`.

        ``late``: a container *prepared ahead* of its process (``process`` in the bundle
        is a placeholder): everything but the process is set up; :meth:`start_late`
        sends the real one (this Runtime object keeps the pipes; a prepared container
        does not outlive the process that prepared it)."""
        state, _ = self._spawn(
            cid, str(bundle), create=True, console_socket=console_socket, pid_file=pid_file,
            preserve_fds=preserve_fds, no_pivot=no_pivot, late=late,
        )  # fmt: skip
        return state

    def start_late(
        self, cid: str, process: dict[str, Any], *, later: list[Any] | None = None,
        pid: int = 0,
    ) -> None:  # fmt: skip
        """Start a container made by ``create(late=True)`` with ``process`` (an OCI
        ``process`` object); returns once the init has exec'd it (or raises what failed:
        the init has exited then, :meth:`delete` cleans up). A prepared init's setup
        (mounts, ``pivot_root``) is not waited for by ``create``: its outcome is read
        here. ``later``: a list the state and spec writes are appended to, for the
        caller to run when it has answered whoever waits for the start. ``pid``: the
        init's, if the caller knows it (its state is then read only by those writes)."""
        from dockyard.oci import fastjson

        handles = self._late.pop(cid, None)
        if handles is None:
            raise FailedPrecondition(f"start container {cid}: not a prepared container")
        late_w, err_r = handles
        data = fastjson.dumps(process).encode()
        try:
            if pid <= 0:
                pid = self._read(cid).pid
            try:  # prepared at the lowest priority (background work); run at ours
                os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0))
            except OSError:
                pass
            line = _read_line(err_r)  # its mounts done (normally long since)
            if line != b"ready\n":
                raise _child_error(line or b"Internal\tthe init exited early", f"start {cid}")
            try:
                while data:
                    data = data[os.write(late_w, data) :]
            except BrokenPipeError:
                pass  # the init is gone: its error (if any) is on the error pipe
            os.close(late_w)
            late_w = -1
            line = _read_line(err_r)
        finally:
            if late_w >= 0:
                os.close(late_w)
            os.close(err_r)
        if line and line != EXEC_LINE:
            raise _child_error(line, f"start container {cid}")

        def record() -> None:  # the state and the spec's process, for exec and delete
            directory = self._dir(cid)
            s = self._read(cid)
            s.status = st.RUNNING
            st.write_state(directory, s)
            path = os.path.join(directory, "config.json")
            with open(path, "rb") as f:
                spec = fastjson.loads(f.read())
            spec["process"] = process
            with open(path, "w") as f:
                f.write(fastjson.dumps(spec))

        if later is not None:  # ``later``: the caller runs it once it has answered
            later.append(record)
        else:
            record()

    def late_handles(self, cid: str) -> tuple[int, int]:
        """Give up a prepared container's pipes (process, error) to hand them to another
        process, whose Runtime takes them with :meth:`adopt_late`."""
        handles = self._late.pop(cid, None)
        if handles is None:
            raise FailedPrecondition(f"container {cid}: not a prepared container")
        return handles

    def adopt_late(self, cid: str, process_w: int, error_r: int) -> None:
        """Take a prepared container's pipes from the process that created it."""
        self._late[cid] = (process_w, error_r)

    def discard_late(self, cid: str) -> None:
        """Let a prepared container's init exit without a process, then delete it."""
        handles = self._late.pop(cid, None)
        if handles is not None:
            for fd in handles:
                os.close(fd)
        try:
            self.delete(cid, force=True)
        except NotFound:
            pass

    def start(self, cid: str) -> None:
        """Let a created container's init exec its process; run poststart hooks."""
        s = self._read(cid)
        st.require(s, "start")
        spec = self._stored_spec(cid)
        fifo = os.path.join(self._dir(cid), "exec.fifo")
        try:
            fd = os.open(fifo, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise FailedPrecondition(f"start container {cid}: container is not created") from None
        try:  # until EOF: the init's end is close-on-exec (init._wait_start)
            got = b""
            while chunk := os.read(fd, 4096):
                got += chunk
        finally:
            os.close(fd)
            os.unlink(fifo)
        if got[:1] != b"0":
            raise FailedPrecondition(f"start container {cid}: the init exited before start")
        if got[1:]:  # what failed between the fifo and execve (the init has exited)
            raise _child_error(got[1:], f"start container {cid}")
        s.status = st.RUNNING
        self._poststart(spec, s)

    def _poststart(self, spec: Spec, s: st.State) -> None:
        if not spec.hooks.poststart:
            return
        from dockyard.runtime.hooks import run_hook

        for i, h in enumerate(spec.hooks.poststart):
            try:
                run_hook(h, self._state_json(s), f"poststart[{i}]")
            except DockyardError:
                self.kill(s.id, signal.SIGKILL)
                raise

    def run(
        self,
        cid: str,
        bundle: str | Path,
        *,
        detach: bool = False,
        console_socket: str | None = None,
        pid_file: str | None = None,
        preserve_fds: int = 0,
        no_pivot: bool = False,
    ) -> ExitStatus:
        """Create and start; in the foreground wait for the init and delete the container.

        Stdio is inherited; signals the caller receives are forwarded to the init.
        Detached, the init keeps running and ``ExitStatus(0, pid=…)`` comes back.
        """
        forward = _SignalForwarder() if not detach else None
        try:
            state, spec = self._spawn(
                cid, str(bundle), create=False, console_socket=console_socket,
                pid_file=pid_file, preserve_fds=preserve_fds, no_pivot=no_pivot,
                forward=forward,
            )  # fmt: skip
        except BaseException:
            if forward is not None:
                forward.restore()
            raise
        try:
            self._poststart(spec, state)
        except BaseException:
            if forward is not None:
                forward.restore()
            self._cleanup(cid, spec, state)
            raise
        if forward is None:
            return ExitStatus(0, pid=state.pid)
        try:
            _, status = os.waitpid(state.pid, 0)
        finally:
            forward.restore()
            self._stop_proxy()
        oom = False
        try:  # not contextlib.suppress: slow to import
            oom = self._manager_of(state).oom_kill_count() > 0
        except DockyardError:
            pass
        result = ExitStatus.from_wait(status, oom_killed=oom, pid=state.pid)
        self._cleanup(cid, spec, state)
        return result

    def _spawn(
        self,
        cid: str,
        bundle: str,
        *,
        create: bool,
        console_socket: str | None,
        pid_file: str | None,
        preserve_fds: int,
        no_pivot: bool,
        forward: _SignalForwarder | None = None,
        late: bool = False,
    ) -> tuple[st.State, Spec]:
        st.check_id(cid)
        bundle = os.path.abspath(bundle)
        spec, raw = self._load_spec(bundle)
        rootfs = _check_bundle(cid, spec, bundle)
        directory = self._dir(cid)
        os.makedirs(self._root, mode=0o711, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise AlreadyExists(f"create container {cid}: id already in use") from None
        undo: list[Callable[[], None]] = [lambda: _rmtree(directory)]
        kids: _Children | None = None
        try:
            with open(os.path.join(directory, "config.json"), "wb") as f:
                f.write(raw)
            fifo = None
            late_r = late_w = -1
            if late:
                late_r, late_w = os.pipe()
                pipe = [late_r, late_w]
                undo.append(lambda: _close_all(pipe))
            elif create:
                fifo = os.path.join(directory, "exec.fifo")
                os.mkfifo(fifo, 0o622)
                os.chmod(fifo, 0o622)  # not the umask's: a user namespace's root may be
                # another host uid (it holds the fifo O_PATH; the directory is 0700)
            cg_path = _cgroup_path(spec, cid)
            bpf, bpf_flags = self._seccomp(spec)
            state = st.State(
                id=cid, pid=0, bundle=bundle, rootfs=rootfs, created=st.now_rfc3339(),
                status="creating", oci_version=spec.oci_version, annotations=spec.annotations,
                cgroup_path=cg_path,
            )  # fmt: skip
            console = _Console.open(spec, console_socket)
            kids = _Children()
            self.syscalls.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
            from dockyard.runtime.init import InitRequest, run_stage_a

            req = InitRequest(
                spec=spec, rootfs=rootfs, bundle=bundle, syscalls=self.syscalls,
                err_w=kids.err_w, pid_w=kids.pid_w, go_r=kids.go_r, fifo=fifo,
                seccomp_bpf=bpf, seccomp_flags=bpf_flags, preserve_fds=preserve_fds,
                no_pivot=no_pivot, console_fd=console.child if console else None,
                state_json=self._state_json(state), late_r=late_r if late else None, late_w=late_w,
            )  # fmt: skip
            kids.a = os.fork()
            if kids.a == 0:
                run_stage_a(req)  # never returns
            kids.close_child_ends()
            if late:
                os.close(late_r)
                pipe[0] = -1
            if console is not None:
                console.after_fork()
            # the cgroup is made while the children unshare and fork (B waits on "go")
            from dockyard.cgroups import own_cgroups

            state.cgroup_own = own_cgroups()
            if cg_path.startswith("/"):  # the spec: from each hierarchy's root, alike
                state.cgroup_own = dict.fromkeys(state.cgroup_own, "/")
            manager = self._manager(cg_path, state.cgroup_own)
            manager.create()
            undo.append(manager.destroy)
            if spec.linux is not None and spec.linux.resources is not None:
                manager.apply(_with_default_devices(spec))
            what = f"{'create' if create else 'run'} container {cid}"
            pid = kids.collect_b(what)
            state.pid = pid
            if forward is not None:
                forward.target(pid)
            _write_id_maps(spec, pid)
            try:
                manager.add(pid)
            except DockyardError as e:
                raise kids.early_error(what) or e from None
            self._prestart(spec, state)
            kids.release(manager.joined())
            if not late:  # a prepared init's "ready" is read when it is started
                line = _read_line(kids.err_r)
                if line.startswith(b"ready\n") and len(line) > 6:  # and then failed: both
                    line = line[6:]  # lines came in one read (the error keeps its class)
                if line and line not in (b"ready\n", EXEC_LINE):
                    raise _child_error(line, what)
            if console is not None:
                console.receive(what)
                self._proxy = console.proxy
            info = st.pid_start_time(pid)
            state.pid_start = info[0] if info else 0
            state.status = st.CREATED if create else st.RUNNING
            st.write_state(directory, state)
            if pid_file:
                _write_pid_file(pid_file, pid)
            if console is not None:
                console.close()
            if late:
                self._late[cid] = (late_w, kids.err_r)
                kids.err_r = -1
            kids.close()
            return state, spec
        except BaseException as exc:
            if kids is not None:
                kids.abort()
                kids.close()
            for fn in reversed(undo):
                try:
                    fn()
                except Exception as e:  # a cleanup failure is attached, never replaces
                    exc.add_note(f"cleanup: {e}")
            raise

    def _prestart(self, spec: Spec, s: st.State) -> None:
        hooks = spec.hooks
        if not (hooks.prestart or hooks.create_runtime):
            return
        from dockyard.runtime.hooks import run_hook

        for stage, items in (("prestart", hooks.prestart), ("createRuntime", hooks.create_runtime)):
            for i, h in enumerate(items):
                run_hook(h, self._state_json(s), f"{stage}[{i}]")

    def _seccomp(self, spec: Spec) -> tuple[bytes | None, int]:
        lx = spec.linux
        if lx is None or lx.seccomp is None:
            return None, 0
        from dockyard.linux.seccomp import filter_flags, filter_program

        cache = os.path.join(self._root, ".seccomp-cache")
        return filter_program(lx.seccomp, cache), filter_flags(lx.seccomp)

    @staticmethod
    def _state_json(s: st.State) -> bytes:
        from dockyard.oci.runtime_spec import dumps_json

        return dumps_json(s.to_oci()).encode()

    # ------------------------------------------------------------------ query

    def state(self, cid: str) -> st.State:
        """The container's state, with its observed status."""
        return self._read(cid)

    def list(self) -> builtins.list[st.State]:
        """Every container under the state root (unreadable entries are skipped)."""
        out = []
        try:
            names = sorted(os.listdir(self._root))
        except FileNotFoundError:
            return []
        for name in names:
            if name.startswith("."):
                continue
            try:
                out.append(self._read(name))
            except DockyardError:
                continue
        return out

    def ps(self, cid: str) -> builtins.list[int]:
        """Host pids of every process in the container's cgroup."""
        s = self._read(cid)
        st.require(s, "ps")
        return sorted(self._manager_of(s).pids())

    # ------------------------------------------------------------------ control

    def kill(self, cid: str, sig: int = signal.SIGTERM, *, all: bool = False) -> None:
        """Send ``sig`` to the init (``all``: every process in the container's cgroup)."""
        s = self._read(cid)
        st.require(s, "kill")
        if s.status == st.RUNNING and sig != signal.SIGKILL:
            _await_exec(s.pid)
        if all:
            m = self._manager_of(s)
            if sig == signal.SIGKILL:
                m.kill_all(sig)
                return
            for pid in m.pids():
                try:  # not contextlib.suppress: slow to import
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            return
        try:
            os.kill(s.pid, sig)
        except ProcessLookupError:
            raise FailedPrecondition(f"kill container {cid}: container is stopped") from None

    def pause(self, cid: str) -> None:
        s = self._read(cid)
        st.require(s, "pause")
        self._manager_of(s).freeze()

    def resume(self, cid: str) -> None:
        s = self._read(cid)
        st.require(s, "resume")
        self._manager_of(s).thaw()

    def update(self, cid: str, resources: LinuxResources) -> None:
        """Apply new cgroup limits to a live container."""
        s = self._read(cid)
        st.require(s, "update")
        self._manager_of(s).apply(resources)

    def delete(self, cid: str, *, force: bool = False) -> None:
        """Remove a stopped container (``force``: kill it first)."""
        s = self._read(cid)
        if s.status != st.STOPPED:
            if not force:
                st.require(s, "delete")
            if s.status == st.PAUSED:
                self._manager_of(s).thaw()
            self._manager_of(s).kill_all(signal.SIGKILL)
            try:  # not contextlib.suppress: slow to import
                os.kill(s.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        spec = self._stored_spec(cid)
        self._cleanup(cid, spec, s)

    def _cleanup(self, cid: str, spec: Spec, s: st.State) -> None:
        _reap(s.pid)
        try:
            m = self._manager_of(s)
            if m.pids():
                m.kill_all(signal.SIGKILL)
            m.destroy()
        finally:
            s.status = st.STOPPED
            if spec.hooks.poststop:
                from dockyard.runtime.hooks import run_hook

                for i, h in enumerate(spec.hooks.poststop):
                    try:
                        run_hook(h, self._state_json(s), f"poststop[{i}]")
                    except DockyardError as e:
                        self.warnings.append(str(e))
            _rmtree(self._dir(cid))

    # ------------------------------------------------------------------ exec

    def exec(
        self,
        cid: str,
        process: Process,
        *,
        detach: bool = False,
        console_socket: str | None = None,
        pid_file: str | None = None,
        preserve_fds: int = 0,
    ) -> ExitStatus:
        """Run ``process`` in the container's namespaces and cgroup.

        In the foreground, wait and return its status (signals forwarded);
        detached, return ``ExitStatus(0, pid=…)`` at once.
        """
        s = self._read(cid)
        st.require(s, "exec")
        spec = self._stored_spec(cid)
        process = _exec_defaults(process, spec)
        bpf, bpf_flags = self._seccomp(spec)
        nss = tuple(
            t
            for t in ("user", "ipc", "uts", "network", "pid", "mount", "cgroup", "time")
            if spec.linux is not None and spec.linux.namespace(t) is not None
        )
        console = _Console.open_for(process, console_socket)
        kids = _Children()
        forward = None if detach else _SignalForwarder()
        try:
            self.syscalls.prctl(c.PR_SET_CHILD_SUBREAPER, 1)
            from dockyard.runtime.init import ExecRequest, run_exec_stage_a

            req = ExecRequest(
                process=process, init_pid=s.pid, namespaces=nss, syscalls=self.syscalls,
                err_w=kids.err_w, pid_w=kids.pid_w, go_r=kids.go_r, seccomp_bpf=bpf,
                seccomp_flags=bpf_flags, preserve_fds=preserve_fds,
                console_fd=console.child if console else None,
            )  # fmt: skip
            kids.a = os.fork()
            if kids.a == 0:
                run_exec_stage_a(req)
            kids.close_child_ends()
            if console is not None:
                console.after_fork()
            pid = kids.collect_b(f"exec in container {cid}")
            if forward is not None:
                forward.target(pid)
            self._manager_of(s).add(pid)
            kids.release()
            line = _read_line(kids.err_r)
            if line and line != EXEC_LINE:
                raise _child_error(line, f"exec in container {cid}")
            if console is not None:
                console.receive(f"exec in container {cid}")
                self._proxy = console.proxy
            if pid_file:
                _write_pid_file(pid_file, pid)
            kids.close()
            if console is not None:
                console.close()
            if forward is None:
                return ExitStatus(0, pid=pid)
            _, status = os.waitpid(pid, 0)
            self._stop_proxy()
            return ExitStatus.from_wait(status, pid=pid)
        except BaseException:
            kids.abort()
            kids.close()
            raise
        finally:
            if forward is not None:
                forward.restore()


# ---------------------------------------------------------------------- small helpers


def _check_bundle(cid: str, spec: Spec, bundle: str) -> str:
    """The rootfs path; refuses a missing rootfs or process (no mount namespace is
    allowed: the container then shares the runtime's, init._enter_shared)."""
    from dockyard.oci.runtime_spec import check_hostname

    if spec.root is None:
        raise InvalidArgument(f"create container {cid}: root: required")
    rootfs = spec.root.path
    if not rootfs.startswith("/"):
        rootfs = os.path.join(bundle, rootfs)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise NotFound(f"create container {cid}: rootfs {rootfs}: no such directory")
    if spec.process is None:
        raise InvalidArgument(f"create container {cid}: process: required")
    ns_time = spec.linux.namespace("time") if spec.linux is not None else None
    if spec.linux is not None and spec.linux.time_offsets and (ns_time is None or ns_time.path):
        raise InvalidArgument(
            f"create container {cid}: linux.timeOffsets: needs a new time namespace"
        )
    try:
        check_hostname(spec)
    except InvalidArgument as e:
        raise InvalidArgument(f"create container {cid}: {e}") from None
    return rootfs


def _cgroup_path(spec: Spec, cid: str) -> str:
    path = spec.linux.cgroups_path if spec.linux is not None else None
    if not path:
        return f"dockyard/{cid}"
    if ":" in path:
        from dockyard.cgroups.systemd import is_systemd_path, parse_systemd_path

        if not is_systemd_path(path):
            raise InvalidArgument(
                f"linux.cgroupsPath {path!r}: expected a cgroupfs path or slice:prefix:name"
            )
        parse_systemd_path(path)  # the systemd driver's form, checked here
    return path


def _with_default_devices(spec: Spec) -> LinuxResources:
    """The resources with runc's always-allowed devices appended to the device rules.

    mknod of any node stays allowed (access is what the rules guard), and the
    default devices, /dev/pts/*, /dev/ptmx, /dev/console and the ``linux.devices`` no
    rule names are readable and writable.
    """
    from dockyard.oci.resources import DeviceRule
    from dockyard.records import replace

    assert spec.linux is not None and spec.linux.resources is not None
    res = spec.linux.resources
    if not res.devices:
        return res
    extra = [
        DeviceRule(True, "c", None, None, "m"),
        DeviceRule(True, "b", None, None, "m"),
        *(DeviceRule(True, "c", 1, m, "rwm") for m in (3, 5, 7, 8, 9)),
        DeviceRule(True, "c", 5, 0, "rwm"),
        DeviceRule(True, "c", 5, 1, "rwm"),
        DeviceRule(True, "c", 5, 2, "rwm"),
        DeviceRule(True, "c", 136, None, "rwm"),
        DeviceRule(True, "c", 10, 200, "rwm"),  # /dev/net/tun, as runc
    ]
    # a node the rules name already keeps the access they give it (docker's --device X:r
    # is read-only): rwm only for the nodes no rule mentions, as runc allows them
    named = {(r.type, r.major, r.minor) for r in res.devices if r.allow}
    for d in spec.linux.devices:
        if d.type in ("c", "b") and (d.type, d.major, d.minor) not in named:
            extra.append(DeviceRule(True, d.type, d.major, d.minor, "rwm"))
    return replace(res, devices=(*res.devices, *extra))


def _write_id_maps(spec: Spec, pid: int) -> None:
    lx = spec.linux
    if lx is None or lx.namespace("user") is None or lx.namespace("user").path:  # type: ignore[union-attr]
        return
    for name, maps in (("gid_map", lx.gid_mappings), ("uid_map", lx.uid_mappings)):
        text = "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            raise InvalidArgument(f"write {name} of {pid}: {why(e)}") from None


def _await_exec(pid: int, limit: float = 2.0) -> None:
    """Wait (at most ``limit`` s) until a running container's init has exec'd its program.

    ``run`` and ``start_late`` return at the init's last line before ``execve`` (``exec`` on
    the error pipe), a few ms before the program is in place; a signal sent meanwhile met
    the Python init, which as PID 1 without a handler has it dropped by the kernel (or, for
    INT and PIPE, handles or ignores it): a ``docker stop`` right after ``docker start``
    was lost (issue 22). The init is named ``dockyard-init`` until ``execve`` renames it."""
    from time import monotonic, sleep

    deadline = monotonic() + limit
    while True:
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                if f.read().rstrip(b"\n") != b"dockyard-init" or monotonic() > deadline:
                    return
        except OSError:
            return
        sleep(0.0005)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        if fd >= 0:
            os.close(fd)


def _write_pid_file(path: str, pid: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, path)


def _reap(pid: int) -> None:
    """Reap ``pid`` if it is our zombie child; otherwise leave it."""
    if pid <= 0:
        return
    try:  # not contextlib.suppress: slow to import
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _rmtree(path: str) -> None:
    """Remove a state directory (flat: state.json, config.json, exec.fifo)."""
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except IsADirectoryError:
            import shutil

            shutil.rmtree(os.path.join(path, name), ignore_errors=True)
        except FileNotFoundError:
            pass
    try:  # not contextlib.suppress: slow to import
        os.rmdir(path)
    except OSError:
        pass


def _exec_defaults(process: Process, spec: Spec) -> Process:
    """An exec'd process inherits the init's capabilities when it names none."""
    from dockyard.records import replace

    base = spec.process
    if base is None:
        return process
    changes: dict[str, Any] = {}
    if process.capabilities is None:
        changes["capabilities"] = base.capabilities
    if not process.env:
        changes["env"] = base.env
    if not process.no_new_privileges and base.no_new_privileges:
        changes["no_new_privileges"] = True
    return replace(process, **changes) if changes else process


class _SignalForwarder:
    """Forward the signals the caller gets to the init (queued until its pid is known)."""

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        self.old: dict[int, Any] = {}
        try:
            for sig in range(1, signal.NSIG):
                if sig in _NO_FORWARD:
                    continue
                try:
                    self.old[sig] = signal.signal(sig, self._handle)
                except (OSError, ValueError):
                    continue
        except ValueError:  # not the main thread: nothing to forward
            self.old = {}

    def _handle(self, sig: int, _frame: object) -> None:
        if self.pid <= 0:
            self.pending.append(sig)
            return
        try:  # not contextlib.suppress: slow to import
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def target(self, pid: int) -> None:
        self.pid = pid
        for sig in self.pending:
            self._handle(sig, None)
        self.pending.clear()

    def restore(self) -> None:
        for sig, handler in self.old.items():
            try:  # not contextlib.suppress: slow to import
                signal.signal(sig, handler)
            except (OSError, ValueError, TypeError):
                pass
        self.old = {}


class _Console:
    """A pty for ``process.terminal``, made inside the container as runc does: B opens the
    container's ``/dev/ptmx`` (its own devpts instance), makes the slave its controlling
    terminal and stdio, and sends the master back over a socketpair; the master then goes
    to ``--console-socket`` (SCM_RIGHTS) or is proxied to the caller's stdio. So the
    container sees ``/dev/pts/N`` of its own ``/dev/pts`` (``tty`` names it)."""

    def __init__(self, parent: int, child: int, socket_path: str | None) -> None:
        self.parent = parent
        self.child = child  # B's end: InitRequest/ExecRequest.console_fd
        self.socket_path = socket_path
        self.proxy: Any = None

    @classmethod
    def open(cls, spec: Spec, socket_path: str | None) -> _Console | None:
        assert spec.process is not None
        return cls.open_for(spec.process, socket_path)

    @classmethod
    def open_for(cls, process: Process, socket_path: str | None) -> _Console | None:
        if not process.terminal:
            return None
        import socket

        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        os.set_inheritable(b.fileno(), False)
        return cls(a.detach(), b.detach(), socket_path)

    def after_fork(self) -> None:
        os.close(self.child)
        self.child = -1

    def receive(self, what: str) -> None:
        """B's pty master (B has sent it before it reported ready): to the console socket,
        or to a proxy of our stdio."""
        from dockyard.runtime.console import recv_fd_from

        master = recv_fd_from(self.parent, what)
        os.close(self.parent)
        self.parent = -1
        if self.socket_path:
            from dockyard.runtime.console import send_fd

            try:
                send_fd(self.socket_path, master)
            finally:
                os.close(master)
        else:
            from dockyard.runtime.console import Proxy

            self.proxy = Proxy(master)

    def close(self) -> None:
        for fd in (self.parent, self.child):
            if fd >= 0:
                os.close(fd)
        self.parent = self.child = -1
