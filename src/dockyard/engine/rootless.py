"""dockyard run by an ordinary user (rootless): its directories, namespaces, network, cgroups.

Every ``dockyard``/``dockyardd``/``dockyard-runtime`` process of a user who is not root calls
:func:`enter` first. It

1. picks the user's directories, as podman does: state under ``$XDG_DATA_HOME/dockyard``
   (``~/.local/share/dockyard``), sockets and run state under ``$XDG_RUNTIME_DIR/dockyard``
   (``/run/user/<uid>/dockyard``; ``/tmp/dockyard-run-<uid>`` without one);
2. makes, once per user and boot, the **holder** (:mod:`dockyard.linux.userns`): a process
   owning a user namespace (0 → the user, 1..65536 → ``/etc/subuid``), a mount namespace and
   a network namespace, its pid in ``holder.pid``, with **slirp4netns** attached to that
   network namespace (``tap0``, 10.0.2.100/24, the host reached through user-space TCP/IP;
   its API socket forwards published ports, :mod:`dockyard.network.slirp`). slirp4netns
   exits with the holder (``--exit-fd``);
3. joins the holder's namespaces. From then on the existing code runs as "root" in them:
   overlay mounts, container namespaces, bridges and nft rules in the holder's network
   namespace, which is "the host" the containers see;
4. decides about cgroups: with a cgroup v2 subtree delegated to the user (a systemd user
   unit or scope with ``Delegate=yes``) the cgroupfs driver limits containers beneath it;
   otherwise ``DOCKYARD_CGROUPS=disabled`` (:class:`dockyard.cgroups.NullManager`) and one
   notice, ``resource limits are not enforced: <why>``.

The choices are passed down through the environment (the daemon a CLI starts inherits it):
``DOCKYARD_ROOT``/``DOCKYARD_RUN_ROOT`` (unless set), ``DOCKYARD_CGROUP_MANAGER=cgroupfs``
(unless set: the systemd driver would ask the *system* manager), ``DOCKYARD_CGROUPS``,
``DOCKYARD_SLIRP_API`` and ``_DOCKYARD_ROOTLESS`` (the run directory: a process that is uid 0
and finds itself in the holder's namespace knows it is rootless).

See docs/rootless.md and docs/decisions/rootless-holder-and-slirp4netns.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dockyard.errors import FailedPrecondition

__all__ = ["NOTICE_COMMANDS", "Rootless", "cgroup_problem", "enter", "slirp_argv", "user_dirs"]

MARKER = "_DOCKYARD_ROOTLESS"
LEAF = "dockyard-leaf"  # dockyard.cgroups._paths.LEAF (not imported: keep the start path lean)
# commands that make containers: where the cgroup notice is worth a line
NOTICE_COMMANDS = frozenset({"run", "create", "build", "fg-run", "compose", "apply"})
_SLIRP_READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Rootless:
    """What :func:`enter` set up: the user's directories, the holder, and ``cgroups`` ("" when
    containers can be limited, else why not, in one line)."""

    data_dir: str
    run_dir: str
    holder: int
    cgroups: str


def user_dirs(
    env: dict[str, str] | os._Environ[str] | None = None, uid: int | None = None
) -> tuple[str, str]:
    """``(data root, run root)`` of an ordinary user, from the XDG variables."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    home = env.get("HOME") or os.path.expanduser("~")
    data = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    run = env.get("XDG_RUNTIME_DIR") or ""
    if not run:
        run = f"/run/user/{uid}" if os.access(f"/run/user/{uid}", os.W_OK) else ""
    run_root = os.path.join(run, "dockyard") if run else f"/tmp/dockyard-run-{uid}"
    return os.path.join(data, "dockyard"), run_root


