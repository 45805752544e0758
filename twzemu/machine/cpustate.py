"""Direct views on Unicorn's live CPU state — the only place twzemu touches Unicorn internals.

Why: an event (fault, hypercall, gate crossing) costs a few register reads and writes. Through the binding's
``reg_read`` one costs ~1.4 µs; a ctypes view on the QEMU ``CPUX86State`` costs ~0.04 µs (DESIGN.md, "The MMU and
the CPU"). The state also holds three fields the public API does not expose: the #PF error code (the access
kind of a fault); ``exception_is_int``, which QEMU sets to 1 when the event is an ``int n`` instruction (and int3)
and to 0 for a CPU exception — Unicorn hands both to the interrupt hook as vector ``n``, so without it ``int
0x0e`` looks like a page fault and ``int 8`` like a double fault; and ``old_exception``, which Unicorn 2.1.4
never clears (upstream issue #1883: the 2nd fault is reported as a double fault, the 3rd silently stops
emulation) and which twzemu therefore resets itself.

Nothing here trusts a hard-coded offset. ``locate_cpu_state`` finds the state in host memory by a register
pattern written through the public API, then finds each field by writing a value through the API and looking
for it; the fault fields are found by calibration (``machine.Machine`` runs the faults, ``FaultCalibration``
reads the state around them). Every offset is verified both ways before use; any mismatch raises
``MachineError`` naming the Unicorn version (fail closed). One field of the uc struct itself is used too: the flag
that makes stops from another thread land between instructions (``find_exact_stop_flag``); where it cannot be
found for sure, nothing stops the guest from another thread except to end the run.
"""

from __future__ import annotations

import ctypes
import secrets
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import unicorn
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import uclib

from ..errors import MachineError

# General registers in QEMU's ``regs[]`` order (R_EAX … R_R15), which is also the x86 encoding order.
GPR_IDS: tuple[int, ...] = (
    X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_RBX,
    X.UC_X86_REG_RSP, X.UC_X86_REG_RBP, X.UC_X86_REG_RSI, X.UC_X86_REG_RDI,
    X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11,
    X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15,
)  # fmt: skip
RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 = range(16)
ARGUMENT_ORDER = (RDI, RSI, RDX, RCX, R8, R9)  # psABI 3.2.3: where a call's arguments go, in order

# The floating-point state a crossing resets (``fastpath/crossing.c`` takes this order: its enum FPU_*): the
# control, status and tag words, MXCSR, the last-instruction and last-operand pointers (FIP, FDP, FOP, FCS, FDS:
# they hold addresses of the code that ran last), then st0-st7. Their initial values are ``x86.FPCW_DEFAULT`` &c.
FPU_REGISTERS = (
    X.UC_X86_REG_FPCW,
    X.UC_X86_REG_FPSW,
    X.UC_X86_REG_FPTAG,
    X.UC_X86_REG_MXCSR,
    X.UC_X86_REG_FIP,
    X.UC_X86_REG_FDP,
    X.UC_X86_REG_FOP,
    X.UC_X86_REG_FCS,
    X.UC_X86_REG_FDS,
    *range(X.UC_X86_REG_FP0, X.UC_X86_REG_FP0 + 8),
)

_STATE_WINDOW = 0x40000  # how far past a pointer of the uc struct the CPU state may start
_UC_STRUCT_WORDS = 1024  # how many words of the uc struct to follow as pointers
_FIELD_SEARCH = 0x4000  # the fields we need lie within the first 16 KiB of CPUX86State


def unicorn_version() -> str:
    return unicorn.__version__


def _fail(what: str) -> MachineError:
    return MachineError(
        f"unicorn {unicorn_version()}: cannot {what} in the CPU state; this Unicorn build is not one twzemu "
        "knows how to drive safely (twzemu needs unicorn 2.1.4)"
    )


def _rw_mappings() -> list[tuple[int, int]]:
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            if perms.startswith("rw"):
                lo, hi = span.split("-")
                spans.append((int(lo, 16), int(hi, 16)))
    return spans


def _span_of(spans: Sequence[tuple[int, int]], address: int) -> tuple[int, int] | None:
    for lo, hi in spans:
        if lo <= address < hi:
            return lo, hi
    return None


@dataclass(frozen=True, slots=True)
class StateLayout:
    """Offsets of the fields twzemu reads and writes, relative to the start of ``CPUX86State``."""

    regs: int
    rip: int
    cr2: int
    fs_base: int
    old_exception: int
    error_code: int
    exception_is_int: int
    vectors: int = 0  # xmm0 (QEMU's ZMMReg array: 16 registers, VECTOR_STRIDE bytes apart)


