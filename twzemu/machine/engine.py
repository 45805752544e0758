"""The crossing engine's face: what the monitor tells the C engine (``fastpath/crossing.c``) and asks it, in records.

The engine carries out allowed gate entries and returns inside Unicorn's fault hook; the monitor decides
everything else. This class is the only place outside ``fastpath`` that sees the engine's ctypes structures:
the monitor installs its tables as records (``EngineCompartment``, the linker's ``Gate`` and the rules of each pair of
levels), builds a compartment's page tables for a trusting caller when the engine asks (``set_pair``), and reads
the crossing stack as ``Crossing`` records.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..abi import GATE_BUFFER_SIZE
from ..errors import MachineError
from ..mmu.pte import Pte
from ..objects.layout import U64_MASK
from ..security.gates import Gate
from ..security.ids import CompartmentId
from .fastpath import (
    NUM_LEVELS,
    CompartmentRecord,
    ContextRecord,
    CrossingRecord,
    GateSlot,
    Lifecycle,
    Refusal,
    Rule,
    Status,
    ThreadRecord,
)
from .machine import Machine

_PTE_WRITABLE = int(Pte.WRITABLE)


@dataclass(frozen=True, slots=True)
class Context:
    """One set of page tables a compartment runs in: its root, and the leaf entry mapping its gate buffer."""

    cr3: int
    gate_pte: int


@dataclass(frozen=True, slots=True)
class EngineCompartment:
    """What the engine needs of a compartment (addresses are virtual unless named physical)."""

    id: CompartmentId
    base: Context  # its own page tables
    thread_pointer: int
    stack_base: int  # the lowest address a frame may use
    stack_top: int
    caller_slot: int  # physical: its TCB's caller_compartment
    gate_buffer: int  # physical: its gate buffer page
    return_sites: frozenset[int]  # every address that follows a call instruction in its images
    caller_level: int  # its isolation level as a caller
    lifecycle: Lifecycle = Lifecycle.READY


@dataclass(frozen=True, slots=True)
class Crossing:
    """One live crossing, as the engine recorded it."""

    caller: CompartmentId  # -1: the monitor's own call (an initialiser, a finaliser)
    callee: CompartmentId
    gate: int  # index of the gate (-1 for the monitor's calls)
    stack: CompartmentId  # whose stack the caller ran on
    context: Context  # the page tables the caller ran in
    rsp: int
    return_address: int
    saved: tuple[int, ...] = ()  # the caller's rbx, rbp, r12-r15, given back on return
    callee_rsp: int = 0  # the callee's rsp at its first instruction, where the return point is its return address

    @classmethod
    def of(cls, record: CrossingRecord) -> Crossing:
        context = Context(record.context.cr3, record.context.gate_pte)
        ids = CompartmentId(record.caller), CompartmentId(record.callee)
        return cls(
            *ids,
            record.gate,
            CompartmentId(record.stack),
            context,
            record.rsp,
            record.return_address,
            tuple(record.saved),
            record.callee_rsp,
        )


@dataclass(frozen=True, slots=True)
class SavedMessage:
    """A compartment's gate buffer, kept while the monitor runs something in the middle of its call."""

    compartment: CompartmentId
    content: bytes
    stale: int
    empty: int


@dataclass(frozen=True, slots=True)
class ThreadPart:
    """What one thread has of its own in one compartment (addresses virtual unless named physical)."""

    thread_pointer: int
    stack_base: int
    stack_top: int
    caller_slot: int  # physical: its thread information's caller_compartment
    gate_buffer: int  # physical: its gate buffer page
    gate_pte: int  # physical: the leaf entry of its gate buffer in the compartment's own page tables


class EngineThread:
    """One thread's part of the engine: its compartment records (its stack, thread pointer, thread information and
    gate buffer in each compartment it was set up in), its page tables for trusting callers (their gate-buffer
    entries are its own), its crossing stack, and — while another thread runs — what it ran and its registers
    (``record``, the C engine's ``struct twz_thread``)."""

    __slots__ = ("number", "pairs", "record", "record_ref", "records", "registers", "set_up", "stack")

    def __init__(
        self,
        number: int,
        gate_buffer: int,
        records: ctypes.Array[CompartmentRecord],
        pairs: ctypes.Array[ContextRecord],
        capacity: int,
        registers: ctypes.Array[ctypes.c_char],
    ) -> None:
        self.number = number  # the thread's id (T<number>)
        self.records = records
        self.pairs = pairs
        self.stack = (CrossingRecord * capacity)()
        self.registers = registers  # ``fastpath.cpu_record``: where it starts, or where it stopped
        self.record = ThreadRecord(
            ctypes.cast(records, ctypes.POINTER(CompartmentRecord)),
            ctypes.cast(pairs, ctypes.POINTER(ContextRecord)),
            ctypes.cast(self.stack, ctypes.POINTER(CrossingRecord)),
            ctypes.addressof(registers),
            0,
            0,
            gate_buffer,
            0,
            -1,
            -1,
            0,
        )
        self.record_ref = ctypes.byref(self.record)
        self.set_up: set[int] = set()  # the compartments it has its own part in

    @property
    def gate_buffer(self) -> int:
        """Its gate buffer's address, the same in every compartment."""
        return int(self.record.gate_buffer)


