"""OCI hooks: run one hook with the container state on stdin, within its timeout.

A hook is ``{path, args, env, timeout}``; ``args[0]`` is the program's argv[0]
(as in execv), so ``args`` may be empty and then ``[path]`` is used; ``env`` is
the hook's whole environment. A hook that exits non-zero, cannot be started or
outlives its timeout raises FailedPrecondition naming the stage and the path;
the caller decides whether that stops the container (prestart … poststart) or
is only a warning (poststop).

A hook runs in a process group of its own: on timeout the whole group gets
SIGKILL, so nothing it started (``sh -c 'sleep 100'``) outlives it.

State JSON per stage (as runc): prestart, createRuntime and createContainer get
``status: creating``, startContainer ``created``, poststart ``running``,
poststop ``stopped``; ``pid`` is the init's pid as the host sees it (0 once
stopped).
"""

from __future__ import annotations

import os

from dockyard.errors import FailedPrecondition

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Hook

__all__ = ["run_hook"]


def run_hook(hook: Hook, state_json: bytes, label: str) -> None:
    """Run ``hook``; ``label`` (``prestart[0]``) names it in errors."""
    import subprocess

    from dockyard.runtime.init import env_dict

    env = env_dict(hook.env)
    try:
        proc = subprocess.Popen(
            list(hook.args) or [hook.path],
            executable=hook.path,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as e:
        raise FailedPrecondition(
            f"run {label} hook {hook.path}: {(e.strerror or str(e)).lower()}"
        ) from None
    try:
        _, err = proc.communicate(state_json, timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        raise FailedPrecondition(
            f"run {label} hook {hook.path}: timed out after {hook.timeout}s (killed)"
        ) from None
    except BaseException:
        _kill_group(proc.pid)
        proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        why = (
            f"exit status {proc.returncode}"
            if proc.returncode > 0
            else (f"killed by signal {-proc.returncode}")
        )
        raise FailedPrecondition(f"run {label} hook {hook.path}: {why}: {tail[0]}".rstrip(": "))


def _kill_group(pgid: int) -> None:
    try:  # not contextlib.suppress: slow to import
        os.killpg(pgid, 9)
    except OSError:
        pass
