"""The crossing engine in C (``crossing.c``): built with gcc on first use, loaded with ctypes.

A gate round trip is two page faults; carried out by a Python hook it costs several microseconds of interpreter
time, against a 5 µs budget (DESIGN.md "Performance budgets"). ``crossing.c`` is Unicorn's interrupt hook: it
completes allowed gate entries and returns itself and hands everything else to the Python hook unchanged. The
structures below mirror the C ones; ``load`` checks every field's offset and size against what the library reports
(``twz_field``). ``machine.engine.CrossingEngine`` is the face the rest of twzemu uses.

The library is compiled once per source version into ``twzemu/machine/fastpath/build/`` (or the user's cache directory
when the package is read-only), atomically, so concurrent first runs are safe. ``make`` builds it up front
(``python -m twzemu.machine.fastpath``).
"""

from __future__ import annotations

import ctypes
import enum
import hashlib
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from unicorn import x86_const as X

from ...errors import MachineError

SOURCE = Path(__file__).with_name("crossing.c")
CFLAGS = ("-O2", "-shared", "-fPIC", "-std=c11", "-Wall")


class Status(enum.IntEnum):
    """What ``twz_transfer``, ``twz_unwind``, ``twz_call`` and ``twz_answer`` answer (``enum twz_status``)."""

    PASS = 0
    ENTERED = 1
    RETURNED = 2
    ANSWERED = 3
    REFUSED = 4
    MONITOR_RETURN = 5
    NEED_PAGE = 6
    TOO_DEEP = 7
    FINISHED = 8
    NEED_CONTEXT = 9
    NEED_INIT = 10


class Refusal(enum.IntEnum):
    """Why the engine answered ``REFUSED`` (``REFUSED_*``)."""

    NOT_AFTER_CALL = 1  # the return address on the caller's stack follows no call instruction (or rsp is bad)
    NO_FRAME = 2  # no place the callee may write holds its frame
    NO_COMPARTMENT = 3  # the gate's compartment does not exist


class Lifecycle(enum.IntEnum):
    """A compartment's initialisation, as the engine sees it."""

    READY = 0
    UNINITIALISED = 1
    INITIALISING = 2
    FAILED = 3


class Rule(enum.IntFlag):
    """What a crossing's effective level means to the engine (``RULE_*``)."""

    FRESH_STACK = 1
    CALLEE_SEES_CALLER = 2


NUM_LEVELS = 4
NUM_FPU_REGISTERS = 17
_u64, _i32, _u32, _u16, _ptr = ctypes.c_uint64, ctypes.c_int32, ctypes.c_uint32, ctypes.c_uint16, ctypes.c_void_p


class ContextRecord(ctypes.Structure):
    _fields_ = [("cr3", _u64), ("gate_pte", _u64)]


class CompartmentRecord(ctypes.Structure):
    _fields_ = [
        ("base", ContextRecord),
        ("thread_pointer", _u64),
        ("stack_base", _u64),
        ("stack_top", _u64),
        ("caller_slot", _u64),
        ("gate_buffer", _u64),
        ("return_sites", _ptr),
        ("num_return_sites", _u64),
        ("lifecycle", _i32),
        ("stale", _i32),
        ("caller_level", _i32),
        ("empty", _i32),
    ]


class GateSlot(ctypes.Structure):
    """A slot of the engine's gate hash table (``struct twz_gate``): what it needs of a ``security.gates.Gate``."""

    _fields_ = [("entry", _u64), ("owner", _i32), ("index", _i32), ("arity", _i32), ("level", _i32)]


class CrossingRecord(ctypes.Structure):
    _fields_ = [
        ("caller", _i32),
        ("callee", _i32),
        ("gate", _i32),
        ("stack", _i32),
        ("context", ContextRecord),
        ("rsp", _u64),
        ("return_address", _u64),
        ("saved", _u64 * 6),
        ("callee_rsp", _u64),
        ("fpcw", _u16),
        ("reserved", _u16),
        ("mxcsr", _u32),
    ]


class CpuRecord(ctypes.Structure):
    """A thread's registers while another runs (``struct twz_cpu``); the vector registers follow it, as many bytes
    as the CPU state holds (``cpu_record``)."""

    _fields_ = [
        ("gpr", _u64 * 16),
        ("rip", _u64),
        ("rflags", _u64),
        ("fs_base", _u64),
        ("gs_base", _u64),
        ("fpu", (_u64 * 2) * NUM_FPU_REGISTERS),
    ]


class ThreadRecord(ctypes.Structure):
    """A thread's part of the engine (``struct twz_thread``)."""

    _fields_ = [
        ("compartments", ctypes.POINTER(CompartmentRecord)),
        ("pairs", ctypes.POINTER(ContextRecord)),
        ("stack", ctypes.POINTER(CrossingRecord)),
        ("cpu", _ptr),
        ("cr3", _u64),
        ("gate_pte", _u64),
        ("gate_buffer", _u64),
        ("depth", _i32),
        ("current", _i32),
        ("current_stack", _i32),
        ("reserved", _i32),
    ]