@dataclass(frozen=True, slots=True)
class EngineSnapshot:
    """What runs now, to come back to after the monitor ran something in between (an on-demand initialiser)."""

    current: CompartmentId
    current_stack: CompartmentId
    context: Context


class CrossingEngine:
    """The tables of one run: compartments, the gate hash table, the rules, the crossing stack."""

    def __init__(self, machine: Machine, capacity: int, return_point: int, monitor: int, gate_buffer: int) -> None:
        if machine.engine is None:
            raise MachineError("the machine is not booted")
        self._machine = machine
        self._lib = machine.engine
        self._fast = machine.fast
        self._ref = machine.fast_ref
        self.capacity = capacity
        self._keep: list[object] = []
        self.running: EngineThread | None = None  # the thread whose tables the engine works with now
        self.threads: dict[int, EngineThread] = {}
        self._lifecycles: dict[int, Lifecycle] = {}  # each compartment's, whatever thread asks
        fast = self._fast
        fast.depth = 0
        fast.capacity = capacity
        fast.return_point = return_point
        fast.monitor = monitor
        fast.gate_buffer = gate_buffer
        fast.gate_pte = 0

    # -- tables ----------------------------------------------------------------------------------------

    def install(
        self,
        compartments: Iterable[EngineCompartment],
        gates: Sequence[Gate],
        rules: Mapping[tuple[int, int], Rule],
        thread: int = 1,
    ) -> None:
        """Give the engine its tables: every compartment (ids index them) as the first thread (``thread``) has it,
        every gate (the engine names a gate by its position in ``gates``), and the rules of each (caller level,
        gate level)."""
        compartments = list(compartments)
        count = max(c.id for c in compartments) + 1
        records = (CompartmentRecord * count)()
        for c in compartments:
            records[c.id] = self._record(c)
        fast = self._fast
        pairs = (ContextRecord * (count * count))()
        first = EngineThread(thread, fast.gate_buffer, records, pairs, self.capacity, self._machine.cpu_record())
        first.set_up.update(c.id for c in compartments)
        self.threads[thread] = first
        fast.num_compartments = count
        fast.compartments, fast.pairs, fast.stack = first.record.compartments, first.record.pairs, first.record.stack
        self.running = first
        for (caller_level, gate_level), rule in rules.items():
            fast.rules[caller_level][gate_level] = int(rule)
        self._install_gates(gates)

    def _record(self, c: EngineCompartment) -> CompartmentRecord:
        sites = (ctypes.c_uint64 * max(len(c.return_sites), 1))(*sorted(c.return_sites))
        self._keep.append(sites)
        self._lifecycles[c.id] = c.lifecycle
        return CompartmentRecord(
            ContextRecord(c.base.cr3, c.base.gate_pte),
            c.thread_pointer,
            c.stack_base,
            c.stack_top,
            c.caller_slot,
            c.gate_buffer,
            ctypes.addressof(sites),
            len(c.return_sites),
            int(c.lifecycle),
            0,
            c.caller_level,
            0,
        )

    def add_compartment(self, c: EngineCompartment, gates: Sequence[Gate]) -> None:
        """A compartment made at run time (the next id): every thread's tables grow by it, with no part of its own
        there yet (each gets it on its first crossing there, ``set_up``); ``gates`` is every gate of the run now,
        its new ones last."""
        fast = self._fast
        count = fast.num_compartments
        if c.id != count:
            raise MachineError(f"compartment {c.id} made at run time: the next is {count}")
        shared = self._record(c)
        for thread in self.threads.values():
            records = (CompartmentRecord * (count + 1))()
            ctypes.memmove(records, thread.records, ctypes.sizeof(CompartmentRecord) * count)
            records[count] = shared
            _without_own_part(records[count])
            records[count].lifecycle = int(self._seen_by(thread, c.id))
            pairs = (ContextRecord * ((count + 1) * (count + 1)))()
            for callee in range(count):
                row = ctypes.addressof(thread.pairs) + callee * count * ctypes.sizeof(ContextRecord)
                ctypes.memmove(ctypes.addressof(pairs) + callee * (count + 1) * ctypes.sizeof(ContextRecord), row,
                               count * ctypes.sizeof(ContextRecord))  # fmt: skip
            thread.records, thread.pairs = records, pairs
            thread.record.compartments = ctypes.cast(records, ctypes.POINTER(CompartmentRecord))
            thread.record.pairs = ctypes.cast(pairs, ctypes.POINTER(ContextRecord))
        running = self.running
        assert running is not None
        fast.num_compartments = count + 1
        fast.compartments, fast.pairs = running.record.compartments, running.record.pairs
        self._install_gates(gates)

    def _install_gates(self, gates: Sequence[Gate]) -> None:
        """An open-addressing table of the gates by entry address, at most half full (``gate_at`` in C)."""
        size = 8
        while size < 2 * len(gates):
            size *= 2
        table = (GateSlot * size)()
        for slot in table:
            slot.owner = -1
        for index, gate in enumerate(gates):
            if not 0 <= gate.level < NUM_LEVELS:
                raise MachineError(f"gate at {gate.entry:#x}: isolation level {gate.level} out of range")
            record = GateSlot(gate.entry, gate.owner, index, gate.arity, int(gate.level))
            self._lib.twz_gate_insert(table, size - 1, record)
        self._keep.append(table)
        self._fast.gates = ctypes.cast(table, ctypes.POINTER(GateSlot))
        self._fast.gate_mask = size - 1

    @property
    def _records(self) -> ctypes.Array[CompartmentRecord]:
        assert self.running is not None
        return self.running.records

    def set_pair(self, callee: int, caller: int, context: Context) -> None:
        """``callee``'s page tables for crossings from ``caller`` that let it see the caller's memory (the running
        thread's: the gate buffer's entry in them is its own)."""
        assert self.running is not None
        self.running.pairs[callee * self._fast.num_compartments + caller] = ContextRecord(context.cr3, context.gate_pte)

    def set_lifecycle(self, compartment: int, lifecycle: Lifecycle) -> None:
        """``compartment``'s lifecycle, for every thread: a thread not yet set up in it sees it uninitialised (its
        first crossing then asks, ``NEED_INIT``), unless it failed."""
        self._lifecycles[compartment] = lifecycle
        for thread in self.threads.values():
            thread.records[compartment].lifecycle = int(self._seen_by(thread, compartment))

    def _seen_by(self, thread: EngineThread, compartment: int) -> Lifecycle:
        lifecycle = self._lifecycles.get(compartment, Lifecycle.UNINITIALISED)
        if compartment in thread.set_up or lifecycle is Lifecycle.FAILED:
            return lifecycle
        return Lifecycle.UNINITIALISED

    def lifecycle(self, compartment: int) -> Lifecycle:
        """``compartment``'s own lifecycle (its initialisers'), whatever thread asks."""
        return self._lifecycles.get(compartment, Lifecycle.UNINITIALISED)

    def is_set_up(self, compartment: int) -> bool:
        """Whether the running thread has its own part in ``compartment`` (``set_up``)."""
        assert self.running is not None
        return compartment in self.running.set_up

    def thread_pointer(self, compartment: int) -> int:
        """The running thread's thread pointer in ``compartment``."""
        return int(self._records[compartment].thread_pointer)

    # -- threads ----------------------------------------------------------------------------------------

    def new_thread(self, number: int, gate_buffer: int, registers: ctypes.Array[ctypes.c_char]) -> EngineThread:
        """A thread with no part in any compartment yet (``set_up`` gives it one), not running; ``gate_buffer`` is
        its gate buffer's address, ``registers`` what it starts with (``Machine.thread_registers``)."""
        assert self.running is not None
        count = self._fast.num_compartments
        records = (CompartmentRecord * count)()
        ctypes.memmove(records, self.running.records, ctypes.sizeof(records))  # what compartments share
        pairs = (ContextRecord * (count * count))()
        thread = EngineThread(number, gate_buffer, records, pairs, self.capacity, registers)
        for record in records:
            _without_own_part(record)
        self.threads[number] = thread
        for compartment in range(count):
            records[compartment].lifecycle = int(self._seen_by(thread, compartment))
        return thread

    def set_up(self, thread: EngineThread, compartment: int, part: ThreadPart) -> None:
        """Give ``thread`` its own part in ``compartment``; it then sees the compartment's lifecycle."""
        record = thread.records[compartment]
        record.thread_pointer = part.thread_pointer
        record.stack_base, record.stack_top = part.stack_base, part.stack_top
        record.caller_slot, record.gate_buffer = part.caller_slot, part.gate_buffer
        record.base.gate_pte = part.gate_pte
        record.stale = record.empty = 0
        thread.set_up.add(compartment)
        record.lifecycle = int(self._seen_by(thread, compartment))

    def start_in(self, thread: EngineThread, compartment: int) -> None:
        """``thread`` (set up in ``compartment``) will first run there, outside any crossing, in its page tables."""
        record, state = thread.records[compartment], thread.record
        state.depth, state.current, state.current_stack = 0, compartment, compartment
        state.cr3, state.gate_pte = record.base.cr3, record.base.gate_pte

    def forget_thread(self, thread: EngineThread) -> None:
        """``thread`` has ended (it is not the running one)."""
        assert thread is not self.running
        self.threads.pop(thread.number, None)

    def switch(self, thread: EngineThread, in_syscall: bool, ended: bool = False) -> None:
        """Run ``thread`` from now on (in C: one call): what the running thread ran and its registers (unless it
        ``ended``) are kept in its record; ``thread``'s tables, page tables (CR3: the TLB is flushed) and registers
        are loaded. ``in_syscall``: called from the ``syscall`` hook (``Machine.switch_cpu`` says what changes)."""
        running = self.running
        assert running is not None
        self._lib.twz_switch_thread(self._ref, running.record_ref, thread.record_ref, not ended, in_syscall)
        self.running = thread

    def add_return_sites(self, compartment: int, sites: frozenset[int]) -> None:
        """Code loaded into ``compartment`` at run time: the addresses after its call instructions join the
        compartment's (a gate entry's return address must be one), for every thread."""
        assert self.running is not None
        record = self.running.records[compartment]
        known = (ctypes.c_uint64 * max(record.num_return_sites, 1)).from_address(record.return_sites)
        every = sorted(set(known[: record.num_return_sites]) | sites)
        array = (ctypes.c_uint64 * max(len(every), 1))(*every)
        self._keep.append(array)
        for thread in self.threads.values():
            thread.records[compartment].return_sites = ctypes.addressof(array)
            thread.records[compartment].num_return_sites = len(every)

    def set_fast(self, fast: bool) -> None:
        """Whether the hook carries out crossings itself (off while tracing: every crossing comes to Python)."""
        self._fast.fast = int(fast)

    # -- the gate buffer --------------------------------------------------------------------------------

    def reply(self, compartment: int, data: bytes) -> None:
        """``compartment`` writes ``data`` as its message (the monitor answering a service call): the rest of
        its gate buffer is cleared, and the message goes to its caller when the crossing returns."""
        assert self._records is not None and self._machine.mem is not None
        record = self._records[compartment]
        self._machine.mem.write(record.gate_buffer, data[:GATE_BUFFER_SIZE].ljust(GATE_BUFFER_SIZE, b"\0"))
        record.stale = 0
        record.empty = 0

    # -- what runs --------------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        return self._fast.depth

    @property
    def current(self) -> int:
        """The compartment running, -1 for none."""
        return self._fast.current

    @property
    def status(self) -> int:
        """What the hook's own transfer attempt answered (-1: it did not try)."""
        return self._fast.status

    def served(self) -> tuple[int, int]:
        """Whom a monitor service running now serves, on its hot path (plain ints): the caller of the innermost
        crossing into the monitor and the page-table root it called from; outside one, what runs now."""
        fast = self._fast
        depth = fast.depth
        if fast.current == fast.monitor and depth:
            assert self.running is not None
            record = self.running.stack[depth - 1]
            return record.caller, record.context.cr3
        return fast.current, fast.cr3

    def innermost(self) -> Crossing | None:
        assert self.running is not None
        depth = self._fast.depth
        return Crossing.of(self.running.stack[depth - 1]) if depth else None

    def live(self, thread: EngineThread | None = None) -> list[Crossing]:
        """Every live crossing of ``thread`` (default: the running one), innermost first."""
        thread = thread or self.running
        assert thread is not None
        depth = min(self._fast.depth if thread is self.running else thread.record.depth, self.capacity)
        return [Crossing.of(thread.stack[index]) for index in reversed(range(depth))]

    @property
    def last(self) -> Crossing:
        """What the latest return popped."""
        return Crossing.of(self._fast.last)

    def need_page(self) -> tuple[int, int]:
        """After ``NEED_PAGE``: the address and the page-table root of the space that lacks it."""
        return self._fast.need_address, self._fast.need_cr3

    def refusal(self) -> Refusal:
        """After ``REFUSED``: why."""
        return Refusal(self._fast.refusal)

    def need_compartment(self) -> tuple[int, int]:
        """After ``NEED_CONTEXT`` or ``NEED_INIT``: the callee and its caller."""
        return self._fast.need_compartment, self._fast.need_caller

    def snapshot(self) -> EngineSnapshot:
        fast = self._fast
        return EngineSnapshot(fast.current, fast.current_stack, Context(fast.cr3, fast.gate_pte))

    def save_message(self, compartment: int) -> SavedMessage:
        """``compartment``'s gate buffer as it is now: its content and whether it is stale."""
        assert self._records is not None and self._machine.mem is not None
        record = self._records[compartment]
        return SavedMessage(
            compartment, self._machine.mem.read(record.gate_buffer, GATE_BUFFER_SIZE), record.stale, record.empty
        )

    def restore_message(self, saved: SavedMessage) -> None:
        assert self._records is not None and self._machine.mem is not None
        record = self._records[saved.compartment]
        self._machine.mem.write(record.gate_buffer, saved.content)
        record.stale, record.empty = saved.stale, saved.empty

    def restore(self, snapshot: EngineSnapshot) -> None:
        """Make ``snapshot`` what runs again: its page tables reloaded (the TLB is flushed) with its gate buffer's
        entry in step with whether that buffer is stale."""
        fast = self._fast
        mem = self._machine.mem
        assert self._records is not None and mem is not None
        pte = snapshot.context.gate_pte
        if pte and 0 <= snapshot.current < fast.num_compartments:
            entry = mem.read_u64(pte)
            stale = self._records[snapshot.current].stale
            mem.write_u64(pte, entry & ~_PTE_WRITABLE if stale else entry | _PTE_WRITABLE)
        self._lib.twz_write_cr3(self._ref, snapshot.context.cr3)
        fast.gate_pte = snapshot.context.gate_pte
        fast.current = snapshot.current
        fast.current_stack = snapshot.current_stack
        fast.hypercalls_allowed = int(snapshot.current == fast.monitor)

    # -- verbs ------------------------------------------------------------------------------------------

    def transfer(self, address: int) -> Status:
        return Status(self._lib.twz_transfer(self._ref, address))

    def unwind(self, value: int, reply: bool) -> Status:
        """End the innermost crossing; the caller's call returns ``value`` (and gets the callee's message if
        ``reply`` and it wrote one)."""
        return Status(self._lib.twz_unwind(self._ref, value & U64_MASK, int(reply)))

    def call(self, compartment: int, entry: int, arity: int = 0) -> Status:
        """Enter ``entry`` in ``compartment`` for the monitor, passing the first ``arity`` argument registers."""
        return Status(self._lib.twz_call(self._ref, compartment, entry, arity))

    def answer(self, value: int) -> Status:
        """Answer the call that is entering a gate now with ``value``, without entering."""
        return Status(self._lib.twz_answer(self._ref, value & U64_MASK))

    def resume(self, compartment: int) -> None:
        """Run ``compartment`` from a clean CPU outside any crossing."""
        self._lib.twz_resume(self._ref, compartment)

    def reset(self) -> None:
        """Forget every crossing (an exit left its crossing into the monitor behind)."""
        self._fast.depth = 0


def _without_own_part(record: CompartmentRecord) -> None:
    """What a thread has of a compartment before it is set up there: what compartments share, nothing of its own."""
    record.thread_pointer = record.stack_base = record.stack_top = 0
    record.caller_slot = record.gate_buffer = record.base.gate_pte = 0
    record.stale = record.empty = 0


def rules_of_levels(entries: Iterable[tuple[int, int, bool, bool]]) -> dict[tuple[int, int], Rule]:
    """The engine's rule bits from (caller level, gate level, fresh stack, callee sees caller) rows."""
    rules = {}
    for caller, gate, fresh, sees in entries:
        rules[caller, gate] = (Rule.FRESH_STACK if fresh else Rule(0)) | (Rule.CALLEE_SEES_CALLER if sees else Rule(0))
    return rules


__all__ = [
    "Context",
    "Crossing",
    "CrossingEngine",
    "EngineCompartment",
    "EngineSnapshot",
    "EngineThread",
    "Lifecycle",
    "Refusal",
    "Rule",
    "SavedMessage",
    "Status",
    "ThreadPart",
    "rules_of_levels",
]
