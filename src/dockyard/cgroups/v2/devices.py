"""v2 devices: the OCI device rules as a BPF_PROG_TYPE_CGROUP_DEVICE program.

cgroup v2 has no ``devices.allow``: the kernel asks a program attached to the cgroup, once
per device access (open, mknod) of a member, with ``struct bpf_cgroup_dev_ctx``::

    u32 access_type   low 16 bits: BPF_DEVCG_DEV_BLOCK 1 / CHAR 2;
                      high 16 bits: BPF_DEVCG_ACC_MKNOD 1 | READ 2 | WRITE 4
    u32 major, minor

and the program answers 1 (allow) or 0 (deny: the call fails with EPERM).

Semantics (those of the v1 ``devices.allow``/``devices.deny`` writes of ``cgroups/v1/devices.py``,
and of runc's and crun's programs): the rules are read in order and **the last rule that
matches a request decides**; a request no rule matches is allowed (a new cgroup's default,
as on v1 and in runc's emulator). So a list that starts with ``deny a`` is an allow-list.

* type ``a`` matches every device and access, whatever its major, minor and access say
  (v1 writes it as ``a``, runc treats it as a reset); ``c`` and ``u`` match character
  devices, ``b`` block devices; ``p`` (fifo) rules are skipped (the kernel does not ask
  about fifos).
* major/minor None or negative match any number. A number above 2^31 - 1 can be no Linux
  device (majors have 12 bits, minors 20) and the BPF compare would sign-extend it: such a
  rule matches nothing and is left out.
* access: an **allow** rule matches when every requested right is in its access (an
  ``O_RDWR`` open asks for ``rw`` at once); a **deny** rule matches when *any* requested
  right is in its access. The second is the v1 kernel's ``match_exception_partial``: with
  ``deny c 1:3 w`` an ``O_RDWR`` open of /dev/null is refused. runc's program checks
  "every right" for deny rules too, which lets that open through; dockyard does not.

The program evaluates the rules from the last to the first and returns at the first match;
everything before an ``a`` rule (which matches every request) cannot be reached and is not
emitted.

The instructions are assembled here by hand (:func:`insn`, 8 bytes each): there is no
maintained pure-Python BPF assembler, and bcc or libbpf would need a compiler toolchain or
a compiled library at run time for a program of a dozen opcodes.
"""

from __future__ import annotations

import os
import struct

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.resources import DeviceRule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

    from dockyard.linux.bpf import Bpf

__all__ = ["allowed", "install", "insn", "program"]

# struct bpf_cgroup_dev_ctx
DEV_BLOCK, DEV_CHAR = 1, 2
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_TYPE = {"c": DEV_CHAR, "u": DEV_CHAR, "b": DEV_BLOCK}
_S32_MAX = (1 << 31) - 1
_U32_MAX = (1 << 32) - 1

# opcodes (class | op | source)
LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
ALU32_AND_K = 0x54
ALU32_RSH_K = 0x74
ALU32_MOV_X = 0xBC
ALU64_MOV_K = 0xB7
JMP_JEQ_K = 0x15
JMP_JNE_K = 0x55
JMP_JNE_X = 0x5D
JMP_EXIT = 0x95


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn``: u8 code, u8 dst:4 src:4 (dst low on little-endian), s16 off,
    s32 imm."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


# r2 = type, r3 = access, r4 = major, r5 = minor (r1 is the context, then a scratch)
_PROLOGUE = b"".join(
    (
        insn(LDX_MEM_W, 2, 1, 0),
        insn(ALU32_AND_K, 2, imm=0xFFFF),
        insn(LDX_MEM_W, 3, 1, 0),
        insn(ALU32_RSH_K, 3, imm=16),
        insn(LDX_MEM_W, 4, 1, 4),
        insn(LDX_MEM_W, 5, 1, 8),
    )
)


def _ret(value: int) -> bytes:
    return insn(ALU64_MOV_K, 0, imm=value) + insn(JMP_EXIT)


def _access_bits(access: str) -> int:
    bits = 0
    for ch in access:
        if ch not in _ACCESS:
            raise InvalidArgument(f"device rule access {access!r}: unknown right {ch!r}")
        bits |= _ACCESS[ch]
    return bits


def _number(n: int | None, what: str) -> int | None:
    """The number to compare, None for a wildcard; raises for one no u32 holds."""
    if n is None or n < 0:
        return None
    if n > _U32_MAX:
        raise InvalidArgument(f"device rule {what} {n}: out of range")
    return n


