"""A debugger session over one run: registers, memory, breakpoints, step and continue, as Python calls.

Data flow: the monitor boots a ``Machine`` and hands it to ``attach`` before building any compartment
(``Monitor.on_machine``), so ``Machine.run`` asks the session's ``controller`` (the gdb stub) what to do before any
guest instruction runs, initialisers included. ``resume`` lets the guest go one instruction (``Machine.step``) or
until a breakpoint (``Machine.break_at``: code hooks on the breakpoint addresses only, nothing written into text);
a stop the monitor must handle (exit, a fault nobody resolved, an initialiser's return, a timeout) goes back to the
monitor, and the session takes control again at the next ``Machine.run``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ..errors import TwzEmuError
from ..linker.link import LinkedLibrary, LinkedProgram
from ..machine.cpustate import GPR_IDS
from ..machine.engine import Crossing
from ..machine.events import Fault, Stop, StopReason, Watch
from ..machine.machine import Machine
from ..mmu.physmem import PAGE_SIZE
from ..mmu.space import AddressSpace, SlotMapping
from ..monitor.crossing import RETURN_POINT, CompartmentState
from ..monitor.monitor import Monitor, Run
from ..monitor.observe import CrossingEvent, enter_line, return_line
from ..monitor.threads import ThreadView
from ..security.gates import Gate
from . import registers
from .backtrace import Frame, FrameRules, Image, frames, registers_by_dwarf
from .unwind import GateCode, ShadowRecord, is_shadow, shadow_read

_GPR_INDEX = {name: index for index, name in enumerate(
    ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", *(f"r{n}" for n in range(8, 16)))
)}  # fmt: skip
assert len(_GPR_INDEX) == len(GPR_IDS)


class Resume(Enum):
    """How the guest goes on when the controller lets it."""

    STEP = "step"
    CONTINUE = "continue"
    DETACH = "detach"  # run on to the end, debugger gone
    KILL = "kill"


class Controller(Protocol):
    """Who decides (the gdb stub): ``stopped`` is told each debugger stop, with the lines to show the user (the
    crossings a step made, a violation's report), and answers how to resume."""

    def stopped(self, stop: Stop | None, messages: Sequence[str] = ()) -> Resume: ...

    def running(self, interrupt: Callable[[], None]) -> AbstractContextManager[None]:
        """While the guest runs freely: call ``interrupt`` when the user asks to stop it."""
        ...


@dataclass(frozen=True, slots=True)
class Library:
    """One loaded image as a debugger lists it: file, load bias, and the address of its dynamic section."""

    path: str
    base: int
    dynamic: int
    compartment: str


class DebugSession:
    """The session of one run; ``attach`` installs it as the machine's debugger."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self.machine: Machine | None = None
        self.linked: LinkedProgram | None = None
        self.monitor: Monitor | None = None  # whose run it debugs (``attach_to``)
        self.entries: list[CrossingEvent] = []  # the entries of the live crossings of guest callers, outermost first
        self.breakpoints: set[int] = set()
        self.watchpoints: dict[Watch, tuple[range, ...]] = {}  # each with the physical memory behind it
        self.break_crossings = False  # stop at every gate entry and return (``monitor break-crossings on``)
        self._pending: Resume | None = None  # a resume a monitor-level stop interrupted
        self._resumed: Resume | None = None  # how the controller resumed from a stop inside a fault's handling
        self._stepping = False
        self._crossed: list[str] = []  # the trace words of the crossings the current step made
        self.selected: int | None = None  # the thread whose registers the debugger reads (None: the running one)
        self.report_libraries = False  # stop when dlopen or dlclose changes the libraries (gdb reloads its list)
        self.library_event = False  # such a stop is pending

    def attach(self, machine: Machine) -> None:
        self.machine = machine
        machine.debugger = self

    def begin(self) -> None:
        """A new run of the machine under this session (a call of the Python API's debugger): nothing of the last
        one's crossings or pending resume carries over."""
        self.entries.clear()
        self._pending = None

    def attach_to(self, monitor: Monitor) -> None:
        """Take control of ``monitor``'s next run: the session attaches to its machine before any compartment is
        built, and sees its compartments, crossings, symbols and reports."""

        def on_machine(machine: Machine, linked: LinkedProgram) -> None:
            self.attach(machine)
            self.linked = linked

        self.monitor = monitor
        monitor.on_machine = on_machine
        monitor.observers = (*monitor.observers, self)  # crossings come through it, for their trace words

    # -- what the run tells it -----------------------------------------------------------------------------

    def _run(self) -> Run | None:
        return self.monitor.last_run if self.monitor is not None else None

    def states(self) -> Iterable[CompartmentState]:
        """The run's compartments, once built."""
        run = self._run()
        return run.states.values() if run is not None else ()

    def crossings(self) -> list[Crossing]:
        """The live crossings, innermost first."""
        run = self._run()
        return run.crossings.engine.live() if run is not None and run.crossings is not None else []

    def describe(self, stop: Stop) -> str | None:
        """The report line of a fatal stop, as the run prints it."""
        run = self._run()
        return run.result(stop, None).message if run is not None else None

    def symbolize(self, address: int) -> str:
        """``address`` as ``SYMBOL+0xOFF``."""
        run = self._run()
        return run.symbols.name(address) if run is not None else hex(address)

    def object_labels(self) -> dict[object, str]:
        """The monitor's objects of the run (stacks, heaps, thread areas, gate buffers): id -> label."""
        run = self._run()
        return {obj.id: label for label, obj in run.builder.objects.items()} if run is not None else {}

    # -- what Machine.run calls ---------------------------------------------------------------------------

    def run(self, rip: int | None, timeout: float | None) -> Stop:
        machine = self._machine()
        if rip is not None:
            machine.rip = rip
        how = self._pending
        self._pending = None
        if how is None or how is Resume.STEP:  # a step that ended in the monitor stops where the guest is now
            how = self._stopped(None)
        while True:
            if how is Resume.DETACH:
                machine.debugger = None
                return machine.run_free(timeout=timeout)
            if how is Resume.KILL:
                machine.debugger = None
                return Stop(StopReason.INTERRUPTED)
            stop = self._go(how, timeout)
            resumed, self._resumed = self._resumed, None
            paused = stop.reason in (StopReason.STEP, StopReason.BREAKPOINT)
            if (resumed is Resume.DETACH and paused) or (resumed is Resume.CONTINUE and stop.reason is StopReason.STEP):
                how = resumed  # stopped at a fault on the way and resumed from there: as the controller said then
                continue
            if stop.reason is StopReason.FAULT:  # nobody resolves it: the monitor ends the program next
                line = self.describe(stop)
                how = self._stopped(stop, [line] if line else [])
                if how is Resume.KILL:
                    machine.debugger = None
                    return Stop(StopReason.INTERRUPTED)
                return stop
            if stop.reason not in (StopReason.STEP, StopReason.BREAKPOINT, StopReason.WATCHPOINT):
                self._pending = how
                return stop
            how = self._stopped(stop)

    def _stopped(self, stop: Stop | None, messages: Sequence[str] = ()) -> Resume:
        crossed, self._crossed = self._crossed, []
        self.selected = None  # at every stop, the thread that stopped
        return self.controller.stopped(stop, [*crossed, *messages])

    # -- what the monitor tells it as a crossing observer (``monitor.observe``) ---------------------------------

    def entered(self, event: CrossingEvent) -> None:
        self.entries.append(event)
        self._crossing(enter_line(event))

    def returned(self, event: CrossingEvent) -> None:
        if self.entries:
            self.entries.pop()
        self._crossing(return_line(event))

    def _crossing(self, line: str) -> None:
        if self._stepping or self.break_crossings:
            self._crossed.append(line)
        if self.break_crossings and self.machine is not None and self.machine.debugger is self:
            self.machine.request_stop(Stop(StopReason.BREAKPOINT))

    def reported(self, line: str, compartment: str | None, fault: Fault | None = None) -> None:
        """A violation or fault the monitor is about to unwind: stop there first, the machine at the faulting
        instruction, so the user can look around; then the monitor carries on as it would without a debugger."""
        machine = self.machine
        if fault is None or machine is None or machine.debugger is not self:
            return
        how = self._stopped(Stop(StopReason.FAULT, fault=fault), [line])
        if how in (Resume.KILL, Resume.DETACH):
            machine.debugger = None
        if how is Resume.KILL:
            machine.request_stop(Stop(StopReason.INTERRUPTED))
        elif how is Resume.STEP:  # the step ends where the monitor's handling leaves the guest (e.g. the caller)
            machine.request_stop(Stop(StopReason.STEP))
        else:
            self._resumed = how

    def abandoned(self) -> None:
        pass

    def finished(self) -> None:
        pass

    def libraries_changed(self) -> None:
        """dlopen or dlclose changed the libraries: a stop for the controller, which says so (gdb: ``library:``)."""
        machine = self.machine
        if self.report_libraries and machine is not None and machine.debugger is self:
            self.library_event = True
            machine.request_stop(Stop(StopReason.BREAKPOINT))

    def take_library_event(self) -> bool:
        event, self.library_event = self.library_event, False
        return event

    def _go(self, how: Resume, timeout: float | None) -> Stop:
        machine = self._machine()
        if how is Resume.STEP:
            self._stepping = True
            try:
                return machine.step()
            finally:
                self._stepping = False
        if machine.rip in self.breakpoints:  # leave the breakpoint before its hook is armed
            stop = machine.step()
            if stop.reason is not StopReason.STEP:
                return stop
        removers = []
        if self.breakpoints:
            removers.append(machine.break_at(sorted(self.breakpoints)))
        if self.watchpoints:
            removers.append(machine.watch(self.watchpoints))
        try:
            with self.controller.running(self.interrupt):
                return machine.run_free(timeout=timeout)
        finally:
            for remove in removers:
                remove()

    def interrupt(self) -> None:
        """Stop the running guest for the debugger (gdb's Ctrl-C); callable from another thread."""
        self._machine().request_stop(Stop(StopReason.BREAKPOINT))

    def _machine(self) -> Machine:
        if self.machine is None:
            raise TwzEmuError("the debugger session is not attached to a machine")
        return self.machine

    # -- registers ----------------------------------------------------------------------------------------

    # -- threads ------------------------------------------------------------------------------------------

    def threads(self) -> list[ThreadView]:
        """Every live thread of the run (the first alone before the run has threads)."""
        run = self._run()
        if run is None or run.threads is None:
            state = self.compartment()
            return [ThreadView(1, state.name if state is not None else "monitor", True)]
        return run.threads.views()

    def select_thread(self, thread: int) -> bool:
        """Registers are read from thread ``thread`` from now on (0 or -1: the running one); False if no such
        thread lives."""
        if thread in (0, -1):
            self.selected = None
            return True
        if not any(view.id == thread for view in self.threads()):
            return False
        self.selected = thread
        return True

    def _selected_view(self) -> ThreadView | None:
        """The selected thread, if it is not the running one."""
        if self.selected is None:
            return None
        view = next((v for v in self.threads() if v.id == self.selected), None)
        return None if view is None or view.running else view

    def thread_register(self, name: str) -> int | None:
        """Register ``name`` of the selected thread: the running one's (``register``), or what another stopped with
        (None for the registers not kept as numbers: x87, vector)."""
        view = self._selected_view()
        if view is None:
            return self.register(name)
        if name in _GPR_INDEX:
            return view.registers[_GPR_INDEX[name]]
        saved = {"rip": 16, "eflags": 17, "fs_base": 18, "gs_base": 19}
        return view.registers[saved[name]] if name in saved else None

    def register(self, name: str) -> int:
        """Register ``name`` as gdb names it (``registers.REGISTERS``)."""
        machine = self._machine()
        if name in _GPR_INDEX:
            return machine.register(_GPR_INDEX[name])
        if name == "rip":
            return machine.rip
        return registers.read(name, machine.named_register)

    def running_thread(self) -> int:
        """The id of the thread that runs (the one a stop stopped)."""
        return next((view.id for view in self.threads() if view.running), 1)

    def set_register(self, name: str, value: int) -> None:
        """Set register ``name`` of the running thread (another's are read-only to the debugger)."""
        if self._selected_view() is not None:
            raise TwzEmuError(f"T{self.selected} is not running: its registers cannot be changed")
        machine = self._machine()
        if name in _GPR_INDEX:
            machine.set_register(_GPR_INDEX[name], value)
        elif name == "rip":
            machine.rip = value
        else:
            registers.write(name, value, machine.named_register, machine.set_named_register)

    def add_watchpoint(self, watch: Watch) -> None:
        """Watch memory the current compartment maps (else the first compartment that does): whichever compartment
        touches that memory later, through whatever address, stops the guest."""
        machine = self._machine()
        spaces = [machine.current_space(), *(state.space for state in self.states())]
        for space in spaces:
            if space is None:
                continue
            try:
                self.watchpoints[watch] = _physical_ranges(space, watch.address, max(watch.length, 1))
                return
            except TwzEmuError:
                continue
        raise TwzEmuError(f"address {watch.address:#x} is not mapped in any compartment")

    # -- memory -------------------------------------------------------------------------------------------

    def read_memory(self, address: int, length: int, compartment: str | None = None) -> bytes:
        """As the current compartment sees it, or only as ``compartment`` (a name of ``monitor compartments``) does.
        Also readable from the current one: code of every image (for disassembly and breakpoints, through the first
        space that maps it), and the stacks of the callers of live crossings as each caller saw them (their frames,
        for gdb to unwind across a crossing)."""
        if compartment is not None:
            return self._compartment_named(compartment).space.read_virtual(address, length)
        if is_shadow(address):
            return shadow_read(address, length, self.shadow_records())
        machine = self._machine()
        current = machine.current_space()
        if current is not None:
            with contextlib.suppress(TwzEmuError):
                return current.read_virtual(address, length)
        caller_stack = self._caller_stack_space(address, length)
        if caller_stack is not None:
            return caller_stack.read_virtual(address, length)
        if self._is_text(address):
            for state in self.states():
                with contextlib.suppress(TwzEmuError):
                    return state.space.read_virtual(address, length)
        raise TwzEmuError(f"address {address:#x} is not mapped in the current compartment")

    def _caller_stack_space(self, address: int, length: int) -> AddressSpace | None:
        """The page tables of the innermost caller whose stack holds ``address`` (None: no caller's stack)."""
        machine = self._machine()
        states = {state.id: state for state in self.states()}
        for crossing in self.crossings():
            lender = states.get(crossing.stack)
            space = machine.space_of(crossing.context.cr3)
            if lender is None or space is None:
                continue
            if lender.stack_base <= address and address + length <= lender.stack_top:
                return space
        return None

    def write_memory(self, address: int, data: bytes) -> None:
        machine = self._machine()
        space = machine.current_space()
        if space is None:
            raise TwzEmuError("no address space is current")
        space.read_virtual(address, len(data))  # refuses what is unmapped before anything is written
        space.write_virtual(address, data)
        machine.uc.ctl_flush_tb()  # a write into code must not leave stale translations

    def _is_text(self, address: int) -> bool:
        return any(
            library.loaded.base <= address < library.loaded.base + (1 << 30) for library in self._libraries_linked()
        )

    # -- compartments -------------------------------------------------------------------------------------

    def compartment(self) -> CompartmentState | None:
        """The compartment whose address space is loaded now."""
        current = self._machine().current_space()
        return next((state for state in self.states() if state.space is current), None)

    def _compartment_named(self, name: str) -> CompartmentState:
        state = next((state for state in self.states() if state.name == name), None)
        if state is None:
            known = ", ".join(state.name for state in self.states())
            raise TwzEmuError(f"no compartment is named {name!r} (there are: {known})")
        return state

    def address_of(self, symbol: str) -> int:
        """The run-time address of ``symbol``, in the first image (in load order) that defines it."""
        for library in self._libraries_linked():
            for entry in library.loaded.image.symbols:
                if entry.st_name == symbol and entry.st_value:
                    return library.loaded.base + entry.st_value
        raise TwzEmuError(f"no loaded image defines {symbol}")

    def maps(self, space: AddressSpace) -> list[SlotMapping]:
        return sorted(space.iter_mappings(), key=lambda mapping: mapping.slot)

    def mapping_name(self, mapping: SlotMapping) -> str:
        """What a slot of an address space holds, as a user names it: ``IMAGE text``/``IMAGE data``, or the monitor's
        label of the object (``COMPARTMENT:stack``, ``:heap``, ``:thread``, ``:gate buffer``); else its id."""
        for library in self._libraries_linked():
            loaded = library.loaded
            for obj, part in ((loaded.text, "text"), (loaded.data, "data")):
                if getattr(obj, "id", None) == mapping.backing.key:
                    return f"{os.path.basename(loaded.name)} {part}"
        return self.object_labels().get(mapping.backing.key, str(mapping.backing.key))

    # -- images -------------------------------------------------------------------------------------------

    def _libraries_linked(self) -> Iterator[LinkedLibrary]:
        """Every image of the run now (the link's, and what dlopen loaded since)."""
        if self.linked is None:
            return
        run = self._run()
        for compartment in run.compartments_now() if run is not None else self.linked.compartments:
            yield from compartment.libraries

    def gates(self) -> tuple[Gate, ...]:
        """Every gate of the run now (the link's, and those of compartments dlopen made since)."""
        if self.linked is None:
            return ()
        run = self._run()
        return run.gates_now() if run is not None else self.linked.gates

    def gate_code(self) -> list[GateCode]:
        """Each gate of the run with the image that holds its code (for the unwind rules of ``unwind``)."""
        found = []
        if self.linked is None:
            return found
        images = list(self._libraries_linked())
        for gate in self.gates():
            for library in images:
                base = library.loaded.base
                if base <= gate.entry < base + (1 << 30):
                    found.append(GateCode(os.path.abspath(library.loaded.image.path), base, gate.entry))
                    break
        return found

    def shadow_records(self) -> list[ShadowRecord]:
        """The live crossings as the unwind rules read them: what each caller gets back, by the gate's CFA."""
        return [
            ShadowRecord(
                crossing.callee_rsp + 8,
                crossing.return_address if crossing.caller >= 0 else 0,
                crossing.rsp + 8,
                crossing.saved[1],
                crossing.saved[0],
                (crossing.saved[2], crossing.saved[3], crossing.saved[4], crossing.saved[5]),
            )
            for crossing in self.crossings()
        ]

    def backtrace(self) -> list[Frame]:
        """The current thread's frames across crossings, innermost first (``backtrace``)."""
        machine = self._machine()
        images = [
            Image(os.path.abspath(library.loaded.image.path), library.loaded.base, library.loaded.base + (1 << 30))
            for library in self._libraries_linked()
        ]
        gprs = [machine.register(index) for index in range(len(GPR_IDS))]

        def read_word(address: int) -> int:
            return int.from_bytes(self.read_memory(address, 8), "little")

        rules = FrameRules(images)
        return list(frames(machine.rip, registers_by_dwarf(gprs), read_word, rules, self.crossings(), RETURN_POINT))

    def libraries(self) -> list[Library]:
        """Every loaded image but the program, once per compartment it is loaded in."""
        found = []
        if self.linked is None:
            return found
        run = self._run()
        compartments = run.compartments_now() if run is not None else self.linked.compartments
        for compartment in compartments:
            for library in compartment.libraries:
                if library is self.program():
                    continue
                image = library.loaded.image
                dynamic = next((h.p_vaddr for h in image.program_headers if h.p_type == _PT_DYNAMIC), 0)
                base = library.loaded.base
                found.append(Library(os.path.abspath(image.path), base, base + dynamic, compartment.name))
        return found

    def program(self) -> LinkedLibrary | None:
        if self.linked is None:
            return None
        return self.linked.compartments[0].libraries[0]


def _physical_ranges(space: AddressSpace, address: int, length: int) -> tuple[range, ...]:
    """The physical memory behind ``[address, address + length)`` in ``space``, one range per page."""
    pieces = []
    while length > 0:
        chunk = min(length, PAGE_SIZE - (address & (PAGE_SIZE - 1)))
        start = space.physical(address)
        pieces.append(range(start, start + chunk))
        address += chunk
        length -= chunk
    return tuple(pieces)


_PT_DYNAMIC = 2  # gABI: the program header of the dynamic section
