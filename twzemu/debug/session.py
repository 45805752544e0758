"""A debugger session over one run: registers, memory, breakpoints, step and continue, as Python calls.

Data flow: the monitor boots a ``Machine`` and hands it to ``attach`` before building any compartment
(``Monitor.on_machine``), so ``Machine.run`` asks the session's ``controller`` (the gdb stub) what to do before any
guest instruction runs, initialisers included. ``resume`` lets the guest go one instruction (``Machine.step``) or
until a breakpoint (``Machine.break_at``: code hooks on the breakpoint addresses only, nothing written into text);
a stop the monitor must handle (exit, a fault nobody resolved, an initialiser's return, a timeout) goes back to the
monitor, and the session takes control again at the next ``Machine.run``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ..errors import TwzEmuError
from ..linker.link import LinkedLibrary, LinkedProgram
from ..machine.cpustate import GPR_IDS
from ..machine.events import Stop, StopReason
from ..machine.machine import Machine
from ..mmu.space import AddressSpace, SlotMapping
from ..monitor.crossing import CompartmentState

GENERAL = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", *(f"r{n}" for n in range(8, 16)))
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
    """Who decides (the gdb stub): ``stopped`` is told each debugger stop and answers how to resume."""

    def stopped(self, stop: Stop | None) -> Resume: ...

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
        self.states: Callable[[], Iterable[CompartmentState]] = tuple  # the run's compartments, once built
        self.breakpoints: set[int] = set()
        self._pending: Resume | None = None  # a resume a monitor-level stop interrupted
        self._first = True

    def attach(self, machine: Machine) -> None:
        self.machine = machine
        machine.debugger = self

    # -- what Machine.run calls ---------------------------------------------------------------------------

    def run(self, rip: int | None, timeout: float | None) -> Stop:
        machine = self._machine()
        if rip is not None:
            machine.rip = rip
        how = self._pending
        self._pending = None
        if how is None or how is Resume.STEP:  # a step that ended in the monitor stops where the guest is now
            how = self.controller.stopped(None)
        while True:
            if how is Resume.DETACH:
                machine.debugger = None
                return machine.run_free(timeout=timeout)
            if how is Resume.KILL:
                machine.debugger = None
                return Stop(StopReason.INTERRUPTED)
            stop = self._go(how, timeout)
            if stop.reason not in (StopReason.STEP, StopReason.BREAKPOINT):
                self._pending = how
                return stop
            how = self.controller.stopped(stop)

    def _go(self, how: Resume, timeout: float | None) -> Stop:
        machine = self._machine()
        if how is Resume.STEP:
            return machine.step()
        if machine.rip in self.breakpoints:  # leave the breakpoint before its hook is armed
            stop = machine.step()
            if stop.reason is not StopReason.STEP:
                return stop
        remove = machine.break_at(sorted(self.breakpoints)) if self.breakpoints else None
        try:
            with self.controller.running(self.interrupt):
                return machine.run_free(timeout=timeout)
        finally:
            if remove is not None:
                remove()

    def interrupt(self) -> None:
        """Stop the running guest for the debugger (gdb's Ctrl-C); callable from another thread."""
        self._machine().request_stop(Stop(StopReason.BREAKPOINT))

    def _machine(self) -> Machine:
        if self.machine is None:
            raise TwzEmuError("the debugger session is not attached to a machine")
        return self.machine

    # -- registers ----------------------------------------------------------------------------------------

    def register(self, name: str) -> int:
        machine = self._machine()
        if name in _GPR_INDEX:
            return machine.register(_GPR_INDEX[name])
        return machine.named_register(name)

    def set_register(self, name: str, value: int) -> None:
        machine = self._machine()
        if name in _GPR_INDEX:
            machine.set_register(_GPR_INDEX[name], value)
        elif name == "rip":
            machine.rip = value
        else:
            machine.set_named_register(name, value)

    # -- memory -------------------------------------------------------------------------------------------

    def read_memory(self, address: int, length: int) -> bytes:
        """As the current compartment sees it; code of other compartments is readable too (for disassembly and
        breakpoints), through the first space that maps it."""
        machine = self._machine()
        current = machine.current_space()
        spaces = [current] if current is not None else []
        spaces += [state.space for state in self.states() if state.space is not current]
        for index, space in enumerate(spaces):
            try:
                data = space.read_virtual(address, length)
            except TwzEmuError:
                continue
            if index == 0 or self._is_text(address):
                return data
        raise TwzEmuError(f"address {address:#x} is not mapped in the current compartment")

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

    def maps(self, space: AddressSpace) -> list[SlotMapping]:
        return sorted(space.iter_mappings(), key=lambda mapping: mapping.slot)

    def object_names(self) -> dict[object, str]:
        """Object key -> ``IMAGE text`` / ``IMAGE data``, for the images of the run."""
        names: dict[object, str] = {}
        for library in self._libraries_linked():
            loaded = library.loaded
            for obj, part in ((loaded.text, "text"), (loaded.data, "data")):
                key = getattr(obj, "id", None)
                if key is not None:
                    names.setdefault(key, f"{os.path.basename(loaded.name)} {part}")
        return names

    # -- images -------------------------------------------------------------------------------------------

    def _libraries_linked(self) -> Iterator[LinkedLibrary]:
        if self.linked is None:
            return
        for compartment in self.linked.compartments:
            yield from compartment.libraries

    def libraries(self) -> list[Library]:
        """Every loaded image but the program, once per compartment it is loaded in."""
        found = []
        if self.linked is None:
            return found
        for compartment in self.linked.compartments:
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


_PT_DYNAMIC = 2  # gABI: the program header of the dynamic section