def cgroup_problem(mount: str = "/sys/fs/cgroup", proc_cgroup: str | None = None) -> str:
    """ "" when this process's cgroup v2 subtree is delegated to it (writable, with cpu,
    memory and pids offered), else why containers cannot be limited."""
    if not os.path.exists(os.path.join(mount, "cgroup.controllers")):
        return "cgroup v1 does not delegate cgroups to an unprivileged user"
    if proc_cgroup is None:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            proc_cgroup = f.read()
    own = next((ln[3:] for ln in proc_cgroup.splitlines() if ln.startswith("0::")), "")
    head, _, name = own.rstrip("/").rpartition("/")
    base = (head or "/") if name == LEAF else own
    base_dir = os.path.join(mount, base.lstrip("/"))
    if not all(os.access(os.path.join(base_dir, f), os.W_OK)
               for f in ("", "cgroup.procs", "cgroup.subtree_control")):  # fmt: skip
        return (
            f"cgroup {base} is not delegated to this user "
            "(run under: systemd-run --user --scope -p Delegate=yes)"
        )
    try:
        with open(os.path.join(base_dir, "cgroup.controllers"), encoding="utf-8") as f:
            offered = set(f.read().split())
    except OSError:
        offered = set()
    missing = [x for x in ("cpu", "memory", "pids") if x not in offered]
    if missing:
        return (
            f"cgroup {base}: controller {', '.join(missing)} not delegated "
            "(systemd: Delegate=cpu memory pids in user@.service)"
        )
    return ""


