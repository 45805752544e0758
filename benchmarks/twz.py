"""The twzemu side of a benchmark: a whole guest program on a fresh machine, timing ``Machine.run`` only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import BinaryIO

from twzemu.elf.image import ElfImage, SegmentFlags
from twzemu.loader import SLOT_SIZE
from twzemu.machine.events import StopReason
from twzemu.machine.machine import Machine
from twzemu.mmu.space import AddressSpace
from twzemu.monitor.monitor import Monitor
from twzemu.monitor.threads import Schedule
from twzemu.objects.store import ObjectStore

from .raw import RAM


class TwzemuGuest:
    def __init__(self, path: Path, sink: BinaryIO, schedule: Schedule | None = None) -> None:
        self.path = path
        self.image = ElfImage.open(path)
        self.sink = sink
        self.schedule = schedule

    def time_run(self, warm_data: bool = False, raw_hypercalls: bool = False) -> float:
        """Seconds in ``Machine.run``. ``warm_data``: give every data page a frame first, then drop the page
        table entries, so each first touch is a fault that only installs an entry (no new frame).
        ``raw_hypercalls``: let the program's own code make hypercalls (normally only compartment 0's may)."""
        monitor = Monitor(ObjectStore.in_memory(), self.sink, self.sink, ram_size=RAM, schedule=self.schedule)
        linked = monitor.link(str(self.path))
        with Machine(monitor.ram_size) as machine:
            program = monitor.start(machine, linked, [str(self.path)]).program
            if warm_data:
                self._warm(program.space, program.image.base + SLOT_SIZE)
            entry: int | None = linked.entry
            if raw_hypercalls:  # measure the hypercall path itself, as compartment 0's gate code uses it
                entry = self._to_main(machine, linked.entry, program.image.base)
                machine.hypercalls_allowed = True  # after the C library's start-up, whose crossings reset it
            started = time.perf_counter()
            stop = machine.run(entry)
            elapsed = time.perf_counter() - started
        if stop.reason is not StopReason.EXIT:
            raise SystemExit(f"benchmark guest {self.image.path} did not exit: {stop}")
        return elapsed

    def _to_main(self, machine: Machine, entry: int, base: int) -> None:
        """Run the start-up (initialisers included) up to ``main``; the guest continues from there."""
        main = next(symbol for symbol in self.image.symbols if symbol.st_name == "main")
        remove = machine.break_at([base + main.st_value])
        stop = machine.run(entry)
        remove()
        if stop.reason is not StopReason.BREAKPOINT:
            raise SystemExit(f"benchmark guest {self.image.path} did not reach main: {stop}")

    def _warm(self, space: AddressSpace, data_base: int) -> None:
        for segment in self.image.segments:
            if segment.p_flags & SegmentFlags.W:
                first = max(segment.p_vaddr - SLOT_SIZE, 0x1000) & ~0xFFF
                for offset in range(first, segment.p_vaddr - SLOT_SIZE + segment.p_memsz, 0x1000):
                    space.read_virtual(data_base + offset, 1)
        mapping = space.mapping_at(data_base)
        assert mapping is not None
        space.unmap_slot(mapping.slot)
        space.map_object(mapping.slot, mapping.backing, mapping.prot)
