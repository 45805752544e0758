"""What the CPU reports to the monitor: faults, and why a run stopped.

``Fault`` is built on the fault hot path, so it is a plain slotted class (a frozen dataclass costs ~0.37 µs to
build, a slotted class ~0.1 µs; DESIGN.md "The MMU and the CPU"); everything else is a frozen dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..mmu.space import Access
from .x86 import Vector


class Fault:
    """A CPU exception raised by guest code.

    ``vector`` is the x86 exception (``Vector.PAGE_FAULT`` for page faults, where ``address`` is CR2 and
    ``access``/``present`` come from the #PF error code); ``rip`` is the instruction that faulted (for traps
    such as int3, the instruction after it). ``insn`` names an instruction the machine refuses (``syscall``
    outside the monitor, ``sysenter``, port I/O) when it is not a plain CPU exception. ``interrupt`` is ``n``
    when the fault is an ``int n`` instruction (a #GP at CPL3: the IDT gates are DPL0), ``rip`` then being the
    ``int`` itself. ``out_of_memory`` is the RAM size, in bytes, when the fault is no CPU exception but the
    machine running out of frames while backing ``address`` (or, with no address, while serving a hypercall).
    """

    __slots__ = ("access", "address", "insn", "interrupt", "out_of_memory", "present", "rip", "vector")

    def __init__(
        self,
        vector: Vector,
        rip: int,
        address: int | None = None,
        access: Access | None = None,
        present: bool = False,
        insn: str | None = None,
        interrupt: int | None = None,
        out_of_memory: int | None = None,
    ) -> None:
        self.vector = vector
        self.rip = rip
        self.address = address
        self.access = access
        self.present = present
        self.insn = insn
        self.interrupt = interrupt
        self.out_of_memory = out_of_memory

    def __repr__(self) -> str:
        where = f" {self.access.name.lower()} {self.address:#x}" if self.access is not None else ""
        what = f" int {self.interrupt:#x}" if self.interrupt is not None else ""
        if self.out_of_memory is not None:
            what += " out of memory"
        return f"Fault({self.vector.name}{what}{where} at {self.rip:#x})"


class StopReason(Enum):
    EXIT = "exit"  # the guest asked to exit (a hypercall handler called Machine.exit)
    FAULT = "fault"  # a guest fault nobody resolved
    TIMEOUT = "timeout"  # the run's time limit passed
    INTERRUPTED = "interrupted"  # Ctrl-C
    STEP = "step"  # one instruction ran (Machine.step)
    RETURNED = "returned"  # a function the monitor called in a compartment returned (exit_code: its rax)
    BREAKPOINT = "breakpoint"  # a debugger's breakpoint (Machine.break_at): only a debugger sees it
    WATCHPOINT = "watchpoint"  # an instruction touched a debugger's watched range (Machine.watch); it has run


@dataclass(frozen=True, slots=True)
class Watch:
    """A debugger's watchpoint: the instruction that writes (``on_write``), reads (``on_read``) or does either to
    ``[address, address + length)`` stops the guest once it has run."""

    address: int
    length: int
    on_write: bool
    on_read: bool


@dataclass(frozen=True, slots=True)
class Stop:
    """Why ``Machine.run`` returned."""

    reason: StopReason
    exit_code: int | None = None
    fault: Fault | None = None
    watch: Watch | None = None  # the watchpoint that fired (WATCHPOINT)
