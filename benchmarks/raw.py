"""The baseline: raw Unicorn running the same guest function with paging on and no hooks.

The guest's slot pair is laid out by twzemu's own (pure) loader and page tables, every page the function
touches is made present up front, and the function runs at CPL0 from a call with a sentinel return address
— so the only difference from twzemu is what twzemu adds: CPL3, its hooks and its run loop.
"""

from __future__ import annotations

import ctypes
import time
from pathlib import Path

import unicorn
from unicorn import unicorn_const as UC
from unicorn import x86_const as X

from twzemu.elf.image import ElfImage, SegmentFlags
from twzemu.linker.link import Linker
from twzemu.linker.search import LibrarySearch
from twzemu.loader import ObjectBacking, map_image, slot_base
from twzemu.mmu.physmem import FrameAllocator, PhysicalMemory
from twzemu.mmu.pte import Prot
from twzemu.mmu.space import Access, AddressSpace, FrameCache
from twzemu.objects.store import ObjectStore
from twzemu.sdk import RUNTIME_LIBRARY
from twzemu.toolchain import Toolchain

RAM = 128 << 20  # both sides use the same RAM size: host memory placement shows in the timings
STACK_SLOT = 0x400
STACK_PAGES = 4
STACK_OFFSET = 0x1000

CR0_PG, CR4_PAE, EFER = 1 << 31, 1 << 5, 0xC000_0080
EFER_LME_LMA_NXE = (1 << 8) | (1 << 10) | (1 << 11)


class RawUnicorn:
    """One Unicorn with the guest image mapped; ``time_call(n)`` times ``function(n)``."""

    def __init__(self, path: Path, function: str) -> None:
        image = ElfImage.open(path)
        symbol = image.symbol_named(function)
        if symbol is None:
            raise SystemExit(f"{path}: no symbol {function}")
        self.mem = PhysicalMemory(RAM)
        frames = FrameAllocator(self.mem, 0x10000)
        space = AddressSpace(self.mem, frames, FrameCache(frames), "raw")
        store = ObjectStore.in_memory()
        search = LibrarySearch.for_program(path, (), Toolchain.locate().runtime_dir, None, RUNTIME_LIBRARY)
        linked = Linker(search, store).link(image, str(path))
        for library in linked.libraries:
            map_image(space, library.loaded)
            _make_present(space, library.loaded.image, library.base)
        loaded = linked.program.loaded
        stack = store.create()
        space.map_object(STACK_SLOT, ObjectBacking(stack), Prot.READ | Prot.WRITE)
        stack_base = slot_base(STACK_SLOT)
        for page in range(STACK_PAGES):
            space.resolve_fault(stack_base + STACK_OFFSET + page * 0x1000, Access.WRITE)
        self.entry = loaded.base + symbol.st_value
        # The return address: one byte into the program's entry point: executable, never reached from the
        # function, and not at a page start (emu_start probes the byte before its end address).
        self.sentinel = loaded.entry + 1
        self.stack_top = stack_base + STACK_OFFSET + STACK_PAGES * 0x1000 - 8
        self.uc = unicorn.Uc(UC.UC_ARCH_X86, UC.UC_MODE_64)
        self._buffer = (ctypes.c_char * RAM).from_buffer(self.mem.buffer)
        self.uc.mem_map_ptr(0, RAM, UC.UC_PROT_ALL, ctypes.addressof(self._buffer))
        self.uc.reg_write(X.UC_X86_REG_CR3, space.cr3)
        self.uc.reg_write(X.UC_X86_REG_CR4, self.uc.reg_read(X.UC_X86_REG_CR4) | CR4_PAE)
        self.uc.msr_write(EFER, self.uc.msr_read(EFER) | EFER_LME_LMA_NXE)
        self.uc.reg_write(X.UC_X86_REG_CR0, self.uc.reg_read(X.UC_X86_REG_CR0) | CR0_PG | 1)
        self.space = space

    def time_call(self, argument: int) -> float:
        uc = self.uc
        uc.reg_write(X.UC_X86_REG_RSP, self.stack_top)
        self.space.write_virtual(self.stack_top, self.sentinel.to_bytes(8, "little"))
        uc.reg_write(X.UC_X86_REG_RDI, argument)
        started = time.perf_counter()
        uc.emu_start(self.entry, self.sentinel)
        elapsed = time.perf_counter() - started
        if uc.reg_read(X.UC_X86_REG_RIP) != self.sentinel:
            raise SystemExit(f"raw Unicorn did not return from the function (rip {uc.reg_read(X.UC_X86_REG_RIP):#x})")
        return elapsed


def _make_present(space: AddressSpace, image: ElfImage, base: int) -> None:
    for segment in image.segments:
        access = Access.WRITE if segment.p_flags & SegmentFlags.W else Access.FETCH
        start = max(segment.p_vaddr, 0x1000) & ~0xFFF
        for page in range(start, segment.p_vaddr + segment.p_memsz, 0x1000):
            space.resolve_fault(base + page, access)


def instructions_per_iteration(path: Path, function: str) -> float:
    """Count instructions of ``function(n)`` for two n with a code hook: the slope is per iteration."""
    counts = []
    for n in (1000, 2000):
        raw = RawUnicorn(path, function)
        executed = [0]

        def count(_uc: object, _address: int, _size: int, _data: object, executed: list[int] = executed) -> None:
            executed[0] += 1

        raw.uc.hook_add(UC.UC_HOOK_CODE, count)
        raw.time_call(n)
        counts.append(executed[0])
    return (counts[1] - counts[0]) / 1000
