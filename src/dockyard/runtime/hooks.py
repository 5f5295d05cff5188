"""OCI hooks: run one hook with the container state on stdin, within its timeout.

A hook is ``{path, args, env, timeout}``; ``args[0]`` is the program's argv[0]
(as in execv), so ``args`` may be empty and then ``[path]`` is used. A hook that
exits non-zero, cannot be started or outlives its timeout raises
FailedPrecondition naming the stage and the path; the caller decides whether
that stops the container (prestart … poststart) or is only a warning
(poststop).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dockyard.errors import FailedPrecondition

if TYPE_CHECKING:
    from dockyard.oci.runtime_spec import Hook

__all__ = ["run_hook"]


def run_hook(hook: Hook, state_json: bytes, label: str) -> None:
    """Run ``hook``; ``label`` (``prestart[0]``) names it in errors."""
    import subprocess

    from dockyard.runtime.init import env_dict

    env = env_dict(hook.env)
    try:
        done = subprocess.run(
            list(hook.args) or [hook.path],
            executable=hook.path,
            input=state_json,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=hook.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise FailedPrecondition(
            f"run {label} hook {hook.path}: timed out after {hook.timeout}s"
        ) from None
    except OSError as e:
        raise FailedPrecondition(f"run {label} hook {hook.path}: {e.strerror}".lower()) from None
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        why = (
            f"exit status {done.returncode}"
            if done.returncode > 0
            else (f"killed by signal {-done.returncode}")
        )
        raise FailedPrecondition(f"run {label} hook {hook.path}: {why}: {tail[0]}".rstrip(": "))
