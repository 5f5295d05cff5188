"""The container init: what runs in the forked children until ``execve``.

Process tree (the caller is the runtime process, or ``dockyard run``)::

    caller  (PR_SET_CHILD_SUBREAPER)
      └─ A  setns(joined namespaces); unshare(new namespaces incl. CLONE_NEWPID);
      │     fork B; write B's host pid to the caller; _exit
      └─ B  PID 1 of the new pid namespace, reparented to the caller when A exits

The caller reads B's pid, writes the user-namespace mappings, puts B in the
container's cgroup, then writes one byte on the *go* pipe. B then runs
:func:`container_main`: cgroup namespace, the mount sequence (``mounts.py``),
hostname, sysctl, rlimits, ``oomScoreAdj``, waiting for ``start`` (the
``exec.fifo`` of a created container), credentials, capabilities,
``noNewPrivileges``, seccomp, closing fds, and ``execve``.

Before A joins or creates a namespace it is *sealed* (:func:`seal`): every descriptor
not meant for the container is closed (the caller's, e.g. the launcher's and the shim's
sockets in a holder) and the process is made non-dumpable, so that nothing already in
the container can take a descriptor or read memory of it (``pidfd_getfd``, ``ptrace``,
``process_vm_readv`` need the ptrace access check, which a non-dumpable target passes
only for CAP_SYS_PTRACE). ``execve`` makes the process dumpable again (the kernel resets
it for a binary that is not set-uid), as runc's ``nsexec`` relies on.

Errors never leave a child as a traceback: every failure is written to the
*error* pipe as one line ``ClassName<TAB>message`` (the class is one of
:mod:`dockyard.errors`), and the child calls ``os._exit``. The error pipe is
close-on-exec, so EOF without a message means the exec succeeded. A created
container writes ``ready`` when all that ``create`` must do is done.
"""

from __future__ import annotations

import os

from dockyard.errors import DockyardError, InvalidArgument, NotFound, PermissionDenied
from dockyard.linux import constants as c
from dockyard.linux.syscalls import set_comm, why
from dockyard.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal

    from dockyard.linux.syscalls import Syscalls
    from dockyard.oci.runtime_spec import Hook, Linux, Process, Spec

else:
    import _signal as signal  # ``signal`` would import enum on the start path

__all__ = ["ExecRequest", "InitRequest", "child_fail", "run_stage_a", "run_exec_stage_a"]


@record(frozen=False)
class InitRequest:
    """Everything the children need, prepared by the caller before fork."""

    spec: Spec
    rootfs: str
    bundle: str
    syscalls: Syscalls
    err_w: int
    pid_w: int
    go_r: int
    fifo: str | None = None  # created containers wait on it before exec
    seccomp_bpf: bytes | None = None
    seccomp_flags: int = 0
    preserve_fds: int = 0
    no_pivot: bool = False
    console_fd: int | None = None  # the pty slave, when process.terminal
    state_json: bytes = b""  # for createContainer/startContainer hooks
    keep_fds: tuple[int, ...] = field(default_factory=tuple)
    late_r: int | None = None  # a prepared container: its process comes on this pipe
    late_w: int = -1  # the caller's end of that pipe (closed in the children)


@record(frozen=False)
class ExecRequest:
    """A process to start in a running container's namespaces (``exec``)."""

    process: Process
    init_pid: int
    namespaces: tuple[str, ...]  # types to join, in order
    syscalls: Syscalls
    err_w: int
    pid_w: int
    go_r: int
    seccomp_bpf: bytes | None = None
    seccomp_flags: int = 0
    preserve_fds: int = 0
    console_fd: int | None = None


# --------------------------------------------------------------------------- child plumbing


EXEC_LINE = b"exec\n"  # on the error pipe: the init execs now (the pipe is close-on-exec)


