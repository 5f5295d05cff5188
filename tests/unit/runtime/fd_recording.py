"""A RecordingSyscalls that shows where a ``/proc/self/fd/N`` argument points.

The mount sequence mounts onto (and from) descriptors: ``/proc/self/fd/N`` of an
``O_PATH`` fd resolved in the rootfs. N differs from run to run, so each such argument is
recorded as ``fd:<the file's path>`` (read with readlink while the fd is open): a test
asserts both that the call went through a descriptor and which file it reached.
"""

from __future__ import annotations

import os
import re

from dockyard.linux import RecordingSyscalls

_FD = re.compile(r"/proc/self/fd/(\d+)(/.*)?")


def shown(arg: object) -> object:
    """``fd:<path>`` for a ``/proc/self/fd/N[/rest]`` string, else ``arg`` itself."""
    if not isinstance(arg, str):
        return arg
    m = _FD.fullmatch(arg)
    if m is None:
        return arg
    return "fd:" + os.readlink(f"/proc/self/fd/{m.group(1)}") + (m.group(2) or "")


class FdRecordingSyscalls(RecordingSyscalls):
    def _rec(self, name: str, *args: object) -> None:
        super()._rec(name, *(shown(a) for a in args))