def _enter_leaf(mount: str = "/sys/fs/cgroup") -> None:
    """Move this process into ``<its cgroup>/dockyard-leaf`` (before it forks the holder and
    the daemon), so that the delegated base holds no process and can enable controllers."""
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        own = next((ln[3:].strip() for ln in f if ln.startswith("0::")), "")
    if not own or own.rstrip("/").endswith("/" + LEAF):
        return
    leaf = os.path.join(mount, own.lstrip("/"), LEAF)
    try:
        os.makedirs(leaf, exist_ok=True)
        with open(os.path.join(leaf, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        return  # cgroup_problem says why later


def _alive_holder(path: str, uid: int) -> int:
    """The pid in ``path`` when it is this user's running holder, else 0."""
    try:
        with open(path) as f:
            pid = int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0
    if pid <= 0:
        return 0
    try:
        st = os.stat(f"/proc/{pid}")
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except OSError:
        return 0
    return pid if st.st_uid == uid and comm == "sleep" else 0


def slirp_argv(exe: str, api: str, holder: int, ready_fd: int, exit_fd: int) -> list[str]:
    """slirp4netns's command line for the holder's namespaces. ``--disable-host-loopback``:
    10.0.2.2 does not lead to the host's 127.0.0.1, so a container cannot reach what the
    user's host serves on loopback only (podman's default too)."""
    return [exe, "--configure", "--mtu=65520", "--disable-host-loopback",
            f"--api-socket={api}", f"--ready-fd={ready_fd}", f"--exit-fd={exit_fd}",
            "--netns-type=path", f"--userns-path=/proc/{holder}/ns/user",
            f"/proc/{holder}/ns/net", "tap0"]  # fmt: skip


def _start_slirp(run_dir: str, holder: int, exit_r: int) -> None:
    """slirp4netns on the holder's network namespace, ready (``--ready-fd``) before return."""
    import select
    import shutil
    import subprocess

    exe = shutil.which("slirp4netns")
    if exe is None:
        raise FailedPrecondition(
            "rootless: slirp4netns not found (install the slirp4netns package)"
        )
    api = os.path.join(run_dir, "slirp4netns.sock")
    for stale in (api, os.path.join(run_dir, "network.problem")):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    ready_r, ready_w = os.pipe()
    argv = slirp_argv(exe, api, holder, ready_w, exit_r)
    log = os.open(
        os.path.join(run_dir, "slirp4netns.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600
    )
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             pass_fds=(ready_w, exit_r), start_new_session=True)  # fmt: skip
    finally:
        os.close(log)
        os.close(ready_w)
    try:
        ok = select.select([ready_r], [], [], _SLIRP_READY_TIMEOUT)[0] and os.read(ready_r, 1)
    finally:
        os.close(ready_r)
    if not ok:
        p.kill()
        p.wait()
        with open(os.path.join(run_dir, "slirp4netns.log"), errors="replace") as f:
            why = f.read().strip().splitlines()[:1]
        raise FailedPrecondition(f"slirp4netns did not start: {why[0] if why else 'no output'}")
    with open(os.path.join(run_dir, "slirp4netns.pid"), "w") as f:
        f.write(str(p.pid))


def _make_holder(run_dir: str, uid: int, gid: int) -> int:
    import pwd

    from dockyard.linux.userns import make_holder, read_subids

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    subuid = read_subids("/etc/subuid", name, uid)
    subgid = read_subids("/etc/subgid", name, uid)
    exit_r, exit_w = os.pipe()  # the holder keeps exit_w open: slirp4netns ends with it
    try:
        pid = make_holder(uid, gid, subuid, subgid, keep_fd=exit_w)
        os.close(exit_w)
        exit_w = -1
        try:
            _start_slirp(run_dir, pid, exit_r)
        except FailedPrecondition as e:  # containers still run: no way out, no -p
            _note(run_dir, str(e))
    finally:
        os.close(exit_r)
        if exit_w >= 0:
            os.close(exit_w)
    tmp = os.path.join(run_dir, f"holder.pid.{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.replace(tmp, os.path.join(run_dir, "holder.pid"))
    return pid


def _sbin_on_path() -> None:
    parts = os.environ.get("PATH", "/usr/bin:/bin").split(":")
    extra = [d for d in ("/usr/sbin", "/sbin") if d not in parts]
    if extra:
        os.environ["PATH"] = ":".join([*parts, *extra])


def _init_netns() -> None:
    """The holder's network namespace, just joined: loopback up (slirp4netns --configure
    does it too; without it, -p still binds here) and IPv4 forwarding on, since it is this
    user's own router between tap0 and the bridges (the host's setting is reported, never
    changed: docs/decisions/network-ip-forward-is-reported-not-set.md; a new namespace
    copies it, and Debian's is 0)."""
    from dockyard.linux.syscalls import LibcSyscalls

    LibcSyscalls().link_up("lo")
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("1\n")


def _note(run_dir: str, problem: str) -> None:
    """Keep why the user-space network is missing (``network.problem``), and say it once."""
    import sys

    with open(os.path.join(run_dir, "network.problem"), "w") as f:
        f.write(problem + "\n")
    print(f"dockyard: notice: no network beyond this user's namespace: {problem}", file=sys.stderr)


def _from_inside() -> Rootless | None:
    """Already in the holder's namespaces (a daemon the CLI forked, a shim, a runtime)."""
    run_dir = os.environ.get(MARKER, "")
    if not run_dir:
        return None
    from dockyard.linux.userns import in_namespace_of

    pid = (
        _alive_holder(os.path.join(run_dir, "holder.pid"), os.stat(run_dir).st_uid)
        if os.path.isdir(run_dir)
        else 0
    )
    if not pid or not in_namespace_of(pid):
        return None  # root itself, with the variable left over: not rootless
    data_dir = os.environ.get("DOCKYARD_ROOT", "")
    return Rootless(data_dir, run_dir, pid, _cgroups_env())


def _cgroups_env() -> str:
    problem = cgroup_problem()
    if problem:
        os.environ["DOCKYARD_CGROUPS"] = "disabled"
    else:
        os.environ.pop("DOCKYARD_CGROUPS", None)
    return problem


def enter(command: str = "") -> Rootless | None:
    """Make or join this user's holder and set the environment (see the module's doc); None
    for root. Prints the cgroup notice once when ``command`` makes containers."""
    if os.geteuid() == 0:
        return _from_inside()
    try:
        return _enter(command)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        raise FailedPrecondition(f"rootless: {where}{(e.strerror or str(e)).lower()}") from None


def _enter(command: str) -> Rootless:
    import fcntl

    uid, gid = os.getuid(), os.getgid()
    data_dir, run_dir = user_dirs()
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    if os.stat(run_dir).st_uid != uid:
        raise FailedPrecondition(f"rootless: {run_dir} is not owned by uid {uid}")
    if not cgroup_problem():
        _enter_leaf()
    with open(os.path.join(run_dir, "rootless.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = _alive_holder(os.path.join(run_dir, "holder.pid"), uid)
        made = not pid
        if made:
            pid = _make_holder(run_dir, uid, gid)
    from dockyard.linux.userns import join

    os.environ.setdefault("DOCKYARD_ROOT", data_dir)
    os.environ.setdefault("DOCKYARD_RUN_ROOT", run_dir)
    os.environ.setdefault("DOCKYARD_CGROUP_MANAGER", "cgroupfs")
    _sbin_on_path()  # nft and ip live in /usr/sbin, which a user's PATH leaves out
    os.environ["DOCKYARD_SLIRP_API"] = os.path.join(run_dir, "slirp4netns.sock")
    os.environ[MARKER] = run_dir
    join(pid)
    if made:
        _init_netns()
    problem = _cgroups_env()
    if problem and command in NOTICE_COMMANDS:
        import sys

        print(f"dockyard: notice: resource limits are not enforced: {problem}", file=sys.stderr)
    return Rootless(os.environ["DOCKYARD_ROOT"], run_dir, pid, problem)