def child_fail(err_w: int, exc: BaseException) -> None:
    """Report ``exc`` on the error pipe as one line and leave the process."""
    if isinstance(exc, DockyardError):
        kind, msg = type(exc).__name__, str(exc)
    elif isinstance(exc, OSError):
        kind, msg = "Internal", f"{exc.strerror or exc}".lower()
        if exc.filename:
            kind, msg = "Internal", f"{exc.filename}: {msg}"
    else:
        kind, msg = "Internal", f"container init: {type(exc).__name__}: {exc}"
    line = f"{kind}\t{msg}".replace("\n", " ") + "\n"
    try:
        os.write(err_w, line.encode(errors="replace"))
    except OSError:  # nobody listens any more (a started container): tell its stderr
        try:  # not contextlib.suppress: slow to import
            os.write(2, f"dockyard-runtime: {msg}\n".encode(errors="replace"))
        except OSError:
            pass
    finally:
        os._exit(1)


def _read_go(fd: int) -> frozenset[str]:
    """Wait for "go"; return the cgroup hierarchies the caller put this process in
    (``g`` then v1 controller names and ``unified``, space-separated, one line)."""
    msg = os.read(fd, 4096)
    if msg[:1] != b"g":
        os._exit(1)  # the caller gave up: leave quietly
    os.close(fd)
    return frozenset(msg[1:].decode().split())


def _write_pid(fd: int, pid: int) -> None:
    os.write(fd, f"{pid}\n".encode())
    os.close(fd)


def run_stage_a(req: InitRequest) -> None:
    """Process A: join and create namespaces, fork B, report B's pid, exit. Never returns."""
    try:
        sc = req.syscalls
        keep = {req.err_w, req.pid_w, req.go_r, *req.keep_fds}
        keep |= {fd for fd in (req.console_fd, req.late_r) if fd is not None}
        seal(sc, 3 + req.preserve_fds, keep)  # (closes late_w too)
        lx = req.spec.linux
        nss = lx.namespaces if lx is not None else ()
        _join_namespaces(sc, [(n.type, n.path) for n in nss if n.path])
        flags = 0
        for n in nss:
            if n.path is None and n.type != "cgroup":
                flags |= c.NAMESPACE_FLAGS[n.type]
        if flags:
            sc.unshare(flags)
        if lx is not None and lx.time_offsets:
            _write_time_offsets(lx.time_offsets)
        pid = os.fork()
        if pid == 0:
            _stage_b(req)
        _write_pid(req.pid_w, pid)
        os._exit(0)
    except BaseException as e:
        child_fail(req.err_w, e)


def seal(sc: Syscalls, first: int, keep: set[int]) -> None:
    """Before joining a container: non-dumpable, and every fd from ``first`` on closed
    but ``keep`` (the runtime's pipes, the console socketpair, preserved fds below
    ``first``). Cheap: one prctl and ``close_range(2)`` calls."""
    sc.prctl(c.PR_SET_DUMPABLE, 0)
    close_fds(first, keep)


def _write_time_offsets(offsets: dict[str, tuple[int, int]]) -> None:
    """Offsets of the new time namespace (unshared, not entered yet: B, forked next, is
    its first process), in one write as the kernel wants."""
    ids = {"monotonic": 1, "boottime": 7}  # CLOCK_MONOTONIC, CLOCK_BOOTTIME
    text = "".join(f"{ids[k]} {s} {ns}\n" for k, (s, ns) in offsets.items())
    try:
        fd = os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise InvalidArgument(f"set linux.timeOffsets: {why(e)}") from None


_JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "mount", "cgroup", "time")


