"""The modeled MMU (twzemu.mmu) against a pure-Python reference model and against the x86-64 entry format.

What a user of the machine would notice if these failed: a page readable/writable/executable that the page
tables should deny (or the reverse) once Unicorn walks them, two contexts that see different memory for the
same object, faults that never resolve, or stale translations after a revoke.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twzemu.errors import MappingError, PhysMemError, TwzEmuError
from twzemu.mmu import (
    ADDR_MASK,
    KERNEL_HALF_BASE,
    NULL_PAGE_SIZE,
    PAGE_SIZE,
    SLOT_SIZE,
    USER_TOP,
    Access,
    AddressSpace,
    FaultOutcome,
    FrameAllocator,
    FrameCache,
    Level,
    PageTables,
    PhysicalMemory,
    Prot,
    Pte,
    Translation,
    decode,
    encode_leaf,
)
from twzemu.mmu.pte import table_index

RAM_SIZE = 16 << 20
RESERVED = 1 << 20
R, W, X = Prot.READ, Prot.WRITE, Prot.EXEC
RW, RX = R | W, R | X


def examples(fraction: float) -> int:
    """A share of the active Hypothesis profile's budget, so a CI profile scales these tests too."""
    return max(10, int(settings().max_examples * fraction))


@dataclass
class Rig:
    """RAM, its frame allocator and frame cache, and every flush the address spaces asked for."""

    mem: PhysicalMemory
    frames: FrameAllocator
    cache: FrameCache
    flushes: list[str] = field(default_factory=list)

    def space(self, name: str) -> AddressSpace:
        return AddressSpace(self.mem, self.frames, self.cache, name, on_change=lambda: self.flushes.append(name))


@contextmanager
def rig(ram: int = RAM_SIZE, reserved: int = RESERVED) -> Iterator[Rig]:
    with PhysicalMemory(ram) as mem:
        frames = FrameAllocator(mem, reserved)
        yield Rig(mem, frames, FrameCache(frames))


@dataclass(frozen=True)
class Blob:
    """A ``Backing``: object ``key`` whose page ``i`` starts as ``pages[i]`` (zeros if absent)."""

    key: object
    pages: dict[int, bytes] = field(default_factory=dict, hash=False, compare=False)

    def initial_page(self, index: int) -> bytes | None:
        return self.pages.get(index)


def effective(prot: Prot) -> Prot:
    """Reference rule (SDM Vol. 3A §4.6): a present page is readable; W and X each imply R."""
    return prot | R


def raw_path(mem: PhysicalMemory, root: int, vaddr: int) -> list[int]:
    """The four entries the CPU reads for ``vaddr``, found independently of ``PageTables``."""
    entries, table = [], root
    for level in (Level.PML4, Level.PDPT, Level.PD, Level.PT):
        entry = mem.read_u64(table + 8 * table_index(vaddr, level))
        entries.append(entry)
        if not entry & Pte.PRESENT:
            break
        table = entry & ADDR_MASK
    return entries


# --- (a) page tables vs a reference model ----------------------------------------------------------------