class CpuState:
    """ctypes views on one live CPU state. Hot-path code reads ``gpr[RDI]``, ``rip[0]``… directly.

    Writing RIP or CR3 through a view does not end the current translation block nor flush the TLB: use it only
    where Unicorn re-reads the field (a fault hook, between ``emu_start`` calls); see ``machine.Machine``.
    """

    __slots__ = ("cr2", "error_code", "exception_is_int", "fs_base", "gpr", "old_exception", "rip", "vector_address")

    def __init__(self, address: int, layout: StateLayout) -> None:
        self.gpr = (ctypes.c_uint64 * 16).from_address(address + layout.regs)
        self.rip = (ctypes.c_uint64 * 1).from_address(address + layout.rip)
        self.cr2 = (ctypes.c_uint64 * 1).from_address(address + layout.cr2)
        self.fs_base = (ctypes.c_uint64 * 1).from_address(address + layout.fs_base)
        self.old_exception = (ctypes.c_int32 * 1).from_address(address + layout.old_exception)
        self.error_code = (ctypes.c_int32 * 1).from_address(address + layout.error_code)
        self.exception_is_int = (ctypes.c_int32 * 1).from_address(address + layout.exception_is_int)
        self.vector_address = address + layout.vectors


def locate_cpu_state(uc: unicorn.Uc) -> int:
    """Find the host address of ``uc``'s ``CPUX86State`` (its ``regs[]`` array comes first).

    Writes 16 random registers through the public API and looks for that 128-byte pattern near every pointer
    held in the uc struct; only readable, writable mappings of this process are read.
    """
    saved = [uc.reg_read(r) for r in GPR_IDS]
    pattern_values = [secrets.randbits(64) for _ in GPR_IDS]
    for reg, value in zip(GPR_IDS, pattern_values, strict=True):
        uc.reg_write(reg, value)
    pattern = struct.pack("<16Q", *pattern_values)
    try:
        return _search_from_handle(uc._uch.value, pattern)
    finally:
        for reg, value in zip(GPR_IDS, saved, strict=True):
            uc.reg_write(reg, value)


