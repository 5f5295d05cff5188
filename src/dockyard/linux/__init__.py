"""dockyard.linux — the kernel seam.

Everything that calls the kernel for namespaces, mounts, credentials and
seccomp goes through a :class:`Syscalls` object: :class:`LibcSyscalls` in
production, :class:`RecordingSyscalls` in unit tests. See ``syscalls.py``.
"""

from dockyard.linux.syscalls import LibcSyscalls, RecordingSyscalls, Syscalls, errno_error

__all__ = ["LibcSyscalls", "RecordingSyscalls", "Syscalls", "errno_error"]
