"""The CPU: Unicorn in 64-bit long mode with paging, guest code at CPL3, faults and hypercalls to Python.

Bring-up (``Machine.boot``), in order:

1. emulated RAM (``mmu.PhysicalMemory``) is mapped at guest-physical 0 with ``mem_map_ptr``;
2. the monitor's own pages — a GDT, a one-instruction boot stub (``iretq``) and a kernel stack — are mapped
   supervisor-only at ``KERNEL_BASE`` by one PDPT that every address space shares (``kernel_pml4_entry``);
3. CR0.PG, CR4.PAE, EFER.LME/LMA/NXE are set and CR4.FSGSBASE cleared (Unicorn boots with it set, which would
   let CPL3 code move its thread pointer with ``wrfsbase``); the x87 and SSE control words get the psABI's
   initial values (Unicorn leaves them 0, every floating-point exception unmasked);
4. the boot stub ``iretq``s to CPL3; since Unicorn hands every exception to hooks instead of the IDT, the CPU
   never leaves CPL3 again;
5. the CPU state is located and the fault fields calibrated (``cpustate``), then the real hooks go in: the
   crossing engine (``fastpath``, loaded — built on first use — at the start of ``boot``) first.

Events. Every CPU exception first reaches the crossing engine (``twzemu.machine.fastpath``, C), which completes
allowed gate entries and returns itself once the monitor has given it its tables, and hands everything else
to ``_on_intr``. The Python hooks are raw ctypes callbacks behind one guard (``_fail_hook``): an exception in a
hook is kept, emulation stops, and ``run`` re-raises it — nothing is swallowed. A fetch fault goes to
``on_control_transfer`` (the monitor's crossings), then a #PF to the address space loaded now (found by its
CR3), which backs pages lazily; what it cannot resolve, and every other CPU exception, goes to ``on_fault``
(the monitor), which may resolve it (return True: the CPU retries at ``rip``) or let the run stop with it.
``syscall`` goes to ``on_hypercall``. Hooks switch nothing beyond the CPU views and CR3; they request a stop
and ``run`` acts between ``emu_start`` calls (zelos' ``stop_and_exec`` pattern).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Protocol

import unicorn
from unicorn import unicorn_const as UC
from unicorn import x86_const as X
from unicorn.unicorn_py3.unicorn import UcContext, uclib

from ..cache import DerivedCache, Entry, Json, json_str, user_cache_dir
from ..errors import MachineError
from ..mmu.pagetable import PageTables
from ..mmu.physmem import PAGE_SIZE, FrameAllocator, OutOfFrames, PhysicalMemory
from ..mmu.pte import KERNEL_HALF_BASE, Prot, Pte
from ..mmu.space import Access, AddressSpace, FaultOutcome, FrameCache
from ..objects.layout import U64_MASK
from . import cpustate, fastpath
from .cpustate import (
    FPU_REGISTERS,
    VECTOR_BYTES,
    CpuState,
    FaultCalibration,
    StateLayout,
    find_exact_stop_flag,
    find_field,
    find_vectors,
    locate_cpu_state,
)
from .disasm import InstructionCounter
from .events import Fault, Stop, StopReason, Watch
from .watchdog import Watchdog
from .x86 import (
    FPCW_DEFAULT,
    FPTAG_EMPTY,
    GDT_ENTRIES,
    KERNEL_CS,
    KERNEL_DS,
    MXCSR_DEFAULT,
    RFLAGS_IF,
    RFLAGS_RESERVED,
    USER_CS,
    USER_DS,
    Cr0,
    Cr4,
    Efer,
    Msr,
    PfError,
    Vector,
)

DEFAULT_RAM = 512 << 20
# The least RAM ``twzemu run --memory`` accepts: the machine's own frames and calibration tables take ~100 KiB and
# the smallest program (hello) runs in 256 KiB; this leaves it room. The most is ``physmem.MAX_PHYS_SIZE``.
MIN_RAM = 512 << 10

# Guest-physical frames the machine keeps for itself; the frame allocator starts above them.
_PA_BOOT_TEXT = 0x1000
_PA_GDT = 0x2000
_PA_KSTACK = 0x3000
_PA_KPDPT = 0x4000
_PA_KPD = 0x5000
_PA_KPT = 0x6000
RESERVED_PHYS = 0x10000

# The monitor's supervisor-only window, PML4 slot 256 (the first canonical upper-half address).
KERNEL_PML4_INDEX = 256
KERNEL_BASE = KERNEL_HALF_BASE
_VA_BOOT_TEXT = KERNEL_BASE
_VA_GDT = KERNEL_BASE + 0x1000
_VA_KSTACK_TOP = KERNEL_BASE + 0x3000
# ``emu_start`` takes an end address, but exits are enabled with an empty list (see ``boot``): it is ignored.
STOP_ADDRESS = KERNEL_BASE + 0xF00

# Calibration runs in a scratch address space at these user addresses.
_CAL_TEXT = 0x10_0000
_CAL_UNMAPPED = 0x20_0000

# The #PF error code each calibration probe must produce (SDM 3A 4.7): all from CPL3.
_PROBE_CODES = {
    "read": PfError.USER,
    "write": PfError.USER | PfError.WRITE,
    "fetch": PfError.USER | PfError.FETCH,
    "protect": PfError.USER | PfError.WRITE | PfError.PRESENT,
}
# The ``int n`` run after each of those faults (calibrating ``exception_is_int``): the vectors that look like
# CPU exceptions (#PF, #DF, #GP) and a plain software interrupt.
_INTERRUPT_PROBES = (0x0E, 0x08, 0x80, 0x0D)
_INT_LENGTH = 2  # ``int imm8`` is CD ib: the hook sees RIP this far past the ``int`` (calibration verifies it)
# ``int 6`` never reaches the hook: Unicorn stops ``emu_start`` with UC_ERR_INSN_INVALID at the ``int`` itself,
# as for a real #UD, but with exception_is_int set (calibration verifies it).
_INT_INVALID = 0x06

_HOOK_INTR = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
_HOOK_INSN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_HOOK_IO_IN = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_void_p)
_HOOK_IO_OUT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p)
_HOOK_CODE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
_QUANTUM = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)
_RDI, _RSI, _RDX, _R10, _R8, _R9 = (cpustate.RDI, cpustate.RSI, cpustate.RDX, cpustate.R10, cpustate.R8,
                                    cpustate.R9)  # fmt: skip
CpuRecordBuffer = ctypes.Array[ctypes.c_char]  # a thread's registers while another runs (``fastpath.cpu_record``)
BLOCK_SLOTS = 1 << 16  # --quantum's table of translated blocks' instruction counts
_HOOK_MEM = ctypes.CFUNCTYPE(
    None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64, ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
)

KEEP_FRAMES = 256
SavedCpu = UcContext  # what ``Machine.save_cpu`` returns: opaque outside machine/


def assemble(source: str, address: int = 0) -> bytes:
    """Assemble x86-64 (Intel syntax) with keystone: the monitor's run-time code. The bytes are kept in the user's
    derived-data cache (``twzemu.cache``), keyed by the text and the address, so a run whose code was assembled
    before does not load keystone."""
    return _assembled(user_cache_dir()).get(
        f"{address:#x} {source}", lambda: _keystone(source, address), bytes.hex, _decode_hex
    )


@cache
def _assembled(directory: Path | None) -> Entry:
    return DerivedCache(directory).entry("x86-64-asm", b"keystone, Intel syntax")


def _keystone(source: str, address: int) -> bytes:
    from keystone import KS_ARCH_X86, KS_MODE_64, Ks  # imported on first use: see ``assemble``

    encoding, _ = Ks(KS_ARCH_X86, KS_MODE_64).asm(source, address)
    return bytes(encoding or b"")


def _decode_hex(text: Json) -> bytes:
    return bytes.fromhex(json_str(text))


# The fault path decodes the #PF error code with plain ints: an IntFlag ``&`` costs ~1 µs in Python.
_PF_PRESENT = int(PfError.PRESENT)
_PF_KIND_MASK = int(PfError.WRITE | PfError.FETCH)
_ACCESS_OF_CODE = {
    0: Access.READ,
    int(PfError.WRITE): Access.WRITE,
    int(PfError.FETCH): Access.FETCH,
    int(PfError.FETCH | PfError.WRITE): Access.FETCH,
}
_PAGE_FAULT = int(Vector.PAGE_FAULT)
_DOUBLE_FAULT = int(Vector.DOUBLE_FAULT)
_BACKED = FaultOutcome.BACKED
_FETCH = Access.FETCH
_CR3 = X.UC_X86_REG_CR3


@dataclass(frozen=True, slots=True)
class CpuMode:
    cpl: int
    paging: bool
    cr3: int

    def __str__(self) -> str:
        return f"long mode, CPL{self.cpl}, paging {'on' if self.paging else 'off'}, CR3 {self.cr3:#x}"


class Machine:
    """One emulated x86-64 CPU and its RAM. Use as a context manager; ``boot`` happens on entry.

    ``on_hypercall(machine)`` handles ``syscall`` (arguments and result in ``machine.cpu.gpr``);
    ``on_fault(fault) -> bool`` gets every fault the address space could not resolve.
    """

    def __init__(self, ram_size: int = DEFAULT_RAM) -> None:
        self.ram_size = ram_size
        self.mem: PhysicalMemory | None = None
        self.frames: FrameAllocator | None = None
        self.cpu: CpuState | None = None
        # The crossing engine (``fastpath``) and its state: the CPU views, CR3, and the monitor's crossing tables.
        self.fast = fastpath.State()
        self.fast_ref = ctypes.byref(self.fast)
        self.engine: ctypes.CDLL | None = None  # loaded (built on first use) at boot
        self._spaces: dict[int, AddressSpace] = {}  # page-table root -> its address space
        self.on_hypercall: Callable[[Machine], None] | None = None
        self.on_fault: Callable[[Fault], bool] | None = None
        # Fetch faults the crossing engine did not complete go here first: True when the address was a control
        # transfer the monitor handled (no Fault record is built, no page-table lookup is made).
        self.on_control_transfer: Callable[[int], bool] | None = None
        self._uc: unicorn.Uc | None = None
        self._handle: int = 0
        self._callbacks: list[object] = []
        self._hooks: list[int] = []
        self._stop: Stop | None = None
        self._error: BaseException | None = None
        self._steps = 0
        self._deferred: Fault | None = None  # a fault from an instruction hook, delivered by the run loop
        self._undo: list[tuple[int, bytes]] = []  # what a watched write overwrote (``watch``)
        self._unwatched = False  # watch hooks ignore accesses (while the watched instruction runs again)
        self._watching = 0  # how many ``watch`` hook sets are installed
        # The address the last fault backed, in which address space, and how often it faulted again since.
        self._last_backed = -1
        self._last_root = -1
        self._repeats = 0
        self.translations_flushed = 0  # how often code was retranslated on request (a snapshot compares it)
        # A debugger (``twzemu.debug``) attached before the run: ``run`` hands it control; None keeps ``run`` as is.
        self.debugger: Debugger | None = None
        # Threads: a switch asked for by a hook, the instruction counter or the preemption timer is made by the run
        # loop once emu_start returns: ``on_switch()`` changes what runs (False: the run is to stop, ``_stop`` says
        # why). The timer stops the guest from another thread: only while stops are exact (``find_exact_stop_flag``).
        self.on_switch: Callable[[], bool] | None = None
        self._switch = False
        self._exact: ctypes.c_bool | None = None  # Unicorn's flag that makes a stop land between instructions
        self._debug_hooks = 0  # code and memory hooks a debugger installed (their stops need the flag clear)
        self._preemption: threading.Thread | None = None
        self._preempting = threading.Event()
        self._block_hook: int | None = None  # --quantum's counter, installed while it counts
        self._hooks_changed = False  # a hook came or went while the guest ran (emu_start may return early)
        self._blocks: ctypes.Array[fastpath.BlockSlot] | None = None
        self._counter: InstructionCounter | None = None  # capstone, as the block hook counts with it
        self._free_running = False  # in the run loop's emu_start: a spent quantum may switch threads in its hook

    # -- lifecycle -------------------------------------------------------------------------------------

    def __enter__(self) -> Machine:
        self.boot()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def boot(self) -> None:
        """Bring the CPU up in user mode (module docstring, steps 1-5)."""
        self.engine = fastpath.load()
        self.mem = PhysicalMemory(self.ram_size)
        # Frames kept for images and page tables: 1 MiB, or an eighth of a small RAM (FrameAllocator.alloc).
        keep = min(KEEP_FRAMES, (self.ram_size - RESERVED_PHYS) // PAGE_SIZE // 8)
        self.frames = FrameAllocator(self.mem, RESERVED_PHYS, keep)
        uc = unicorn.Uc(UC.UC_ARCH_X86, UC.UC_MODE_64)
        self._uc = uc
        # With exits enabled and none set, emu_start has no end address to probe: a probe of a supervisor
        # page from CPL3 raises and swallows a #PF that arms unicorn #1883 before the guest runs.
        uc.ctl_exits_enabled(True)
        uc.ctl_set_exits([])
        self._handle = uc._uch.value
        buffer = (ctypes.c_char * self.mem.size).from_buffer(self.mem.buffer)
        uc.mem_map_ptr(0, self.mem.size, UC.UC_PROT_ALL, ctypes.addressof(buffer))
        del buffer
        self._write_monitor_pages()
        scratch = PageTables(self.mem, self.frames)
        scratch.set_pml4_entry(KERNEL_PML4_INDEX, self.kernel_pml4_entry)
        probe_frame = self.frames.alloc()
        probes = self._write_probes(probe_frame)
        scratch.map_page(_CAL_TEXT, probe_frame, Prot.READ | Prot.EXEC)
        state = locate_cpu_state(uc)
        calibration = FaultCalibration(state)  # before the first instruction runs: no fault yet
        self._enable_paging(scratch.root)
        self._enter_user_mode()
        try:
            self.cpu = self._calibrate(probes, state, calibration)
        finally:
            self.frames.free(probe_frame)
        self._install_hooks()
        self._exact = find_exact_stop_flag(uc)
        self._set_exact_stops()

    def close(self) -> None:
        """Release Unicorn and RAM; safe to call twice. Breaks the hook ↔ machine reference cycle."""
        self.preempt_every(None)
        self.on_switch = None
        self._exact = None
        for handle in self._hooks:
            uclib.uc_hook_del(self._handle, handle)
        self._hooks.clear()
        self._callbacks.clear()
        self.on_hypercall = None
        self.on_fault = None
        self.on_control_transfer = None
        self.cpu = None
        self._spaces.clear()
        if self._counter is not None:
            self._counter.close()
            self._counter = None
        self.fast = fastpath.State()  # no pointer into the closed engine survives
        self.fast_ref = ctypes.byref(self.fast)
        self._uc = None  # the binding's finalizer closes the engine when its last reference goes
        if self.mem is not None:
            self.mem.close()
            self.mem = None

    @property
    def uc(self) -> unicorn.Uc:
        if self._uc is None:
            raise MachineError("the machine is not running (use it as a context manager)")
        return self._uc

    @property
    def kernel_pml4_entry(self) -> int:
        """The PML4 entry every address space installs at ``KERNEL_PML4_INDEX`` (supervisor-only)."""
        return _PA_KPDPT | Pte.PRESENT | Pte.WRITABLE

    # -- bring-up --------------------------------------------------------------------------------------

    def _write_monitor_pages(self) -> None:
        mem = self.mem
        assert mem is not None
        for pa in (_PA_BOOT_TEXT, _PA_GDT, _PA_KSTACK, _PA_KPDPT, _PA_KPD, _PA_KPT):
            mem.zero_frame(pa)
        mem.write(_PA_BOOT_TEXT, assemble("iretq", _VA_BOOT_TEXT))
        for index, descriptor in enumerate(GDT_ENTRIES):
            mem.write_u64(_PA_GDT + 8 * index, descriptor)
        table = Pte.PRESENT | Pte.WRITABLE
        mem.write_u64(_PA_KPDPT, _PA_KPD | table)
        mem.write_u64(_PA_KPD, _PA_KPT | table)
        mem.write_u64(_PA_KPT + 0 * 8, _PA_BOOT_TEXT | Pte.PRESENT)
        mem.write_u64(_PA_KPT + 1 * 8, _PA_GDT | Pte.PRESENT | Pte.WRITABLE | Pte.NX)
        mem.write_u64(_PA_KPT + 2 * 8, _PA_KSTACK | Pte.PRESENT | Pte.WRITABLE | Pte.NX)

    def _enable_paging(self, cr3: int) -> None:
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_GDTR, (0, _VA_GDT, 8 * len(GDT_ENTRIES) - 1, 0))
        uc.reg_write(X.UC_X86_REG_CR3, cr3)
        cr4 = (uc.reg_read(X.UC_X86_REG_CR4) | Cr4.PAE) & ~Cr4.FSGSBASE
        uc.reg_write(X.UC_X86_REG_CR4, cr4)
        uc.msr_write(Msr.EFER, uc.msr_read(Msr.EFER) | Efer.LME | Efer.LMA | Efer.NXE | Efer.SCE)
        uc.reg_write(X.UC_X86_REG_CR0, uc.reg_read(X.UC_X86_REG_CR0) | Cr0.PE | Cr0.PG | Cr0.WP)
        uc.reg_write(X.UC_X86_REG_FPCW, FPCW_DEFAULT)
        uc.reg_write(X.UC_X86_REG_FPTAG, FPTAG_EMPTY)
        uc.reg_write(X.UC_X86_REG_MXCSR, MXCSR_DEFAULT)
        if uc.reg_read(X.UC_X86_REG_CR4) & Cr4.FSGSBASE:
            raise MachineError("cannot clear CR4.FSGSBASE: guests could move their thread pointer")

    def _enter_user_mode(self) -> None:
        """Run the boot stub's ``iretq`` at CPL0 with a frame that lands at CPL3 (SDM 3A 6.14.3)."""
        uc = self.uc
        frame = (_CAL_TEXT, USER_CS, RFLAGS_IF | RFLAGS_RESERVED, _CAL_UNMAPPED, USER_DS)
        top = _PA_KSTACK + PAGE_SIZE - 8 * len(frame)
        assert self.mem is not None
        for index, value in enumerate(frame):
            self.mem.write_u64(top + 8 * index, value)
        uc.reg_write(X.UC_X86_REG_CS, KERNEL_CS)
        uc.reg_write(X.UC_X86_REG_SS, KERNEL_DS)
        uc.reg_write(X.UC_X86_REG_RSP, _VA_KSTACK_TOP - 8 * len(frame))
        uc.emu_start(_VA_BOOT_TEXT, STOP_ADDRESS, count=1)
        if uc.reg_read(X.UC_X86_REG_CS) != USER_CS or uc.reg_read(X.UC_X86_REG_RIP) != _CAL_TEXT:
            raise MachineError("could not enter user mode (CPL3) through iretq")

    def _calibrate(self, probes: dict[str, int], state: int, calibration: FaultCalibration) -> CpuState:
        """Find ``old_exception``, the #PF error code and ``exception_is_int`` by running real faults and
        ``int n`` instructions (cpustate docstring), then verify what the fault path relies on."""
        seen: list[tuple[int, int]] = []  # (vector, RIP read through the public API) per hook call

        def on_intr(_uc: int, intno: int, _data: int) -> None:
            seen.append((intno, self.uc.reg_read(X.UC_X86_REG_RIP)))
            uclib.uc_emu_stop(self._handle)

        def fault_at(start: int) -> int | None:
            seen.clear()
            uclib.uc_emu_start(self._handle, start, STOP_ADDRESS, 0, 0)
            return seen[-1][0] if seen else None

        callback = _HOOK_INTR(on_intr)
        handle = self._add_hook(UC.UC_HOOK_INTR, callback)
        try:
            old_exception = self._find_old_exception(probes, calibration, fault_at)
            view = (ctypes.c_int32 * 1).from_address(state + old_exception)
            for (name, code), vector in zip(_PROBE_CODES.items(), _INTERRUPT_PROBES, strict=True):
                view[0] = -1
                if fault_at(probes[name]) != Vector.PAGE_FAULT:
                    raise MachineError(f"calibration: the {name} probe fault was not reported as a page fault")
                calibration.after_fault(code)
                view[0] = -1
                if fault_at(probes[f"int {vector:#x}"]) != vector:
                    raise MachineError(f"calibration: int {vector:#x} was not reported as vector {vector:#x}")
                calibration.after_interrupt()
            layout = StateLayout(
                regs=0,
                old_exception=old_exception,
                error_code=calibration.error_code(),
                exception_is_int=calibration.exception_is_int(),
                **self._register_fields(state),
            )
            cpu = CpuState(state, layout)
            self._verify_interrupts(cpu, probes, fault_at, seen)
        finally:
            self._remove_hook(handle, callback)
        self._verify(cpu)
        cpu.old_exception[0] = -1
        return cpu

    def _verify_interrupts(
        self, cpu: CpuState, probes: dict[str, int], fault_at: Callable[[int], int | None], seen: list[tuple[int, int]]
    ) -> None:
        """What ``_on_intr`` and ``_stop_after`` rely on, seen once more (fail closed): ``int 0x0e`` reaches the
        hook as vector 14 with exception_is_int 1 and RIP just past the ``int``; a real page fault reads 0;
        ``int 6`` stops ``emu_start`` with UC_ERR_INSN_INVALID at the ``int`` with exception_is_int 1."""
        start = probes[f"int {Vector.PAGE_FAULT:#x}"]
        cpu.old_exception[0] = -1
        vector = fault_at(start)
        checks = [vector == Vector.PAGE_FAULT, cpu.exception_is_int[0] == 1, seen[-1][1] == start + _INT_LENGTH]
        cpu.old_exception[0] = -1
        checks += [fault_at(probes["read"]) == Vector.PAGE_FAULT, cpu.exception_is_int[0] == 0]
        start = probes[f"int {_INT_INVALID:#x}"]
        cpu.old_exception[0] = -1
        seen.clear()
        status = uclib.uc_emu_start(self._handle, start, STOP_ADDRESS, 0, 0)
        checks += [status == UC.UC_ERR_INSN_INVALID, not seen, cpu.exception_is_int[0] == 1, cpu.rip[0] == start]
        if not all(checks):
            raise MachineError(
                f"unicorn {unicorn.__version__}: software interrupts do not behave as calibrated "
                f"(checks {checks}); twzemu needs unicorn 2.1.4"
            )
        cpu.exception_is_int[0] = 0

    @staticmethod
    def _find_old_exception(
        probes: dict[str, int], calibration: FaultCalibration, fault_at: Callable[[int], int | None]
    ) -> int:
        """The candidate that, reset to -1, reads 14 after one fault and 8 after the next (unicorn #1883)."""
        for offset in calibration.exception_candidates():
            ctypes.c_int32.from_address(calibration.address + offset).value = -1  # its value before any fault
            first = fault_at(probes["read"])
            first_value = calibration.value_at(offset)
            second = fault_at(probes["write"])
            if (first, first_value, second, calibration.value_at(offset)) == (14, 14, 8, 8):
                return offset
        raise MachineError(
            f"unicorn {unicorn.__version__}: cannot locate the exception state (unicorn issue #1883); "
            "twzemu needs unicorn 2.1.4"
        )

    def _register_fields(self, state: int) -> dict[str, int]:
        uc = self.uc
        fields = {
            "rip": find_field(state, lambda v: uc.reg_write(X.UC_X86_REG_RIP, v), "rip"),
            "cr2": find_field(state, lambda v: uc.reg_write(X.UC_X86_REG_CR2, v), "cr2"),
            "fs_base": find_field(state, lambda v: uc.reg_write(X.UC_X86_REG_FS_BASE, v), "fs_base"),
        }
        uc.reg_write(X.UC_X86_REG_CR2, 0)
        uc.reg_write(X.UC_X86_REG_FS_BASE, 0)
        xmm = [getattr(X, f"UC_X86_REG_XMM{i}") for i in range(16)]
        fields["vectors"] = find_vectors(state, lambda n, v: uc.reg_write(xmm[n], v))
        return fields

    def _write_probes(self, text: int) -> dict[str, int]:
        """Faulting instructions: read, write and fetch an absent page; write a read-only one; ``int n``."""
        assert self.mem is not None
        sources = {
            "read": f"mov rax, [{_CAL_UNMAPPED:#x}]",
            "write": f"mov [{_CAL_UNMAPPED:#x}], rax",
            "fetch": f"mov rcx, {_CAL_UNMAPPED:#x}; jmp rcx",
            "protect": f"mov [{_CAL_TEXT:#x}], rax",
            **{f"int {n:#x}": f"int {n:#x}" for n in (*_INTERRUPT_PROBES, _INT_INVALID)},
        }
        code = b""
        starts: dict[str, int] = {}
        for name, source in sources.items():
            starts[name] = _CAL_TEXT + len(code)
            code += assemble(source, starts[name])
        self.mem.write(text, code)
        return starts

    def _verify(self, cpu: CpuState) -> None:
        """Cross-check every view against the public API, both directions (fail closed)."""
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_RBX, 0x1122_3344_5566_7788)
        cpu.gpr[1] = 0x0102_0304_0506_0708
        checks = (
            cpu.gpr[3] == 0x1122_3344_5566_7788,
            uc.reg_read(X.UC_X86_REG_RCX) == 0x0102_0304_0506_0708,
            cpu.rip[0] == uc.reg_read(X.UC_X86_REG_RIP),
            cpu.cr2[0] == uc.reg_read(X.UC_X86_REG_CR2),
        )
        if not all(checks):
            raise MachineError(f"unicorn {unicorn.__version__}: CPU state views disagree with the API")
        cpu.gpr[1] = 0
        cpu.gpr[3] = 0

    # -- hooks -----------------------------------------------------------------------------------------

    def _add_hook(
        self, kind: int, callback: object, *extra: object, data: object = None, begin: int = 1, end: int = 0
    ) -> int:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(
            self._handle, ctypes.byref(handle), kind, callback, data, ctypes.c_uint64(begin), ctypes.c_uint64(end),
            *extra,
        )  # fmt: skip
        if status != UC.UC_ERR_OK:
            raise MachineError(f"unicorn refused a hook: {unicorn.UcError(status)}")
        self._callbacks.append(callback)
        self._hooks.append(handle.value)
        return handle.value

    def _remove_hook(self, handle: int, callback: object) -> None:
        uclib.uc_hook_del(self._handle, handle)
        self._hooks.remove(handle)
        self._callbacks.remove(callback)

    def _install_hooks(self) -> None:
        """Faults go to the crossing engine (C), which hands every event it does not complete to ``_on_intr``."""
        python_hook = _HOOK_INTR(self._on_intr)
        self._callbacks.append(python_hook)
        self._wire_fast_path(ctypes.cast(python_hook, ctypes.c_void_p).value or 0)
        self._add_hook(UC.UC_HOOK_INTR, ctypes.c_void_p(fastpath.hook_address()), data=self.fast_ref)
        self._add_hook(UC.UC_HOOK_INSN, _HOOK_INSN(self._on_syscall), ctypes.c_int(X.UC_X86_INS_SYSCALL))
        self._add_hook(UC.UC_HOOK_INSN, _HOOK_INSN(self._on_sysenter), ctypes.c_int(X.UC_X86_INS_SYSENTER))
        self._add_hook(UC.UC_HOOK_INSN, _HOOK_IO_IN(self._on_port_in), ctypes.c_int(X.UC_X86_INS_IN))
        self._add_hook(UC.UC_HOOK_INSN, _HOOK_IO_OUT(self._on_port_out), ctypes.c_int(X.UC_X86_INS_OUT))

    def _wire_fast_path(self, python_hook: int) -> None:
        cpu, mem, fast = self.cpu, self.mem, self.fast
        assert cpu is not None and mem is not None
        fast.uc = self._handle
        fast.reg_write = ctypes.cast(uclib.uc_reg_write, ctypes.c_void_p).value
        fast.reg_read = ctypes.cast(uclib.uc_reg_read, ctypes.c_void_p).value
        fast.reg_write_batch = ctypes.cast(uclib.uc_reg_write_batch, ctypes.c_void_p).value
        fast.fpu_registers[:] = FPU_REGISTERS
        fast.python_hook = python_hook
        fast.gpr, fast.rip, fast.cr2, fast.fs_base, fast.old_exception, fast.error_code = (
            ctypes.addressof(view)
            for view in (cpu.gpr, cpu.rip, cpu.cr2, cpu.fs_base, cpu.old_exception, cpu.error_code)
        )
        fast.exception_is_int = ctypes.addressof(cpu.exception_is_int)  # the engine leaves `int 0x0e` to us
        fast.vectors = cpu.vector_address
        fast.vector_bytes = VECTOR_BYTES
        fast.ram = ctypes.addressof((ctypes.c_char * mem.size).from_buffer(mem.buffer))
        fast.ram_size = mem.size
        fast.cr3 = self.uc.reg_read(X.UC_X86_REG_CR3)
        fast.cr3_register = _CR3
        fast.eflags_register = X.UC_X86_REG_EFLAGS
        fast.gs_base_register = X.UC_X86_REG_GS_BASE
        fast.hypercalls_allowed = 1
        fast.current = -1

    def _fail_hook(self, error: BaseException) -> None:
        """The one guard: keep the error, stop emulation; ``run`` re-raises it."""
        if self._error is None:
            self._error = error
        uclib.uc_emu_stop(self._handle)

    def _on_intr(self, _uc: int, intno: int, _data: int) -> None:
        try:  # the crossing engine has already reset old_exception (unicorn #1883)
            cpu = self.cpu
            if self._deferred is not None:  # the rest of a block after a refused instruction: the first fault wins
                uclib.uc_emu_stop(self._handle)
                return
            if cpu.exception_is_int[0]:  # `int n`: vector n, but no exception of that kind (cpustate)
                fault = self._software_interrupt(intno, cpu.rip[0])
            elif intno == _PAGE_FAULT:
                code = cpu.error_code[0]
                address = cpu.cr2[0]
                access = _ACCESS_OF_CODE[code & _PF_KIND_MASK]
                present = code & _PF_PRESENT
                transfer = self.on_control_transfer
                try:  # free when nothing is raised (Python 3.11): the fault path pays nothing for it
                    if access is _FETCH and transfer is not None and transfer(address):
                        return  # a gate entry or a return point: the monitor switched compartments
                    root = self.fast.cr3
                    space = self._spaces.get(root)
                    if not present and space is not None and space.resolve_fault(address, access) is _BACKED:
                        if address == self._last_backed and root == self._last_root:
                            self._check_progress(address, cpu.rip[0])
                        else:
                            self._last_backed = address
                            self._last_root = root
                            self._repeats = 0
                        return
                except OutOfFrames:  # backing the page (or a crossing's stack page) found RAM full: the guest's fault
                    self._deliver(Fault(Vector.PAGE_FAULT, cpu.rip[0], address, access, out_of_memory=self.ram_size))
                    return
                fault = Fault(Vector.PAGE_FAULT, cpu.rip[0], address, access, bool(present))
            elif intno == _DOUBLE_FAULT:
                raise MachineError(
                    f"unicorn {unicorn.__version__} reported a double fault at {cpu.rip[0]:#x}: its exception "
                    "state was not reset (unicorn issue #1883); stopping rather than guessing"
                )
            else:
                fault = Fault(
                    Vector(intno) if intno in Vector._value2member_map_ else Vector.GENERAL_PROTECTION, cpu.rip[0]
                )
            self._deliver(fault)
        except BaseException as error:
            self._fail_hook(error)
        finally:
            if self._watching and self._stop is None:
                self._rearm_memory_hooks()

    def _rearm_memory_hooks(self) -> None:
        """Unicorn 2.1.4 skips every memory hook while ``uc->size_recur_mem`` is set, and a fault on the second
        page of a page-crossing access (an instruction or a load/store straddling into a page not backed yet)
        longjmps out of ``load_helper`` without clearing it: watchpoints would go silent for the rest of
        ``emu_start``. Writing RIP (unchanged) sets ``quit_request``: ``cpu_exec`` returns once this hook does and
        ``tcg_cpu_exec`` clears the field before resuming at the faulting instruction (measured). Through
        ``uc_reg_write_batch``: ``uc_reg_write`` also sets ``skip_sync_pc_on_exit``, which nothing clears on this
        path, and later hooks would see RIP at the start of their block instead of at their instruction."""
        self.uc.reg_write_batch([(X.UC_X86_REG_RIP, self.cpu.rip[0])])

    @staticmethod
    def _software_interrupt(intno: int, rip: int) -> Fault:
        """``int n`` at CPL3. Every IDT gate is DPL0 but those of int3/``int 3`` and ``int 4`` (an OS gives the
        breakpoint and overflow vectors DPL3), so any other ``int n`` is a #GP (SDM 3A 6.12.1.1), reported at
        the ``int`` itself: the hook sees RIP just past it (Unicorn moves RIP to ``exception_next_eip``)."""
        if intno == Vector.BREAKPOINT or intno == Vector.OVERFLOW:
            return Fault(Vector(intno), rip)  # a trap: RIP after the instruction, as on hardware
        return Fault(Vector.GENERAL_PROTECTION, rip - _INT_LENGTH, interrupt=intno)

    def _check_progress(self, address: int, rip: int) -> None:
        """The page backed last faulted again (a stale TLB entry is rewritten once): never many times in a row."""
        self._repeats += 1
        if self._repeats > 2:
            raise MachineError(f"page {address:#x} keeps faulting at {rip:#x} after being backed")

    def _deliver(self, fault: Fault) -> None:
        handler = self.on_fault
        if handler is not None and handler(fault):
            return
        self._stop = Stop(StopReason.FAULT, fault=fault)
        uclib.uc_emu_stop(self._handle)

    def _on_syscall(self, _uc: int, _data: int) -> None:
        try:
            if not self.fast.hypercalls_allowed or self.on_hypercall is None:
                self._defer(Fault(Vector.INVALID_OPCODE, self.cpu.rip[0], insn="syscall"))
                return
            self.on_hypercall(self)
        except OutOfFrames:  # a service wrote guest memory and RAM is full: the caller's fault, at its syscall
            self._defer(Fault(Vector.PAGE_FAULT, self.cpu.rip[0], out_of_memory=self.ram_size))
        except BaseException as error:
            self._fail_hook(error)

    def _refuse(self, insn: str, vector: Vector) -> None:
        try:
            self._defer(Fault(vector, self.cpu.rip[0], insn=insn))
        except BaseException as error:
            self._fail_hook(error)

    def _defer(self, fault: Fault) -> None:
        """A fault raised in an instruction hook: Unicorn finishes the instruction (and its translation block)
        after the hook returns, so nothing may switch context here; the run loop delivers it once stopped."""
        self._deferred = fault
        self.fast.held = 1  # the crossing engine leaves the rest of the block to Python too
        uclib.uc_emu_stop(self._handle)

    def _on_sysenter(self, _uc: int, _data: int) -> None:
        self._refuse("sysenter", Vector.INVALID_OPCODE)

    def _on_port_in(self, _uc: int, _port: int, _size: int, _data: int) -> int:
        self._refuse("in", Vector.GENERAL_PROTECTION)  # IOPL is 0: port I/O at CPL3 is a #GP
        return 0

    def _on_port_out(self, _uc: int, _port: int, _size: int, _value: int, _data: int) -> None:
        self._refuse("out", Vector.GENERAL_PROTECTION)

    # -- requests from hooks ---------------------------------------------------------------------------

    # -- registers, for the monitor (which sees no ctypes view) ------------------------------------------------

    def register(self, index: int) -> int:
        """General register ``index`` (``cpustate.RAX`` …, in x86 encoding order)."""
        assert self.cpu is not None
        return self.cpu.gpr[index]

    def hypercall_arguments(self) -> tuple[int, int, int, int, int, int]:
        """rdi, rsi, rdx, r10, r8, r9: a hypercall's arguments (``syscall`` overwrites rcx), read at once."""
        assert self.cpu is not None
        gpr = self.cpu.gpr
        return gpr[_RDI], gpr[_RSI], gpr[_RDX], gpr[_R10], gpr[_R8], gpr[_R9]

    def set_register(self, index: int, value: int) -> None:
        assert self.cpu is not None
        self.cpu.gpr[index] = value & U64_MASK

    @property
    def rip(self) -> int:
        assert self.cpu is not None
        return self.cpu.rip[0]

    @rip.setter
    def rip(self, value: int) -> None:
        assert self.cpu is not None
        self.cpu.rip[0] = value & U64_MASK

    def exit(self, code: int) -> None:
        """Called from a hypercall handler: stop the run with the guest's exit code."""
        self.request_stop(Stop(StopReason.EXIT, exit_code=code))

    @property
    def stopping(self) -> bool:
        """Whether this run of the guest is to stop (an exit, the deadline, Ctrl-C): a hook that waits ends early."""
        return self._stop is not None

    def request_stop(self, stop: Stop) -> None:
        self._stop = stop
        uclib.uc_emu_stop(self._handle)

    def request_switch(self) -> None:
        """Stop the guest once this hook returns (or, from the preemption timer's thread, at the next block's start)
        and let ``on_switch`` choose what runs next."""
        self._switch = True
        uclib.uc_emu_stop(self._handle)

    @property
    def can_preempt(self) -> bool:
        """Whether another thread can stop the guest between two instructions (``preempt_every``)."""
        return self._exact is not None

    def preempt_every(self, period: float | None) -> None:
        """Ask for a switch every ``period`` seconds of the host's time (None: no more), from a thread of its own:
        the default quantum, cheap (no hook runs) and not reproducible (``count_instructions`` is). Only where
        ``can_preempt``: Unicorn stopped from another thread may otherwise run an instruction twice (#1355)."""
        if self._preemption is not None:
            self._preempting.set()
            self._preemption.join()
            self._preemption = None
        if period is None:
            return
        if not self.can_preempt:
            raise MachineError(f"unicorn {unicorn.__version__}: a stop from another thread would not be exact")
        self._preempting = stopped = threading.Event()

        def tick() -> None:
            while not stopped.wait(period):
                self.request_switch()

        self._preemption = threading.Thread(target=tick, name="twzemu-quantum", daemon=True)
        self._preemption.start()

    @property
    def switching(self) -> bool:
        """Whether a preemption timer or an instruction count may stop the guest to switch threads."""
        return self._preemption is not None or self._block_hook is not None

    def stop_switching(self) -> None:
        """No more preemption timer nor instruction count (a snapshot taken without them is restored)."""
        self.preempt_every(None)
        self.count_instructions(False)

    def _set_exact_stops(self) -> None:
        """Code translated from now on stops exactly on another thread's request, unless a debugger's code or memory
        hooks need their own stops at once (Unicorn checks for those only where the flag is clear)."""
        if self._exact is not None:
            self._exact.value = self._debug_hooks == 0

    def _debug_hooks_changed(self, change: int) -> None:
        """A debugger's code or memory hooks came (+1) or went (-1): translate every block again, with the stop
        checks they need, or without (code translated before has no call-outs to hooks added since)."""
        self._debug_hooks += change
        self._set_exact_stops()
        self.uc.ctl_flush_tb()

    def count_instructions(self, on: bool) -> None:
        """Count the instructions run, a translated block at a time, against ``set_budget``'s budget (the crossing
        engine's block hook, in C: a few ns a block; a block met the first time is decoded once, by capstone called
        from C); when it is spent, the machine stops and ``on_switch`` runs. Turned on while the guest runs (in a
        hook), every block is translated again, with the call to the counter, once this ``emu_start`` ends (now: a
        loop chained to itself would run on uncounted). Turned off, code translated with the call keeps making it
        (harmless without a budget: ``set_budget`` first)."""
        if on == (self._block_hook is not None):
            return
        self._hooks_changed = True
        fast = self.fast
        if not on:
            assert self._block_hook is not None
            uclib.uc_hook_del(self._handle, self._block_hook)
            self._hooks.remove(self._block_hook)
            self._block_hook = None
            return
        if self._blocks is None:
            self._blocks = (fastpath.BlockSlot * BLOCK_SLOTS)()
            self._counter = counter = InstructionCounter()
            fast.blocks = ctypes.cast(self._blocks, ctypes.POINTER(fastpath.BlockSlot))
            fast.block_mask = BLOCK_SLOTS - 1
            fast.vmem_read = ctypes.cast(uclib.uc_vmem_read, ctypes.c_void_p).value
            fast.disasm_iter, fast.disassembler, fast.instruction = (
                counter.disasm_iter, counter.handle, counter.instruction,
            )  # fmt: skip
            fast.emu_stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
            scheduler = _QUANTUM(self._on_quantum)
            self._callbacks.append(scheduler)
            fast.quantum_hook = ctypes.cast(scheduler, ctypes.c_void_p).value
        self._block_hook = self._add_hook(UC.UC_HOOK_BLOCK, ctypes.c_void_p(fastpath.block_hook_address()),
                                          data=self.fast_ref)  # fmt: skip
        self._callbacks.pop()  # a C function: nothing to keep alive
        self.flush_translations()
        uclib.uc_emu_stop(self._handle)  # nothing while the guest does not run

    @property
    def counted_blocks(self) -> list[tuple[int, int, int]]:
        """Each translated block ``count_instructions`` has met: its address, size in bytes and instructions."""
        return [(b.address, b.size, b.count) for b in self._blocks or () if b.count]

    def _on_quantum(self, _uc: int) -> int:
        """The running thread's budget is spent, at a block's start (the counter's hook): ``on_switch`` runs here, and
        the thread it chose begins there without ``emu_start`` ending (RIP written through Unicorn starts the block
        again: the same one if no other thread runs). 0 when not here — not the run loop's ``emu_start`` (a step), a
        stop pending (a fault an instruction hook deferred is the running thread's: it is delivered first), no
        scheduler — and the machine stops for the run loop instead."""
        pending = self._stop is not None or self._switch or self._deferred is not None or self._error is not None
        if not self._free_running or pending or self.on_switch is None:
            return 0
        try:
            if self.on_switch() and self._stop is None:
                assert self.cpu is not None
                uclib.uc_reg_write(self._handle, X.UC_X86_REG_RIP, ctypes.byref(ctypes.c_uint64(self.cpu.rip[0])))
        except BaseException as error:
            self._fail_hook(error)
        return 1

    def set_budget(self, instructions: int) -> None:
        """The running thread's quantum under ``count_instructions`` (a stop the last one asked for still ends
        ``emu_start``: the run loop then sees a budget left and goes on)."""
        self.fast.budget = instructions

    def thread_registers(self, rip: int, rsp: int, fs_base: int, gs_base: int) -> CpuRecordBuffer:
        """A thread's registers before it first runs (``switch_cpu`` loads them): at ``rip`` on ``rsp`` with those
        segment bases, every other register zero, the flags and floating-point control words as at a program's
        start (psABI 3.4.1)."""
        buffer = self.cpu_record()
        record = fastpath.CpuRecord.from_buffer(buffer)
        record.gpr[cpustate.RSP] = rsp
        record.rip, record.rflags, record.fs_base, record.gs_base = rip, RFLAGS_IF | RFLAGS_RESERVED, fs_base, gs_base
        for register, value in ((X.UC_X86_REG_FPCW, FPCW_DEFAULT), (X.UC_X86_REG_MXCSR, MXCSR_DEFAULT),
                                (X.UC_X86_REG_FPTAG, FPTAG_EMPTY)):  # fmt: skip
            record.fpu[FPU_REGISTERS.index(register)][0] = value
        return buffer

    def cpu_record(self) -> CpuRecordBuffer:
        """Room for a thread's registers while another runs (the crossing engine's ``twz_switch_thread``)."""
        return fastpath.cpu_record(VECTOR_BYTES)

    def set_gs_base(self, value: int) -> None:
        """The gs base (the running thread's information: ``twz_startup.h``), which CPL3 code cannot move."""
        self.uc.reg_write(X.UC_X86_REG_GS_BASE, value)

    # -- address spaces --------------------------------------------------------------------------------

    @property
    def hypercalls_allowed(self) -> bool:
        """Whether ``syscall`` reaches ``on_hypercall`` (the crossing engine sets it on every switch)."""
        return bool(self.fast.hypercalls_allowed)

    @hypercalls_allowed.setter
    def hypercalls_allowed(self, allowed: bool) -> None:
        self.fast.hypercalls_allowed = int(allowed)

    def new_space(self, cache: FrameCache, name: str) -> AddressSpace:
        """An empty address space of this machine: the monitor's supervisor window installed, TLB flushes on
        changes, and known as the fault resolver for its CR3 (the crossing engine switches among these)."""
        assert self.mem is not None and self.frames is not None
        space = AddressSpace(self.mem, self.frames, cache, name, on_change=self._space_changed)
        space.tables.set_pml4_entry(KERNEL_PML4_INDEX, self.kernel_pml4_entry)
        self._spaces[space.tables.root] = space
        return space

    def switch_space(self, space: AddressSpace) -> None:
        """Load ``space`` (made by ``new_space``); ``uc_reg_write`` flushes the TLB as a real CR3 load does."""
        if self.engine is None:
            raise MachineError("the machine is not booted")
        self.engine.twz_write_cr3(self.fast_ref, space.tables.root)

    def save_cpu(self) -> SavedCpu:
        """The whole CPU state, to put back with ``restore_cpu`` (the monitor runs something in between)."""
        return self.uc.context_save()

    def restore_cpu(self, saved: SavedCpu) -> None:
        """Put back what ``save_cpu`` saved; the caller reloads CR3 (a context restore does not flush the TLB)."""
        self.uc.context_restore(saved)

    def space_of(self, root: int) -> AddressSpace | None:
        """The address space (made by ``new_space``) whose page tables are rooted at ``root``."""
        return self._spaces.get(root)

    def current_space(self) -> AddressSpace | None:
        """The address space loaded now."""
        return self._spaces.get(self.fast.cr3)

    def mode(self) -> CpuMode:
        """The privilege and paging state, read through the public API (for reports and tests)."""
        uc = self.uc
        cr0 = uc.reg_read(X.UC_X86_REG_CR0)
        return CpuMode(uc.reg_read(X.UC_X86_REG_CS) & 3, bool(cr0 & Cr0.PG), uc.reg_read(X.UC_X86_REG_CR3))

    def flush_translations(self) -> None:
        """Translate every block again from now on (code the guest wrote through another mapping of its frames)."""
        self.translations_flushed += 1
        self.uc.ctl_flush_tb()

    def _space_changed(self) -> None:
        """Entries were removed or their rights changed: the TLB forgets them, and a page backed again after that is
        progress, not the same fault repeating."""
        self._last_backed = -1
        self._repeats = 0
        self.flush_tlb()

    def flush_tlb(self) -> None:
        self.uc.ctl(UC.UC_CTL_TLB_FLUSH, UC.UC_CTL_IO_WRITE)

    # -- running ---------------------------------------------------------------------------------------

    def run(self, rip: int | None = None, timeout: float | None = None) -> Stop:
        """Run the guest from ``rip`` (default: where it stopped) until it exits, faults, times out or is
        interrupted with Ctrl-C. Errors raised in hooks are re-raised here. With a ``debugger`` attached, it
        decides when the guest runs (``run_free``, ``step``) and returns the stop the monitor sees."""
        if self.debugger is not None:
            return self.debugger.run(rip, timeout)
        return self.run_free(rip, timeout)

    def run_free(self, rip: int | None = None, timeout: float | None = None) -> Stop:
        """``run`` without asking the debugger: what it calls to let the guest go."""
        cpu = self.cpu
        if cpu is None:
            raise MachineError("the machine is not booted")
        if rip is not None:
            cpu.rip[0] = rip
        watchdog = Watchdog(self._interrupt, timeout)
        with watchdog:
            return self._loop(cpu, watchdog)

    def _interrupt(self, reason: StopReason) -> None:
        self._stop = self._stop or Stop(reason)
        uclib.uc_emu_stop(self._handle)

    def _loop(self, cpu: CpuState, watchdog: Watchdog) -> Stop:
        while watchdog.stop is None:
            self._free_running = True
            try:
                status = self._emulate(cpu)
            finally:
                self._free_running = False
            if self._deliver_deferred():
                continue  # the monitor resolved it (e.g. unwound a crossing): run on
            if self._stop is None and watchdog.stop is None:
                expired, self.fast.expired = self.fast.expired, 0
                # the timer's stop may land in the emu_start after the one it meant (its flag was taken already)
                late_tick = status == UC.UC_ERR_OK and self._preemption is not None
                if self._switch or (expired and self.fast.budget <= 0) or late_tick:
                    self._switch = False
                    if self.on_switch is None or self.on_switch():
                        continue  # another thread (or the same) runs on
                elif expired or self._hooks_changed:
                    # a quantum ended, but a switch in a system call came first (a fresh one runs); or a block hook
                    # added or removed from a hook made Unicorn end emu_start to translate again
                    self._hooks_changed = False
                    continue
            stop = self._stop or watchdog.stop or self._stop_after(status, cpu)
            if stop is not None and stop.reason is StopReason.WATCHPOINT:
                return self._run_watched(stop)
            if stop is not None:
                return stop
        return watchdog.stop

    def _emulate(self, cpu: CpuState) -> int:
        """One ``emu_start`` from ``rip`` with no request pending; an error raised in a hook is re-raised."""
        self._stop = None
        self._error = None
        cpu.old_exception[0] = -1
        self.fast.held = 0
        status = uclib.uc_emu_start(self._handle, cpu.rip[0], STOP_ADDRESS, 0, 0)
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return status

    def _deliver_deferred(self) -> bool:
        """Hand the fault an instruction hook deferred to ``on_fault``: True when it was resolved and the guest
        runs on; otherwise (no handler, or it declined) the fault becomes the stop."""
        deferred, self._deferred = self._deferred, None
        if deferred is None or self._stop is not None:
            return False
        handler = self.on_fault
        if handler is not None and handler(deferred):
            return self._stop is None
        self._stop = Stop(StopReason.FAULT, fault=deferred)
        return False

    def _stop_after(self, status: int, cpu: CpuState) -> Stop | None:
        """Turn an ``emu_start`` that ended without a request into a stop, or fail closed."""
        rip = cpu.rip[0]
        if status == UC.UC_ERR_INSN_INVALID and cpu.exception_is_int[0]:  # `int 6`, stopped at the int itself
            fault = Fault(Vector.GENERAL_PROTECTION, rip, interrupt=_INT_INVALID)
        elif status == UC.UC_ERR_INSN_INVALID:  # ud2, and wrfsbase with CR4.FSGSBASE clear: no hook fires
            fault = Fault(Vector.INVALID_OPCODE, rip)
        elif status == UC.UC_ERR_OK:
            raise MachineError(f"emulation stopped at {rip:#x} for no reason (unicorn {unicorn.__version__})")
        else:
            raise MachineError(f"unicorn: {unicorn.UcError(status)} at {rip:#x}")
        handler = self.on_fault
        if handler is not None and handler(fault):
            return None
        return Stop(StopReason.FAULT, fault=fault)

    def step(self) -> Stop:
        """Run exactly one guest instruction (a temporary code hook stops before the second one:
        ``emu_start(count=1)`` may run more, unicorn #1606)."""
        cpu = self.cpu
        assert cpu is not None
        self._steps = 0

        def on_code(_uc: int, _address: int, _size: int, _data: int) -> None:
            self._steps += 1
            if self._steps > 1:
                self.request_stop(Stop(StopReason.STEP))

        callback = _HOOK_CODE(on_code)
        handle = self._add_hook(UC.UC_HOOK_CODE, callback)
        self._debug_hooks_changed(+1)
        try:
            status = self._emulate(cpu)
        finally:
            self._remove_hook(handle, callback)
            self._debug_hooks_changed(-1)  # drop the instrumented code: full speed again
        if self._deliver_deferred():
            return Stop(StopReason.STEP)
        return self._stop or self._stop_after(status, cpu) or Stop(StopReason.STEP)

    # -- for a debugger: breakpoints without a Python call anywhere else, registers by name ----------------

    def break_at(self, addresses: Iterable[int]) -> Callable[[], None]:
        """Stop before the instruction at each of ``addresses`` (``StopReason.BREAKPOINT``), through code hooks on
        one-byte ranges: Unicorn instruments only those instructions, so the rest runs at full speed. Nothing is
        written into text (text objects are read-only and shared). Returns the function that removes them."""
        installed = []

        def on_code(_uc: int, _address: int, _size: int, _data: int) -> None:
            self.request_stop(Stop(StopReason.BREAKPOINT))

        callback = _HOOK_CODE(on_code)
        for address in addresses:
            installed.append(self._add_hook(UC.UC_HOOK_CODE, callback, begin=address, end=address))
        self._debug_hooks_changed(+1)

        def remove() -> None:
            for handle in installed:
                uclib.uc_hook_del(self._handle, handle)
                self._hooks.remove(handle)
            for _ in installed:
                self._callbacks.remove(callback)
            self._debug_hooks_changed(-1)

        return remove

    def watch(self, points: Mapping[Watch, Sequence[range]]) -> Callable[[], None]:
        """Stop after each instruction that touches a watched range (``StopReason.WATCHPOINT``), through memory hooks
        on those ranges only. Unicorn's memory hooks see physical addresses once paging is on (measured), so each
        point comes with the physical ranges behind it: an access through any address space that maps them fires.
        Returns the function that removes the hooks.

        Unicorn stops a read at its instruction before any effect, and a write at its instruction after the store
        (measured); ``_run_watched`` undoes the store and runs the instruction again unwatched, so the stop comes
        after it, once."""
        watched = list(points)
        installed = []

        def on_access(_uc: int, access: int, address: int, size: int, _value: int, index: int | None) -> None:
            if self._unwatched or self._stop is not None:
                return
            if access == UC.UC_MEM_WRITE:
                self._undo.append((address, self.mem.read(address, size)))
            self.request_stop(Stop(StopReason.WATCHPOINT, watch=watched[index or 0]))

        callback = _HOOK_MEM(on_access)
        for index, point in enumerate(watched):
            kinds = (UC.UC_HOOK_MEM_WRITE if point.on_write else 0) | (UC.UC_HOOK_MEM_READ if point.on_read else 0)
            for piece in points[point]:
                data = ctypes.c_void_p(index)
                installed.append(self._add_hook(kinds, callback, data=data, begin=piece.start, end=piece.stop - 1))
        self._watching += 1
        self._debug_hooks_changed(+1)

        def remove() -> None:
            self._watching -= 1
            for handle in installed:
                uclib.uc_hook_del(self._handle, handle)
                self._hooks.remove(handle)
                self._callbacks.remove(callback)
            self._debug_hooks_changed(-1)

        return remove

    def _run_watched(self, stop: Stop) -> Stop:
        """The watched instruction stopped at itself: undo its store, run it once more unwatched."""
        for address, old in reversed(self._undo):
            self.mem.write(address, old)
        self._undo.clear()
        self._unwatched = True
        try:
            after = self.step()
        finally:
            self._unwatched = False
        return stop if after.reason is StopReason.STEP else after

    def named_register(self, name: str) -> int | tuple[int, int]:
        """Any register by its Unicorn name (``EFLAGS``, ``FS_BASE``, ``XMM0``…; ``FP0``-``FP7`` as mantissa and
        exponent): the binding's slow path, for a debugger, which reads a few per stop."""
        value = self.uc.reg_read(getattr(X, f"UC_X86_REG_{name.upper()}"))
        return (int(value[0]), int(value[1])) if isinstance(value, tuple) else int(value)

    def set_named_register(self, name: str, value: int | tuple[int, int]) -> None:
        self.uc.reg_write(getattr(X, f"UC_X86_REG_{name.upper()}"), value)
        if name.upper() == "FS_BASE":
            self.flush_tlb()  # nothing cached may keep the old base


class Debugger(Protocol):
    """What ``Machine.run`` hands control to when a debugger is attached (``twzemu.debug.session``)."""

    def run(self, rip: int | None, timeout: float | None) -> Stop: ...


__all__ = ["DEFAULT_RAM", "KERNEL_BASE", "MIN_RAM", "CpuMode", "Machine", "assemble"]