def _search_from_handle(handle: int, pattern: bytes) -> int:
    spans = _rw_mappings()
    span = _span_of(spans, handle)
    if span is None:
        raise _fail("find the uc struct")
    words = ctypes.string_at(handle, min(_UC_STRUCT_WORDS * 8, span[1] - handle))
    for (pointer,) in struct.iter_unpack("<Q", words[: len(words) // 8 * 8]):
        target = _span_of(spans, pointer)
        if target is None:
            continue
        window = ctypes.string_at(pointer, min(_STATE_WINDOW, target[1] - pointer))
        found = window.find(pattern)
        if found >= 0 and window.find(pattern, found + 1) < 0:
            return pointer + found
    raise _fail("locate the registers")


VECTOR_REGISTERS = 16
VECTOR_STRIDE = 64  # bytes per ZMMReg
VECTOR_BYTES = VECTOR_REGISTERS * VECTOR_STRIDE  # xmm0-15 with their upper (ymm/zmm) halves


def find_vectors(state_address: int, write: Callable[[int, int], None]) -> int:
    """Offset of xmm0: ``write(n, value)`` sets xmm n; xmm1 must follow at ``VECTOR_STRIDE`` (verified)."""
    values = [secrets.randbits(128) | 1 for _ in range(VECTOR_REGISTERS)]
    for index, value in enumerate(values):
        write(index, value)
    blob = ctypes.string_at(state_address, _FIELD_SEARCH)
    first = blob.find(values[0].to_bytes(16, "little"))
    if first < 0 or any(
        blob[first + i * VECTOR_STRIDE : first + i * VECTOR_STRIDE + 16] != v.to_bytes(16, "little")
        for i, v in enumerate(values)
    ):
        raise _fail("locate the vector registers")
    for index in range(VECTOR_REGISTERS):
        write(index, 0)
    return first


def find_field(state_address: int, write: Callable[[int], None], name: str, start: int = 0) -> int:
    """Offset of a 64-bit field that ``write(value)`` sets, found by writing two random values."""
    offsets: set[int] | None = None
    for _ in range(2):
        value = secrets.randbits(63) | 1
        write(value)
        blob = ctypes.string_at(state_address, _FIELD_SEARCH)
        needle = struct.pack("<Q", value)
        hits = {i for i in range(start, len(blob) - 7, 8) if blob[i : i + 8] == needle}
        offsets = hits if offsets is None else offsets & hits
    if not offsets or len(offsets) != 1:
        raise _fail(f"locate {name}")
    return offsets.pop()


class FaultCalibration:
    """Finds ``old_exception``, the #PF error code and ``exception_is_int`` by watching the state across events.

    ``old_exception`` reads -1 before any fault and is never reset by Unicorn 2.1.4: after one fault it holds 14
    and the next fault is reported as a double fault (8). Bringing the CPU up may already raise and swallow
    faults of Unicorn's own, so the state is read at creation (before any fault) and every int32 that was -1
    then and is -1, 8 or 14 now is a candidate; ``Machine`` tries each (reset, fault, fault) and keeps the one
    that behaves exactly like the field. The error code is the one int32 that equals, after each calibration
    fault, the code that fault must produce. ``exception_is_int`` is the one int32 that reads 0 after every
    calibration fault and 1 after every ``int n`` run between them (``Machine`` alternates the two).
    """

    def __init__(self, state_address: int) -> None:
        self.address = state_address
        self._initial = self._int32s()
        self._after: list[tuple[tuple[int, ...], int]] = []
        self._after_int: list[tuple[int, ...]] = []

    def _int32s(self) -> tuple[int, ...]:
        return struct.unpack(f"<{_FIELD_SEARCH // 4}i", ctypes.string_at(self.address, _FIELD_SEARCH))

    def exception_candidates(self) -> list[int]:
        """Offsets that may be ``old_exception``, the ones already holding 14 or 8 first."""
        now = self._int32s()
        hit = [4 * i for i, (a, b) in enumerate(zip(self._initial, now, strict=True)) if a == -1 and b in (8, 14)]
        quiet = [4 * i for i, (a, b) in enumerate(zip(self._initial, now, strict=True)) if a == -1 and b == -1]
        return hit + quiet

    def value_at(self, offset: int) -> int:
        return ctypes.c_int32.from_address(self.address + offset).value

    def after_fault(self, expected_error_code: int) -> None:
        self._after.append((self._int32s(), expected_error_code))

    def after_interrupt(self) -> None:
        """Record the state after an ``int n`` instruction reached the interrupt hook."""
        self._after_int.append(self._int32s())

    def error_code(self) -> int:
        codes = {code for _, code in self._after}
        if len(codes) < 3:
            raise _fail("calibrate the page-fault error code (too few distinct faults)")
        hits = _holding(self._after)
        if len(hits) != 1:
            raise _fail("locate the page-fault error code")
        return hits[0]

    def exception_is_int(self) -> int:
        if len(self._after) < 2 or len(self._after_int) < 2:
            raise _fail("calibrate exception_is_int (too few faults and interrupts)")
        hits = _holding([(snap, 1) for snap in self._after_int] + [(snap, 0) for snap, _ in self._after])
        if len(hits) != 1:
            raise _fail("locate exception_is_int")
        return hits[0]


def _holding(snapshots: Sequence[tuple[tuple[int, ...], int]]) -> list[int]:
    """Offsets of the int32s that hold, in every snapshot, the value paired with it (the first pair picks the
    candidates, each further one narrows them: a few thousand comparisons, not one per int32 and snapshot)."""
    first, value = snapshots[0]
    candidates = [i for i, held in enumerate(first) if held == value]
    for snap, value in snapshots[1:]:
        candidates = [i for i in candidates if snap[i] == value]
    return [4 * i for i in candidates]


class _UcTail(ctypes.Structure):
    """The uc struct of Unicorn 2.1.4 from ``target_page_size`` to ``init_done`` (``include/uc_priv.h``)."""

    _fields_ = [
        ("target_page_size", ctypes.c_uint32),
        ("target_page_align", ctypes.c_uint32),
        ("qemu_host_page_size", ctypes.c_uint64),
        ("qemu_real_host_page_size", ctypes.c_uint64),
        ("qemu_icache_linesize", ctypes.c_int),
        ("context_content", ctypes.c_int),
        ("cpu_context_size", ctypes.c_int),
        ("next_pc", ctypes.c_uint64),
        ("hook_insert", ctypes.c_bool),
        ("first_tb", ctypes.c_bool),
        ("no_exit_request", ctypes.c_bool),
        ("init_done", ctypes.c_bool),
    ]


_PAGE_SIZES = struct.pack("<IIQQ", 4096, 4095, 4096, 4096)  # the tail's first four fields, set at the engine's init
_TAIL_SEARCH = 0x1000  # the tail lies within the first 4 KiB of the uc struct (at 1984 in 2.1.4's x86-64 build)


def find_exact_stop_flag(uc: unicorn.Uc) -> ctypes.c_bool | None:
    """Unicorn's ``no_exit_request`` flag in ``uc``'s struct, or None where it cannot be found for sure.

    Why: Unicorn 2.1.4 checks for a stop request at the start of every translated block and again after every guest
    load and store. A stop seen after a store restarts the instruction that made it (unicorn #1355: ``add [x], 1``
    stopped by another thread's ``uc_emu_stop`` runs twice; measured here, once per stop). Code translated while this
    flag is set has no check after its accesses (Unicorn sets it for ARM's IT blocks), so a stop from another thread
    lands at a block's start, between instructions. Stops asked for by a hook on memory or code then wait for the
    next block too: the debugger clears the flag while it has such hooks (``Machine.set_exact_stops``).

    The tail of the struct that holds it is found by its page sizes (a unique match in the first 4 KiB) and checked:
    the engine is initialised, the flag and ``hook_insert`` are clear, and ``cpu_context_size`` agrees with the public
    ``uc_context_size``.
    """
    if unicorn_version() != "2.1.4":
        return None
    handle = uc._uch.value
    head = ctypes.string_at(handle, _TAIL_SEARCH)
    at = head.find(_PAGE_SIZES)
    if at < 0 or head.find(_PAGE_SIZES, at + 1) >= 0:
        return None
    tail = _UcTail.from_address(handle + at)
    uclib.uc_context_size.restype = ctypes.c_size_t
    header = uclib.uc_context_size(uc._uch) - tail.cpu_context_size
    if not tail.init_done or tail.no_exit_request or tail.hook_insert or not 0 < header < 256:
        return None
    return ctypes.c_bool.from_address(handle + at + _UcTail.no_exit_request.offset)
