"""Address spaces: objects mapped into 1 GiB slots, backed lazily, one set of page tables (one CR3) each.

Data flow:

1. The monitor describes an object to map as a ``Backing`` (its ``key`` and the content of each page) and
   calls ``AddressSpace.map_object(slot, backing, prot)``: only a ``SlotMapping`` is recorded (plus the
   ``eager_pages`` it asks for); no frame and no page-table entry exists yet for the other pages.
2. The guest touches a page of the slot; the CPU finds no entry and raises #PF; the machine calls
   ``resolve_fault(cr2, access)``. If the slot's ``prot`` permits the access, the page's frame comes from the
   shared ``FrameCache`` (allocated and filled from ``Backing.initial_page`` on first use by any address
   space), its entry is written and the CPU retries (``BACKED``). Otherwise the monitor decides what the
   fault means (``DENIED`` or ``UNMAPPED``).
3. Because frames are cached per (object, page index) in one ``FrameCache`` per ``PhysicalMemory``, an
   object mapped in several address spaces - with different rights in each - is the same memory in all.
4. ``unmap_slot``/``protect_slot`` rewrite the present entries and call ``on_change`` (the machine flushes
   Unicorn's TLB) whenever a present entry is removed or changed; backing a not-present page never needs it
   (the CPU does not cache not-present entries, SDM Vol. 3A §4.10.2.3).

Slot ``n`` covers virtual addresses ``[n << 30, (n + 1) << 30)`` and maps page ``i`` of its object at
``(n << 30) + (i << 12)``. Page 0 of every slot is Twizzler's null page: it is never mapped, in any slot.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from twzemu.errors import MappingError
from twzemu.mmu.pagetable import PT_SPAN_SHIFT, PageTables
from twzemu.mmu.physmem import PAGE_MASK, FrameAllocator, PhysicalMemory
from twzemu.mmu.pte import (
    ENTRY_SIZE,
    INDEX_MASK,
    USER_TOP,
    Prot,
    Pte,
    effective_prot,
    leaf_flags,
)
from twzemu.objects.layout import MAX_OBJECT_SIZE, NULL_PAGE_SIZE, PAGE_SHIFT, PAGE_SIZE

SLOT_SIZE = MAX_OBJECT_SIZE  # a slot maps one whole object
SLOT_SHIFT = SLOT_SIZE.bit_length() - 1
SLOT_OFFSET_MASK = SLOT_SIZE - 1
NUM_SLOTS = USER_TOP >> SLOT_SHIFT  # slots of the user half: 0 .. 131071
PAGES_PER_SLOT = SLOT_SIZE >> PAGE_SHIFT

_PRESENT = int(Pte.PRESENT)
_pack_entry = struct.Struct("<Q").pack_into


class Access(enum.IntEnum):
    """The kind of access that faulted; each value is the ``Prot`` bit the access needs."""

    READ = Prot.READ
    WRITE = Prot.WRITE
    FETCH = Prot.EXEC


class FaultOutcome(enum.Enum):
    """What ``resolve_fault`` made of a page fault."""

    BACKED = "backed"  # the page is now present: retry the instruction
    DENIED = "denied"  # an object is mapped there but its rights do not allow this access
    UNMAPPED = "unmapped"  # no object in that slot, or the null page


# Module-level aliases: attribute lookups on an Enum class cost ~75 ns each on the fault path.
_BACKED = FaultOutcome.BACKED
_DENIED = FaultOutcome.DENIED
_UNMAPPED = FaultOutcome.UNMAPPED


class Backing(Protocol):
    """An object as the MMU sees it: an identity and the initial content of its pages."""

    @property
    def key(self) -> Hashable:
        """Identity of the object (e.g. its ``ObjId``); equal keys share frames."""
        ...

    def initial_page(self, index: int) -> bytes | None:
        """Content of page ``index`` (at most 4 KiB, zero-padded) when first touched; None for zeros."""
        ...

    # Optionally ``guard_stride: int``: pages never backed, wherever the object is mapped: every page whose index
    # is a multiple of it (the stacks' guard pages); a fault there is ``DENIED``.


class ObjectFrames:
    """The frames of one object, shared by every address space that maps it (page index -> frame)."""

    __slots__ = ("_frames_alloc", "_mem", "backing", "frames", "mappings")

    def __init__(self, backing: Backing, allocator: FrameAllocator) -> None:
        self.backing = backing
        self.frames: dict[int, int] = {}
        self.mappings = 0  # slots, across all address spaces, that map this object
        self._frames_alloc = allocator
        self._mem = allocator.mem

    def frame(self, index: int) -> int:
        """The frame of page ``index``, allocated and initialised on first use."""
        frame = self.frames.get(index)
        return self.materialize(index) if frame is None else frame

    def reset(self) -> None:
        """Every page of it backed already as it began (its backing's first content, zeros past it)."""
        for index, frame in self.frames.items():
            self._mem.write(frame, (self.backing.initial_page(index) or b"").ljust(PAGE_SIZE, b"\0"))

    def materialize(self, index: int) -> int:
        """Allocate and fill the frame of page ``index`` (which has none yet)."""
        data = self.backing.initial_page(index)
        if data is not None and len(data) > PAGE_SIZE:
            raise MappingError(
                f"object {self.backing.key!r}: initial page {index} is {len(data)} bytes (max {PAGE_SIZE})"
            )
        frame = self._frames_alloc.alloc(reserve=getattr(self.backing, "essential", True))
        if data:
            self._mem.write(frame, data)
        self.frames[index] = frame
        return frame


class FrameCache:
    """All object frames of one ``PhysicalMemory``, keyed by ``Backing.key`` then page index."""

    __slots__ = ("_allocator", "_objects")

    def __init__(self, frames: FrameAllocator) -> None:
        self._allocator = frames
        self._objects: dict[Hashable, ObjectFrames] = {}

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._objects

    def get(self, key: Hashable) -> ObjectFrames | None:
        """The frames of the object ``key``, if it has any record."""
        return self._objects.get(key)

    def object_frames(self, backing: Backing) -> ObjectFrames:
        """The record for ``backing.key``, created on first use (the first backing with a key wins)."""
        frames = self._objects.get(backing.key)
        if frames is None:
            frames = self._objects[backing.key] = ObjectFrames(backing, self._allocator)
        return frames

    def release(self, key: Hashable) -> int:
        """Free every frame of object ``key`` (no address space may still map it); how many were freed."""
        frames = self._objects.get(key)
        if frames is None:
            return 0
        if frames.mappings:
            raise MappingError(f"object {key!r} is still mapped in {frames.mappings} slot(s)")
        del self._objects[key]
        for frame in frames.frames.values():
            self._allocator.free(frame)
        return len(frames.frames)


@dataclass(frozen=True, slots=True)
class SlotMapping:
    """One object mapped into one slot of an address space with the rights ``prot`` (READ always set)."""

    slot: int
    backing: Backing
    prot: Prot

    @property
    def base(self) -> int:
        """The first virtual address of the slot."""
        return self.slot << SLOT_SHIFT


class _Slot:
    """Fault-path view of a ``SlotMapping``: plain ints and direct references, no Enum arithmetic."""

    __slots__ = ("allowed", "frames", "guard_stride", "leaf_bits", "mapping", "object")

    def __init__(self, mapping: SlotMapping, obj: ObjectFrames) -> None:
        self.mapping = mapping
        self.object = obj
        self.frames = obj.frames
        self.allowed = int(mapping.prot)
        self.leaf_bits = leaf_flags(mapping.prot, user=True)
        self.guard_stride: int = getattr(mapping.backing, "guard_stride", 0)


class AddressSpace:
    """The objects one security context sees, as slots, and the page tables (``cr3``) that encode them."""

    __slots__ = ("_cache", "_leaf_tables", "_mem", "_slots", "_view", "name", "on_change", "tables")

    def __init__(
        self,
        mem: PhysicalMemory,
        frames: FrameAllocator,
        frame_cache: FrameCache,
        name: str,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.on_change = on_change
        self.tables = PageTables(mem, frames)
        self._mem = mem
        self._view = mem.view
        self._cache = frame_cache
        self._slots: dict[int, _Slot] = {}
        self._leaf_tables = self.tables.leaf_tables  # the fault path reads the tree's leaf-table cache

    def __repr__(self) -> str:
        return f"<AddressSpace {self.name} cr3={self.cr3:#x} slots={len(self._slots)}>"

    @property
    def cr3(self) -> int:
        """Physical address of the PML4: the CR3 value of this address space."""
        return self.tables.root

    # -- slots -------------------------------------------------------------------------------------

    def map_object(self, slot: int, backing: Backing, prot: Prot, eager_pages: Iterable[int] = ()) -> SlotMapping:
        """Map ``backing`` into ``slot`` with rights ``prot``; the pages in ``eager_pages`` are backed now."""
        self._check_slot(slot)
        if slot in self._slots:
            raise MappingError(f"{self.name}: slot {slot} ({slot << SLOT_SHIFT:#x}) is already in use")
        pages = list(eager_pages)
        for index in pages:
            if not 1 <= index < PAGES_PER_SLOT:
                raise MappingError(f"{self.name}: page index {index} is outside 1..{PAGES_PER_SLOT - 1}")
        obj = self._cache.object_frames(backing)
        record = _Slot(SlotMapping(slot, backing, effective_prot(prot)), obj)
        obj.mappings += 1
        self._slots[slot] = record
        for index in pages:
            self._back(record, (slot << SLOT_SHIFT) | (index << PAGE_SHIFT))
        return record.mapping

    def unmap_slot(self, slot: int) -> SlotMapping:
        """Remove the object in ``slot``; its frames stay in the cache for other address spaces."""
        record = self._require(slot)
        del self._slots[slot]
        record.object.mappings -= 1
        if self.tables.unmap_range(slot << SLOT_SHIFT, SLOT_SIZE):
            self._changed()
        return record.mapping

    def protect_slot(self, slot: int, prot: Prot) -> SlotMapping:
        """Give the object in ``slot`` the rights ``prot``, including pages already present."""
        record = self._require(slot)
        new = _Slot(SlotMapping(slot, record.mapping.backing, effective_prot(prot)), record.object)
        self._slots[slot] = new
        if self.tables.protect_range(slot << SLOT_SHIFT, SLOT_SIZE, new.mapping.prot):
            self._changed()
        return new.mapping

    def slot_of(self, vaddr: int) -> int:
        """The slot number of a user-space address."""
        if not 0 <= vaddr < USER_TOP:
            raise MappingError(f"{self.name}: {vaddr:#x} is not a user-space address")
        return vaddr >> SLOT_SHIFT

    def mapping_at(self, vaddr: int) -> SlotMapping | None:
        """The mapping of the slot containing ``vaddr`` (its null page included), or None."""
        record = self._slots.get(vaddr >> SLOT_SHIFT) if 0 <= vaddr < USER_TOP else None
        return None if record is None else record.mapping

    def iter_mappings(self) -> Iterator[SlotMapping]:
        """Every mapping, in slot order."""
        for slot in sorted(self._slots):
            yield self._slots[slot].mapping

    @property
    def num_mappings(self) -> int:
        """How many slots hold an object."""
        return len(self._slots)

    # -- faults ------------------------------------------------------------------------------------

    def resolve_fault(self, vaddr: int, access: Access) -> FaultOutcome:
        """Decide a user-mode page fault at ``vaddr``; back the page if the slot permits ``access``.

        The per-fault hot path, kept to a handful of dict lookups and one entry write (``_back`` inlined).
        A fault on a page that is already present with rights that permit the access can only come from a
        stale translation: the entry is rewritten, ``on_change`` flushes, and the CPU retries (``BACKED``).
        """
        record = self._slots.get(vaddr >> SLOT_SHIFT)
        if record is None or (vaddr & SLOT_OFFSET_MASK) < NULL_PAGE_SIZE:
            return _UNMAPPED
        if not access & record.allowed:
            return _DENIED
        index = (vaddr & SLOT_OFFSET_MASK) >> PAGE_SHIFT
        frame = record.frames.get(index)
        if frame is None:
            if record.guard_stride and not index % record.guard_stride:
                return _DENIED
            frame = record.object.materialize(index)
        # Slots lie in the user half, so ``vaddr >> PT_SPAN_SHIFT`` is the leaf-table cache key as is.
        table = self._leaf_tables.get(vaddr >> PT_SPAN_SHIFT)
        if table is None:
            table = self.tables.leaf_table(vaddr)
        entry_pa = table + (index & INDEX_MASK) * ENTRY_SIZE
        # P is bit 0 of the entry's first byte (little-endian): one byte read instead of an unpack.
        was_present = self._view[entry_pa] & _PRESENT
        _pack_entry(self._view, entry_pa, frame | record.leaf_bits)
        if was_present:
            self._changed()
        return _BACKED

    def _back(self, record: _Slot, page: int) -> int:
        """Write the entry of ``page`` (in ``record``'s slot, not the null page); the previous entry."""
        index = (page & SLOT_OFFSET_MASK) >> PAGE_SHIFT
        return self.tables.exchange_leaf(page, record.object.frame(index) | record.leaf_bits)

    # -- monitor access to guest memory --------------------------------------------------------------

    def read_virtual(self, vaddr: int, n: int) -> bytes:
        """``n`` bytes at ``vaddr`` as this address space sees them (pages in mapped slots are backed)."""
        parts = []
        while n > 0:
            chunk = min(n, PAGE_SIZE - (vaddr & PAGE_MASK))
            parts.append(self._mem.read(self._frame_of(vaddr) | (vaddr & PAGE_MASK), chunk))
            vaddr += chunk
            n -= chunk
        return b"".join(parts)

    def write_virtual(self, vaddr: int, data: bytes | bytearray | memoryview) -> None:
        """Store ``data`` at ``vaddr`` regardless of the page rights (the monitor is privileged).

        This bypasses Unicorn's self-modifying-code detection: invalidate translated code written this way.
        """
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            chunk = min(len(view) - done, PAGE_SIZE - (vaddr & PAGE_MASK))
            self._mem.write(self._frame_of(vaddr) | (vaddr & PAGE_MASK), view[done : done + chunk])
            vaddr += chunk
            done += chunk

    def user_may(self, vaddr: int, n: int, access: Access) -> bool:
        """Whether code of this address space, at CPL3, may make ``access`` to all of ``[vaddr, vaddr + n)``: the
        slot allows it, and a page present in the tables is not narrower (the crossing engine write-protects a
        gate buffer holding a received message). What a service does on a guest's behalf is checked with this."""
        if n <= 0:
            return n == 0
        page = vaddr & ~PAGE_MASK
        while page < vaddr + n:
            record = self._slots.get(page >> SLOT_SHIFT)
            if record is None or (page & SLOT_OFFSET_MASK) < NULL_PAGE_SIZE or not access & record.allowed:
                return False
            if record.guard_stride and not ((page & SLOT_OFFSET_MASK) >> PAGE_SHIFT) % record.guard_stride:
                return False
            found = self.tables.walk(page)
            if found is not None and found.present and not (found.user and access & found.prot):
                return False
            page += PAGE_SIZE
        return True

    def physical(self, vaddr: int) -> int:
        """The physical address behind ``vaddr`` (backing its page if needed); stable while the slot is mapped."""
        return self._frame_of(vaddr) | (vaddr & PAGE_MASK)

    def _frame_of(self, vaddr: int) -> int:
        """The frame behind ``vaddr``, from the slot's object (no table walk: the monitor needs no entry)."""
        if not 0 <= vaddr < USER_TOP:
            raise MappingError(f"{self.name}: {vaddr:#x} is non-canonical or outside the user half")
        record = self._slots.get(vaddr >> SLOT_SHIFT)
        offset = vaddr & SLOT_OFFSET_MASK
        if record is None or offset < NULL_PAGE_SIZE:
            raise MappingError(f"{self.name}: address {vaddr:#x} is not mapped")
        index = offset >> PAGE_SHIFT
        frame = record.frames.get(index)
        if frame is not None:
            return frame
        if record.guard_stride and not index % record.guard_stride:
            raise MappingError(f"{self.name}: address {vaddr:#x} is a guard page")
        return record.object.materialize(index)

    # -- lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        """Drop every mapping and free the page tables (object frames stay in the cache)."""
        for record in self._slots.values():
            record.object.mappings -= 1
        self._slots.clear()
        self.tables.release()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def _require(self, slot: int) -> _Slot:
        record = self._slots.get(slot)
        if record is None:
            raise MappingError(f"{self.name}: slot {slot} holds no object")
        return record

    def _check_slot(self, slot: int) -> None:
        if not 0 <= slot < NUM_SLOTS:
            raise MappingError(f"{self.name}: slot {slot} is outside 0..{NUM_SLOTS - 1}")