def _join_namespaces(sc: Syscalls, joins: list[tuple[str, str]]) -> None:
    """setns into each (type, path), mount last but cgroup; every path is opened first
    (once in the container's mount namespace, ``/proc/<pid>`` is the container's). The
    user namespace goes after every namespace this process may join as it is (crun's
    order): a network namespace the daemon made belongs to the host's user namespace,
    where root loses its rights once it has joined the container's (EPERM; issue 18);
    what only the user namespace's rights allow (rootless: the caller holds none
    outside it) is joined after it."""
    ordered = sorted(joins, key=lambda j: _JOIN_ORDER.index(j[0]))
    fds: list[tuple[str, str, int]] = []
    try:
        for t, path in ordered:
            try:
                fds.append((t, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
            except OSError as e:
                raise NotFound(f"join {t} namespace {path}: {why(e)}") from None
        user = [j for j in fds if j[0] == "user"]
        later = [j for j in fds if j[0] != "user"]
        if user:
            first, later = later, []
            for j in first:
                try:
                    _setns(sc, *j)
                except PermissionDenied:
                    later.append(j)
        for j in user + later:
            _setns(sc, *j)
    finally:
        for _t, _p, fd in fds:
            os.close(fd)


def _setns(sc: Syscalls, t: str, path: str, fd: int) -> None:
    try:
        sc.setns(fd, c.NAMESPACE_FLAGS[t])
    except PermissionDenied as e:
        raise PermissionDenied(f"join {t} namespace {path}: {e}") from None
    except DockyardError as e:
        raise InvalidArgument(f"join {t} namespace {path}: {e}") from None


INIT_COMM = b"dockyard-init"  # B's name until execve gives it the program's (runtime.kill)


def _set_name(sc: Syscalls, name: bytes) -> None:
    """``prctl(PR_SET_NAME)``: the comm of this (single-threaded) process, no /proc needed."""
    set_comm(sc, name)  # linux/: the C buffer (ctypes) stays in the kernel seam


def _stage_b(req: InitRequest) -> None:
    try:
        os.close(req.pid_w)
        try:
            with open("/proc/self/comm", "wb") as f:
                f.write(INIT_COMM)
        except PermissionError:  # rootless, non-dumpable: /proc/self is the host root's
            _set_name(req.syscalls, INIT_COMM)
        from dockyard.runtime import mounts  # noqa: F401  (while the caller makes the cgroup)

        _preload(req.spec)
        container_main(req)
    except BaseException as e:
        child_fail(req.err_w, e)
    os._exit(1)  # pragma: no cover - container_main execs or fails


# --------------------------------------------------------------------------- B: the init


def container_main(req: InitRequest) -> None:
    """Process B: set the container up and exec ``process.args``. Never returns.

    B waits for the caller's "go" (B is in its cgroup, the id maps are written) as late
    as it may: at once in a user namespace (mounting needs the mappings), else just
    before the cgroup mount or, without one, when the rootfs is ready; the mounts before
    that overlap the caller's cgroup work.
    """
    from dockyard.runtime import mounts

    spec, sc = req.spec, req.syscalls
    lx = spec.linux
    assert spec.process is not None
    proc = spec.process
    if req.late_r is not None:  # (A's seal closed the caller's other fds)
        # its setup is background work: the lowest priority (the caller restores its
        # own when it starts the container)
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    old_umask = os.umask(0)
    fd_dir = -1  # /proc/self/fd of the host's /proc, where the container has none
    new_ns = {n.type for n in (lx.namespaces if lx else ()) if n.path is None}
    userns = lx is not None and lx.namespace("user") is not None

    def go() -> None:
        ctx.joined = _read_go(req.go_r)
        if "cgroup" in new_ns:
            sc.unshare(c.CLONE_NEWCGROUP)  # after the caller put B in its cgroup

    from dockyard.linux.userns import running_in_userns  # rootless: devices bound, not made

    ctx = mounts.RootfsContext(
        req.rootfs, req.bundle, userns=userns or running_in_userns(),
        cgroupns="cgroup" in new_ns, before_cgroup=go,
    )  # fmt: skip
    # the exec fifo, opened while this process has the host's ids (the state directory is
    # 0700; the user namespace's root may be another host uid)
    fifo_fd = _open_fifo(req.fifo) if req.fifo else None
    if userns:
        ctx.cgroup_ready()
        _become_userns_root(sc, lx)  # type: ignore[arg-type]
    hooks = spec.hooks
    creating = created = b""
    if hooks.create_container or hooks.start_container:
        creating, created = _hook_states(req.state_json)
    if "mount" in new_ns or (lx is not None and lx.namespace("mount") is not None):
        mounts.prepare_rootfs(sc, spec, ctx)
        ctx.cgroup_ready()
        if hooks.create_container:
            run_hooks(hooks.create_container, creating, "createContainer")
        mounts.enter_rootfs(sc, req.rootfs, no_pivot=req.no_pivot)
        if lx is not None:  # runc's order: before readonlyPaths make /proc/sys read-only
            apply_sysctl(lx.sysctl)
        mounts.finish_rootfs(sc, spec)
        if req.console_fd is not None:  # the container's own devpts is in place now
            _console_inside(req.console_fd, proc.console_size)
    else:  # the runtime's mount namespace (runtime-spec: allowed): mount nothing there
        ctx.cgroup_ready()
        if hooks.create_container:
            run_hooks(hooks.create_container, creating, "createContainer")
        if fifo_fd is not None:  # the rootfs may have no /proc: reopen it through the host's
            fd_dir = os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        _enter_shared(sc, req.rootfs)
        if req.console_fd is not None:
            _console_inside(req.console_fd, proc.console_size)
    if "uts" in new_ns or (lx is not None and lx.namespace("uts") is not None):
        if spec.hostname:
            sc.sethostname(spec.hostname)
        if spec.domainname:
            sc.setdomainname(spec.domainname)
    if "network" in new_ns:
        sc.link_up("lo")
    if lx is not None and lx.personality is not None:
        sc.personality(c.PER_LINUX32 if lx.personality.domain == "LINUX32" else c.PER_LINUX)
    if req.late_r is not None:  # prepared ahead: the process is not known yet
        os.write(req.err_w, b"ready\n")
        proc = _read_late_process(req.late_r)
    check_lsm(proc)
    apply_rlimits(sc, proc)
    if proc.oom_score_adj is not None:
        write_oom_score_adj(proc.oom_score_adj)
    exe = find_executable(proc)
    check_capabilities(sc, proc)
    os.umask(proc.user.umask if proc.user.umask is not None else old_umask)
    ready = fifo_fd is not None
    if ready:
        os.write(req.err_w, b"ready\n")
        _wait_start(fifo_fd, req.err_w, fd_dir)  # type: ignore[arg-type]
    if hooks.start_container:
        run_hooks(hooks.start_container, created, "startContainer")
    finish_process(
        sc, proc, exe, req.err_w, req.seccomp_bpf, req.seccomp_flags, req.preserve_fds,
        report=not ready,
    )  # fmt: skip


def _become_userns_root(sc: Syscalls, lx: Linux) -> None:
    """Once the caller has written the id maps: take the user namespace's uid and gid 0
    (as runc's nsexec does). Until then this process keeps the host's ids (kuid 0), which
    the new namespace does not map unless it maps host 0, so every file it made in a
    filesystem of that namespace (the container's ``/dev`` tmpfs) failed with EOVERFLOW
    (``create mount point /dev/pts``: issue 22, container 0 → host 1000). A namespace
    that maps no 0 keeps the ids (the process setting it up may then lack rights)."""
    if any(m.container_id == 0 for m in lx.gid_mappings):
        sc.setgroups([])
        sc.setresgid(0, 0, 0)
    if any(m.container_id == 0 for m in lx.uid_mappings):
        sc.setresuid(0, 0, 0)


def _enter_shared(sc: Syscalls, rootfs: str) -> None:
    """Without a mount namespace of its own the container shares the runtime's mounts: the
    rootfs becomes ``/`` by ``chroot`` alone, and ``mounts``, devices, masked and read-only
    paths and a read-only root are not applied (each would change the host's mount table;
    docs/runtime.md)."""
    sc.chdir(rootfs)
    sc.chroot(".")
    sc.chdir("/")


def _read_late_process(fd: int) -> Process:
    """Wait for the process of a prepared container (its JSON, then EOF); nothing but
    EOF means the container was discarded: leave quietly."""
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    if not chunks:
        os._exit(0)
    from dockyard.oci import fastjson
    from dockyard.oci.runtime_spec import parse_process

    return parse_process(fastjson.loads(b"".join(chunks).decode()))


def _hook_states(state_json: bytes) -> tuple[bytes, bytes]:
    """The state createContainer and startContainer hooks get: ``creating`` and
    ``created``, with this init's pid as the host sees it (read before pivot_root, while
    ``/proc`` is still the host's)."""
    from dockyard.oci.runtime_spec import dumps_json, loads_json

    d = loads_json(state_json, "state")
    d["pid"] = int(os.readlink("/proc/self"))
    d["status"] = "creating"
    creating = dumps_json(d).encode()
    d["status"] = "created"
    return creating, dumps_json(d).encode()


def _preload_console() -> None:
    import array  # noqa: F401
    import socket  # noqa: F401
    import struct  # noqa: F401

    import dockyard.linux.constants
    import dockyard.runtime.console  # noqa: F401


def _preload(spec: Spec) -> None:
    """Import now what runs after pivot_root: the host's Python is out of reach then."""
    import _socket  # noqa: F401  (link_up)
    import fcntl  # noqa: F401
    import resource  # noqa: F401

    if spec.process is not None and spec.process.terminal:
        _preload_console()

    if spec.hooks.start_container:
        import selectors  # noqa: F401  (Popen.communicate with a timeout)
        import subprocess  # noqa: F401

        import dockyard.runtime.hooks  # noqa: F401


def finish_process(
    sc: Syscalls,
    proc: Process,
    exe: str,
    err_w: int,
    bpf: bytes | None,
    bpf_flags: int,
    preserve_fds: int,
    *,
    report: bool = True,
) -> None:
    """Fds, credentials, capabilities, NNP, seccomp, cwd, execve. Never returns.

    Fds are closed first, before any seccomp filter: a profile without ``close_range``
    (runtime-tools' is one) made Python's ``closerange`` fall back to a million
    ``close`` calls, ~0.5 s between ``start`` and the program (issue 22)."""
    close_fds(3 + preserve_fds, {err_w})  # close-on-exec: its EOF means "exec'd"
    if bpf is not None and not proc.no_new_privileges:
        sc.seccomp_filter(bpf, bpf_flags)  # needs CAP_SYS_ADMIN: before caps are dropped
    set_credentials(sc, proc)
    try:
        os.chdir(proc.cwd)
    except OSError as e:
        raise InvalidArgument(f"chdir to cwd {proc.cwd}: {why(e)}") from None
    if proc.no_new_privileges:
        sc.prctl(c.PR_SET_NO_NEW_PRIVS, 1)
    _reset_signals()
    if bpf is not None and proc.no_new_privileges:
        sc.seccomp_filter(bpf, bpf_flags)
    env = env_dict(proc.env)
    if report:  # the caller goes on now, not after the kernel has torn this process's
        os.write(err_w, EXEC_LINE)  # memory down (ms of an exec from Python); as runc's
    try:  # start, which returns before its init execs (the executable was checked above)
        os.execve(exe, list(proc.args), env)
    except OSError as e:
        os.write(2, f"exec {proc.args[0]}: {why(e)}\n".encode())
        os._exit(127 if e.errno == 2 else 126)


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    """``KEY=value`` strings as a dict (a bare ``KEY`` maps to the empty string)."""
    out: dict[str, str] = {}
    for item in env:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _reset_signals() -> None:
    """Every signal to its default action and an empty mask, as crun does before the
    program: what Python did (SIGPIPE, SIGXFSZ ignored) and any SIG_IGN this process
    inherited (execve keeps ignored signals ignored: a daemon started under ``nohup``
    ignores SIGHUP, one started as a background job SIGINT and SIGQUIT) would otherwise
    reach the program, which could then neither die by them nor trap them."""
    skip = (signal.SIGKILL, signal.SIGSTOP)
    for sig in signal.valid_signals():
        if sig not in skip:
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):  # the C library's own real-time signals
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _console_inside(sock: int, size: tuple[int, int] | None) -> None:
    """A pty of this mount namespace's ``/dev/pts``: the master sent on ``sock`` (to the
    runtime), the slave this process's controlling terminal and stdio."""
    from dockyard.runtime.console import open_pty_inside, send_master

    master, slave, path = open_pty_inside(size)
    try:
        send_master(sock, master, path)
    finally:
        os.close(master)
    _setup_console(slave)


def _setup_console(fd: int) -> None:
    import fcntl

    os.setsid()
    fcntl.ioctl(fd, c.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    if fd > 2:
        os.close(fd)


def _open_fifo(path: str) -> int:
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


def _wait_start(fd: int, err_w: int, fd_dir: int = -1) -> None:
    """Block until ``start`` opens the fifo for reading, then tell it we go on.

    The fifo's write end then takes the place of the error pipe (whose reader, ``create``,
    is gone): ``start`` reads until EOF, so it learns an error of what follows (hooks,
    credentials, ``chdir``) as one line, and otherwise returns only once the close-on-exec
    descriptor is closed by ``execve``, so that a signal sent after ``start`` returns
    meets the user's program, never this init (which, as PID 1 without a handler, would
    drop it: issue 22)."""
    try:
        if fd_dir >= 0:
            w = os.open(str(fd), os.O_WRONLY | os.O_CLOEXEC, dir_fd=fd_dir)
            os.close(fd_dir)
        else:
            w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise InvalidArgument(f"wait for start: open exec fifo: {why(e)}") from None
    os.write(w, b"0")
    os.dup2(w, err_w, inheritable=False)
    os.close(w)
    os.close(fd)


def run_hooks(hooks: tuple[Hook, ...], state_json: bytes, stage: str) -> None:
    """Run ``hooks`` in order with the state on stdin; a failure raises (see hooks.py)."""
    from dockyard.runtime.hooks import run_hook

    for i, h in enumerate(hooks):
        run_hook(h, state_json, f"{stage}[{i}]")


def apply_sysctl(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise InvalidArgument(f"set sysctl {key}={value}: {why(e)}") from None


def apply_rlimits(sc: Syscalls, proc: Process) -> None:
    """Set each rlimit; raising a hard limit needs CAP_SYS_RESOURCE, and says so."""
    import resource

    from dockyard.oci.runtime_spec import RLIMIT_TYPES

    for r in proc.rlimits:
        num = RLIMIT_TYPES[r.type]
        try:
            sc.setrlimit(num, r.soft, r.hard)
        except PermissionDenied:
            cur_hard = resource.getrlimit(num)[1]
            shown = "unlimited" if cur_hard == resource.RLIM_INFINITY else str(cur_hard)
            raise PermissionDenied(
                f"set rlimit {r.type} to {r.soft}:{r.hard}: raising the hard limit above "
                f"{shown} needs CAP_SYS_RESOURCE, which this runtime does not have"
            ) from None


def write_oom_score_adj(value: int) -> None:
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        hint = " (lowering it needs CAP_SYS_RESOURCE)" if e.errno == 13 else ""
        raise PermissionDenied(f"set oomScoreAdj {value}: {why(e)}{hint}") from None


def check_lsm(proc: Process) -> None:
    """AppArmor/SELinux labels are applied where the kernel has them, refused otherwise."""
    if proc.apparmor_profile and not os.path.isdir("/sys/kernel/security/apparmor"):
        from dockyard.errors import Unavailable

        raise Unavailable(
            f"apply apparmor profile {proc.apparmor_profile}: apparmor is not enabled on this host"
        )
    if proc.apparmor_profile:
        try:
            with open("/proc/self/attr/apparmor/exec", "w") as f:
                f.write(f"exec {proc.apparmor_profile}")
        except OSError as e:
            raise PermissionDenied(
                f"apply apparmor profile {proc.apparmor_profile}: {why(e)}"
            ) from None
    if proc.selinux_label:
        try:
            with open("/proc/self/attr/exec", "w") as f:
                f.write(proc.selinux_label)
        except OSError as e:
            raise PermissionDenied(f"apply selinux label {proc.selinux_label}: {why(e)}") from None


def find_executable(proc: Process) -> str:
    """``args[0]`` looked up like execvp, on the container's PATH; an ELF file or a
    script (``#!``), since the caller does not wait for the exec itself."""
    name = proc.args[0]
    if "/" in name:
        path = name if name.startswith("/") else os.path.join(proc.cwd, name)
        if os.path.isdir(path):
            raise PermissionDenied(f"exec {name}: is a directory")
        if not os.path.exists(path):
            raise NotFound(f"exec {name}: no such file or directory")
        if not os.access(path, os.X_OK):
            raise PermissionDenied(f"exec {name}: permission denied")
        _check_format(name, path)
        return name
    search = proc.env_value("PATH")
    if search is None:
        search = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for d in search.split(":"):
        cand = os.path.join(d or ".", name)
        if os.access(cand, os.X_OK) and not os.path.isdir(cand):
            _check_format(name, cand)
            return cand
    raise NotFound(f"exec {name}: executable file not found in $PATH")


def _check_format(name: str, path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            head = os.read(fd, 4)
        finally:
            os.close(fd)
    except OSError:
        return  # not readable here (the exec decides)
    if head != b"\x7fELF" and not head.startswith(b"#!"):
        raise PermissionDenied(f"exec {name}: exec format error")


def cap_mask(names: tuple[str, ...]) -> int:
    """The bit mask of capability names; names this kernel lacks are left out."""
    from dockyard.oci.runtime_spec import CAPABILITIES

    last = _last_cap()
    mask = 0
    for n in names:
        bit = CAPABILITIES.get(n)
        if bit is not None and bit <= last:
            mask |= 1 << bit
    return mask


_LAST_CAP: list[int] = []


def _last_cap() -> int:
    """The highest capability this kernel knows."""
    if not _LAST_CAP:
        try:
            with open("/proc/sys/kernel/cap_last_cap") as f:
                _LAST_CAP.append(int(f.read()))
        except OSError:
            _LAST_CAP.append(40)
    return _LAST_CAP[0]


def check_capabilities(sc: Syscalls, proc: Process) -> None:
    """Refuse, before ``start``, capabilities this process cannot pass on: ``capset`` would
    fail with EPERM after ``start`` returned, a container that dies unexplained (runc
    reports it at ``create`` too). Permitted and effective must be held now; inheritable
    held or already inheritable."""
    caps = proc.capabilities
    if caps is None:
        return
    _, held, inheritable = sc.capget()
    missing = (cap_mask(caps.permitted) | cap_mask(caps.effective)) & ~held
    missing |= cap_mask(caps.inheritable) & ~(held | inheritable)
    if missing:
        from dockyard.oci.runtime_spec import CAPABILITIES

        names = sorted(n for n, bit in CAPABILITIES.items() if missing >> bit & 1)
        raise PermissionDenied(
            f"apply process.capabilities: {', '.join(names)}: not held by the runtime"
            " (the host does not grant them)"
        )


def set_credentials(sc: Syscalls, proc: Process) -> None:
    """Bounding set, groups, gid, uid (keeping caps), then the four other cap sets."""
    caps = proc.capabilities
    user = proc.user
    if caps is not None:
        sc.prctl(c.PR_SET_KEEPCAPS, 1)
        keep = cap_mask(caps.bounding)
        for bit in range(_last_cap() + 1):
            if not keep & (1 << bit):
                sc.prctl(c.PR_CAPBSET_DROP, bit)
    sc.setgroups(list(user.additional_gids))
    sc.setresgid(user.gid, user.gid, user.gid)
    sc.setresuid(user.uid, user.uid, user.uid)
    if caps is None:
        return
    sc.capset(cap_mask(caps.effective), cap_mask(caps.permitted), cap_mask(caps.inheritable))
    sc.prctl(c.PR_SET_KEEPCAPS, 0)
    sc.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_CLEAR_ALL)
    # the kernel only raises ambient caps that are permitted and inheritable;
    # the others are skipped (the spec says: warn, do not fail)
    ambient = cap_mask(caps.ambient) & cap_mask(caps.inheritable) & cap_mask(caps.permitted)
    for bit in range(_last_cap() + 1):
        if ambient & (1 << bit):
            sc.prctl(c.PR_CAP_AMBIENT, c.PR_CAP_AMBIENT_RAISE, bit)


def close_fds(first: int, keep: set[int]) -> None:
    """Close every fd from ``first`` on, except those in ``keep``."""
    for fd in sorted(k for k in keep if k >= first):
        if fd > first:
            os.closerange(first, fd)
        first = fd + 1
    os.closerange(first, 1 << 20)


# --------------------------------------------------------------------------- exec


def run_exec_stage_a(req: ExecRequest) -> None:
    """``exec``: A joins the init's namespaces, forks B (so the pid ns applies). Never returns."""
    try:
        import fcntl  # noqa: F401  (the container's filesystem has no Python)
        import resource  # noqa: F401

        if req.console_fd is not None:
            _preload_console()

        sc = req.syscalls
        keep = {req.err_w, req.pid_w, req.go_r}
        if req.console_fd is not None:
            keep.add(req.console_fd)
        seal(sc, 3 + req.preserve_fds, keep)
        joins = [
            (t, f"/proc/{req.init_pid}/ns/{c.NAMESPACE_FILES[t]}")
            for t in req.namespaces
            if t != "cgroup"
        ]
        cgroup_ns = -1
        if "cgroup" in req.namespaces:  # opened now: after the mount ns join, /proc is the
            path = f"/proc/{req.init_pid}/ns/cgroup"  # container's, where init_pid is not
            try:
                cgroup_ns = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as e:
                raise NotFound(f"join cgroup namespace {path}: {why(e)}") from None
        _join_namespaces(sc, joins)
        pid = os.fork()
        if pid == 0:
            _exec_stage_b(req, cgroup_ns)
        _write_pid(req.pid_w, pid)
        os._exit(0)
    except BaseException as e:
        child_fail(req.err_w, e)


def _exec_stage_b(req: ExecRequest, cgroup_ns: int = -1) -> None:
    try:
        os.close(req.pid_w)
        _read_go(req.go_r)
        if cgroup_ns >= 0:
            try:
                req.syscalls.setns(cgroup_ns, c.NAMESPACE_FLAGS["cgroup"])
            except DockyardError as e:
                raise InvalidArgument(f"join cgroup namespace of {req.init_pid}: {e}") from None
            os.close(cgroup_ns)
        if req.console_fd is not None:
            _console_inside(req.console_fd, req.process.console_size)
        proc = req.process
        apply_rlimits(req.syscalls, proc)
        exe = find_executable(proc)
        if proc.user.umask is not None:
            os.umask(proc.user.umask)
        finish_process(
            req.syscalls, proc, exe, req.err_w, req.seccomp_bpf, req.seccomp_flags,
            req.preserve_fds,
        )  # fmt: skip
    except BaseException as e:
        child_fail(req.err_w, e)
    os._exit(1)  # pragma: no cover
