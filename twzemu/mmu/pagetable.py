"""Real x86-64 4-level page tables, stored in emulated physical memory.

Data flow: ``PageTables`` owns a PML4 frame (``root``, the value the machine loads into CR3) and allocates
PDPT/PD/PT frames from the ``FrameAllocator`` on demand. Every operation reads and writes the entries in RAM
through ``PhysicalMemory.view`` - there is no shadow copy - so ``walk`` reports exactly what Unicorn's page
walk will find, and the property tests compare that against a reference model.

Only 4 KiB leaves are written (SDM Vol. 3A Table 4-20). Intermediate entries grant everything their half of
the address space allows (``pte.table_entry_flags``); the leaf decides. When the last present entry of a
table goes away the table frame is freed and its parent entry cleared, so unmapping everything gives every
table frame back.

Sharing the upper half: the machine writes its monitor-only pages (a PDPT, a PD, a PT in reserved frames) itself
and installs the same PML4 entry in every address space with ``set_pml4_entry(256, entry)``
(``Machine.kernel_pml4_entry``); a ``PageTables`` that owns such a subtree can hand it out with
``export_pml4_entry`` instead, which pins that PDPT so it is never freed while shared. Tables reached through an
installed entry are not owned by the receiving ``PageTables``: it walks them but refuses to write into them, so
a shared PDPT changes only through its owner.

Flushing is the caller's job: removing a present entry or changing its permissions leaves stale translations
in the CPU's TLB (SDM Vol. 3A §4.10.4); making a not-present entry present never does (§4.10.2.3: the CPU does
not cache not-present entries). ``AddressSpace`` turns the first case into its ``on_change`` callback.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from twzemu.errors import MappingError
from twzemu.mmu.physmem import PAGE_MASK, FrameAllocator, PhysicalMemory
from twzemu.mmu.pte import (
    ADDR_MASK,
    ENTRIES_PER_TABLE,
    ENTRY_SIZE,
    INDEX_BITS,
    USER_TOP,
    VA_MASK,
    Level,
    Prot,
    Pte,
    canonical,
    encode_leaf,
    is_canonical,
    leaf_flags,
    level_span,
    table_entry_flags,
    table_index,
)
from twzemu.objects.layout import PAGE_SHIFT

_ENTRY = struct.Struct("<Q")
_TABLE = struct.Struct(f"<{ENTRIES_PER_TABLE}Q")
PT_SPAN_SHIFT = PAGE_SHIFT + INDEX_BITS  # one page table maps 2 MiB: the key of the leaf-table cache

_PRESENT = int(Pte.PRESENT)
_WRITABLE = int(Pte.WRITABLE)
_USER = int(Pte.USER)
_HUGE = int(Pte.HUGE)
_NX = int(Pte.NX)
# Bits the CPU itself sets in RAM during its walk (SDM Vol. 3A §4.8); they never count as a change.
_CPU_SET = int(Pte.ACCESSED | Pte.DIRTY)
_NON_LEAF_LEVELS = (Level.PML4, Level.PDPT, Level.PD)


@dataclass(frozen=True, slots=True)
class Translation:
    """What the CPU would find for one page: the frame and the effective rights over all four levels."""

    frame: int
    prot: Prot
    user: bool
    present: bool


class PageTables:
    """One tree of 4-level page tables rooted at ``root`` (the CR3 value)."""

    __slots__ = ("_frames", "_mem", "_owned", "_pinned", "_view", "leaf_tables", "root")

    def __init__(self, mem: PhysicalMemory, frames: FrameAllocator) -> None:
        self._mem = mem
        self._view = mem.view
        self._frames = frames
        self.root = frames.alloc(reserve=True)
        self._owned: set[int] = {self.root}  # table frames this tree allocated and may write or free
        self._pinned: set[int] = set()  # owned tables shared with other trees: never freed by pruning
        # (vaddr & VA_MASK) >> PT_SPAN_SHIFT -> the owned PT frame mapping that 2 MiB. Read-only for others
        # (AddressSpace's fault path aliases it), so it is mutated in place and never rebound.
        self.leaf_tables: dict[int, int] = {}

    @property
    def num_tables(self) -> int:
        """How many table frames (the PML4 included) this tree owns."""
        return len(self._owned)

    # -- raw entries -------------------------------------------------------------------------------

    def _get(self, pa: int) -> int:
        return _ENTRY.unpack_from(self._view, pa)[0]

    def _set(self, pa: int, entry: int) -> None:
        _ENTRY.pack_into(self._view, pa, entry)

    def _child(self, entry: int, level: int, vaddr: int) -> int:
        if entry & _HUGE:
            raise MappingError(f"large page in the {Level(level).name} entry of {vaddr:#x}: 4 KiB pages only")
        return entry & ADDR_MASK

    def leaf_table(self, vaddr: int) -> int:
        """The PT frame for the canonical ``vaddr``, creating the missing tables on the way."""
        table = self._leaf_table(vaddr, create=True)
        assert table is not None  # create=True either returns a table or raises
        return table

    def _leaf_table(self, vaddr: int, create: bool) -> int | None:
        """The PT frame for ``vaddr`` (owned, so writable), creating missing tables if ``create``."""
        key = (vaddr & VA_MASK) >> PT_SPAN_SHIFT
        table = self.leaf_tables.get(key)
        if table is not None:
            return table
        table = self.root
        for level in _NON_LEAF_LEVELS:
            entry_pa = table + table_index(vaddr, level) * ENTRY_SIZE
            entry = self._get(entry_pa)
            if entry & _PRESENT:
                table = self._child(entry, level, vaddr)
            elif create:
                table = self._new_table(entry_pa, vaddr)
            else:
                return None
            if table not in self._owned:
                if create:
                    raise _shared_table_error(vaddr)
                return None
        self.leaf_tables[key] = table
        return table

    def _new_table(self, entry_pa: int, vaddr: int) -> int:
        table = self._frames.alloc(reserve=True)
        self._owned.add(table)
        self._set(entry_pa, table | table_entry_flags(vaddr < USER_TOP))
        return table

    def exchange_leaf(self, vaddr: int, entry: int) -> int:
        """Store the already-encoded leaf ``entry`` for the page at ``vaddr``; return the previous entry.

        The fault path's primitive: no validation, so ``vaddr`` must be a canonical, page-aligned address
        outside any shared table and ``entry`` must come from ``encode_leaf``/``leaf_flags``.
        """
        table = self.leaf_tables.get((vaddr & VA_MASK) >> PT_SPAN_SHIFT)
        if table is None:
            table = self._leaf_table(vaddr, create=True)
        pa = table + ((vaddr >> PAGE_SHIFT) & (ENTRIES_PER_TABLE - 1)) * ENTRY_SIZE
        old = _ENTRY.unpack_from(self._view, pa)[0]
        _ENTRY.pack_into(self._view, pa, entry)
        return old

    # -- single pages ------------------------------------------------------------------------------

    def map_page(self, vaddr: int, frame_pa: int, prot: Prot, user: bool = True) -> None:
        """Map the 4 KiB page at ``vaddr`` to ``frame_pa`` with ``prot``; never replaces a present page."""
        _check_page(vaddr, user)
        entry = encode_leaf(frame_pa, prot, user)
        if frame_pa >= self._mem.size:
            raise MappingError(f"frame {frame_pa:#x} for {vaddr:#x} is outside emulated RAM")
        if self._leaf_entry(vaddr) & _PRESENT:
            raise MappingError(f"{vaddr:#x} is already mapped: unmap it first")
        self.exchange_leaf(vaddr, entry)

    def _leaf_entry(self, vaddr: int) -> int:
        table = self._leaf_table(vaddr, create=False)
        return 0 if table is None else self._get(table + table_index(vaddr, Level.PT) * ENTRY_SIZE)

    def unmap_page(self, vaddr: int) -> int | None:
        """Remove the page at ``vaddr``; the frame it mapped, or None if it was not mapped."""
        _check_page(vaddr, user=False)
        frames = self.unmap_range(vaddr, 1 << PAGE_SHIFT)
        return frames[0] if frames else None

    def protect_page(self, vaddr: int, prot: Prot) -> bool:
        """Give the mapped page at ``vaddr`` rights ``prot`` (keeping its frame and U/S); True if changed."""
        _check_page(vaddr, user=False)
        if not self._leaf_entry(vaddr) & _PRESENT:
            raise MappingError(f"cannot protect {vaddr:#x}: not mapped")
        return self.protect_range(vaddr, 1 << PAGE_SHIFT, prot) > 0

    def walk(self, vaddr: int) -> Translation | None:
        """Translate ``vaddr`` the way the CPU does (SDM Vol. 3A §4.5, §4.6), from the entries in RAM.

        None if some level has no entry; otherwise the leaf's frame with the rights of all four levels
        combined: writable and user only if every level says so, executable only if no level sets NX.
        """
        if not is_canonical(vaddr):
            raise MappingError(f"non-canonical virtual address {vaddr:#x}")
        table = self.root
        combined = _WRITABLE | _USER
        nx = 0
        for level in _NON_LEAF_LEVELS:
            entry = self._get(table + table_index(vaddr, level) * ENTRY_SIZE)
            if not entry & _PRESENT:
                return None
            combined &= entry
            nx |= entry & _NX
            table = self._child(entry, level, vaddr)
        entry = self._get(table + table_index(vaddr, Level.PT) * ENTRY_SIZE)
        if not entry:
            return None
        combined &= entry
        nx |= entry & _NX
        prot = Prot.READ
        if combined & _WRITABLE:
            prot |= Prot.WRITE
        if not nx:
            prot |= Prot.EXEC
        return Translation(
            frame=entry & ADDR_MASK, prot=prot, user=bool(combined & _USER), present=bool(entry & _PRESENT)
        )

    # -- ranges ------------------------------------------------------------------------------------

    def unmap_range(self, vaddr: int, length: int) -> list[int]:
        """Remove every present page in ``[vaddr, vaddr + length)``; the frames they mapped, in address order.

        Tables left empty are freed (pinned and shared ones excepted).
        """
        start, end = _check_range(vaddr, length)
        removed = []
        for entry_pa, entry, _ in self._present_leaves(self.root, Level.PML4, 0, start, end):
            self._set(entry_pa, 0)
            removed.append(entry & ADDR_MASK)
        if removed:
            self._prune(self.root, Level.PML4, 0, start, end)
        return removed

    def protect_range(self, vaddr: int, length: int, prot: Prot) -> int:
        """Give every present page in the range rights ``prot``; how many entries changed."""
        start, end = _check_range(vaddr, length)
        flags = {False: leaf_flags(prot, False), True: leaf_flags(prot, True)}
        changed = 0
        for entry_pa, entry, _ in self._present_leaves(self.root, Level.PML4, 0, start, end):
            new = (entry & ADDR_MASK) | flags[bool(entry & _USER)]
            if new != entry & ~_CPU_SET:
                self._set(entry_pa, new)
                changed += 1
        return changed

    def iter_present(self, vaddr: int, length: int) -> Iterator[tuple[int, int]]:
        """``(vaddr, raw leaf entry)`` of every present page in the range, in address order."""
        start, end = _check_range(vaddr, length)
        for _, entry, page48 in self._present_leaves(self.root, Level.PML4, 0, start, end):
            yield canonical(page48), entry

    def _children(self, table: int, level: int, base: int, start: int, end: int) -> Iterator[tuple[int, int]]:
        """``(index, entry)`` of the present entries of ``table`` whose span meets ``[start, end)``."""
        span = level_span(level)
        first = max(start - base, 0) // span
        last = min((end - base - 1) // span, ENTRIES_PER_TABLE - 1)
        entries = _TABLE.unpack_from(self._view, table)
        for index in range(first, last + 1):
            entry = entries[index]
            if entry & _PRESENT:
                yield index, entry

    def _present_leaves(
        self, table: int, level: int, base: int, start: int, end: int
    ) -> Iterator[tuple[int, int, int]]:
        """``(entry address, entry, 48-bit page address)`` of present leaves; refuses shared tables."""
        span = level_span(level)
        for index, entry in self._children(table, level, base, start, end):
            addr = base + index * span
            if level == Level.PT:
                yield table + index * ENTRY_SIZE, entry, addr
                continue
            child = self._child(entry, level, canonical(addr))
            if child not in self._owned:
                raise _shared_table_error(canonical(addr))
            yield from self._present_leaves(child, level - 1, addr, start, end)

    def _prune(self, table: int, level: int, base: int, start: int, end: int) -> None:
        """Free the owned, unpinned tables under ``table`` that no longer map anything in the range."""
        span = level_span(level)
        for index, entry in self._children(table, level, base, start, end):
            child = entry & ADDR_MASK
            if child not in self._owned:
                continue
            addr = base + index * span
            if level - 1 > Level.PT:
                self._prune(child, level - 1, addr, start, end)
            if child not in self._pinned and self._mem.is_zero_frame(child):
                self._set(table + index * ENTRY_SIZE, 0)
                if level - 1 == Level.PT:
                    self.leaf_tables.pop(addr >> PT_SPAN_SHIFT, None)
                self._owned.discard(child)
                self._frames.free(child)

    # -- sharing the upper half --------------------------------------------------------------------

    def export_pml4_entry(self, index: int) -> int:
        """The PML4 entry ``index``, creating its PDPT if needed and pinning it so it is never freed here.

        Install the result in other trees with ``set_pml4_entry``; keep this tree alive while they use it.
        """
        _check_pml4_index(index)
        entry_pa = self.root + index * ENTRY_SIZE
        entry = self._get(entry_pa)
        if not entry & _PRESENT:
            self._new_table(entry_pa, canonical(index * level_span(Level.PML4)))
            entry = self._get(entry_pa)
        table = entry & ADDR_MASK
        if table in self._owned:
            self._pinned.add(table)
        return entry

    def get_pml4_entry(self, index: int) -> int:
        """The raw PML4 entry ``index``."""
        _check_pml4_index(index)
        return self._get(self.root + index * ENTRY_SIZE)

    def set_pml4_entry(self, index: int, entry: int) -> None:
        """Install a PML4 entry built elsewhere (a shared supervisor PDPT), or 0 to remove one.

        The tables behind it stay their owner's: this tree walks them but never writes into or frees them.
        Removing or replacing a present entry requires a TLB flush by the caller.
        """
        _check_pml4_index(index)
        entry_pa = self.root + index * ENTRY_SIZE
        current = self._get(entry_pa)
        if current & _PRESENT and current & ADDR_MASK in self._owned:
            raise MappingError(f"PML4 entry {index} holds this tree's own tables: unmap them first")
        if entry & _PRESENT and (entry & ADDR_MASK) >= self._mem.size:
            raise MappingError(f"PML4 entry {entry:#x} points outside emulated RAM")
        self._set(entry_pa, entry)

    def release(self) -> None:
        """Free every table frame this tree owns (the PML4 included); the tree is unusable afterwards."""
        for table in self._owned:
            self._frames.free(table)
        self._owned.clear()
        self._pinned.clear()
        self.leaf_tables.clear()


def _shared_table_error(vaddr: int) -> MappingError:
    return MappingError(f"{vaddr:#x} lies in a table shared by set_pml4_entry: change it through its owner")


def _check_page(vaddr: int, user: bool) -> None:
    if user:
        if not 0 <= vaddr < USER_TOP:
            raise MappingError(f"user page {vaddr:#x} is outside user space [0, {USER_TOP:#x})")
    elif not is_canonical(vaddr):
        raise MappingError(f"non-canonical virtual address {vaddr:#x}")
    if vaddr & PAGE_MASK:
        raise MappingError(f"virtual address {vaddr:#x} is not 4 KiB aligned")


def _check_range(vaddr: int, length: int) -> tuple[int, int]:
    """``[start, end)`` in 48-bit form, for a page-aligned range inside one half of the address space."""
    _check_page(vaddr, user=False)
    if length <= 0 or length & PAGE_MASK:
        raise MappingError(f"length {length:#x} at {vaddr:#x} is not a positive multiple of 4 KiB")
    start = vaddr & VA_MASK
    end = start + length
    if (start < USER_TOP) != (end - 1 < USER_TOP) or end - 1 > VA_MASK:
        raise MappingError(f"range {vaddr:#x}+{length:#x} crosses the end of its half of the address space")
    return start, end


def _check_pml4_index(index: int) -> None:
    if not 0 <= index < ENTRIES_PER_TABLE:
        raise MappingError(f"PML4 index {index} is outside 0..{ENTRIES_PER_TABLE - 1}")
