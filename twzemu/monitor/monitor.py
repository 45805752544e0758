"""The monitor: loads a program into a compartment and runs it on the machine.

``Monitor.run(path, argv)`` in steps:

1. read and validate the ELF file (``elf.ElfImage``) — before any CPU exists, so bad input costs nothing;
2. boot a ``Machine``; build the program's address space (one CR3) with the monitor's supervisor window;
3. load the program into slots (2, 3) and give it a stack object in slot 4;
4. run from the entry point with rsp 16-byte aligned and every other register zero;
5. turn the stop into an exit status (DESIGN.md "Guest ABI"): the guest's code, 139 for a fault that kills the
   program (with its one-line report), 124 on timeout, 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import BinaryIO

from ..debug.disasm import instruction_at
from ..debug.symbols import Symbolizer
from ..elf.image import ElfImage
from ..errors import TwzEmuError
from ..loader import STACK_SIZE, LoadedImage, ObjectBacking, load_program, slot_base
from ..machine.cpustate import RSP
from ..machine.events import Fault, Stop, StopReason
from ..machine.machine import DEFAULT_RAM, KERNEL_PML4_INDEX, Machine
from ..machine.x86 import Vector
from ..mmu.pte import Prot
from ..mmu.space import NULL_PAGE_SIZE, SLOT_OFFSET_MASK, AddressSpace, FrameCache
from ..objects.object import Lifetime
from ..objects.store import ObjectStore
from .hypercalls import Hypercalls
from .report import STATUS_INTERRUPTED, STATUS_KILLED, STATUS_TIMEOUT, Culprit, describe_fault

PROGRAM_TEXT_SLOT = 2
STACK_SLOT = 4


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
                 ram_size: int = DEFAULT_RAM, verbose: bool = False) -> None:  # fmt: skip
        self.store = store
        self.stdout = stdout or sys.stdout.buffer
        self.stderr = stderr or sys.stderr.buffer
        self.ram_size = ram_size
        self.verbose = verbose
        self.symbols = Symbolizer()

    def run(self, path: str, timeout: float | None = None) -> RunResult:
        image = ElfImage.open(path)
        with Machine(self.ram_size) as machine:
            program = self.start(machine, image, os.path.basename(path))
            stop = machine.run(program.image.entry, timeout)
            result = self._result(stop, program, timeout)
        if result.message is not None:
            self.stderr.write(result.message.encode() + b"\n")
            self.stderr.flush()
        return result

    def start(self, machine: Machine, image: ElfImage, name: str) -> LoadedProgram:
        """Load ``image`` and make the machine ready to run it from its entry point (steps 2-4)."""
        program = self.load(machine, image, name)
        machine.on_hypercall = Hypercalls(self.stdout, self.stderr)
        machine.switch_space(program.space)
        machine.cpu.gpr[RSP] = program.stack_top
        if self.verbose:
            self.stderr.write(f"twzemu: cpu: {machine.mode()}\n".encode())
        return program

    def load(self, machine: Machine, image: ElfImage, name: str) -> LoadedProgram:
        assert machine.mem is not None and machine.frames is not None
        space = AddressSpace(machine.mem, machine.frames, FrameCache(machine.frames), name)
        space.tables.set_pml4_entry(KERNEL_PML4_INDEX, machine.kernel_pml4_entry)
        loaded = load_program(space, self.store, image, name, PROGRAM_TEXT_SLOT)
        self.symbols.add(loaded)
        stack = self.store.create(lifetime=Lifetime.VOLATILE)
        space.map_object(STACK_SLOT, ObjectBacking(stack), Prot.READ | Prot.WRITE)
        self.symbols.add_region(f"{name}:stack", slot_base(STACK_SLOT), slot_base(STACK_SLOT + 1))
        if self.verbose:
            self._describe(loaded, stack.id)
        return LoadedProgram(loaded, space, slot_base(STACK_SLOT) + NULL_PAGE_SIZE + STACK_SIZE)

    def _describe(self, loaded: LoadedImage, stack_id: object) -> None:
        lines = [
            f"twzemu: loaded {loaded.name}: text {loaded.text.id} slot {loaded.text_slot} "
            f"({slot_base(loaded.text_slot):#x}), data {loaded.data.id} slot {loaded.text_slot + 1}, "
            f"compartment {loaded.name}",
            f"twzemu: stack {stack_id} slot {STACK_SLOT} ({slot_base(STACK_SLOT):#x})",
        ]
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