def _block(rule: DeviceRule) -> tuple[list[tuple[int, int, int, int]], bool] | None:
    """The tests of one rule as (code, dst, src, imm) jumps to "next rule", and whether the
    rule is unconditional; None for a rule that can match nothing."""
    if rule.type == "p":
        return None
    if rule.type == "a":
        return [], True
    if rule.type not in _TYPE:
        raise InvalidArgument(f"device rule type {rule.type!r}: unknown")
    major = _number(rule.major, "major")
    minor = _number(rule.minor, "minor")
    if (major is not None and major > _S32_MAX) or (minor is not None and minor > _S32_MAX):
        return None
    bits = _access_bits(rule.access)
    if not bits:
        return None
    tests: list[tuple[int, int, int, int]] = []
    # r2 == type
    tests.append((JMP_JNE_K, 2, 0, _TYPE[rule.type]))
    if bits != ACC_ALL:
        tests.append((ALU32_MOV_X, 1, 3, 0))
        tests.append((ALU32_AND_K, 1, 0, bits))
        if rule.allow:  # every requested right is granted: (r3 & bits) == r3
            tests.append((JMP_JNE_X, 1, 3, 0))
        else:  # some requested right is denied: (r3 & bits) != 0
            tests.append((JMP_JEQ_K, 1, 0, 0))
    if major is not None:
        tests.append((JMP_JNE_K, 4, 0, major))
    if minor is not None:
        tests.append((JMP_JNE_K, 5, 0, minor))
    return tests, False


def program(rules: Iterable[DeviceRule]) -> bytes:
    """The device filter for ``rules`` (module docstring), as BPF instructions."""
    out = [_PROLOGUE]
    unconditional = False
    for rule in reversed(list(rules)):
        block = _block(rule)
        if block is None:
            continue
        tests, unconditional = block
        n = len(tests) + 2  # the tests, then "r0 = verdict; exit"
        for i, (code, dst, src, imm) in enumerate(tests):
            jump = code in (JMP_JNE_K, JMP_JNE_X, JMP_JEQ_K)
            out.append(insn(code, dst, src, n - i - 1 if jump else 0, imm))
        out.append(_ret(1 if rule.allow else 0))
        if unconditional:
            break
    if not unconditional:
        out.append(_ret(1))
    return b"".join(out)


def allowed(rules: Iterable[DeviceRule], kind: str, major: int, minor: int, access: str) -> bool:
    """The reference answer for one request (``kind`` ``c``/``b``, ``access`` a subset of
    ``rwm``): the last matching rule decides, allow when none matches. Used by the tests
    against the program, and readable as the specification of it."""
    want = _access_bits(access)
    verdict = True
    for r in rules:
        if r.type == "p":
            continue
        if r.type != "a":
            if _TYPE[r.type] != _TYPE[kind]:
                continue
            if r.major is not None and r.major >= 0 and r.major != major:
                continue
            if r.minor is not None and r.minor >= 0 and r.minor != minor:
                continue
            have = _access_bits(r.access)
            if r.allow and want & have != want:
                continue
            if not r.allow and not want & have:
                continue
        verdict = r.allow
    return verdict


def install(path: str, code: bytes, bpf: Bpf) -> None:
    """Make ``code`` the device filter of the cgroup2 directory ``path``: the new program is
    attached (BPF_F_ALLOW_MULTI) before the ones attached earlier are detached, as runc and
    crun do, so there is no moment without a filter (for a moment both apply: the stricter
    of the two). The leaf is the container's: every program found on it was attached by a
    runtime for this container."""
    from dockyard.linux.bpf import BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE

    try:
        dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"attach device filter to cgroup {path}: no such cgroup") from None
    try:
        old = bpf.prog_query(dirfd, BPF_CGROUP_DEVICE)
        fd = bpf.prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, code)
        try:
            bpf.prog_attach(dirfd, fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
        finally:
            bpf.close(fd)
        for prog_id in old:
            _detach(bpf, dirfd, prog_id)
    finally:
        os.close(dirfd)


def _detach(bpf: Bpf, dirfd: int, prog_id: int) -> None:
    """Detach one program by id; gone already (a concurrent update) is fine."""
    from dockyard.linux.bpf import BPF_CGROUP_DEVICE

    fd = bpf.prog_get_fd_by_id(prog_id)
    if fd is None:
        return
    try:
        bpf.prog_detach(dirfd, fd, BPF_CGROUP_DEVICE)
    finally:
        bpf.close(fd)
