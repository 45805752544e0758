"""Secure-gate crossings, driven by faults (DESIGN.md "Gate crossing", RFC 0008).

A compartment's page tables map only its own objects (and the shared gate buffer), so a ``call`` from
compartment A to a gate of compartment B fetches from a page A does not map: a #PF with the gate's entry as
the address. Then:

1. **enter** — the address must be exactly a gate's entry (a hash table, O(1) whatever the number of
   compartments) and the return address on A's stack must follow a call instruction in A (``return_sites``,
   found once per image by disassembling its text); the crossing is pushed on the thread's crossing stack with
   A's rsp and callee-saved registers; CR3 and FS switch to B; B runs on its own stack, whose return address is
   the monitor's ``RETURN_POINT`` (a supervisor page: fetching it from CPL3 faults); the gate's argument
   registers pass (as many as its definition takes, ``elf.parameters``; all six when unknown), every other
   general, vector and x87 register is zeroed.
2. **return** — B's ``ret`` fetches ``RETURN_POINT``: the crossing is popped, A's CR3, FS, rsp and callee-saved
   registers are restored, rax passes, the other registers are zeroed, A resumes after its call.
3. **violation** — any other fault while a crossing is active unwinds the innermost one: the report line is
   printed and A's call returns ``TWZ_EFAULT``; B stays callable. With no crossing to unwind, the fault is the
   machine's to report (the program is killed, status 139).

Who does what: the crossing engine (``twzemu/machine/fastpath/crossing.c``) carries out steps 1 and 2 inside
Unicorn's fault hook, and the crossing stack lives in its tables, so an allowed crossing runs no Python. This
class builds those tables, and handles what the engine hands back: refused entries and violations (reported
here), the end of the monitor's own calls (init, fini), a callee stack page not yet backed, and ``--trace``
(while tracing, every crossing comes through ``on_control_transfer`` so it can be printed).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from ..errors import MonitorError
from ..machine.cpustate import R8, R9, RAX, RCX, RDI, RDX, RSI
from ..machine.events import Fault, Stop, StopReason
from ..machine.fastpath import CompartmentRecord, CrossingRecord, GateRecord, Status
from ..machine.machine import KERNEL_BASE, Machine
from ..machine.x86 import Vector
from ..mmu.space import Access, AddressSpace, FaultOutcome
from ..security.gates import Gate, GateTable
from ..security.ids import MONITOR
from ..security.levels import CrossingRules
from .hypercalls import Heap
from .startup import TCB_CALLER_OFFSET

RETURN_POINT = KERNEL_BASE + 0x800  # in the monitor's boot page: supervisor-only, so a user fetch faults
TWZ_EFAULT = -14 & 0xFFFF_FFFF_FFFF_FFFF
MAX_DEPTH = 4096  # crossings nested in one thread
_PASS = int(Status.PASS)


@dataclass(frozen=True, slots=True)
class CompartmentState:
    """A compartment at run time: its address space, stack, heap and thread pointer (the engine's record of it,
    ``CompartmentRecord``, holds what crossings need, including whether it failed to initialise)."""

    id: int
    name: str
    space: AddressSpace
    stack_top: int
    heap: Heap
    thread_pointer: int
    return_sites: frozenset[int]


@dataclass(slots=True)
class Crossings:
    """The crossings of one thread: the engine's tables, and what it leaves to Python."""

    machine: Machine
    compartments: dict[int, CompartmentState]
    gates: GateTable  # every compartment's gates, by entry address
    stderr: BinaryIO  # where violation lines go
    report: Callable[[Fault, CompartmentState], str]  # the violation line for a fault
    trace: TextIO | None = None
    rules: dict[tuple[int, int], CrossingRules] = field(default_factory=dict)  # (caller, callee) -> trust rules
    _gate_list: list[Gate] = field(init=False)
    _records: ctypes.Array[CompartmentRecord] = field(init=False)
    _stack: ctypes.Array[CrossingRecord] = field(init=False)
    _keep: list[object] = field(init=False)  # arrays the engine points into

    def __post_init__(self) -> None:
        fast = self.machine.fast
        self._keep = []
        self._records = self._compartment_records()
        self._gate_list = list(self.gates.iter_gates())
        gates, mask = self._gate_records()
        self._stack = (CrossingRecord * MAX_DEPTH)()
        fast.compartments = ctypes.cast(self._records, ctypes.POINTER(CompartmentRecord))
        fast.num_compartments = len(self._records)
        fast.gates = ctypes.cast(gates, ctypes.POINTER(GateRecord))
        fast.gate_mask = mask
        fast.stack = ctypes.cast(self._stack, ctypes.POINTER(CrossingRecord))
        fast.depth = 0
        fast.capacity = MAX_DEPTH
        fast.return_point = RETURN_POINT
        fast.monitor = MONITOR
        fast.fast = int(self.trace is None)  # while tracing, every crossing comes through Python to be printed

    def _compartment_records(self) -> ctypes.Array[CompartmentRecord]:
        count = max(self.compartments) + 1
        records = (CompartmentRecord * count)()
        shared_stacks = {state_id: (ctypes.c_uint8 * count)() for state_id in self.compartments}
        for (caller, callee), rules in self.rules.items():
            if not rules.callee_stack_fresh:
                shared_stacks[caller][callee] = 1  # that callee runs on the caller's stack (level none)
        for state in self.compartments.values():
            sites = (ctypes.c_uint64 * max(len(state.return_sites), 1))(*sorted(state.return_sites))
            shares = shared_stacks[state.id]
            self._keep += [sites, shares]
            # the callee frame's return address (just below the stack top) and the TCB's caller_compartment are
            # written on every crossing: their physical addresses are found (and their pages backed) once
            return_slot = state.space.physical(state.stack_top - 8)
            caller_slot = state.space.physical(state.thread_pointer + TCB_CALLER_OFFSET)
            records[state.id] = CompartmentRecord(
                state.space.tables.root, state.thread_pointer, state.stack_top, return_slot, caller_slot,
                ctypes.addressof(sites), len(state.return_sites), ctypes.addressof(shares),
            )  # fmt: skip
        return records

    def _gate_records(self) -> tuple[ctypes.Array[GateRecord], int]:
        """An open-addressing table of the gates by entry address, at most half full (``gate_at`` in C)."""
        size = 8
        while size < 2 * len(self._gate_list):
            size *= 2
        table = (GateRecord * size)()
        for slot in table:
            slot.owner = -1
        for index, gate in enumerate(self._gate_list):
            self.machine.engine.twz_gate_insert(table, size - 1, GateRecord(gate.entry, gate.owner, index, gate.arity))
        self._keep.append(table)
        return table, size - 1

    # -- state -----------------------------------------------------------------------------------------

    @property
    def current(self) -> CompartmentState | None:
        """The compartment running now (None while the monitor itself is between calls)."""
        return self.compartments.get(self.machine.fast.current)

    def resume(self, state: CompartmentState) -> None:
        """Run ``state`` from here on, outside any crossing, every register zero (the program at its start):
        its CR3 and thread pointer; hypercalls only from compartment 0."""
        self.machine.engine.twz_resume(self.machine.fast_ref, state.id)

    def reset(self) -> None:
        """Forget every crossing (an exit left its crossing into the monitor behind)."""
        self.machine.fast.depth = 0

    def mark_failed(self, state: CompartmentState) -> None:
        """``state`` failed to initialise: its gates answer TWZ_EPERM from now on."""
        self._records[state.id].failed = 1

    def client(self) -> CompartmentState | None:
        """The compartment a monitor service serves: the caller of the innermost crossing into the monitor."""
        fast = self.machine.fast
        if fast.current == MONITOR and fast.depth:
            return self.compartments.get(self._stack[fast.depth - 1].caller)
        return self.compartments.get(fast.current)

    # -- what the engine hands back ------------------------------------------------------------------------

    def on_control_transfer(self, address: int) -> bool:
        """A fetch fault the engine did not complete: True when it was a control transfer handled here."""
        machine = self.machine
        answer = machine.fast.status  # the engine's answer in its hook, unless it did not try (tracing)
        if answer < 0:
            answer = machine.engine.twz_transfer(machine.fast_ref, address)
        if answer == _PASS:  # the commonest case by far (plain ints): code not yet backed in its page tables
            return False
        status = Status(answer)
        if status is Status.NEED_PAGE:
            status = self._back_stack_page(lambda: machine.engine.twz_transfer(machine.fast_ref, address))
        if status is Status.REFUSED:
            fault = Fault(Vector.PAGE_FAULT, machine.cpu.rip[0], address, Access.FETCH, False)
            fault.verb = "enter"
            return self.on_violation_outside(fault)
        if status is Status.MONITOR_RETURN:
            self._unwind(machine.cpu.gpr[RAX])
        elif status is Status.TOO_DEEP:
            gate = self.gates.gate_at(address)
            caller = self.current
            assert gate is not None and caller is not None
            raise MonitorError(f"crossings nested more than {MAX_DEPTH} deep: {caller.name} calling gate "
                               f"{gate.name} of {self.compartments[gate.owner].name}")  # fmt: skip
        elif self.trace is not None:
            self._trace(status)
        return True

    def on_fault(self, fault: Fault) -> bool:
        fast = self.machine.fast
        if not fast.depth or self._stack[fast.depth - 1].caller < 0:
            return False  # nothing to unwind into: the machine reports it and the program stops
        self._violation(fault)
        return True

    def on_violation_outside(self, fault: Fault) -> bool:
        """A bad entry: unwind if the offender is itself inside a crossing, else stop the program with it."""
        if not self.on_fault(fault):
            self.machine.request_stop(Stop(StopReason.FAULT, fault=fault))
        return True

    def _back_stack_page(self, retry: Callable[[], int]) -> Status:
        """The engine needs a stack page its page tables do not hold yet: back it and try once more; a stack
        pointer into no object of that compartment refuses the crossing."""
        fast = self.machine.fast
        space = self.compartments[fast.need_compartment].space
        if space.resolve_fault(fast.need_address, Access.READ) is not FaultOutcome.BACKED:
            return Status.REFUSED
        status = Status(retry())
        if status is Status.NEED_PAGE:
            raise MonitorError(f"{space.name}: stack page {fast.need_address:#x} stays absent after backing")
        return status

    def _unwind(self, value: int) -> None:
        """End the innermost crossing with ``value`` as the call's result."""
        status = Status(self.machine.engine.twz_unwind(self.machine.fast_ref, value))
        if status is Status.FINISHED:
            self.machine.request_stop(Stop(StopReason.RETURNED, exit_code=value))
        elif self.trace is not None:
            self._trace(status)

    def _violation(self, fault: Fault) -> None:
        """Unwind the innermost crossing: report, and the caller's call returns TWZ_EFAULT."""
        executing = self.current
        assert executing is not None
        self.stderr.write(self.report(fault, executing).encode() + b"\n")
        self.stderr.flush()
        self._unwind(TWZ_EFAULT)

    def _trace(self, status: Status) -> None:
        assert self.trace is not None
        fast = self.machine.fast
        gpr = self.machine.cpu.gpr
        if status is Status.ENTERED:
            crossing = self._stack[fast.depth - 1]
            caller, callee, gate = self._describe(crossing)
            registers = (RDI, RSI, RDX, RCX, R8, R9)[: self._gate_list[crossing.gate].arity]
            args = ", ".join(f"{gpr[r]:#x}" for r in registers)
            self.trace.write(f"twzemu: trace: enter T1 {caller} -> {callee} {gate}({args})\n")
        elif status is Status.RETURNED:
            caller, callee, gate = self._describe(fast.last)
            value = gpr[RAX]
            self.trace.write(f"twzemu: trace: return T1 {callee} -> {caller} {gate} = "
                             f"{value if value < 1 << 63 else value - (1 << 64)}\n")  # fmt: skip

    def _describe(self, crossing: CrossingRecord) -> tuple[str, str, str]:
        """Caller, callee and gate names of a crossing record."""
        names = self.compartments
        return names[crossing.caller].name, names[crossing.callee].name, self._gate_list[crossing.gate].name

    # -- the monitor calling into a compartment (init and fini of isolated compartments) ---------------

    def call(self, compartment: CompartmentState, entry: int) -> Stop:
        machine = self.machine

        def enter() -> int:
            return machine.engine.twz_call(machine.fast_ref, compartment.id, entry)

        status = Status(enter())
        if status is Status.NEED_PAGE:
            status = self._back_stack_page(enter)
        if status is not Status.ENTERED:
            raise MonitorError(f"cannot call {entry:#x} in compartment {compartment.name}: {status.name}")
        return machine.run()
