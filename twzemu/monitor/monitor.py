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
from typing import BinaryIO

from ..debug.disasm import instruction_at
from ..debug.symbols import Symbolizer
from ..elf.image import ElfImage
from ..errors import TwzEmuError
from ..linker.link import LinkedProgram, Linker
from ..linker.search import LibrarySearch
from ..loader import SLOT_SIZE, STACK_SIZE, LoadedImage, ObjectBacking, map_image, slot_base
from ..machine.cpustate import RDI, RSP
from ..machine.events import Fault, Stop, StopReason
from ..machine.machine import DEFAULT_RAM, KERNEL_PML4_INDEX, Machine
from ..machine.x86 import Vector
from ..mmu.pte import Prot
from ..mmu.space import NULL_PAGE_SIZE, SLOT_OFFSET_MASK, AddressSpace, FrameCache
from ..objects.object import Lifetime
from ..objects.objid import ObjId
from ..objects.store import ObjectStore
from ..toolchain import Toolchain
from .hypercalls import Heap, Hypercalls
from .report import STATUS_INTERRUPTED, STATUS_KILLED, STATUS_TIMEOUT, Culprit, describe_fault
from .startup import build_startup, build_thread_area

PROGRAM_COMPARTMENT = 1
# The compartment's own objects sit far above the libraries' slot pairs (which start at slot 2).
STACK_SLOT = 0x400
HEAP_SLOT = 0x401
THREAD_SLOT = 0x402


@dataclass(frozen=True, slots=True)
class RunResult:
    status: int
    stop: Stop
    message: str | None  # the one-line report printed for a fault, timeout or interrupt


@dataclass(frozen=True, slots=True)
class LoadedProgram:
    image: LoadedImage
    space: AddressSpace
    stack_top: int


class Monitor:
    """Owns the object store and the guest's output streams; each ``run`` boots a fresh machine."""

    def __init__(self, store: ObjectStore, stdout: BinaryIO | None = None, stderr: BinaryIO | None = None,
                 ram_size: int = DEFAULT_RAM, verbose: bool = False, library_dirs: Sequence[Path] = (),
                 environment: Mapping[str, str] | None = None) -> None:  # fmt: skip
        self.store = store
        self.stdout = stdout or sys.stdout.buffer
        self.stderr = stderr or sys.stderr.buffer
        self.ram_size = ram_size
        self.verbose = verbose
        self.library_dirs = tuple(library_dirs)
        self.environment = dict(os.environ if environment is None else environment)
        self.symbols = Symbolizer()
        self._objects: dict[str, ObjId] = {}

    def run(self, path: str, argv: Sequence[str] = (), timeout: float | None = None) -> RunResult:
        linked = self.link(path)
        with Machine(self.ram_size) as machine:
            program = self.start(machine, linked, [path, *argv])
            stop = machine.run(linked.entry, timeout)
            result = self._result(stop, program, timeout)
        if result.message is not None:
            self.stderr.write(result.message.encode() + b"\n")
            self.stderr.flush()
        return result

    def link(self, path: str) -> LinkedProgram:
        program = ElfImage.open(path)
        search = LibrarySearch.for_program(Path(path), self.library_dirs, self._runtime_dir(), self.store)
        return Linker(search, self.store).link(program, path)

    def start(self, machine: Machine, linked: LinkedProgram, argv: Sequence[str]) -> LoadedProgram:
        """Map ``linked`` into a fresh compartment and make the machine ready to run it (steps 2-4)."""
        name = os.path.basename(linked.program.name)
        space = self._space(machine, name)
        for library in linked.libraries:
            map_image(space, library.loaded)
            self.symbols.add(library.loaded)
        heap = Heap(slot_base(HEAP_SLOT) + NULL_PAGE_SIZE, SLOT_SIZE - 2 * NULL_PAGE_SIZE)
        self._map_fresh(space, HEAP_SLOT, f"{name}:heap")
        thread = build_thread_area(slot_base(THREAD_SLOT) + NULL_PAGE_SIZE, linked.tls, thread_id=1)
        self._map_fresh(space, THREAD_SLOT, f"{name}:thread", thread.base, thread.data)
        env = [f"{k}={v}".encode() for k, v in self.environment.items()]
        top = slot_base(STACK_SLOT) + NULL_PAGE_SIZE + STACK_SIZE
        startup = build_startup(top, [a.encode() for a in argv], env, linked.init, linked.fini, PROGRAM_COMPARTMENT)
        self._map_fresh(space, STACK_SLOT, f"{name}:stack", startup.base, startup.data)
        machine.on_hypercall = Hypercalls(self.stdout, self.stderr, heap)
        machine.switch_space(space)
        machine.set_thread_pointer(thread.thread_pointer)
        machine.cpu.gpr[RSP] = startup.rsp
        machine.cpu.gpr[RDI] = startup.rdi
        if self.verbose:
            self._describe(linked, name, machine)
        return LoadedProgram(linked.program.loaded, space, startup.rsp)

    def _space(self, machine: Machine, name: str) -> AddressSpace:
        assert machine.mem is not None and machine.frames is not None
        space = AddressSpace(machine.mem, machine.frames, FrameCache(machine.frames), name)
        space.tables.set_pml4_entry(KERNEL_PML4_INDEX, machine.kernel_pml4_entry)
        return space

    def _map_fresh(self, space: AddressSpace, slot: int, label: str, at: int = 0, content: bytes = b"") -> None:
        """A new volatile object in ``slot`` (RW-, NX), with ``content`` written at virtual address ``at``."""
        obj = self.store.create(lifetime=Lifetime.VOLATILE)
        if content:
            obj.write(at - slot_base(slot), content)
        space.map_object(slot, ObjectBacking(obj), Prot.READ | Prot.WRITE)
        self.symbols.add_region(label, slot_base(slot), slot_base(slot + 1))
        self._objects[label] = obj.id

    def _runtime_dir(self) -> Path | None:
        try:
            return Toolchain.locate().runtime_dir
        except TwzEmuError:
            return None

    def _describe(self, linked: LinkedProgram, name: str, machine: Machine) -> None:
        lines = [f"twzemu: linked {name}: {len(linked.libraries)} images, {linked.relocations} relocations"]
        for library in linked.libraries:
            loaded = library.loaded
            lines.append(
                f"twzemu: loaded {loaded.name}: text {loaded.text.id} slot {loaded.text_slot} "
                f"({slot_base(loaded.text_slot):#x}), data {loaded.data.id} slot {loaded.text_slot + 1}, "
                f"compartment {name}"
            )
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
        line = describe_fault(fault, self._culprit(fault, program), self.symbols, self._instruction(fault, program))
        return RunResult(STATUS_KILLED, stop, line)

    @staticmethod
    def _instruction(fault: Fault, program: LoadedProgram) -> str | None:
        if fault.vector is Vector.PAGE_FAULT:
            return None
        try:
            return instruction_at(program.space.read_virtual(fault.rip, 16), fault.rip)
        except TwzEmuError:
            return None

    @staticmethod
    def _culprit(fault: Fault, program: LoadedProgram) -> Culprit:
        name = program.image.name
        if fault.address is None:
            return Culprit(name, name, violation=False)
        mapping = program.space.mapping_at(fault.address)
        if mapping is None:
            return Culprit("no object", name, violation=False)
        if fault.address & SLOT_OFFSET_MASK < NULL_PAGE_SIZE:
            return Culprit(f"the null page of {name}", name, violation=False)
        return Culprit(name, name, violation=True)
