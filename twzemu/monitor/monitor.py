"""The monitor: links a program and its libraries into a compartment and runs it on the machine.

``Monitor.run(path, argv)`` in steps:

1. read, validate and link the program and its libraries (``linker.Linker``) — before any CPU exists, so
   bad input and link errors cost nothing;
2. boot a ``Machine``; build the compartment's address space (one CR3) with the monitor's supervisor window;
3. map every image's slot pair, a stack object (with the startup block), a heap object and the first
   thread's TLS area (thread pointer in FS);
4. run from ``_start`` with rdi = the startup block and every other register zero;
5. turn the stop into an exit status (DESIGN.md "Guest ABI"): the guest's code, 139 for a fault that kills the
   program (with its one-line report), 124 on timeout, 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from ..debug.callsites import return_sites
from ..debug.disasm import instruction_at
from ..debug.symbols import Symbolizer
from ..elf.image import ElfImage
from ..errors import MonitorError, TwzEmuError
from ..linker.link import IsolationPolicy, LinkedCompartment, LinkedProgram, Linker
from ..linker.search import LibrarySearch
from ..linker.tls import TlsLayout, layout_static_tls
from ..loader import SLOT_SIZE, STACK_SIZE, LoadedImage, ObjectBacking, slot_base
from ..machine.cpustate import RDI, RSP
from ..machine.events import Fault, Stop, StopReason
from ..machine.machine import DEFAULT_RAM, Machine
from ..machine.x86 import Vector
from ..mmu.pte import Prot
from ..mmu.space import NULL_PAGE_SIZE, SLOT_OFFSET_MASK, AddressSpace, FrameCache
from ..objects.object import Lifetime, Object
from ..objects.objid import ObjId
from ..objects.store import ObjectStore
from ..security.capability import Capability
from ..security.context import SecurityContext
from ..security.gates import Gate, GateTable, IsolationLevel
from ..security.ids import MONITOR as MONITOR_COMPARTMENT
from ..security.ids import PROGRAM as PROGRAM_COMPARTMENT
from ..security.ids import CompartmentId
from ..security.levels import CrossingRules, compartment_rules
from ..toolchain import Toolchain
from .crossing import CompartmentState, Crossings
from .hypercalls import Heap, Hypercalls
from .report import STATUS_INTERRUPTED, STATUS_KILLED, STATUS_TIMEOUT, Culprit, describe_fault
from .services import MONITOR_TEXT_SLOT, build_monitor_text
from .startup import build_startup, build_thread_area

# Each compartment's own objects (stack, heap, thread area) sit far above the images' slot pairs, which start at
# slot 2; the gate buffer, mapped in every compartment, just below them.
GATE_BUFFER_SLOT = 0x3FF
GATE_BUFFER = slot_base(GATE_BUFFER_SLOT) + NULL_PAGE_SIZE  # twz_gate_buffer(): the same in every compartment
COMPARTMENT_SLOTS = 0x400


@dataclass(frozen=True, slots=True)
class RunResult:
    status: int
    stop: Stop
    message: str | None  # the one-line report printed for a fault, timeout or interrupt


@dataclass(frozen=True, slots=True)
class LoadedProgram:
    image: LoadedImage
    space: AddressSpace


class Monitor:
    """Owns the object store and the guest's output streams; each ``run`` boots a fresh machine."""

    def __init__(
        self,
        store: ObjectStore,
        stdout: BinaryIO | None = None,
        stderr: BinaryIO | None = None,
        ram_size: int = DEFAULT_RAM,
        verbose: bool = False,
        library_dirs: Sequence[Path] = (),
        environment: Mapping[str, str] | None = None,
        policy: IsolationPolicy | None = None,
    ) -> None:
        self.store = store
        self.stdout = stdout or sys.stdout.buffer
        self.stderr = stderr or sys.stderr.buffer
        self.ram_size = ram_size
        self.verbose = verbose
        self.library_dirs = tuple(library_dirs)
        self.environment = dict(os.environ if environment is None else environment)
        self.trace: TextIO | None = None
        self.policy = policy or IsolationPolicy()
        self.symbols = Symbolizer()
        self._objects: dict[str, ObjId] = {}
        self._owners: dict[int, str] = {}  # slot -> compartment name, for reports
        self._private: dict[int, tuple[AddressSpace, str]] = {}  # writable slot -> (owner's space, owner)
        self.contexts: dict[int, SecurityContext] = {}  # one security context per compartment
        self.caller_levels: dict[str, IsolationLevel] = {}  # --caller-isolation NAME=LEVEL

    def run(self, path: str, argv: Sequence[str] = (), timeout: float | None = None) -> RunResult:
        linked = self.link(path)
        for warning in linked.warnings:
            self.stderr.write(f"twzemu: warning: {warning}\n".encode())
        with Machine(self.ram_size) as machine:
            program = self.start(machine, linked, [path, *argv])
            stop = machine.run(linked.entry, timeout)
            if stop.reason is StopReason.EXIT:
                self._finish(linked)
            result = self._result(stop, program, timeout)
        if result.message is not None:
            self.stderr.write(result.message.encode() + b"\n")
            self.stderr.flush()
        return result

    def link(self, path: str) -> LinkedProgram:
        program = ElfImage.open(path)
        search = LibrarySearch.for_program(Path(path), self.library_dirs, self._runtime_dir(), self.store)
        self._monitor_text = build_monitor_text(self.store)
        return Linker(search, self.store, self.policy, self._monitor_text.gates).link(program, path)

    def start(self, machine: Machine, linked: LinkedProgram, argv: Sequence[str]) -> LoadedProgram:
        """Map every compartment of ``linked``, run the isolated ones' initialisers, and make the machine ready to
        run the program from ``_start`` (steps 2-4)."""
        self._cache = FrameCache(machine.frames)
        gate_buffer = self.store.create(lifetime=Lifetime.VOLATILE)
        states = {c.id: self._compartment(machine, c, gate_buffer) for c in linked.compartments}
        states[MONITOR_COMPARTMENT] = self._monitor_compartment(machine, gate_buffer)
        rules = self._share_by_level(linked, states)
        program = states[PROGRAM_COMPARTMENT]
        self.gates = self._gate_table(linked)
        self.crossings = Crossings(machine, states, self.gates, self.stderr, self._violation_line, self.trace,
                                   rules=rules)  # fmt: skip
        machine.on_hypercall = Hypercalls(self.stdout, self.stderr, self.crossings.client, GATE_BUFFER)
        machine.on_fault = self.crossings.on_fault
        machine.on_control_transfer = self.crossings.on_control_transfer
        if self.verbose:
            self._describe(linked, machine)
        for compartment in reversed(linked.compartments[1:]):  # dependencies first
            self._initialise(states[compartment.id], compartment.init)
        env = [f"{k}={v}".encode() for k, v in self.environment.items()]
        startup = build_startup(program.stack_top, [a.encode() for a in argv], env, linked.init, linked.fini,
                                PROGRAM_COMPARTMENT)  # fmt: skip
        program.space.write_virtual(startup.base, startup.data)
        self.crossings.resume(program)  # from now on only compartment 0's gate code may make hypercalls
        machine.cpu.gpr[RSP] = startup.rsp
        machine.cpu.gpr[RDI] = startup.rdi
        return LoadedProgram(linked.program.loaded, program.space)

    def _compartment(self, machine: Machine, compartment: LinkedCompartment, gate_buffer: Object) -> CompartmentState:
        """The compartment's address space: its images, the shared gate buffer, its stack, heap and thread area."""
        space = machine.new_space(self._cache, compartment.name)
        sites: set[int] = set()
        context = self._context(compartment.id, compartment.name)
        for library in compartment.libraries:
            loaded = library.loaded
            self._map(context, space, loaded.text_slot, ObjectBacking(loaded.text), Prot.READ | Prot.EXEC)
            self._map(context, space, loaded.text_slot + 1, ObjectBacking(loaded.data), Prot.READ | Prot.WRITE)
            self.symbols.add(library.loaded)
            sites |= return_sites(library.loaded.image, library.base)
        label = compartment.name
        for library in compartment.libraries:
            self._owners[library.loaded.text_slot] = self._owners[library.loaded.text_slot + 1] = label
            self._private[library.loaded.text_slot + 1] = (space, label)
        return self._own_objects(context, space, label, compartment.tls, gate_buffer, frozenset(sites))

    def _own_objects(self, context: SecurityContext, space: AddressSpace, label: str, tls: TlsLayout,
                     gate_buffer: Object, sites: frozenset[int]) -> CompartmentState:  # fmt: skip
        """The gate buffer, then the compartment's own stack, heap and thread area (its TCB and static TLS) in
        its slots above the images, named for reports: the compartment at run time."""
        self._map(context, space, GATE_BUFFER_SLOT, ObjectBacking(gate_buffer), Prot.READ | Prot.WRITE)
        stack_slot, heap_slot, thread_slot = (COMPARTMENT_SLOTS + 4 * context.compartment + i for i in range(3))
        heap = Heap(slot_base(heap_slot) + NULL_PAGE_SIZE, SLOT_SIZE - 2 * NULL_PAGE_SIZE)
        self._map_fresh(context, space, heap_slot, f"{label}:heap")
        thread = build_thread_area(slot_base(thread_slot) + NULL_PAGE_SIZE, tls, 1, GATE_BUFFER)
        self._map_fresh(context, space, thread_slot, f"{label}:thread", thread.base, thread.data)
        self._map_fresh(context, space, stack_slot, f"{label}:stack")
        for slot in (stack_slot, heap_slot, thread_slot):
            self._owners[slot] = label
            self._private[slot] = (space, label)
        top = slot_base(stack_slot) + NULL_PAGE_SIZE + STACK_SIZE
        return CompartmentState(context.compartment, label, space, top, heap, thread.thread_pointer, sites)

    def _gate_table(self, linked: LinkedProgram) -> GateTable:
        """The gates every compartment exposes, in the security model's table (one dict lookup per entry)."""
        table = GateTable()
        for entry in linked.gates:
            gate = Gate(entry.name, CompartmentId(entry.compartment), entry.entry, max(entry.length, 1), 1,
                        entry.level, entry.arity)  # fmt: skip
            table.add(gate)
            self.contexts[entry.compartment].expose(gate)
        return table

    def _share_by_level(self, linked: LinkedProgram,
                        states: dict[int, CompartmentState]) -> dict[tuple[int, int], CrossingRules]:  # fmt: skip
        """RFC 0008's trust table in page tables: for every caller/callee pair, the rules of the caller's level
        joined with the strictest of the callee's gates (``security.levels``); a side that may touch the other's
        memory gets the other's data, heap, stack and thread objects mapped in its own address space."""
        gate_levels: dict[int, list[IsolationLevel]] = {}
        for gate in linked.gates:
            gate_levels.setdefault(gate.compartment, []).append(gate.level)
        rules: dict[tuple[int, int], CrossingRules] = {}
        for caller in linked.compartments:
            for callee in linked.compartments:
                if caller.id == callee.id or callee.id not in gate_levels:
                    continue
                pair = compartment_rules(self._caller_level(caller), gate_levels[callee.id])
                rules[caller.id, callee.id] = pair
                self._grant(states[callee.id], caller, pair.callee_reads_caller, pair.callee_writes_caller)
                self._grant(states[caller.id], callee, pair.caller_reads_callee, pair.caller_writes_callee)
        return rules

    def _caller_level(self, compartment: LinkedCompartment) -> IsolationLevel:
        root = compartment.libraries[0]
        for key in (compartment.name, root.name, Path(root.name).name):
            if key in self.caller_levels:
                return self.caller_levels[key]
        return IsolationLevel.NONE

    def _grant(self, grantee: CompartmentState, owner: LinkedCompartment, reads: bool, writes: bool) -> None:
        """Map ``owner``'s writable objects into ``grantee``'s space: RW-, R-- or not at all (never its text)."""
        if not reads:
            return
        prot = Prot.READ | Prot.WRITE if writes else Prot.READ
        for slot, (mapping_space, label) in self._private.items():
            if label != owner.name or grantee.space.mapping_at(slot_base(slot) + NULL_PAGE_SIZE) is not None:
                continue
            mapping = mapping_space.mapping_at(slot_base(slot) + NULL_PAGE_SIZE)
            if mapping is not None:
                self._map(self.contexts[grantee.id], grantee.space, slot, mapping.backing, prot)

    def _monitor_compartment(self, machine: Machine, gate_buffer: Object) -> CompartmentState:
        """Compartment 0: the monitor's generated gate code, a stack, a heap nobody grows, and a TCB (no TLS)."""
        space = machine.new_space(self._cache, "monitor")
        context = self._context(MONITOR_COMPARTMENT, "monitor")
        text = self._monitor_text.text
        self._map(context, space, MONITOR_TEXT_SLOT, ObjectBacking(text), Prot.READ | Prot.EXEC)
        self.symbols.add_region("monitor", slot_base(MONITOR_TEXT_SLOT), slot_base(MONITOR_TEXT_SLOT + 1))
        for name, gate in self._monitor_text.gates.items():
            self.symbols.add_region(name, gate.entry, gate.entry + gate.length)
        self._owners[MONITOR_TEXT_SLOT] = "monitor"
        return self._own_objects(context, space, "monitor", layout_static_tls([]), gate_buffer, frozenset())

    def _finish(self, linked: LinkedProgram) -> None:
        """After a normal exit, the isolated compartments' fini functions, in reverse order of their init
        (the program's own ran in its exit(); a fault in one is reported and the others still run)."""
        self.crossings.reset()  # the exit left its crossing into the monitor behind
        for compartment in linked.compartments[1:]:
            state = self.crossings.compartments[compartment.id]
            for function in compartment.fini:
                stop = self.crossings.call(state, function)
                if stop.reason is not StopReason.RETURNED:
                    self.crossings.reset()
                    self.stderr.write(f"twzemu: compartment {state.name}: finaliser "
                                      f"{self.symbols.name(function)} did not return\n".encode())  # fmt: skip

    def _initialise(self, state: CompartmentState, init: Sequence[int]) -> None:
        """Run the compartment's initialisers in it. One that faults is reported, and the compartment is marked
        failed: its gates then answer TWZ_EPERM (DESIGN.md "What a violation does"); the program still runs."""
        for function in init:
            stop = self.crossings.call(state, function)
            if stop.reason is StopReason.RETURNED:
                continue
            self.crossings.reset()
            if stop.fault is None:
                raise MonitorError(f"compartment {state.name}: initialiser {self.symbols.name(function)} "
                                   f"did not return ({stop.reason.value})")  # fmt: skip
            line = self._violation_line(stop.fault, state)
            self.stderr.write(f"{line}\ntwzemu: compartment {state.name} failed to initialise: its gates answer "
                              "TWZ_EPERM\n".encode())  # fmt: skip
            self.crossings.mark_failed(state)
            return

    def _context(self, compartment: int, name: str) -> SecurityContext:
        context = SecurityContext(CompartmentId(compartment), name)
        self.contexts[compartment] = context
        return context

    @staticmethod
    def _map(context: SecurityContext, space: AddressSpace, slot: int, backing: ObjectBacking, prot: Prot) -> None:
        """Grant the capability, then map exactly what the context now holds: page tables follow the context."""
        context.grant(Capability(backing.key, prot))
        space.map_object(slot, backing, context.prot_of(backing.key))

    def _map_fresh(self, context: SecurityContext, space: AddressSpace, slot: int, label: str, at: int = 0,
                   content: bytes = b"") -> None:  # fmt: skip
        """A new volatile object in ``slot`` (RW-, NX), with ``content`` written at virtual address ``at``."""
        obj = self.store.create(lifetime=Lifetime.VOLATILE)
        if content:
            obj.write(at - slot_base(slot), content)
        self._map(context, space, slot, ObjectBacking(obj), Prot.READ | Prot.WRITE)
        self.symbols.add_region(label, slot_base(slot), slot_base(slot + 1))
        self._objects[label] = obj.id

    def _violation_line(self, fault: Fault, executing: CompartmentState) -> str:
        return describe_fault(fault, self._culprit_of(fault, executing.name), self.symbols,
                              self._instruction(fault, executing.space))  # fmt: skip

    def _runtime_dir(self) -> Path | None:
        try:
            return Toolchain.locate().runtime_dir
        except TwzEmuError:
            return None

    def _describe(self, linked: LinkedProgram, machine: Machine) -> None:
        lines = [f"twzemu: linked {linked.compartments[0].name}: {len(linked.libraries)} images in "
                 f"{len(linked.compartments)} compartments, {linked.relocations} relocations"]  # fmt: skip
        for compartment in linked.compartments:
            for library in compartment.libraries:
                loaded = library.loaded
                lines.append(
                    f"twzemu: loaded {loaded.name}: text {loaded.text.id} slot {loaded.text_slot} "
                    f"({slot_base(loaded.text_slot):#x}), data {loaded.data.id} slot {loaded.text_slot + 1}, "
                    f"compartment {compartment.name}"
                )
        lines += [f"twzemu: gate {g.name} of {g.library} at {g.entry:#x}, isolation {g.level.label}, "
                  f"{g.arity} argument registers" for g in linked.gates]  # fmt: skip
        for context in self.contexts.values():
            rights = sorted(Prot(c.prot).letters for c in context.iter_capabilities())
            summary = ", ".join(f"{rights.count(r)} {r}" for r in sorted(set(rights)))
            lines.append(f"twzemu: context {context.name}: capabilities {summary}; {len(context.gates)} gates exposed")
        lines += [f"twzemu: {label} {obj_id}" for label, obj_id in self._objects.items()]
        lines.append(f"twzemu: cpu: {machine.mode()}")
        self.stderr.write("".join(line + "\n" for line in lines).encode())

    def _result(self, stop: Stop, program: LoadedProgram, timeout: float | None) -> RunResult:
        if stop.reason is StopReason.EXIT:
            assert stop.exit_code is not None
            return RunResult(stop.exit_code, stop, None)
        if stop.reason is StopReason.TIMEOUT:
            message = f"twzemu: timeout: {program.image.name} still running after {timeout:g} s"
            return RunResult(STATUS_TIMEOUT, stop, message)
        if stop.reason is StopReason.INTERRUPTED:
            return RunResult(STATUS_INTERRUPTED, stop, f"twzemu: interrupted: {program.image.name} stopped")
        fault = stop.fault
        assert fault is not None
        current = self.crossings.current
        assert current is not None
        return RunResult(STATUS_KILLED, stop, self._violation_line(fault, current))

    @staticmethod
    def _instruction(fault: Fault, space: AddressSpace) -> str | None:
        if fault.vector is Vector.PAGE_FAULT:
            return None
        try:
            return instruction_at(space.read_virtual(fault.rip, 16), fault.rip)
        except TwzEmuError:
            return None

    def _culprit_of(self, fault: Fault, executing: str) -> Culprit:
        """Who owns the address (any compartment), and whether touching it is a violation or a plain fault."""
        if fault.address is None:
            return Culprit(executing, executing, violation=False)
        owner = self._owners.get(fault.address >> 30)
        if owner is None and fault.address >> 47 == 0x1FFFF:
            owner = "monitor"
        if owner is None:
            return Culprit("no object", executing, violation=False)
        if fault.address & SLOT_OFFSET_MASK < NULL_PAGE_SIZE:
            return Culprit(f"the null page of {owner}", executing, violation=False)
        return Culprit(owner, executing, violation=True)
