"""The modeled x86-64 MMU: emulated RAM, real 4-level page tables, one address space per security context.

Pure Python (never imports Unicorn). Data flows bottom-up through four modules:

* ``physmem`` - ``PhysicalMemory`` (RAM the machine maps into Unicorn at physical 0) and ``FrameAllocator``
  (4 KiB frames above the machine's reserved low memory);
* ``pte`` - the named bits of a paging-structure entry (``Pte``), ``Prot``, and pure encode/decode functions;
* ``pagetable`` - ``PageTables``: PML4/PDPT/PD/PT frames in RAM, map/unmap/protect/walk of 4 KiB pages;
* ``space`` - ``AddressSpace``: objects mapped into 1 GiB slots, backed lazily from a shared ``FrameCache`` on
  page faults (``resolve_fault``); ``cr3`` is what the machine loads to switch to it.

Unicorn's own page walk enforces what these tables say (U/S, R/W, NX), so isolation is the page tables.
"""

from twzemu.mmu.pagetable import PageTables, Translation
from twzemu.mmu.physmem import PAGE_SIZE, FrameAllocator, PhysicalMemory
from twzemu.mmu.pte import ADDR_MASK, KERNEL_HALF_BASE, USER_TOP, Level, Prot, Pte, decode, encode_leaf
from twzemu.mmu.space import (
    NULL_PAGE_SIZE,
    SLOT_SIZE,
    Access,
    AddressSpace,
    Backing,
    FaultOutcome,
    FrameCache,
    ObjectFrames,
    SlotMapping,
)

__all__ = [
    "ADDR_MASK",
    "KERNEL_HALF_BASE",
    "NULL_PAGE_SIZE",
    "PAGE_SIZE",
    "SLOT_SIZE",
    "USER_TOP",
    "Access",
    "AddressSpace",
    "Backing",
    "FaultOutcome",
    "FrameAllocator",
    "FrameCache",
    "Level",
    "ObjectFrames",
    "PageTables",
    "PhysicalMemory",
    "Prot",
    "Pte",
    "SlotMapping",
    "Translation",
    "decode",
    "encode_leaf",
]