def cpu_record(vector_bytes: int) -> ctypes.Array[ctypes.c_char]:
    """Room for one ``struct twz_cpu`` with ``vector_bytes`` of vector registers after it."""
    return (ctypes.c_char * (ctypes.sizeof(CpuRecord) + vector_bytes))()


class BlockSlot(ctypes.Structure):
    """A slot of the engine's block table (``struct twz_block``): a translated block's instructions."""

    _fields_ = [("address", _u64), ("size", _u32), ("count", _u32)]


class State(ctypes.Structure):
    _fields_ = [
        ("uc", _ptr),
        ("reg_write", _ptr),
        ("reg_read", _ptr),
        ("reg_write_batch", _ptr),
        ("fpu_registers", _i32 * NUM_FPU_REGISTERS),
        ("cr3_register", _i32),
        ("eflags_register", _i32),
        ("gs_base_register", _i32),
        ("reserved_register", _i32),
        ("python_hook", _ptr),
        ("gpr", _ptr),
        ("rip", _ptr),
        ("cr2", _ptr),
        ("fs_base", _ptr),
        ("old_exception", _ptr),
        ("error_code", _ptr),
        ("exception_is_int", _ptr),
        ("vectors", _ptr),
        ("vector_bytes", _u64),
        ("ram", _ptr),
        ("ram_size", _u64),
        ("cr3", _u64),
        ("hypercalls_allowed", _i32),
        ("fast", _i32),
        ("held", _i32),
        ("status", _i32),
        ("compartments", ctypes.POINTER(CompartmentRecord)),
        ("pairs", ctypes.POINTER(ContextRecord)),
        ("gates", ctypes.POINTER(GateSlot)),
        ("stack", ctypes.POINTER(CrossingRecord)),
        ("gate_mask", _u64),
        ("return_point", _u64),
        ("gate_buffer", _u64),
        ("gate_pte", _u64),
        ("need_address", _u64),
        ("need_cr3", _u64),
        ("need_compartment", _i32),
        ("need_caller", _i32),
        ("refusal", _i32),
        ("num_compartments", _i32),
        ("current", _i32),
        ("current_stack", _i32),
        ("depth", _i32),
        ("capacity", _i32),
        ("monitor", _i32),
        ("last", CrossingRecord),
        ("rules", (ctypes.c_uint8 * NUM_LEVELS) * NUM_LEVELS),
        ("blocks", ctypes.POINTER(BlockSlot)),
        ("block_mask", _u64),
        ("vmem_read", _ptr),
        ("disasm_iter", _ptr),
        ("disassembler", _u64),
        ("instruction", _ptr),
        ("emu_stop", _ptr),
        ("quantum_hook", _ptr),
        ("budget", ctypes.c_int64),
        ("expired", _i32),
        ("reserved", _i32),
        ("last_block", BlockSlot),
    ]


# twz_sizeof(n) and the C struct name of each mirror, whose fields twz_field reports one by one.
_MIRRORS = {
    0: ("twz_state", State),
    1: ("twz_compartment", CompartmentRecord),
    2: ("twz_gate", GateSlot),
    3: ("twz_crossing", CrossingRecord),
    4: ("twz_context", ContextRecord),
    5: ("twz_block", BlockSlot),
    6: ("twz_cpu", CpuRecord),
    7: ("twz_thread", ThreadRecord),
}


class _Field(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("offset", _u64), ("size", _u64)]


def _cache_dirs() -> list[Path]:
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [Path(__file__).with_name("build"), home / "twzemu"]


