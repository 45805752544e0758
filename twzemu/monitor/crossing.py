"""Secure-gate crossings, driven by faults (DESIGN.md "Gate crossing", RFC 0008).

A compartment's page tables map only its own objects (and the shared gate buffer), so a ``call`` from
compartment A to a gate of compartment B fetches from a page A does not map: a #PF reaches
``Crossings.on_fault`` with the gate's entry as the address. Then:

1. **enter** — the address must be exactly a gate's entry (``gates``: a dict, O(1) whatever the number of
   compartments) and the return address on A's stack must follow a call instruction in A (``return_sites``,
   found once per image by disassembling its text); the crossing is pushed on the thread's crossing stack with
   A's rsp, callee-saved registers and thread pointer; CR3 and FS switch to B; B runs on its own stack, whose
   return address is the monitor's ``RETURN_POINT`` (a supervisor page: fetching it from CPL3 faults); the six
   argument registers pass, every other general register is zeroed.
2. **return** — B's ``ret`` fetches ``RETURN_POINT``: the crossing is popped, A's CR3, FS, rsp and callee-saved
   registers are restored, rax passes, the other scratch registers are zeroed, A resumes after its call.
3. **violation** — any other fault while a crossing is active unwinds the innermost one: the report line is
   printed and A's call returns ``TWZ_EFAULT``; B stays callable. With no crossing to unwind, the fault is the
   machine's to report (the program is killed, status 139).

Each event costs a few dict lookups and register moves: nothing here scans compartments or gates.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from ..errors import TwzEmuError
from ..machine.cpustate import R8, R9, R12, R13, R14, R15, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP
from ..machine.events import Fault, Stop, StopReason
from ..machine.machine import KERNEL_BASE, Machine
from ..machine.x86 import Vector
from ..mmu.space import Access, AddressSpace
from ..security.gates import Gate, GateTable
from ..security.ids import MONITOR, CompartmentId
from ..security.levels import CrossingRules
from .hypercalls import Heap, Hypercalls

RETURN_POINT = KERNEL_BASE + 0x800  # in the monitor's boot page: supervisor-only, so a user fetch faults
TWZ_EFAULT = -14 & 0xFFFF_FFFF_FFFF_FFFF
TWZ_EPERM = -1 & 0xFFFF_FFFF_FFFF_FFFF
RED_ZONE = 128  # bytes below a suspended compartment's rsp that its code may still use (psABI 3.2.2)
TCB_CALLER_OFFSET = 32  # struct twz_tcb.caller_compartment (guests/include/twz_startup.h)
_U64 = struct.Struct("<Q")
_GPRS = struct.Struct("<16Q")  # rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8-r15: QEMU's regs[] order
_I64 = struct.Struct("<q")


@dataclass(slots=True)
class CompartmentState:
    """A compartment at run time: its address space, stack, heap and thread pointer.

    ``return_slot`` and ``caller_slot`` are the physical addresses of the callee frame's return address (just
    below ``stack_top``) and of its TCB's ``caller_compartment``: written on every crossing, so found once.
    """

    id: int
    name: str
    space: AddressSpace
    stack_top: int
    heap: Heap
    thread_pointer: int
    return_sites: frozenset[int]
    return_slot: int = 0
    caller_slot: int = 0
    shares_stack_with: frozenset[int] = frozenset()  # callees that run on this compartment's stack (level none)
    failed: bool = False  # its initialisation faulted: its gates answer TWZ_EPERM without running

    def __post_init__(self) -> None:
        self.return_slot = self.space.physical(self.stack_top - 8)
        self.caller_slot = self.space.physical(self.thread_pointer + TCB_CALLER_OFFSET)


class Crossing:
    """One entry of a thread's crossing stack (a plain slotted class: built on every crossing)."""

    __slots__ = ("callee", "caller", "gate", "return_address", "rsp", "saved")

    def __init__(self, caller: CompartmentState | None, callee: CompartmentState, gate: Gate, rsp: int,
                 return_address: int, saved: tuple[int, ...]) -> None:  # fmt: skip
        self.caller = caller  # None: the monitor called into the compartment (init, fini)
        self.callee = callee
        self.gate = gate
        self.rsp = rsp
        self.return_address = return_address
        self.saved = saved


