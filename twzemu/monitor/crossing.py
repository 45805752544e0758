"""Secure-gate crossings, driven by faults (DESIGN.md "Gate crossing", RFC 0008): the monitor's policy.

A compartment's page tables map only its own objects (and what the trust table grants it), so a ``call`` from
compartment A to a gate of compartment B fetches from a page A does not map: a #PF with the gate's entry as
the address. Then:

1. **enter** — the address must be exactly a gate's entry (a hash table, O(1) whatever the number of
   compartments) and the return address on A's stack must follow a call instruction in A (``return_sites``,
   found once per image by disassembling its text); the crossing runs at the join of A's caller level and the
   gate's level (``security.levels``). B runs in its own page tables, or — when that level lets the callee see
   its caller — in B's page tables for A, which add A's memory for as long as this crossing lives (built on the
   first such crossing: ``NEED_CONTEXT``). B's frame goes on a fresh stack of its own, below every live frame on
   it, or at level ``none`` on A's own stack below A's frame; the return address in it is the monitor's
   ``RETURN_POINT`` (a supervisor page: fetching it from CPL3 faults). The gate's argument registers pass, every
   other general, vector and x87 register and the flags are reset. A's gate-buffer message goes to B.
2. **return** — B's ``ret`` fetches ``RETURN_POINT``: the crossing is popped, A's page tables, FS, rsp and
   callee-saved registers come back, rax passes, the rest is reset; B's reply (if it wrote one) goes to A.
3. **violation** — any other fault while a crossing is active unwinds the innermost one: the report line is
   printed and A's call returns ``TWZ_EFAULT``; B stays callable. With no crossing to unwind, the fault is the
   machine's to report (the program is killed, status 139).
4. **initialisation** — a crossing into a compartment whose initialisers have not run yet runs them first (the
   engine answers ``NEED_INIT``; the caller's whole CPU state is kept and given back afterwards, and the call is
   tried again); one whose initialisers are running (a cycle) answers ``TWZ_EPERM``, with a report line.

Who does what: the crossing engine (``machine.engine``, in C) carries out steps 1 and 2 inside Unicorn's fault
hook, so an allowed crossing runs no Python. This class gives it its tables and handles what it hands back:
refused entries and violations (reported here), the end of the monitor's own calls (init, fini), pages and
page tables not built yet, a stack that is full, and ``--trace``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from ..abi import THREAD_INFO_CALLER_OFFSET, TWZ_EFAULT, TWZ_EPERM
from ..errors import MonitorError
from ..machine.cpustate import ARGUMENT_ORDER, RAX
from ..machine.engine import (
    Context,
    CrossingEngine,
    EngineCompartment,
    EngineSnapshot,
    Lifecycle,
    Refusal,
    SavedMessage,
    Status,
    rules_of_levels,
)
from ..machine.events import Fault, Stop, StopReason
from ..machine.machine import KERNEL_BASE, Machine, SavedCpu
from ..machine.x86 import Vector
from ..mmu.space import Access, AddressSpace, FaultOutcome
from ..security.gates import Gate, GateTable, IsolationLevel
from ..security.ids import MONITOR, PROGRAM, CompartmentId
from ..security.levels import crossing_rules
from .hypercalls import Heap
from .layout import GATE_BUFFER, THREAD_INFO, gate_buffer_of
from .observe import CrossingEvent, CrossingObserver
from .report import one_line

RETURN_POINT = KERNEL_BASE + 0x800  # in the monitor's boot page: supervisor-only, so a user fetch faults
MAX_DEPTH = 4096  # crossings nested in one thread
_PASS = int(Status.PASS)


@dataclass(frozen=True, slots=True)
class CompartmentState:
    """A compartment at run time: its own address space, stack, heap and thread pointer."""

    id: CompartmentId
    name: str
    space: AddressSpace  # its own page tables
    stack_base: int
    stack_top: int
    heap: Heap
    thread_pointer: int
    return_sites: frozenset[int]
    caller_level: IsolationLevel
    init: tuple[int, ...] = ()  # its initialisers, run once before its first crossing


@dataclass(frozen=True, slots=True)
class Client:
    """Whom a monitor service serves: the compartment the crossing came from, in the page tables it ran in."""

    id: CompartmentId
    name: str
    heap: Heap
    space: AddressSpace
    thread_pointer: int


@dataclass(slots=True)
class _PendingInit:
    """Initialisers the monitor runs in the middle of someone's crossing (``NEED_INIT``)."""

    compartment: CompartmentState
    left: list[int]
    depth: int  # the crossing stack's depth while one of them runs
    saved_cpu: SavedCpu  # the interrupted code's CPU state (``Machine.save_cpu``)
    engine: EngineSnapshot
    message: SavedMessage  # the interrupted caller's gate buffer: its message still goes to the callee
    address: int  # the gate entry the interrupted call is entering
    initialising: bool = True  # the compartment's initialisers (else the runtime making the thread its own)


