"""Streaming a blob from an HTTP body to a file: one pass, hashed on the way, pipelined.

:func:`stream_to_file` is what the server's uploads and the client's
downloads share.  The event loop reads the body and gathers it into batches of
:data:`BATCH` bytes; one worker thread appends each batch to the file
(``writev``, no joining copy) while a second feeds the same bytes to the
hasher (both release the GIL), and the loop already reads the next batch.  At
most one batch is in the threads at a time, so the file grows strictly in
order and memory stays bounded (two batches).  After each batch the kernel is
asked to start writing it back (``sync_file_range(SYNC_FILE_RANGE_WRITE)``,
Linux), so that the single ``fsync`` at commit has little left to do.

:func:`copy_to_file` is the blocking twin for the registry client (no event
loop): the calling thread reads the body in batches while one helper thread
appends the previous batch and hashes it, so receiving, writing and hashing
overlap the same way.

Errors: a body longer than ``max_bytes`` raises :class:`TooLarge` (after the
bytes written so far are on file; the caller truncates); read and write errors
propagate unchanged, never with a write still running behind the caller.

Imports: nothing heavy at module level (``asyncio`` only inside
:func:`stream_to_file`), so the client's ``dockyard pull`` does not load it.
"""

from __future__ import annotations

import os

from dockyard.linux.fdcalls import start_writeback
from dockyard.oci.digest import Hasher

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from typing import Protocol

    class _Body(Protocol):
        async def readany(self) -> bytes: ...


__all__ = ["BATCH", "TooLarge", "copy_to_file", "hash_file", "start_writeback", "stream_to_file"]

BATCH = 2 << 20
_READ = 1 << 20
_IOV_MAX = 512


class TooLarge(Exception):
    """The body went past ``max_bytes``; ``received`` is how far it got."""

    def __init__(self, received: int) -> None:
        super().__init__(f"body exceeds the limit ({received} bytes received)")
        self.received = received


def _write_all(fd: int, parts: list[bytes]) -> None:
    """``writev`` the parts in order (no joining copy), finishing short writes."""
    for i in range(0, len(parts), _IOV_MAX):
        group = parts[i : i + _IOV_MAX]
        n = os.writev(fd, group)
        if n == sum(len(p) for p in group):
            continue
        view = memoryview(b"".join(group))[n:]
        while view:
            view = view[os.write(fd, view) :]


def _append(fd: int, parts: list[bytes]) -> None:
    offset = os.lseek(fd, 0, os.SEEK_END)
    _write_all(fd, parts)
    start_writeback(fd, offset, sum(len(p) for p in parts))


def _hash(hasher: Hasher, parts: list[bytes]) -> None:
    for part in parts:
        hasher.update(part)


async def stream_to_file(
    body: _Body,
    fd: int,
    hasher: Hasher | None = None,
    *,
    max_bytes: int | None = None,
    batch: int = BATCH,
) -> int:
    """Append all of ``body`` to ``fd`` (opened for writing), hashing it; bytes received."""
    import asyncio

    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future[None]] = []
    parts: list[bytes] = []
    buffered = received = 0
    try:
        while True:
            chunk = await body.readany()
            if not chunk:
                break
            received += len(chunk)
            if max_bytes is not None and received > max_bytes:
                raise TooLarge(received)
            parts.append(chunk)
            buffered += len(chunk)
            if buffered >= batch:
                for fut in pending:
                    await fut
                # the write and the hash of one batch run side by side, on two threads
                pending = [loop.run_in_executor(None, _append, fd, parts)]
                if hasher is not None:
                    pending.append(loop.run_in_executor(None, _hash, hasher, parts))
                parts, buffered = [], 0
        for fut in pending:
            await fut
        pending = []
        if parts:
            _append(fd, parts)
            if hasher is not None:
                _hash(hasher, parts)
    except BaseException:
        if pending:
            await asyncio.wait(pending)
            for fut in pending:
                if not fut.cancelled():
                    fut.exception()  # retrieved: the first error is the one raised
        raise
    return received


def hash_file(fd: int, hasher: Hasher, start: int = 0) -> None:
    """Feed the file's bytes from ``start`` to its end to ``hasher`` (blocking)."""
    offset = start
    while chunk := os.pread(fd, _READ, offset):
        hasher.update(chunk)
        offset += len(chunk)


def copy_to_file(
    read: Callable[[int], bytes],
    fd: int,
    hasher: Hasher | None = None,
    *,
    max_bytes: int | None = None,
    batch: int = BATCH,
) -> int:
    """Append ``read(batch)`` results to ``fd`` until ``b""``, hashing them; bytes received.

    Blocking: this thread reads, one helper thread writes and hashes the batch
    before (at most one batch behind, so the file grows in order).
    """
    import threading
    from _queue import SimpleQueue

    work: SimpleQueue[bytes | None] = SimpleQueue()
    done: SimpleQueue[BaseException | None] = SimpleQueue()

    def helper() -> None:
        while (data := work.get()) is not None:
            try:
                _append(fd, [data])
                if hasher is not None:
                    hasher.update(data)
            except BaseException as e:  # handed to the reading thread
                done.put(e)
                return
            done.put(None)

    thread = threading.Thread(target=helper, name="dockyard-blobio", daemon=True)
    thread.start()
    busy = False
    received = 0
    try:
        while True:
            data = read(batch)
            if not data:
                break
            received += len(data)
            if max_bytes is not None and received > max_bytes:
                raise TooLarge(received)
            if busy:
                busy = False
                if (err := done.get()) is not None:
                    raise err
            work.put(data)
            busy = True
    except BaseException:
        work.put(None)
        if busy:
            done.get()  # the first error is the one raised
        thread.join()
        raise
    work.put(None)
    err = done.get() if busy else None
    thread.join()
    if err is not None:
        raise err
    return received
