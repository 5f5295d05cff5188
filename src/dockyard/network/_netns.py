"""Run a function inside another network namespace without moving the calling process.

A network namespace belongs to a thread, not to the process: ``setns(fd, CLONE_NEWNET)`` in a
short-lived helper thread moves only that thread. Everything the function does there — netlink
sockets, ``bind``, ``/proc/sys/net`` writes, ``subprocess`` children (a forked child inherits
the calling thread's namespaces) — happens in the target namespace, and a socket keeps its
namespace after the thread ends. The daemon's own threads and event loop never move.

Why not pyroute2's ``IPRoute(netns=…)``: it forks a helper process per socket and creates the
namespace when the path is missing; here a missing path must be an error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from dockyard.errors import NotFound, PermissionDenied

__all__ = ["in_netns", "open_netns"]

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def open_netns(path: str) -> int:
    """An O_RDONLY fd of the namespace file ``path``; NotFound when it is gone."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"open network namespace {path}: no such file") from None
    except PermissionError:
        raise PermissionDenied(f"open network namespace {path}: permission denied") from None


def in_netns(path: str | None, fn: Callable[[], T]) -> T:
    """``fn()`` run in the network namespace ``path``; with None, run here directly."""
    if path is None:
        return fn()
    fd = open_netns(path)
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        from dockyard.linux import LibcSyscalls

        try:
            LibcSyscalls().setns(fd, CLONE_NEWNET)
            result.append(fn())
        except BaseException as e:
            failure.append(e)

    try:
        thread = threading.Thread(target=run, name=f"netns:{path}", daemon=True)
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if failure:
        raise failure[0]
    return result[0]
