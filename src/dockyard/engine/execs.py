"""Exec instances: a process run inside a running container (``docker exec``).

Lifecycle (Docker's): ``create`` records the command (``Cmd``, ``Env``, ``User``,
``WorkingDir``, ``Tty``) under a new exec id; ``start`` asks the shim to run it in
the container's namespaces and cgroup (:meth:`dockyard.runtime.Runtime.exec`),
with the client's descriptors as its stdio or detached; the shim reports its exit
and ``inspect`` shows ``Running``, ``ExitCode`` and ``Pid``. Exec instances live
in the daemon's memory (as docker's); one that ran is kept for an hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import config_of
from dockyard.errors import DockyardError, FailedPrecondition, InvalidArgument, NotFound
from dockyard.records import field, record

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["ExecConfig", "ExecInstance", "ExecManager"]


@record
class ExecConfig:
    cmd: list[str]
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    tty: bool = False
    privileged: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = True
    attach_stderr: bool = True
    detach_keys: str = ""  # Docker's spec (``ctrl-p,ctrl-q``); empty: the default


@record(frozen=False)
class ExecInstance:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    created: float = 0.0
    done: asyncio.Future[int] | None = None


class ExecManager:
    """The exec instances of one daemon."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.instances: dict[str, ExecInstance] = {}

    def create(self, ref: str, config: ExecConfig) -> ExecInstance:
        rec = self.d.get(ref)
        if rec.status != "running":
            raise FailedPrecondition(f"exec in {rec.name}: container {rec.id[:12]} is not running")
        if not config.cmd:
            raise InvalidArgument("exec: no command specified")
        self._expire()
        inst = ExecInstance(secrets.token_hex(32), rec.id, config, created=time.time())
        self.instances[inst.id] = inst
        return inst

    def get(self, eid: str) -> ExecInstance:
        inst = self.instances.get(eid)
        if inst is None:
            raise NotFound(f"exec {eid}: no such exec instance")
        return inst

    def _expire(self) -> None:
        old = time.time() - 3600
        for eid, inst in list(self.instances.items()):
            if not inst.running and inst.created < old:
                del self.instances[eid]

    def process(self, inst: ExecInstance) -> dict[str, Any]:
        """The OCI process for an exec: the container's env and cwd unless overridden."""
        from dockyard.runtime.users import read_in_root, resolve_user

        rec = self.d.get(inst.container_id)
        cfg = config_of(rec)
        spec_proc = cfg.process()
        env: dict[str, str] = {}
        for item in cfg.env() + list(inst.config.env):
            k, _, v = str(item).partition("=")
            env[k] = v
        own = spec_proc.get("user")
        user: dict[str, object] = (
            dict(own) if isinstance(own, dict) and own else {"uid": 0, "gid": 0}
        )
        if inst.config.user:
            rootfs = self.d.bundle(rec.id) / "rootfs"
            u = resolve_user(inst.config.user, read_in_root(rootfs, "/etc/passwd"),
                             read_in_root(rootfs, "/etc/group"))  # fmt: skip
            user = {"uid": u.uid, "gid": u.gid}
            if u.additional_gids:
                user["additionalGids"] = list(u.additional_gids)
        cwd = inst.config.workdir or str(spec_proc.get("cwd") or "") or "/"
        if not cwd.startswith("/"):
            raise InvalidArgument(f"exec: the working directory {cwd!r} must be absolute")
        proc: dict[str, Any] = {
            "terminal": inst.config.tty, "user": user, "args": list(inst.config.cmd),
            "env": [f"{k}={v}" for k, v in env.items()], "cwd": cwd,
            "noNewPrivileges": bool(spec_proc.get("noNewPrivileges", True)),
        }  # fmt: skip
        if inst.config.privileged:
            from dockyard.engine.spec import ALL_CAPS

            caps = ["CAP_" + c for c in ALL_CAPS]
            proc["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
        return proc

    async def start(
        self,
        eid: str,
        stdio: dict[str, int] | None = None,
        detach: bool = False,
        detach_keys: bytes | None = None,
    ) -> ExecInstance:
        inst = self.get(eid)
        if inst.running or inst.exit_code is not None:
            raise FailedPrecondition(f"exec {eid[:12]}: already started")
        rec = self.d.get(inst.container_id)
        if rec.status != "running":
            raise FailedPrecondition(f"exec in {rec.name}: container {rec.id[:12]} is not running")
        loop = asyncio.get_running_loop()
        inst.done = loop.create_future()

        def on_exit(msg: dict[str, Any]) -> None:
            inst.running = False
            inst.exit_code = int((msg.get("exit") or {}).get("code", 255))
            self.d.exec_events.pop(eid, None)
            if inst.done is not None and not inst.done.done():
                inst.done.set_result(inst.exit_code)

        self.d.exec_events[eid] = on_exit
        names = list(stdio or {})
        fds = [stdio[n] for n in names] if stdio else []
        msg: dict[str, Any] = {
            "op": "exec", "id": rec.id, "eid": eid, "process": self.process(inst),
            "tty": inst.config.tty, "detach": detach, "fds": names,
        }  # fmt: skip
        if detach_keys is not None:
            msg["detach_keys"] = list(detach_keys)
        try:
            answer = await self.d.shim.call(msg, fds)
        except BaseException as exc:
            self.d.exec_events.pop(eid, None)
            if isinstance(exc, DockyardError):
                # it never ran: dockerd's exit codes (127: no such command, 126: one that
                # cannot be executed), so an inspect after the failed start has one
                on_exit({"exit": {"code": 127 if isinstance(exc, NotFound) else 126}})
            raise
        inst.pid = int(answer.get("pid") or 0)
        inst.running = inst.exit_code is None
        self.d.emit(rec, "exec_start: " + " ".join(inst.config.cmd), execID=eid)
        return inst

    async def run_captured(self, cid: str, cmd: list[str], timeout: float) -> tuple[int, str]:
        """Run ``cmd`` in the container, return (exit code, first 4 KiB of its output);
        kill it after ``timeout`` (exit code -1, as docker's health checks)."""
        import os

        inst = self.create(cid, ExecConfig(cmd=cmd))
        r, w = os.pipe2(os.O_CLOEXEC)
        try:
            await self.start(inst.id, {"stdout": w, "stderr": w})
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        loop = asyncio.get_running_loop()
        reader = loop.run_in_executor(None, _read_all, r)
        assert inst.done is not None
        try:
            code = await asyncio.wait_for(asyncio.shield(inst.done), timeout)
        except TimeoutError:
            if inst.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(inst.pid, 9)
            code = -1
        try:
            out = await asyncio.wait_for(reader, 2.0)
        except TimeoutError:
            out = b""
        self.instances.pop(inst.id, None)
        return code, out[:4096].decode(errors="replace")


def _read_all(fd: int) -> bytes:
    import os

    chunks: list[bytes] = []
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            if sum(len(c) for c in chunks) < 65536:
                chunks.append(data)
    finally:
        os.close(fd)
    return b"".join(chunks)