def library_path(source: Path = SOURCE) -> Path:
    """Where the library for this source lives (built or not): one file per source version."""
    digest = hashlib.sha256(source.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    name = f"{source.stem}-{digest}.so"
    for directory in _cache_dirs():
        if (directory / name).exists():
            return directory / name
    for directory in _cache_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory / name
    tried = ", ".join(map(str, _cache_dirs()))
    raise MachineError(f"no writable directory to build {source.name} in (tried {tried})")


def build(source: Path = SOURCE) -> Path:
    """Compile ``source`` unless this version is built already; the library's path. ``$CC`` picks the compiler
    (default gcc)."""
    target = library_path(source)
    if target.exists():
        return target
    compiler = shutil.which(os.environ.get("CC") or "gcc")
    if compiler is None:
        raise MachineError(f"twzemu needs a C compiler ({os.environ.get('CC') or 'gcc'}, from $CC) to build {source}")
    fd, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        import subprocess  # here: only a build needs it, and every start-up would pay for importing it

        result = subprocess.run([compiler, *CFLAGS, "-o", temporary, str(source)], capture_output=True, text=True)
        if result.returncode != 0:
            first = next((line for line in result.stderr.splitlines() if "error" in line), "no diagnostic")
            raise MachineError(f"building {source} with {compiler} failed: {first}")
        os.replace(temporary, target)  # atomic: a concurrent build of the same version writes the same bytes
        for stale in target.parent.glob(f"{source.stem}-*.so"):
            if stale != target:
                stale.unlink(missing_ok=True)  # older versions (a process that loaded one keeps its mapping)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _constants() -> tuple[int, ...]:
    """What ``crossing.c``'s ``constants`` must say, from the Python side's one source of each."""
    from ..cpustate import FPU_REGISTERS, R8, R9, RAX, RCX, RDI, RDX, RSI, RSP
    from ..x86 import FPCW_DEFAULT, FPTAG_EMPTY, MXCSR_DEFAULT

    position = FPU_REGISTERS.index
    return (16, RAX, RSP, RDI, RSI, RDX, RCX, R8, R9, len(FPU_REGISTERS), position(X.UC_X86_REG_FPCW),
            position(X.UC_X86_REG_MXCSR), position(X.UC_X86_REG_FP0), FPCW_DEFAULT, MXCSR_DEFAULT,
            FPTAG_EMPTY)  # fmt: skip


def _check_constants(lib: ctypes.CDLL) -> None:
    """The register layout and initial values agree with the engine's (positions the C code writes to)."""
    lib.twz_constant.restype = ctypes.c_int64
    lib.twz_constant.argtypes = [_u64]
    expected = _constants()
    reported = tuple(lib.twz_constant(i) for i in range(len(expected)))
    if reported != expected or lib.twz_constant(len(expected)) != -1:
        raise MachineError(
            f"{SOURCE.name} and twzemu.machine disagree on the register layout: {reported} != {expected}"
        )


def _check_mirrors(lib: ctypes.CDLL) -> None:
    """Every mirror agrees with the C structure field by field (offset and size) and in size."""
    lib.twz_sizeof.restype = _u64
    lib.twz_sizeof.argtypes = [ctypes.c_int]
    lib.twz_num_fields.restype = _u64
    lib.twz_field.restype = ctypes.POINTER(_Field)
    lib.twz_field.argtypes = [_u64]
    reported = {}
    for i in range(lib.twz_num_fields()):
        field = lib.twz_field(i).contents
        reported[field.name.decode()] = (field.offset, field.size)
    mirrored = {}
    for what, (c_name, mirror) in _MIRRORS.items():
        if lib.twz_sizeof(what) != ctypes.sizeof(mirror):
            raise MachineError(f"{SOURCE.name} and twzemu.machine.fastpath disagree on the size of {c_name}")
        for name, _ in mirror._fields_:
            descriptor = getattr(mirror, name)
            mirrored[f"{c_name}.{name}"] = (descriptor.offset, descriptor.size)
    if reported != mirrored:
        wrong = sorted(set(reported.items()) ^ set(mirrored.items()))
        raise MachineError(f"{SOURCE.name} and twzemu.machine.fastpath disagree on {wrong[0][0]}")


@cache
def load() -> ctypes.CDLL:
    """The library, built if needed, with its functions typed and its structures checked against ours."""
    lib = ctypes.CDLL(str(build()))
    _check_mirrors(lib)
    _check_constants(lib)
    state = ctypes.POINTER(State)
    for name, args in (
        ("twz_transfer", [state, _u64]),
        ("twz_unwind", [state, _u64, ctypes.c_int]),
        ("twz_call", [state, _i32, _u64, _i32]),
        ("twz_answer", [state, _u64]),
        ("twz_switch_thread", [state, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int]),
    ):
        function = getattr(lib, name)
        function.argtypes = args
        function.restype = ctypes.c_int
    lib.twz_resume.argtypes = [state, _i32]
    lib.twz_resume.restype = None
    lib.twz_gate_insert.argtypes = [ctypes.POINTER(GateSlot), _u64, ctypes.POINTER(GateSlot)]
    lib.twz_gate_insert.restype = None
    lib.twz_write_cr3.argtypes = [state, _u64]
    lib.twz_write_cr3.restype = None
    return lib


def block_hook_address() -> int:
    """The address of ``twz_on_block`` (``--quantum``'s instruction counter), to register with ``uc_hook_add``."""
    address = ctypes.cast(load().twz_on_block, ctypes.c_void_p).value
    assert address is not None
    return address


def hook_address() -> int:
    """The address of ``twz_on_intr``, to register with ``uc_hook_add``."""
    address = ctypes.cast(load().twz_on_intr, ctypes.c_void_p).value
    assert address is not None
    return address
