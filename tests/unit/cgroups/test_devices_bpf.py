"""The v2 device filter: the emitted BPF instructions, run by a tiny interpreter of the
opcodes the generator may use, against the reference evaluator of the rule list; and the
attach-then-detach order of ``install`` with a recording ``bpf(2)``."""

from __future__ import annotations

import itertools
import random
import struct
from pathlib import Path

import pytest

from dockyard.cgroups.v2.devices import allowed, install, program
from dockyard.errors import InvalidArgument, NotFound
from dockyard.linux.bpf import BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE
from dockyard.oci.resources import DeviceRule as R

_M64 = (1 << 64) - 1
_CTX = -1  # what r1 holds on entry: the context pointer
_TYPES = {"b": 1, "c": 2}
_RIGHTS = {"m": 1, "r": 2, "w": 4}


def run(code: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Execute ``code`` as the kernel would for one device request; 1 allow, 0 deny.

    Only the opcodes the generator may emit are known; anything else fails the test, as
    does a jump out of the program or a loop. Registers are 64 bits; ALU32 results are
    zero-extended; a JMP compares all 64 bits with the immediate sign-extended, as the
    kernel does; loads are only through the untouched context pointer.
    """
    assert code and len(code) % 8 == 0
    acc = sum(_RIGHTS[ch] for ch in access)
    ctx = struct.pack("<III", (acc << 16) | _TYPES[kind], major, minor)
    regs = [0] * 11
    regs[1] = _CTX
    pc, n = 0, len(code) // 8
    while True:
        assert 0 <= pc < n, f"jump out of the program to {pc}"
        op, regbyte, off, imm = struct.unpack_from("<BBhi", code, pc * 8)
        dst, src = regbyte & 0xF, regbyte >> 4
        simm = imm & _M64  # the immediate sign-extended to 64 bits
        pc += 1
        if op == 0x61:  # ldx w: dst = *(u32 *)(src + off)
            assert src == 1 and regs[1] == _CTX and off in (0, 4, 8), (src, off)
            (regs[dst],) = struct.unpack_from("<I", ctx, off)
        elif op == 0x54:  # and32 k
            regs[dst] = regs[dst] & imm & 0xFFFFFFFF
        elif op == 0x74:  # rsh32 k
            regs[dst] = (regs[dst] & 0xFFFFFFFF) >> imm
        elif op == 0xBC:  # mov32 x
            regs[dst] = regs[src] & 0xFFFFFFFF
        elif op == 0xB7:  # mov64 k
            regs[dst] = simm
        elif op in (0x15, 0x55, 0x5D):  # jeq k, jne k, jne x
            assert off > 0, "backward jump"
            other = regs[src] if op == 0x5D else simm
            taken = regs[dst] == other if op == 0x15 else regs[dst] != other
            pc += off if taken else 0
        elif op == 0x95:  # exit
            assert regs[0] in (0, 1)
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode 0x{op:02x} at {pc - 1}")


# -- table: what a rule list means ------------------------------------------------------------

DEFAULTS = [
    R(False),
    R(True, "c", None, None, "m"),
    R(True, "b", None, None, "m"),
    *(R(True, "c", 1, m, "rwm") for m in (3, 5, 7, 8, 9)),
    R(True, "c", 5, 0, "rwm"),
    R(True, "c", 136, None, "rwm"),
]

CASES = [
    # (rules, request, allowed?)
    ([], ("b", 8, 0, "r"), True),  # no rules: the cgroup default, allow
    (DEFAULTS, ("c", 1, 3, "rw"), True),  # /dev/null
    (DEFAULTS, ("c", 1, 1, "r"), False),  # /dev/mem
    (DEFAULTS, ("b", 8, 0, "r"), False),  # the host's disk
    (DEFAULTS, ("b", 8, 0, "m"), True),  # mknod of anything stays allowed
    (DEFAULTS, ("b", 8, 0, "rm"), False),
    (DEFAULTS, ("c", 136, 7, "rw"), True),  # /dev/pts/7
    (DEFAULTS, ("c", 137, 7, "r"), False),
    ([R(False), R(True, "c", 1, 3, "r")], ("c", 1, 3, "rw"), False),  # O_RDWR needs both
    ([R(False), R(True, "c", 1, 3, "r"), R(True, "c", 1, 3, "w")], ("c", 1, 3, "rw"), False),
    ([R(False), R(True, "c", 1, 3, "rw")], ("c", 1, 3, "w"), True),
    # a deny rule refuses a request that asks for any right it names (v1's partial match)
    ([R(True), R(False, "c", 1, 3, "w")], ("c", 1, 3, "rw"), False),
    ([R(True), R(False, "c", 1, 3, "w")], ("c", 1, 3, "r"), True),
    # the last matching rule wins, both ways
    ([R(False), R(True, "c", 1, 3, "rwm"), R(False, "c", 1, None, "rwm")], ("c", 1, 3, "r"), False),
    ([R(False, "c", 1, None, "rwm"), R(True, "c", 1, 3, "rwm")], ("c", 1, 3, "r"), True),
    ([R(True, "c", 1, 3), R(False)], ("c", 1, 3, "r"), False),  # a later "a" resets
    ([R(False), R(True)], ("b", 8, 0, "rwm"), True),
    # types: a rule for c never matches b; u is c; p (fifo) is skipped
    ([R(False), R(True, "c", 8, 0, "rwm")], ("b", 8, 0, "r"), False),
    ([R(False), R(True, "u", 1, 3, "rwm")], ("c", 1, 3, "r"), True),
    ([R(False), R(True, "p", 1, 3, "rwm")], ("c", 1, 3, "r"), False),
    # "a" means all devices and rights whatever its other fields say (as v1 writes it)
    ([R(True), R(False, "a", 1, 3, "r")], ("b", 9, 9, "w"), False),
    # wildcards: None and -1
    ([R(False), R(True, "b", -1, 0, "rwm")], ("b", 259, 0, "r"), True),
    ([R(False), R(True, "b", 8, -1, "rwm")], ("b", 8, 16, "r"), True),
]


@pytest.mark.parametrize(("rules", "req", "want"), CASES)
def test_table(rules: list[R], req: tuple[str, int, int, str], want: bool) -> None:
    assert allowed(rules, *req) is want
    assert run(program(rules), *req) == int(want)


# -- the program against the reference, over many rule lists and requests -------------------

_MAJORS = [None, -1, 0, 1, 5, 8, 136, 4095]
_MINORS = [None, -1, 0, 1, 3, 5, 1048575]
_ACCESSES = ["r", "w", "m", "rw", "rm", "wm", "rwm"]


def _random_rule(rng: random.Random) -> R:
    kind = rng.choice("abbcccup")
    return R(
        rng.random() < 0.5, kind, rng.choice(_MAJORS), rng.choice(_MINORS), rng.choice(_ACCESSES)
    )


def test_program_matches_the_reference_evaluator() -> None:
    rng = random.Random(1312)
    requests = list(
        itertools.product("bc", [0, 1, 5, 8, 136, 4095], [0, 1, 3, 5, 1048575], _ACCESSES)
    )
    for _ in range(400):
        rules = [_random_rule(rng) for _ in range(rng.randint(0, 8))]
        if rng.random() < 0.5:
            rules.insert(0, R(False))
        code = program(rules)
        for req in rng.sample(requests, 60):
            assert run(code, *req) == int(allowed(rules, *req)), (rules, req)


def test_numbers_that_no_device_has() -> None:
    """A major or minor above 2^31 - 1 would be sign-extended by the BPF compare (and no
    Linux device has one): the rule is left out, not turned into a wrong match."""
    big = (1 << 31) + 8
    rules = [R(True), R(False, "b", big, None, "rwm")]
    code = program(rules)
    assert code == program([R(True)])
    assert run(code, "b", 8, 0, "r") == 1
    with pytest.raises(InvalidArgument, match="major 4294967296: out of range"):
        program([R(False, "b", 1 << 32, 0, "r")])


def test_nothing_before_an_a_rule_is_emitted() -> None:
    tail = [R(False), R(True, "c", 1, 3, "rwm")]
    assert program([R(True, "c", 1, 5), R(False, "b", 8, 0), *tail]) == program(tail)


def test_encoding_of_one_rule() -> None:
    """``c 1:3 rw`` allowed after ``deny a``: the prologue, the tests jumping to the next
    rule, the verdicts (checked field by field against struct bpf_insn)."""
    code = program([R(False), R(True, "c", 1, 3, "rw")])
    insns = [struct.unpack_from("<BBhi", code, i) for i in range(0, len(code), 8)]
    assert insns[:6] == [
        (0x61, 0x12, 0, 0), (0x54, 0x02, 0, 0xFFFF), (0x61, 0x13, 0, 0),
        (0x74, 0x03, 0, 16), (0x61, 0x14, 4, 0), (0x61, 0x15, 8, 0),
    ]  # fmt: skip
    assert insns[6:] == [
        (0x55, 0x02, 7, 2),  # if type != char goto next (7 ahead)
        (0xBC, 0x31, 0, 0),  # r1 = r3 (access)
        (0x54, 0x01, 0, 6),  # r1 &= read|write
        (0x5D, 0x31, 4, 0),  # if r1 != r3 goto next
        (0x55, 0x04, 3, 1),  # if major != 1 goto next
        (0x55, 0x05, 2, 3),  # if minor != 3 goto next
        (0xB7, 0x00, 0, 1), (0x95, 0, 0, 0),  # allow
        (0xB7, 0x00, 0, 0), (0x95, 0, 0, 0),  # deny a: deny
    ]  # fmt: skip


# -- install: attach the new program, then detach the old ones ---------------------------------


class RecordingBpf:
    """Records the ``bpf(2)`` calls; ``attached`` is what the kernel would hold."""

    def __init__(self, attached: list[int]) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.attached = list(attached)
        self.next_fd = 100
        self.fds: dict[int, int] = {}  # fd -> program id
        self.gone: set[int] = set()

    def prog_load(self, prog_type: int, insns: bytes, license: str = "Apache-2.0") -> int:
        self.calls.append(("load", prog_type, len(insns) // 8))
        return self._fd(1000 + len(self.calls))

    def _fd(self, prog_id: int) -> int:
        self.next_fd += 1
        self.fds[self.next_fd] = prog_id
        return self.next_fd

    def prog_attach(self, target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
        self.calls.append(("attach", self.fds[prog_fd], attach_type, flags))
        self.attached.append(self.fds[prog_fd])

    def prog_detach(self, target_fd: int, prog_fd: int, attach_type: int) -> bool:
        self.calls.append(("detach", self.fds[prog_fd], attach_type))
        self.attached.remove(self.fds[prog_fd])
        return True

    def prog_query(self, target_fd: int, attach_type: int) -> list[int]:
        self.calls.append(("query", attach_type))
        return list(self.attached)

    def prog_get_fd_by_id(self, prog_id: int) -> int | None:
        return None if prog_id in self.gone else self._fd(prog_id)

    def close(self, fd: int) -> None:
        self.calls.append(("close", self.fds.pop(fd)))


def test_install_attaches_before_it_detaches(tmp_path: Path) -> None:
    bpf = RecordingBpf(attached=[7, 8])
    bpf.gone.add(8)  # detached by someone else meanwhile: skipped
    install(str(tmp_path), b"\x95" + bytes(7), bpf)
    t, flags = BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI
    assert bpf.calls == [
        ("query", t), ("load", BPF_PROG_TYPE_CGROUP_DEVICE, 1), ("attach", 1002, t, flags),
        ("close", 1002), ("detach", 7, t), ("close", 7),
    ]  # fmt: skip
    assert bpf.attached == [8, 1002] and not bpf.fds  # every fd closed


def test_install_on_a_missing_cgroup(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"attach device filter to cgroup .*: no such cgroup"):
        install(str(tmp_path / "gone"), b"", RecordingBpf([]))