class ThreadParts(Protocol):
    """What the crossings ask of the threads (``monitor.threads``): the running thread's part in a compartment."""

    def index(self) -> int:
        """The running thread's number among those alive (its stack, gate buffer… in every compartment)."""
        ...

    def set_up(self, state: CompartmentState) -> None:
        """Give the running thread its own part in ``state`` (it has none yet)."""
        ...

    def begin_entry(self, state: CompartmentState) -> int | None:
        """Where ``state``'s runtime makes a thread that began elsewhere its own (None: it has no runtime)."""
        ...

    def wait_for_initialisation(self, state: CompartmentState, initialising: int) -> None:
        """Park the running thread until ``state``'s initialisers, which thread ``initialising`` runs, are done; then
        it tries its call again."""
        ...

    def initialised(self, state: CompartmentState) -> None:
        """``state``'s initialisers are done (or failed): the threads waiting for them go on."""
        ...


@dataclass
class Crossings:
    """The crossings of one thread: the engine's tables, and what it leaves to Python."""

    machine: Machine
    compartments: dict[CompartmentId, CompartmentState]
    gates: GateTable  # every compartment's gates, by entry address
    stderr: BinaryIO  # where violation lines go
    report: Callable[[Fault, CompartmentState, Refusal | None], str]  # the line for a fault (or refused entry)
    pair_space: Callable[[int, int], AddressSpace]  # the callee's page tables for a trusting caller (built once)
    observers: Sequence[CrossingObserver] = ()  # while any watches, every crossing comes through Python
    _gate_list: list[Gate] = field(init=False)
    threads: ThreadParts | None = None  # set once the run has threads (the first one is set up everywhere)
    _pendings: dict[int, list[_PendingInit]] = field(init=False)  # per thread: the monitor's calls in its crossings
    _initialiser: dict[int, int] = field(init=False)  # compartment -> the thread running its initialisers
    _refusal: Refusal = field(init=False)
    _report: str | None = field(init=False)  # the violation line of the unwinding under way, for the observers
    # per thread: (compartment, page-table root) -> client (a thread's thread pointer in a compartment is its own)
    _clients: dict[int, dict[tuple[int, int], Client]] = field(init=False)
    fatal_refusal: Refusal | None = field(init=False)  # why the entry that stopped the program was refused
    engine: CrossingEngine = field(init=False)

    def __post_init__(self) -> None:
        self._gate_list = list(self.gates.iter_gates())
        self._pendings = {}
        self._initialiser = {}
        self._clients = {}
        self.fatal_refusal = None
        self.engine = CrossingEngine(self.machine, MAX_DEPTH, RETURN_POINT, MONITOR, GATE_BUFFER)
        rules = rules_of_levels(
            (caller, gate, rules.callee_stack_fresh, rules.callee_reads_caller)
            for caller in IsolationLevel
            for gate in IsolationLevel
            for rules in (crossing_rules(caller, gate),)
        )
        self.engine.install(self._engine_compartments(), self._gate_list, rules)
        self.engine.set_fast(not self.observers)  # while observed, every crossing comes through Python
        self._report = None

    def observe(self, observer: CrossingObserver) -> Callable[[], None]:
        """Add ``observer`` (every crossing then comes through Python); returns what removes it."""
        self.observers = (*self.observers, observer)
        self.engine.set_fast(False)

        def remove() -> None:
            self.observers = tuple(o for o in self.observers if o is not observer)
            self.engine.set_fast(not self.observers)

        return remove

    def _engine_compartments(self) -> Iterable[EngineCompartment]:
        return map(_engine_compartment, self.compartments.values())

    def add_compartment(self, state: CompartmentState, gates: Sequence[Gate]) -> None:
        """A compartment made at run time (``dlopen`` of a library with gates): its gates join the table, and the
        engine's tables grow by it; no thread has its part there yet (each gets it on its first crossing, the first
        running the initialisers)."""
        self.compartments[state.id] = state
        for gate in gates:
            self.gates.add(gate)
            self._gate_list.append(gate)
        self.engine.add_compartment(_engine_compartment(state), self._gate_list)

    # -- state -----------------------------------------------------------------------------------------

    @property
    def current(self) -> CompartmentState | None:
        """The compartment running now (None while the monitor itself is between calls)."""
        return self.compartments.get(self.engine.current)

    def resume(self, state: CompartmentState) -> None:
        """Run ``state`` from here on, outside any crossing, every register zero (the program at its start):
        its CR3 and thread pointer; hypercalls only from compartment 0. It is ready to be called from now on."""
        self.engine.set_lifecycle(state.id, Lifecycle.READY)
        self.engine.resume(state.id)

    @property
    def _pending(self) -> list[_PendingInit]:
        """The running thread's calls made by the monitor in the middle of its crossings (on-demand initialisers)."""
        running = self.engine.running
        assert running is not None
        pending = self._pendings.get(running.number)
        if pending is None:
            pending = self._pendings[running.number] = []
        return pending

    def begin_initialising(self, state: CompartmentState) -> None:
        """``state``'s initialisers run now, on the running thread (another thread entering it waits)."""
        running = self.engine.running
        assert running is not None
        self.engine.set_lifecycle(state.id, Lifecycle.INITIALISING)
        self._initialiser[state.id] = running.number

    def end_initialising(self, state: CompartmentState, lifecycle: Lifecycle) -> None:
        """``state``'s initialisers are over (``READY``, ``FAILED``): the threads waiting for them go on."""
        self._initialisation_over(state, lifecycle)

    def thread_ended(self, number: int) -> None:
        """Thread ``number`` ends: a compartment it was initialising never will be (its gates answer TWZ_EPERM)."""
        for compartment, initialiser in list(self._initialiser.items()):
            if initialiser == number:
                state = self.compartments[compartment]
                self.write_line(
                    f"twzemu: compartment {state.name} failed to initialise: T{number}, running its initialisers, "
                    "ended; its gates answer TWZ_EPERM"
                )
                self._initialisation_over(state, Lifecycle.FAILED)

    def forget_thread(self, number: int) -> None:
        """Thread ``number`` has ended: whatever the monitor was calling in its crossings is gone with it."""
        self._pendings.pop(number, None)
        self._clients.pop(number, None)

    def return_home(self) -> bool:
        """Unwind every crossing of the running thread (it ended inside a callee): it is back in the compartment it
        began in, after its outermost gate call (True); or, inside one of the monitor's own calls (an initialiser,
        a finaliser), nothing is unwound (False)."""
        if any(crossing.caller < 0 for crossing in self.engine.live()):
            return False
        while self.engine.depth:
            self._unwind(0, reply=False)
        return True

    def reset(self) -> None:
        """Forget every crossing (an exit left its crossing into the monitor behind)."""
        self.engine.reset()
        self._pendings.clear()
        for observer in self.observers:
            observer.abandoned()

    def lifecycle(self, state: CompartmentState) -> Lifecycle:
        return self.engine.lifecycle(state.id)

    def set_lifecycle(self, state: CompartmentState, lifecycle: Lifecycle) -> None:
        self.engine.set_lifecycle(state.id, lifecycle)

    def client(self) -> Client | None:
        """The compartment a monitor service serves: the caller of the innermost crossing into the monitor, in
        the page tables it called from (a callee may pass a pointer into its trusting caller's memory)."""
        served = self.engine.served()
        running = self.engine.running
        assert running is not None
        clients = self._clients.get(running.number)
        if clients is None:
            clients = self._clients[running.number] = {}
        client = clients.get(served)
        if client is None:
            compartment, root = served
            state = self.compartments.get(compartment)
            space = self.machine.space_of(root)
            if state is None or space is None:
                return None
            pointer = self.engine.thread_pointer(compartment)
            client = clients[served] = Client(state.id, state.name, state.heap, space, pointer)
        return client

    @property
    def gate_buffer(self) -> int:
        """The running thread's gate buffer (the same address in every compartment)."""
        running = self.engine.running
        return GATE_BUFFER if running is None else running.gate_buffer

    def reply(self, data: bytes) -> None:
        """The monitor's answer to the service call running now, in its gate buffer: the caller gets it."""
        self.engine.reply(MONITOR, data)

    # -- what the engine hands back ------------------------------------------------------------------------

    def on_control_transfer(self, address: int) -> bool:
        """A fetch fault the engine did not complete: True when it was a control transfer handled here."""
        answer = self.engine.status  # the engine's answer in its hook, unless it did not try (tracing)
        if answer < 0:
            answer = int(self.engine.transfer(address))
        if answer == _PASS:  # the commonest case by far (plain ints): code not yet backed in its page tables
            return False
        status = self._complete(Status(answer), lambda: self.engine.transfer(address))
        if status is Status.REFUSED:
            return self._refused(address, self._refusal)
        if status is Status.MONITOR_RETURN:
            self._monitor_call_returned(self.machine.register(RAX))
        elif status is Status.TOO_DEEP:
            self._refuse_entry(address, f"crossings nested {MAX_DEPTH} deep", TWZ_EFAULT)
        elif status is Status.NEED_INIT:
            self._initialise_first(address)
        elif self.observers:
            self._trace(status)
        return True

    def _complete(self, status: Status, retry: Callable[[], Status]) -> Status:
        """Build what the engine lacks (a page of a stack, a compartment's page tables for a caller) and try
        again, until it answers something else; after ``REFUSED``, ``_refusal`` says why."""
        for _ in range(8):  # each round builds one thing; a frame needs at most a context and two pages
            if status is Status.NEED_PAGE:
                page, root = self.engine.need_page()
                space = self.machine.space_of(root)
                if space is None or space.resolve_fault(page, Access.READ) is not FaultOutcome.BACKED:
                    break  # no object of that space lies there: the stack is not where a frame may go
            elif status is Status.NEED_CONTEXT:
                callee, caller = self.engine.need_compartment()
                index = 0 if self.threads is None else self.threads.index()
                self.engine.set_pair(callee, caller, context_of(self.pair_space(callee, caller), index))
            else:
                if status is Status.REFUSED:
                    self._refusal = self.engine.refusal()
                return status
            status = retry()
        self._refusal = Refusal.NO_FRAME
        return Status.REFUSED

    def _refused(self, address: int, refusal: Refusal) -> bool:
        """A refused entry at ``address``: unwound if the caller is itself inside a crossing, else the end."""
        fault = Fault(Vector.PAGE_FAULT, self.machine.rip, address, Access.FETCH, False)
        if not self.on_fault(fault, refusal):
            self.fatal_refusal = refusal
            self.machine.request_stop(Stop(StopReason.FAULT, fault=fault))
        return True

    def on_fault(self, fault: Fault, refusal: Refusal | None = None) -> bool:
        innermost = self.engine.innermost()
        if innermost is None:
            return False  # nothing to unwind into: the machine reports it and the program stops
        if innermost.caller < 0:
            pending = self._pending[-1] if self._pending else None
            if pending is None or pending.depth != self.engine.depth:
                return False  # an initialiser or finaliser the monitor called at start or at exit: its caller's
            self._init_failed(pending, fault, refusal)
            return True
        self._violation(fault, refusal)
        return True

    def _refuse_entry(self, address: int, why: str, value: int) -> None:
        """Answer a call that enters a gate with ``value`` instead of entering, with a report line."""
        gate = self.gates.gate_at(address)
        caller = self.current
        assert gate is not None and caller is not None
        callee = self.compartments[gate.owner].name
        self.write_line(
            f"twzemu: fault: {why}: {caller.name} calling gate {gate.name} of {callee} refused "
            f"({'TWZ_EFAULT' if value == TWZ_EFAULT else 'TWZ_EPERM'})"
        )
        if self.engine.answer(value) is not Status.ANSWERED:
            self._refused(address, self.engine.refusal())

    def write_line(self, line: str, compartment: str | None = None, fault: Fault | None = None) -> None:
        """A report line on stderr, which the observers see too (with the fault it reports, if any)."""
        self.stderr.write(one_line(line).encode() + b"\n")
        for observer in self.observers:
            observer.reported(line, compartment, fault)
        self.stderr.flush()

    def _unwind(self, value: int, reply: bool) -> None:
        """End the innermost crossing with ``value`` as the call's result."""
        status = self.engine.unwind(value, reply)
        if status is Status.FINISHED:
            self.machine.request_stop(Stop(StopReason.RETURNED, exit_code=value))
        elif self.observers:
            self._trace(status)

    def _violation(self, fault: Fault, refusal: Refusal | None) -> None:
        """Unwind the innermost crossing: report, and the caller's call returns TWZ_EFAULT."""
        executing = self.current
        assert executing is not None
        line = self.report(fault, executing, refusal)
        self.write_line(line, executing.name, fault)
        self._report = line  # the return that ends the crossing says what unwound it
        self._unwind(TWZ_EFAULT, reply=False)

    # -- initialisers run on demand ----------------------------------------------------------------------

    def _initialise_first(self, address: int) -> None:
        """A crossing into a compartment the running thread may not enter yet. If the thread has no part of its own
        there, it gets one (and, where the compartment's initialisers ran already, its runtime makes the thread its
        own); if the compartment's initialisers have not run, they run now (on this thread). Either way the call is
        tried again afterwards. Initialisers another thread is running are waited for; ones this thread is running
        already are a cycle, answered with TWZ_EPERM."""
        callee_id, _ = self.engine.need_compartment()
        callee = self.compartments[callee_id]
        lifecycle = self.engine.lifecycle(callee_id)
        running = self.engine.running
        assert running is not None
        if lifecycle is Lifecycle.INITIALISING:
            initialiser = self._initialiser.get(callee_id, running.number)
            if initialiser != running.number and self.threads is not None:
                self.threads.wait_for_initialisation(callee, initialiser)
                return
            if callee_id == PROGRAM:
                why = f"{callee.name} has not started: its initialisers run in its _start, after every library's"
            else:
                why = f"initialisation cycle: {callee.name} is still initialising"
            self._refuse_entry(address, why, TWZ_EPERM)
            return
        if self.engine.depth >= MAX_DEPTH:  # no room for the initialiser's own crossing: refuse this one alone
            self._refuse_entry(address, f"crossings nested {MAX_DEPTH} deep", TWZ_EFAULT)
            return
        functions = list(callee.init)
        if not self.engine.is_set_up(callee_id):
            assert self.threads is not None
            try:
                self.threads.set_up(callee)
            except MonitorError as error:  # no room for its part there
                self._refuse_entry(address, str(error), TWZ_EFAULT)
                return
            if lifecycle is not Lifecycle.UNINITIALISED:  # ready (its runtime makes the thread its own) or failed
                begin = self.threads.begin_entry(callee)
                functions = [begin] if begin is not None and lifecycle is Lifecycle.READY else []
                if not functions:
                    return  # the call is tried again: it enters, or is answered TWZ_EPERM
        caller = self.engine.current
        pending = _PendingInit(
            callee,
            functions,
            0,
            self.machine.save_cpu(),
            self.engine.snapshot(),
            self.engine.save_message(caller),
            address,
            lifecycle is Lifecycle.UNINITIALISED,
        )
        if pending.initialising:
            self.engine.set_lifecycle(callee_id, Lifecycle.INITIALISING)
            self._initialiser[callee_id] = running.number
        self._pending.append(pending)
        self._next_initialiser(pending)

    def _initialisation_over(self, state: CompartmentState, lifecycle: Lifecycle) -> None:
        self.engine.set_lifecycle(state.id, lifecycle)
        self._initialiser.pop(state.id, None)
        if self.threads is not None:
            self.threads.initialised(state)

    def _next_initialiser(self, pending: _PendingInit) -> None:
        if not pending.left:
            if pending.initialising:
                self._initialisation_over(pending.compartment, Lifecycle.READY)
            self._resume_interrupted(pending)
            return
        function = pending.left.pop(0)
        status = self._enter_call(pending.compartment, function)
        if status is not Status.ENTERED:  # the initialiser cannot start (no frame, no room): refuse the call only
            if pending.initialising:
                self._initialisation_over(pending.compartment, Lifecycle.UNINITIALISED)
            self._resume_interrupted(pending)
            why = f"{pending.compartment.name}'s initialiser cannot start ({status.name.lower().replace('_', ' ')})"
            self._refuse_entry(pending.address, why, TWZ_EFAULT)
            return
        pending.depth = self.engine.depth

    def _resume_interrupted(self, pending: _PendingInit) -> None:
        """Give the interrupted code its CPU back: it faults on the gate entry again, and now enters."""
        self._pending.pop()
        self.machine.restore_cpu(pending.saved_cpu)
        self.engine.restore_message(pending.message)
        self.engine.restore(pending.engine)

    def _init_failed(self, pending: _PendingInit, fault: Fault, refusal: Refusal | None) -> None:
        state = pending.compartment
        self.write_line(self.report(fault, state, refusal), None, fault)
        self.engine.unwind(TWZ_EFAULT, reply=False)
        if pending.initialising:
            self.write_line(f"twzemu: compartment {state.name} failed to initialise: its gates answer TWZ_EPERM")
            self._initialisation_over(state, Lifecycle.FAILED)
        self._resume_interrupted(pending)

    def _monitor_call_returned(self, value: int) -> None:
        pending = self._pending[-1] if self._pending else None
        if pending is not None and pending.depth == self.engine.depth:
            self.engine.unwind(value, reply=False)
            self._next_initialiser(pending)
        else:
            self._unwind(value, reply=False)

    # -- tracing ---------------------------------------------------------------------------------------------

    def _trace(self, status: Status) -> None:
        """Tell the observers about an entry or a return (or the unwinding a violation made: ``_report``)."""
        if status is Status.ENTERED:
            crossing = self.engine.innermost()
            assert crossing is not None
            caller, callee, gate = self._describe(crossing.caller, crossing.callee, crossing.gate)
            registers = ARGUMENT_ORDER[: self._gate_list[crossing.gate].arity]
            arguments = tuple(self.machine.register(r) for r in registers)
            event = CrossingEvent(self._thread_id(), caller, callee, gate, arguments)
            for observer in self.observers:
                observer.entered(event)
        elif status is Status.RETURNED:
            last = self.engine.last
            caller, callee, gate = self._describe(last.caller, last.callee, last.gate)
            value = self.machine.register(RAX)
            result = value if value < 1 << 63 else value - (1 << 64)
            event = CrossingEvent(self._thread_id(), caller, callee, gate, result=result, report=self._report)
            for observer in self.observers:
                observer.returned(event)
        self._report = None

    def _thread_id(self) -> int:
        running = self.engine.running
        return 1 if running is None else running.number

    def _describe(self, caller: int, callee: int, gate: int) -> tuple[str, str, str]:
        names = self.compartments
        return names[caller].name, names[callee].name, self._gate_list[gate].name

    # -- the monitor calling into a compartment (init and fini) ------------------------------------------

    def _enter_call(self, compartment: CompartmentState, entry: int, arguments: Sequence[int] = ()) -> Status:
        for register, value in zip(ARGUMENT_ORDER, arguments, strict=False):
            self.machine.set_register(register, value)

        def enter() -> Status:
            return self.engine.call(compartment.id, entry, len(arguments))

        return self._complete(enter(), enter)

    def call(self, compartment: CompartmentState, entry: int, timeout: float | None = None,
             arguments: Sequence[int] = ()) -> Stop:  # fmt: skip
        """Run ``entry`` in ``compartment`` (with ``arguments``, at most six) until it returns (``RETURNED``), or
        faults, exits, times out or is interrupted."""
        status = self._enter_call(compartment, entry, arguments)
        if status is not Status.ENTERED:
            raise MonitorError(f"cannot call {entry:#x} in compartment {compartment.name}: {status.name}")
        return self.machine.run(timeout=timeout)


def _engine_compartment(state: CompartmentState) -> EngineCompartment:
    """What the engine needs of ``state`` (the first thread's part of it)."""
    space = state.space
    if state.id == PROGRAM:  # its initialisers run in its own _start, after every library's
        lifecycle = Lifecycle.INITIALISING
    else:
        lifecycle = Lifecycle.UNINITIALISED if state.init else Lifecycle.READY
    return EngineCompartment(
        state.id,
        context_of(space),
        state.thread_pointer,
        state.stack_base,
        state.stack_top,
        space.physical(THREAD_INFO + THREAD_INFO_CALLER_OFFSET),
        space.physical(GATE_BUFFER),
        state.return_sites,
        int(state.caller_level),
        lifecycle,
    )


def context_of(space: AddressSpace, index: int = 0) -> Context:
    """The engine's view of an address space for thread ``index``: its root and the leaf entry that maps the
    thread's gate buffer (a later thread's is made present, writable: its record starts with a message of its own)."""
    buffer = gate_buffer_of(index)
    if index:
        space.resolve_fault(buffer, Access.WRITE)
    return Context(space.tables.root, space.tables.leaf_table(buffer) + ((buffer >> 12) & 511) * 8)
