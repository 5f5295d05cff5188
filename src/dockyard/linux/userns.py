"""The user namespace an ordinary user's dockyard runs in (rootless), and joining it.

Vocabulary:

- **subordinate ids**: the range of host uids (gids) ``/etc/subuid`` (``/etc/subgid``) lends
  a user, ``alice:100000:65536``; the setuid helpers ``newuidmap``/``newgidmap`` (Debian's
  ``uidmap``) write a namespace's map with them, which an unprivileged process cannot;
- the **holder**: a process (``sleep infinity`` after the set-up) that owns a user namespace
  with a mount and a network namespace made with it, mapped ``0 → the user, 1..N → the
  subordinate range``. It lives on after the command that made it, so later commands join
  the same namespaces (podman's "pause process");
- **joining**: ``setns`` into the holder's user, mount and network namespaces, in that order.
  Afterwards the caller is uid 0 with every capability *in that namespace* (not on the host).

Lifecycle::

    sub = read_subids("/etc/subuid", "alice", 1000)        # SubIdRange(100000, 65536)
    pid = make_holder(1000, 1000, sub, read_subids("/etc/subgid", "alice", 1000))
    join(pid)                                              # now "root" inside

Errors: no subordinate ids, a missing helper, or a helper that refuses → FailedPrecondition
with the file or command to fix; a holder that is gone when joined → NotFound.

This module is the kernel seam only; which directories, locks and networking go with the
holder is :mod:`dockyard.engine.rootless`'s business.
"""

from __future__ import annotations

import os

from dockyard.errors import FailedPrecondition, NotFound
from dockyard.linux import constants as c
from dockyard.records import record  # not dataclasses: the init imports this module (9 ms)

__all__ = [
    "SubIdRange",
    "in_namespace_of",
    "join",
    "make_holder",
    "read_subids",
    "running_in_userns",
]

_PR_SET_DUMPABLE = 4

# the holder's namespaces, in the order they are joined (user first: it grants the rights
# the other two need)
_KINDS = (("user", c.CLONE_NEWUSER), ("mnt", c.CLONE_NEWNS), ("net", c.CLONE_NEWNET))


@record
class SubIdRange:
    """``count`` host ids from ``start``: what a namespace's ids 1..count map to."""

    start: int
    count: int


def read_subids(path: str, user: str, uid: int) -> SubIdRange:
    """The first range of ``path`` (``/etc/subuid`` form) for ``user`` (by name or uid).

    Raises FailedPrecondition naming the file and the line to add when there is none.
    """
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as e:
        raise FailedPrecondition(
            f"read {path}: {e.strerror.lower() if e.strerror else e}"
        ) from None
    for line in lines:
        parts = line.strip().split(":")
        if len(parts) != 3 or parts[0] not in (user, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count > 0 and start >= 0:
            return SubIdRange(start, count)
    raise FailedPrecondition(
        f"rootless: no subordinate ids for user {user} in {path} "
        f"(add a line such as '{user}:100000:65536')"
    )


def _helper(name: str) -> str:
    import shutil

    path = shutil.which(name) or next(
        (p for p in (f"/usr/bin/{name}", f"/bin/{name}") if os.access(p, os.X_OK)), ""
    )
    if not path:
        raise FailedPrecondition(f"rootless: {name} not found (install the uidmap package)")
    return path


def _write_map(helper: str, pid: int, own: int, sub: SubIdRange) -> None:
    import subprocess

    argv = [helper, str(pid), "0", str(own), "1", "1", str(sub.start), str(sub.count)]
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        line = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        raise FailedPrecondition(f"rootless: {os.path.basename(helper)}: {line}")


def make_holder(
    uid: int, gid: int, subuid: SubIdRange, subgid: SubIdRange, keep_fd: int = -1
) -> int:
    """Fork the holder, map its user namespace, and return its pid (it runs detached).

    The child unshares a user, a mount and a network namespace and waits; this process,
    still unprivileged on the host, writes the maps with newuidmap/newgidmap; then the
    child becomes ``sleep infinity`` in a session of its own (no terminal's SIGHUP ends it).
    ``keep_fd`` stays open in the holder as its fd 3 (a pipe whose reader learns of its end).
    """
    import shutil

    uidmap, gidmap = _helper("newuidmap"), _helper("newgidmap")
    sleep = shutil.which("sleep") or "/bin/sleep"
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(ready_r)
            os.close(go_w)
            from dockyard.linux.syscalls import LibcSyscalls

            LibcSyscalls().unshare(c.CLONE_NEWUSER | c.CLONE_NEWNS | c.CLONE_NEWNET)
            os.write(ready_w, b"u")
            if os.read(go_r, 1) != b"g":
                os._exit(1)
            os.setsid()
            os.chdir("/")
            null = os.open("/dev/null", os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            if keep_fd >= 0:
                os.dup2(keep_fd, 3)
                os.set_inheritable(3, True)
            os.closerange(4 if keep_fd >= 0 else 3, 1 << 16)
            os.execv(sleep, [sleep, "infinity"])
        except BaseException:
            code = 1
        os._exit(code)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"u":
            raise FailedPrecondition(
                "rootless: cannot create a user namespace (unprivileged user namespaces "
                "disabled? see /proc/sys/user/max_user_namespaces)"
            )
        _write_map(uidmap, pid, uid, subuid)
        _write_map(gidmap, pid, gid, subgid)
        os.write(go_w, b"g")
    except BaseException:
        os.close(go_w)  # the child reads EOF and exits
        go_w = -1
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready_r)
        if go_w >= 0:
            os.close(go_w)
    return pid


def running_in_userns(uid_map: str | None = None) -> bool:
    """This process is in a user namespace other than the initial one (its uid map is not
    the identity over every id), as runc's ``RunningInUserNS``: device nodes must then be
    bound from the host, since mknod is refused."""
    if uid_map is None:
        try:
            with open("/proc/self/uid_map", encoding="ascii") as f:
                uid_map = f.read()
        except OSError:
            return False
    return uid_map.split() != ["0", "0", "4294967295"]


def in_namespace_of(pid: int) -> bool:
    """This process is in ``pid``'s user namespace (False when ``pid`` is gone)."""
    try:
        return os.stat("/proc/self/ns/user").st_ino == os.stat(f"/proc/{pid}/ns/user").st_ino
    except OSError:
        return False


def join(pid: int) -> None:
    """``setns`` into ``pid``'s user, mount and network namespaces (single-threaded callers
    only, as the kernel requires for a user namespace). The working directory is kept where
    the mount namespace still shows it."""
    fds: list[int] = []
    try:
        for kind, _ in _KINDS:
            try:
                fds.append(os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
            except FileNotFoundError:
                raise NotFound(f"rootless: the namespace holder {pid} is gone") from None
            except PermissionError:
                raise FailedPrecondition(
                    f"rootless: the namespace holder {pid} is not this user's"
                ) from None
        try:
            cwd = os.getcwd()
        except OSError:
            cwd = "/"
        from dockyard.linux.syscalls import LibcSyscalls

        sc = LibcSyscalls()
        for fd, (_, flag) in zip(fds, _KINDS, strict=True):
            sc.setns(fd, flag)
        # the new credentials made this process non-dumpable, so its /proc/self files
        # became the host root's, which the namespace's root cannot write (comm, uid_map)
        sc.prctl(_PR_SET_DUMPABLE, 1)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/")
    finally:
        for fd in fds:
            os.close(fd)