@dataclass(slots=True)
class Crossings:
    """The crossing logic of one thread; ``machine.on_fault = crossings.on_fault``."""

    machine: Machine
    compartments: dict[int, CompartmentState]
    gates: GateTable  # every compartment's gates, by entry address
    hypercalls: Hypercalls
    report: Callable[[Fault, CompartmentState], str]  # the violation line for a fault
    trace: TextIO | None = None
    current: CompartmentState | None = None
    rules: dict[tuple[int, int], CrossingRules] = field(default_factory=dict)  # (caller, callee) -> trust rules
    stack: list[Crossing] = field(default_factory=list)
    violations: int = 0
    _ram: memoryview = field(init=False)
    _gpr_bytes: memoryview = field(init=False)
    _gate_at: Callable[[int], Gate | None] = field(init=False)

    def __post_init__(self) -> None:
        assert self.machine.mem is not None and self.machine.cpu is not None
        for state in self.compartments.values():
            state.shares_stack_with = frozenset(
                callee for (caller, callee), rules in self.rules.items()
                if caller == state.id and not rules.callee_stack_fresh
            )  # fmt: skip
        self._ram = self.machine.mem.view
        self._gpr_bytes = memoryview(self.machine.cpu.gpr).cast("B")
        self._gate_at = self.gates.gate_at

    # -- the fault path -------------------------------------------------------------------------------

    def on_control_transfer(self, address: int) -> bool:
        """The fast path (a fetch fault, before any Fault record exists): a gate entry or the return point."""
        gate = self._gate_at(address)
        if gate is not None:
            if gate.owner == self.current.id:  # its own code, not yet backed in its page tables
                return False
            return self._enter(gate, address)
        if address == RETURN_POINT and self.stack:
            self._return(self.machine.cpu.gpr[RAX])
            return True
        return False

    def on_fault(self, fault: Fault) -> bool:
        if not self.stack or self.stack[-1].caller is None:
            return False  # nothing to unwind into: the machine reports it and the program stops
        self._violation(fault)
        return True

    def _enter(self, gate: Gate, address: int) -> bool:
        caller = self.current
        assert caller is not None
        callee = self.compartments[gate.owner]
        regs = _GPRS.unpack_from(self._gpr_bytes)  # the whole register file in one read
        rsp = regs[RSP]
        try:
            return_address = _U64.unpack_from(self._ram, caller.space.physical(rsp))[0]
        except TwzEmuError:  # an unmapped stack pointer is a forged entry like any other
            return_address = -1
        # A tail call from inside a gate leaves the monitor's return point as the return address: the callee then
        # returns there, which unwinds the tail-calling crossing too. Anything else must follow a call.
        if return_address not in caller.return_sites and return_address != RETURN_POINT:
            fault = Fault(Vector.PAGE_FAULT, self.machine.cpu.rip[0], address, Access.FETCH, False)
            fault.verb = "enter"
            return self.on_violation_outside(fault)
        if callee.failed:  # the call returns TWZ_EPERM at once, as if the gate had
            cpu = self.machine.cpu
            cpu.gpr[RAX] = TWZ_EPERM
            cpu.gpr[RSP] = rsp + 8
            cpu.rip[0] = return_address
            return True
        saved = (regs[RBX], regs[RBP], regs[R12], regs[R13], regs[R14], regs[R15])
        self._switch_into(callee, Crossing(caller, callee, gate, rsp, return_address, saved), gate.entry, regs)
        if self.trace is not None:
            args = ", ".join(f"{regs[r]:#x}" for r in (RDI, RSI, RDX, RCX, R8, R9))
            self.trace.write(f"twzemu: trace: enter T1 {caller.name} -> {callee.name} {gate.name}({args})\n")
        return True

    def on_violation_outside(self, fault: Fault) -> bool:
        """A bad entry: unwind if the offender is itself inside a crossing, else stop the program with it."""
        if self.stack and self.stack[-1].caller is not None:
            self._violation(fault)
        else:
            self.machine.request_stop(Stop(StopReason.FAULT, fault=fault))
        return True

    def _switch_into(self, callee: CompartmentState, crossing: Crossing, entry: int,
                     regs: tuple[int, ...] | None = None) -> None:  # fmt: skip
        machine = self.machine
        cpu = machine.cpu
        ram = self._ram
        top = self._stack_for(callee, crossing)
        if top == callee.stack_top - 8:
            _U64.pack_into(ram, callee.return_slot, RETURN_POINT)
        else:  # re-entered below its own suspended frame
            callee.space.write_virtual(top, RETURN_POINT.to_bytes(8, "little"))
        _I64.pack_into(ram, callee.caller_slot, MONITOR if crossing.caller is None else crossing.caller.id)
        self.stack.append(crossing)
        machine.switch_space(callee.space)
        machine.hypercalls_allowed = callee.id == MONITOR
        if callee.id == MONITOR and crossing.caller is not None:  # serve the compartment the crossing came from
            self.hypercalls.heap = crossing.caller.heap
            self.hypercalls.client_space = crossing.caller.space
        else:
            self.hypercalls.heap = callee.heap
        cpu.fs_base[0] = callee.thread_pointer
        # one block write: the six argument registers pass, rsp is the callee's, everything else is zero
        _, rcx, rdx, _, _, _, rsi, rdi, r8, r9, *_ = regs or _GPRS.unpack_from(self._gpr_bytes)
        _GPRS.pack_into(self._gpr_bytes, 0, 0, rcx, rdx, 0, top, 0, rsi, rdi, r8, r9, 0, 0, 0, 0, 0, 0)
        cpu.clear_vectors()  # gates take integer arguments only: no vector register carries anything across
        cpu.rip[0] = entry
        self.current = callee

    def _stack_for(self, callee: CompartmentState, entering: Crossing) -> int:
        """The callee's frame: below the caller's when the trust table lets it share the caller's stack (level
        ``none``), else a fresh one: the top of its own stack, or below its own suspended frame when re-entered."""
        caller = entering.caller
        if caller is not None and callee.id in caller.shares_stack_with:
            return entering.rsp - 16  # keeps the caller's return address; 16-byte aligned minus 8 at entry
        for crossing in reversed(self.stack):
            if crossing.caller is callee:
                return ((crossing.rsp - RED_ZONE) & ~0xF) - 8
        return callee.stack_top - 8

    def _return(self, value: int) -> None:
        crossing = self.stack.pop()
        machine = self.machine
        cpu = machine.cpu
        callee = crossing.callee
        _I64.pack_into(self._ram, callee.caller_slot, self._caller_of(callee))
        caller = crossing.caller
        if caller is None:  # the monitor's own call (init/fini) is over
            self.current = None
            machine.request_stop(Stop(StopReason.RETURNED, exit_code=value))
            return
        machine.switch_space(caller.space)
        machine.hypercalls_allowed = caller.id == MONITOR
        cpu.fs_base[0] = caller.thread_pointer
        rbx, rbp, r12, r13, r14, r15 = crossing.saved  # rax passes; callee-saved come back; the rest is zero
        _GPRS.pack_into(
            self._gpr_bytes, 0, value, 0, 0, rbx, crossing.rsp + 8, rbp, 0, 0, 0, 0, 0, 0, r12, r13, r14, r15
        )
        cpu.clear_vectors()  # vector registers are caller-saved (psABI): the caller keeps nothing of the callee's
        cpu.rip[0] = crossing.return_address
        self.current = caller
        self.hypercalls.heap = caller.heap
        if self.trace is not None:
            self.trace.write(f"twzemu: trace: return T1 {callee.name} -> {caller.name} {crossing.gate.name} = "
                             f"{value if value < 1 << 63 else value - (1 << 64)}\n")  # fmt: skip

    def _caller_of(self, callee: CompartmentState) -> int:
        """The caller id the callee should see once its innermost crossing is gone (-1: not in a gate)."""
        for crossing in reversed(self.stack):
            if crossing.callee is callee:
                return MONITOR if crossing.caller is None else crossing.caller.id
        return -1

    def _violation(self, fault: Fault) -> None:
        """Unwind the innermost crossing: report, and the caller's call returns TWZ_EFAULT."""
        assert self.current is not None
        self.violations += 1
        line = self.report(fault, self.current)
        self.hypercalls.stderr.write(line.encode() + b"\n")
        self.hypercalls.stderr.flush()
        self._return(TWZ_EFAULT)

    # -- the monitor calling into a compartment (init and fini of isolated compartments) ---------------

    def call(self, compartment: CompartmentState, entry: int, name: str) -> Stop:
        gate = Gate(name, CompartmentId(compartment.id), entry, 1, 1)
        self._switch_into(compartment, Crossing(None, compartment, gate, 0, 0, ()), entry)
        return self.machine.run()
