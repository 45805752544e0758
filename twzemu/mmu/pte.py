"""x86-64 page-table entries: named bits and pure encode/decode functions.

Data flow: an ``AddressSpace`` (``space.py``) decides what a page may do as a ``Prot`` (READ/WRITE/EXEC)
and whether CPL3 may touch it at all (``user``); ``encode_leaf`` turns that into one 64-bit entry that
``PageTables`` (``pagetable.py``) stores in emulated RAM, and ``decode`` turns an entry back into its frame
and flags. The format is exactly IA-32e 4-level paging (Intel SDM Vol. 3A §4.5, Tables 4-14 to 4-20) because
Unicorn's own page walk, not Python, enforces these bits on every guest access.

What x86 can express (SDM Vol. 3A §4.6, "Access Rights"): a present user page is always readable; it is
writable only if R/W is set at every level, and executable only if XD (our ``NX``, with IA32_EFER.NXE=1) is
clear at every level. So ``WRITE`` and ``EXEC`` each imply ``READ``, and twzemu refuses ``WRITE|EXEC`` (W^X).
Permissions are decided at the leaf: intermediate entries grant everything the half of the address space
allows (``table_entry_flags``).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from twzemu.errors import MappingError
from twzemu.objects.layout import PAGE_SHIFT, PAGE_SIZE, U64_MASK, Prot  # Prot: objects, capabilities and pages

ENTRY_SIZE = 8
INDEX_BITS = 9
ENTRIES_PER_TABLE = 1 << INDEX_BITS
INDEX_MASK = ENTRIES_PER_TABLE - 1

# Bits 51:12 of an entry hold the physical address of the next table or of the 4 KiB frame (SDM Vol. 3A
# Table 4-20, MAXPHYADDR = 52).
ADDR_MASK = 0x000F_FFFF_FFFF_F000

# 4-level paging translates 48-bit linear addresses; bits 63:47 must all equal bit 47 (canonical form,
# SDM Vol. 1 §3.3.7.1). The lower half is user space, the upper half holds monitor-only pages.
VA_BITS = 48
VA_MASK = (1 << VA_BITS) - 1
USER_TOP = 1 << (VA_BITS - 1)  # 0x0000_8000_0000_0000, first address past user space
KERNEL_HALF_BASE = 0xFFFF_8000_0000_0000  # first canonical upper-half address (monitor-only pages)


class Pte(enum.IntFlag):
    """Bits of a paging-structure entry (SDM Vol. 3A Tables 4-15 to 4-20)."""

    PRESENT = 1 << 0  # P: the entry maps something
    WRITABLE = 1 << 1  # R/W: writes allowed (needed at every level)
    USER = 1 << 2  # U/S: CPL3 may access (needed at every level)
    PWT = 1 << 3  # page-level write-through (cache type; twzemu leaves it clear)
    PCD = 1 << 4  # page-level cache disable (twzemu leaves it clear)
    ACCESSED = 1 << 5  # A: set by the CPU on first use
    DIRTY = 1 << 6  # D: set by the CPU on first write (leaf only)
    HUGE = 1 << 7  # PS in a PDPTE/PDE (1 GiB / 2 MiB page; never used here). In a PTE this bit is PAT.
    GLOBAL = 1 << 8  # G: survives CR3 loads when CR4.PGE=1 (never set: every context switch must flush)
    NX = 1 << 63  # XD: instruction fetches not allowed (requires IA32_EFER.NXE=1)


class Level(enum.IntEnum):
    """Paging-structure levels, named after the table an index selects (SDM Vol. 3A Figure 4-8)."""

    PT = 1
    PD = 2
    PDPT = 3
    PML4 = 4


class Decoded(NamedTuple):
    """An entry split into the address it points to and its flag bits."""

    frame: int
    flags: Pte


_PRESENT = int(Pte.PRESENT)
_WRITABLE = int(Pte.WRITABLE)
_USER = int(Pte.USER)
_NX = int(Pte.NX)
_WX = int(Prot.WRITE | Prot.EXEC)
_READ = int(Prot.READ)
_WRITE = int(Prot.WRITE)
_EXEC = int(Prot.EXEC)


def effective_prot(prot: Prot) -> Prot:
    """What a present page with ``prot`` really allows on x86: WRITE or EXEC imply READ.

    Raises ``MappingError`` for ``WRITE|EXEC`` (W^X) and for no rights at all (unmap instead).
    """
    bits = int(prot)
    if bits & _WX == _WX:
        raise MappingError(f"W^X: a page cannot be both writable and executable ({prot!r})")
    if not bits & (_READ | _WRITE | _EXEC) or bits & ~(_READ | _WRITE | _EXEC):
        raise MappingError(f"no page encoding for protection {prot!r}: unmap the page to deny all access")
    return Prot(bits | _READ)


def _leaf_flags_uncached(prot: int, user: bool) -> int:
    effective_prot(Prot(prot))
    flags = _PRESENT
    if prot & _WRITE:
        flags |= _WRITABLE
    if user:
        flags |= _USER
    if not prot & _EXEC:
        flags |= _NX
    return flags


def _build_leaf_table() -> tuple[int, ...]:
    """Leaf flag bits indexed by ``prot | user << 3``; 0 where the combination is refused."""
    table = []
    for index in range(16):
        try:
            table.append(_leaf_flags_uncached(index & 7, bool(index >> 3)))
        except MappingError:
            table.append(0)
    return tuple(table)


_LEAF_FLAGS = _build_leaf_table()


def leaf_flags(prot: Prot, user: bool) -> int:
    """The flag bits (no frame address) of a leaf for ``prot``; O(1), used on the fault path."""
    bits = int(prot)
    flags = _LEAF_FLAGS[bits | (user << 3)] if 0 <= bits <= 7 else 0
    if not flags:
        effective_prot(prot)  # raises the precise error
    return flags


def encode_leaf(frame_pa: int, prot: Prot, user: bool) -> int:
    """The PTE mapping the 4 KiB frame at ``frame_pa`` with ``prot``, reachable from CPL3 iff ``user``."""
    if frame_pa & ~ADDR_MASK:
        raise MappingError(f"frame address {frame_pa:#x} is not a 4 KiB aligned 52-bit physical address")
    return frame_pa | leaf_flags(prot, user)


def table_entry_flags(user_half: bool) -> int:
    """Flags of a non-leaf entry: everything allowed, the leaf decides (SDM Vol. 3A §4.6).

    Tables of the user half carry USER so user and supervisor leaves can share them (the leaf's U/S bit
    decides); tables of the upper half never do, so no CPL3 access can reach a monitor page even through a
    mis-encoded leaf.
    """
    return _PRESENT | _WRITABLE | (_USER if user_half else 0)


def decode(entry: int) -> Decoded:
    """Split an entry into the physical address it holds and its flags."""
    return Decoded(entry & ADDR_MASK, Pte(entry & ~ADDR_MASK & U64_MASK))


def table_index(vaddr: int, level: Level | int) -> int:
    """The 9-bit index ``vaddr`` selects in the table at ``level`` (SDM Vol. 3A Figure 4-8)."""
    return (vaddr >> (PAGE_SHIFT + INDEX_BITS * (level - 1))) & INDEX_MASK


def level_span(level: Level | int) -> int:
    """Bytes of address space one entry of the table at ``level`` covers (4 KiB for a PT entry)."""
    return PAGE_SIZE << (INDEX_BITS * (level - 1))


def canonical(vaddr48: int) -> int:
    """The unsigned 64-bit canonical address whose low 48 bits are ``vaddr48`` (sign-extends bit 47)."""
    return vaddr48 | (U64_MASK & ~VA_MASK) if vaddr48 & USER_TOP else vaddr48


def is_canonical(vaddr: int) -> bool:
    """Whether ``vaddr`` (unsigned 64-bit) is a canonical 48-bit linear address."""
    return 0 <= vaddr < USER_TOP or KERNEL_HALF_BASE <= vaddr <= U64_MASK