# Pages that share a PT, share a PD, share a PDPT, or are far apart; both ends of both halves.
USER_PAGES = [
    *(0x40_0000 + i * PAGE_SIZE for i in range(4)),  # one PT
    0x40_0000 + 0x20_0000,  # next PT, same PD
    0x40_0000 + SLOT_SIZE,  # next PD, same PDPT
    0x1000,
    0x0000_7FFF_FFFF_F000,  # last user page
    0x1234_5678_9000,  # another PML4 entry
]
KERNEL_PAGES = [KERNEL_HALF_BASE, KERNEL_HALF_BASE + 0x20_1000, 0xFFFF_FFFF_FFFF_F000]
ALL_PAGES = USER_PAGES + KERNEL_PAGES
VALID_PROTS = [R, RW, RX, W, X]
PROTS = st.sampled_from(VALID_PROTS) | st.sampled_from([W | X, RW | X, Prot(0)])
FRAMES = st.integers(0, RESERVED // PAGE_SIZE - 1).map(lambda n: n * PAGE_SIZE)

OPS = st.one_of(
    st.tuples(st.just("map"), st.sampled_from(ALL_PAGES), FRAMES, PROTS, st.booleans()),
    st.tuples(st.just("unmap"), st.sampled_from(ALL_PAGES)),
    st.tuples(st.just("protect"), st.sampled_from(ALL_PAGES), PROTS),
    st.tuples(st.just("unmap_range"), st.sampled_from(ALL_PAGES), st.integers(1, 1 << 10)),
)


@dataclass(frozen=True)
class Mapped:
    frame: int
    prot: Prot
    user: bool


def apply(tables: PageTables, model: dict[int, Mapped], op: tuple) -> None:
    """Run one operation on both the tables and the model; refused operations change neither."""
    kind, page, *args = op
    if kind == "map":
        frame, prot, user = args
        user = user and page < USER_TOP
        refused = page in model or prot not in VALID_PROTS
        with pytest.raises(MappingError) if refused else _nothing():
            tables.map_page(page, frame, prot, user=user)
        if not refused:
            model[page] = Mapped(frame, effective(prot), user)
    elif kind == "unmap":
        old = model.pop(page, None)
        assert tables.unmap_page(page) == (old.frame if old else None)
    elif kind == "protect":
        (prot,) = args
        refused = page not in model or prot not in VALID_PROTS
        with pytest.raises(MappingError) if refused else _nothing():
            tables.protect_page(page, prot)
        if not refused:
            model[page] = Mapped(model[page].frame, effective(prot), model[page].user)
    else:
        (pages,) = args
        half_end = USER_TOP if page < USER_TOP else 1 << 64
        end = min(page + pages * PAGE_SIZE, half_end)
        gone = sorted(p for p in model if page <= p < end)
        assert tables.unmap_range(page, end - page) == [model.pop(p).frame for p in gone]


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def check_raw_bits(mem: PhysicalMemory, root: int, page: int, want: Mapped) -> None:
    """(b) the real entries: non-leaf ones grant all their half allows, the leaf carries U/W/NX exactly."""
    entries = raw_path(mem, root, page)
    assert len(entries) == 4
    for entry in entries[:3]:
        _, flags = decode(entry)
        assert flags & (Pte.PRESENT | Pte.WRITABLE) == Pte.PRESENT | Pte.WRITABLE
        assert bool(flags & Pte.USER) == (page < USER_TOP)
        assert not flags & (Pte.NX | Pte.HUGE | Pte.GLOBAL | Pte.PWT | Pte.PCD)
    frame, flags = decode(entries[3])
    assert frame == want.frame
    assert flags & Pte.PRESENT
    assert bool(flags & Pte.WRITABLE) == bool(want.prot & W)
    assert bool(flags & Pte.USER) == want.user
    assert bool(flags & Pte.NX) == (not want.prot & X)
    assert not flags & (Pte.HUGE | Pte.GLOBAL | Pte.PWT | Pte.PCD)  # bit 7 of a PTE is PAT: keep it 0


@settings(max_examples=examples(3.0))
@given(st.lists(OPS, max_size=60))
def test_page_tables_agree_with_reference_model(ops: list[tuple]) -> None:
    with rig() as r:
        tables = PageTables(r.mem, r.frames)
        free_before = r.frames.available
        model: dict[int, Mapped] = {}
        for op in ops:
            apply(tables, model, op)
        for page in ALL_PAGES:
            want = model.get(page)
            expected = None if want is None else Translation(want.frame, want.prot, want.user, True)
            assert tables.walk(page) == expected
            if want is not None:
                check_raw_bits(r.mem, tables.root, page, want)
        # Unmapping everything gives every table frame back but the PML4.
        tables.unmap_range(0, USER_TOP)
        tables.unmap_range(KERNEL_HALF_BASE, 1 << 47)
        assert tables.num_tables == 1
        assert r.frames.available == free_before
        assert all(tables.walk(page) is None for page in ALL_PAGES)


@given(st.sampled_from(VALID_PROTS), st.booleans(), FRAMES)
def test_encode_leaf_bits(prot: Prot, user: bool, frame: int) -> None:
    entry = encode_leaf(frame, prot, user)
    got_frame, flags = decode(entry)
    assert got_frame == frame
    assert flags & Pte.PRESENT
    assert bool(flags & Pte.WRITABLE) == bool(prot & W)
    assert bool(flags & Pte.USER) == user
    assert bool(flags & Pte.NX) == (not prot & X)
    assert entry & ~ADDR_MASK & ~int(Pte.PRESENT | Pte.WRITABLE | Pte.USER | Pte.NX) == 0


def test_walk_combines_rights_of_all_levels() -> None:
    # SDM Vol. 3A §4.6: W needs R/W at every level, X needs XD clear at every level, user needs U/S at all.
    with rig() as r:
        tables = PageTables(r.mem, r.frames)
        tables.map_page(0x40_0000, 0x5000, RW)
        tables.map_page(0x40_1000, 0x6000, RX)
        pml4e = r.mem.read_u64(tables.root)
        for upper, page, want in [
            (pml4e & ~int(Pte.WRITABLE), 0x40_0000, Translation(0x5000, R, True, True)),
            (pml4e | Pte.NX, 0x40_1000, Translation(0x6000, R, True, True)),
            (pml4e & ~int(Pte.USER), 0x40_0000, Translation(0x5000, RW, False, True)),
        ]:
            r.mem.write_u64(tables.root, upper)
            assert tables.walk(page) == want


def test_addresses_are_checked() -> None:
    with rig() as r:
        tables = PageTables(r.mem, r.frames)
        for bad in (0x1001, USER_TOP, KERNEL_HALF_BASE, 0x0000_8000_0000_1000, -PAGE_SIZE):
            with pytest.raises(MappingError, match=f"{bad:#x}"):
                tables.map_page(bad, 0x5000, R, user=True)
        with pytest.raises(MappingError, match="non-canonical"):
            tables.map_page(0x0000_8000_0000_0000, 0x5000, R, user=False)
        with pytest.raises(MappingError, match="outside emulated RAM"):
            tables.map_page(0x1000, RAM_SIZE, R)
        tables.map_page(0x1000, 0x5000, R)
        with pytest.raises(MappingError, match="already mapped"):
            tables.map_page(0x1000, 0x6000, R)
        with pytest.raises(MappingError, match="crosses"):
            tables.unmap_range(USER_TOP - PAGE_SIZE, 2 * PAGE_SIZE)
        with pytest.raises(MappingError, match="non-canonical"):
            tables.walk(USER_TOP)


# --- sharing the monitor's upper half ------------------------------------------------------------------


def test_shared_supervisor_pdpt_is_walked_but_never_written_by_receivers() -> None:
    with rig() as r:
        monitor = PageTables(r.mem, r.frames)
        monitor.map_page(KERNEL_HALF_BASE, 0x7000, RW, user=False)
        entry = monitor.export_pml4_entry(256)
        assert not entry & Pte.USER  # no CPL3 access anywhere under the upper half
        space = r.space("prog")
        space.tables.set_pml4_entry(256, entry)
        assert space.tables.walk(KERNEL_HALF_BASE) == Translation(0x7000, RW, False, True)
        with pytest.raises(MappingError, match="shared"):
            space.tables.map_page(KERNEL_HALF_BASE + PAGE_SIZE, 0x8000, R, user=False)
        with pytest.raises(MappingError, match="shared"):
            space.tables.unmap_range(KERNEL_HALF_BASE, PAGE_SIZE)
        # The owner may empty the shared PDPT without freeing it: receivers still point at it.
        tables_before = monitor.num_tables
        assert monitor.unmap_page(KERNEL_HALF_BASE) == 0x7000
        assert monitor.num_tables == tables_before - 2  # the PD and PT went, the pinned PDPT stayed
        assert space.tables.walk(KERNEL_HALF_BASE) is None
        space.map_object(0, Blob("o"), R, eager_pages=[1])
        with pytest.raises(MappingError, match="own tables"):
            space.tables.set_pml4_entry(0, entry)


# --- (c) one object, two address spaces ----------------------------------------------------------------

PAGE_INDEXES = st.integers(1, SLOT_SIZE // PAGE_SIZE - 1)


@settings(max_examples=examples(0.5))
@given(
    first=st.binary(min_size=1, max_size=PAGE_SIZE),
    index=PAGE_INDEXES,
    offset=st.integers(0, PAGE_SIZE - 1),
    data=st.binary(min_size=1, max_size=2 * PAGE_SIZE),
    slots=st.tuples(st.integers(0, 200), st.integers(0, 200)),
)
def test_object_shared_between_spaces_is_the_same_memory(
    first: bytes, index: int, offset: int, data: bytes, slots: tuple[int, int]
) -> None:
    with rig() as r:
        writer, reader = r.space("writer"), r.space("reader")
        obj = Blob("shared", {index: first})
        writer.map_object(slots[0], obj, RW)
        reader.map_object(slots[1], Blob("shared"), R)  # equal key: the cached object, not a new one
        base_w, base_r = slots[0] * SLOT_SIZE, slots[1] * SLOT_SIZE
        page_off = index * PAGE_SIZE
        assert reader.read_virtual(base_r + page_off, len(first)) == first
        assert writer.resolve_fault(base_w + page_off, Access.WRITE) is FaultOutcome.BACKED
        assert reader.resolve_fault(base_r + page_off, Access.READ) is FaultOutcome.BACKED
        if page_off + offset + len(data) <= SLOT_SIZE:
            writer.write_virtual(base_w + page_off + offset, data)
            assert reader.read_virtual(base_r + page_off + offset, len(data)) == data
        tw, tr = writer.tables.walk(base_w + page_off), reader.tables.walk(base_r + page_off)
        assert tw is not None and tr is not None
        assert tw.frame == tr.frame
        assert (tw.prot, tr.prot) == (RW, R)
        assert writer.cr3 != reader.cr3


def test_read_virtual_of_unmapped_address_names_it() -> None:
    with rig() as r:
        space = r.space("prog")
        space.map_object(3, Blob("o"), R)
        for bad in (3 * SLOT_SIZE, 4 * SLOT_SIZE + 0x1000, 3 * SLOT_SIZE + 0x0FF0):
            with pytest.raises(MappingError, match=f"prog: address {bad:#x} is not mapped"):
                space.read_virtual(bad, 0x20)
        with pytest.raises(MappingError, match="non-canonical"):
            space.write_virtual(USER_TOP, b"x")


def test_backing_larger_than_a_page_is_refused() -> None:
    with rig() as r:
        space = r.space("prog")
        space.map_object(1, Blob("big", {1: bytes(PAGE_SIZE + 1)}), R)
        with pytest.raises(MappingError, match="initial page 1"):
            space.read_virtual(SLOT_SIZE + PAGE_SIZE, 1)


def test_frame_cache_release_waits_for_the_last_mapping() -> None:
    with rig() as r:
        a, b = r.space("a"), r.space("b")
        a.map_object(1, Blob("o"), R, eager_pages=[1, 2])
        b.map_object(1, Blob("o"), R)
        free = r.frames.available
        a.unmap_slot(1)
        with pytest.raises(MappingError, match="still mapped in 1 slot"):
            r.cache.release("o")
        b.close()
        assert r.cache.release("o") == 2
        assert r.frames.available == free + 3 + 1 + 2  # a's PDPT, PD, PT; b's PML4; the two pages
        assert "o" not in r.cache


# --- (d) resolve_fault -----------------------------------------------------------------------------------

NEEDS = {Access.READ: R, Access.WRITE: W, Access.FETCH: X}
SLOT = 5
PAGE = SLOT * SLOT_SIZE + 7 * PAGE_SIZE


def expected_outcome(access: Access, prot: Prot | None) -> FaultOutcome:
    if prot is None:
        return FaultOutcome.UNMAPPED
    return FaultOutcome.BACKED if effective(prot) & NEEDS[access] else FaultOutcome.DENIED


@pytest.mark.parametrize("present", [False, True], ids=["absent", "present"])
@pytest.mark.parametrize("prot", [R, RW, RX, None], ids=["r--", "rw-", "r-x", "unmapped"])
@pytest.mark.parametrize("access", list(Access), ids=lambda a: a.name.lower())
def test_resolve_fault_outcome_table(access: Access, prot: Prot | None, present: bool) -> None:
    with rig() as r:
        space = r.space("prog")
        if prot is not None:
            space.map_object(SLOT, Blob("o"), prot, eager_pages=[7] if present else [])
        before = space.tables.walk(PAGE)
        assert (before is not None) == (present and prot is not None)
        outcome = space.resolve_fault(PAGE, access)
        assert outcome is expected_outcome(access, prot)
        after = space.tables.walk(PAGE)
        if outcome is FaultOutcome.BACKED:
            assert after is not None and after.prot == effective(prot) and after.user
            # A not-present entry is never cached by the CPU; a present one that faulted was stale.
            assert r.flushes == (["prog"] if present else [])
        else:
            assert after == before
            assert r.flushes == []


@settings(max_examples=examples(0.5))
@given(
    slot=st.integers(0, USER_TOP // SLOT_SIZE - 1),
    offset=st.integers(0, NULL_PAGE_SIZE - 1),
    access=st.sampled_from(list(Access)),
    prot=st.sampled_from([R, RW, RX]),
)
def test_null_page_is_never_mapped(slot: int, offset: int, access: Access, prot: Prot) -> None:
    with rig() as r:
        space = r.space("prog")
        space.map_object(slot, Blob("o"), prot)
        vaddr = slot * SLOT_SIZE + offset
        assert space.resolve_fault(vaddr, access) is FaultOutcome.UNMAPPED
        assert space.tables.walk(vaddr) is None
        with pytest.raises(MappingError, match="not mapped"):
            space.read_virtual(vaddr, 1)
        with pytest.raises(MappingError, match="page index 0"):
            space.map_object(slot + 1 if slot < 100 else slot - 1, Blob("p"), R, eager_pages=[0])


@settings(max_examples=examples(0.5))
@given(vaddr=st.integers(0, (1 << 64) - 1), access=st.sampled_from(list(Access)))
def test_faults_outside_every_slot_are_unmapped(vaddr: int, access: Access) -> None:
    with rig() as r:
        space = r.space("prog")
        space.map_object(2, Blob("o"), RW)
        outcome = space.resolve_fault(vaddr, access)
        inside = vaddr >> 30 == 2 and vaddr % SLOT_SIZE >= NULL_PAGE_SIZE
        assert outcome is (expected_outcome(access, RW) if inside else FaultOutcome.UNMAPPED)


def test_lazy_backing_fills_pages_from_the_backing_once() -> None:
    with rig() as r:
        calls: list[int] = []

        class Counting(Blob):
            def initial_page(self, index: int) -> bytes | None:
                calls.append(index)
                return b"page%d" % index

        a, b = r.space("a"), r.space("b")
        a.map_object(1, Counting("o"), RX)
        b.map_object(9, Counting("o"), R)
        assert a.resolve_fault(SLOT_SIZE + 3 * PAGE_SIZE + 5, Access.FETCH) is FaultOutcome.BACKED
        assert b.resolve_fault(9 * SLOT_SIZE + 3 * PAGE_SIZE, Access.READ) is FaultOutcome.BACKED
        assert calls == [3]
        assert b.read_virtual(9 * SLOT_SIZE + 3 * PAGE_SIZE, 5) == b"page3"


# --- (e) W^X, exhaustion, TLB flushes --------------------------------------------------------------------


@pytest.mark.parametrize("bad", [W | X, RW | X, Prot(0)], ids=["wx", "rwx", "none"])
def test_unencodable_protections_are_refused_everywhere(bad: Prot) -> None:
    with rig() as r:
        space = r.space("prog")
        with pytest.raises(MappingError):
            encode_leaf(0x5000, bad, True)
        with pytest.raises(MappingError):
            space.tables.map_page(0x40_0000, 0x5000, bad)
        with pytest.raises(MappingError):
            space.map_object(1, Blob("o"), bad)
        assert space.mapping_at(SLOT_SIZE + PAGE_SIZE) is None
        space.map_object(1, Blob("o"), RW, eager_pages=[1])
        with pytest.raises(MappingError):
            space.protect_slot(1, bad)
        with pytest.raises(MappingError):
            space.tables.protect_page(SLOT_SIZE + PAGE_SIZE, bad)
        assert space.tables.walk(SLOT_SIZE + PAGE_SIZE).prot == RW
        assert space.mapping_at(SLOT_SIZE + PAGE_SIZE).prot == RW
    assert issubclass(MappingError, TwzEmuError)


def test_out_of_memory_is_a_clear_error() -> None:
    with rig(ram=2 << 20, reserved=(2 << 20) - 8 * PAGE_SIZE) as r:
        space = r.space("prog")  # PML4
        space.map_object(1, Blob("o"), RW)
        outcomes = []
        with pytest.raises(PhysMemError, match=r"out of emulated physical memory \(2 MiB\)"):
            for page in itertools.count(1):
                outcomes.append(space.resolve_fault(SLOT_SIZE + page * PAGE_SIZE, Access.WRITE))
        assert outcomes == [FaultOutcome.BACKED] * 4  # 8 frames: PML4, PDPT, PD, PT, then 4 pages


def test_on_change_only_when_present_entries_are_removed_or_changed() -> None:
    with rig() as r:
        space = r.space("prog")
        space.map_object(1, Blob("o"), RW, eager_pages=[1])  # absent -> present: no flush
        space.map_object(2, Blob("p"), R)
        assert space.resolve_fault(SLOT_SIZE + 2 * PAGE_SIZE, Access.WRITE) is FaultOutcome.BACKED
        assert r.flushes == []
        # The CPU sets A and D in RAM as it walks (SDM Vol. 3A §4.8): that is not a change of rights.
        pte_pa = raw_path(r.mem, space.cr3, SLOT_SIZE + PAGE_SIZE)[2] & ADDR_MASK
        r.mem.write_u64(pte_pa + 8, r.mem.read_u64(pte_pa + 8) | Pte.ACCESSED | Pte.DIRTY)
        space.protect_slot(1, RW)  # same rights: nothing changed
        space.protect_slot(2, RX)  # no present page in slot 2
        space.unmap_slot(2)
        assert r.flushes == []
        space.protect_slot(1, R)
        assert r.flushes == ["prog"]
        assert space.tables.walk(SLOT_SIZE + PAGE_SIZE).prot == R
        assert space.resolve_fault(SLOT_SIZE + PAGE_SIZE, Access.WRITE) is FaultOutcome.DENIED
        space.protect_slot(1, RX)  # a rights change that is not a reduction flushes too
        assert r.flushes == ["prog"] * 2
        space.unmap_slot(1)
        assert r.flushes == ["prog"] * 3
        assert space.tables.walk(SLOT_SIZE + PAGE_SIZE) is None
        assert space.tables.num_tables == 1


def test_slot_bookkeeping() -> None:
    with rig() as r:
        space = r.space("prog")
        mapping = space.map_object(4, Blob("o"), X)
        assert mapping.prot == RX and mapping.base == 4 * SLOT_SIZE
        assert space.mapping_at(4 * SLOT_SIZE) == mapping  # the null page still belongs to the slot
        assert space.mapping_at(5 * SLOT_SIZE) is None
        assert space.slot_of(4 * SLOT_SIZE + 123) == 4
        assert list(space.iter_mappings()) == [mapping]
        with pytest.raises(MappingError, match=r"slot 4 \(0x100000000\) is already in use"):
            space.map_object(4, Blob("p"), R)
        with pytest.raises(MappingError, match="slot 131072 is outside"):
            space.map_object(USER_TOP // SLOT_SIZE, Blob("p"), R)
        with pytest.raises(MappingError, match="slot 7 holds no object"):
            space.unmap_slot(7)
        with pytest.raises(MappingError, match="not a user-space address"):
            space.slot_of(KERNEL_HALF_BASE)


# --- physical memory and frames -------------------------------------------------------------------------


def test_physical_memory_bounds_and_close() -> None:
    mem = PhysicalMemory(1 << 20)
    mem.write_u64(8, 0x1122334455667788)
    assert mem.read(8, 2) == b"\x88\x77"
    assert mem.read_u64(8) == 0x1122334455667788
    for pa, n in ((1 << 20, 1), ((1 << 20) - 1, 2), (-1, 1)):
        with pytest.raises(PhysMemError, match="outside emulated RAM"):
            mem.read(pa, n)
        with pytest.raises(PhysMemError, match="outside emulated RAM"):
            mem.write(pa, bytes(n))
    with pytest.raises(PhysMemError):
        mem.read_u64((1 << 20) - 4)
    mem.close()
    mem.close()
    with pytest.raises(PhysMemError, match="multiple of 0x1000"):
        PhysicalMemory(12345)
    with pytest.raises(PhysMemError):
        PhysicalMemory((4 << 30) + PAGE_SIZE)  # page tables must stay below 4 GiB (Unicorn 2.1.4 CR3)


def test_frame_allocator_scrubs_and_refuses_bad_frees() -> None:
    with rig(ram=1 << 20, reserved=(1 << 20) - 2 * PAGE_SIZE) as r:
        a = r.frames.alloc()
        assert a == (1 << 20) - 2 * PAGE_SIZE
        r.mem.write(a, b"secret")
        r.frames.free(a)
        for bad in (a, a + 1, 0, 1 << 20):
            with pytest.raises(PhysMemError):
                r.frames.free(bad)
        assert r.frames.alloc() == a
        assert r.mem.read(a, 6) == bytes(6)
        r.frames.alloc()
        with pytest.raises(PhysMemError, match=r"out of emulated physical memory \(1 MiB\)"):
            r.frames.alloc()
