"""The virtual address map of a run: which slot holds what, in every compartment's address space.

A slot is 1 GiB (``slot n`` covers ``[n << 30, (n + 1) << 30)``); page 0 of every slot is the null page::

    slot              what                                     mapped in
    0, 1              nothing (a null pointer faults)          -
    2k+2, 2k+3        image k: text (R-X), data (RW-, NX)      its compartment; data also where the trust
                                                                table grants it
    ...
    0x3FD             thread information (R--: thread id,      every compartment: each its own object
                      caller compartment; twz_startup.h), a
                      page per thread
    0x3FE             the monitor's generated gate code (R-X)  compartment 0 only
    0x3FF             the gate buffers (RW-, read-only while   every compartment: each its own object
                      one holds a received message), a page
                      per thread
    B(c) + 0          compartment c's stacks (STACK_SIZE each, c; and as granted
                      an unmapped guard page below each, a
                      page of slack above)
    B(c) + 1          compartment c's heap                     c; and as granted
    B(c) + 2          compartment c's thread areas (TCB, TLS)  c; and as granted
    B(c) + 3          (unused)
                      where B(c) = 0x400 + 4 * (511 - c): the
                      monitor's (0) highest, then the program's
    PML4 slot 256     the machine's supervisor window          every address space, supervisor-only

Per thread: the threads alive are numbered from 0 (``index``: the first thread's is 0, a number is used again once
its thread has ended); thread n's stack, thread area, thread information and gate buffer are the n-th of each.

Images are placed by the linker (``linker.link.FIRST_SLOT``); everything else here is the monitor's.
"""

from __future__ import annotations

from ..loader import STACK_SIZE, slot_base
from ..mmu.space import SLOT_SHIFT
from ..objects.layout import NULL_PAGE_SIZE

THREAD_INFO_SLOT = 0x3FD
THREAD_INFO = slot_base(THREAD_INFO_SLOT) + NULL_PAGE_SIZE  # TWZ_THREAD_INFO: the same in every compartment
MONITOR_TEXT_SLOT = 0x3FE
GATE_BUFFER_SLOT = 0x3FF
GATE_BUFFER = slot_base(GATE_BUFFER_SLOT) + NULL_PAGE_SIZE  # twz_gate_buffer(): the same in every compartment
COMPARTMENT_SLOTS = 0x400
SLOTS_PER_COMPARTMENT = 4
# Compartment ids 0 (the monitor) to 511: more than the images that fit below MONITOR_TEXT_SLOT, two slots each.
MAX_COMPARTMENTS = 512
FIRST_THREAD = 1  # the first thread's id (the process id, as Linux makes it)
MAX_THREADS = 64  # alive at once: each has a stack and its guard page in every compartment's stack slot
GUARD_SIZE = NULL_PAGE_SIZE  # the unmapped page below each stack (the first's is the slot's null page)
# Each stack: its guard page, STACK_SIZE, then a page of slack above its top (as Linux leaves the program's name and
# a null word above the strings: code that reads a byte past the last string must not hit the next guard page).
STACK_STRIDE = GUARD_SIZE + STACK_SIZE + NULL_PAGE_SIZE


def stack_slot(compartment: int) -> int:
    """Compartments' slots run downwards: the linker numbers a library after the one that needs it, so a callee's
    stack lies below its caller's as if one stack grew down across the crossing (debuggers expect a caller's frame
    above its callee's: gdb stops a backtrace at a caller frame below)."""
    assert 0 <= compartment < MAX_COMPARTMENTS, compartment
    return COMPARTMENT_SLOTS + SLOTS_PER_COMPARTMENT * (MAX_COMPARTMENTS - 1 - compartment)


def heap_slot(compartment: int) -> int:
    return stack_slot(compartment) + 1


def thread_slot(compartment: int) -> int:
    return stack_slot(compartment) + 2


def stack_bounds(compartment: int, index: int = 0) -> tuple[int, int]:
    """The lowest and the highest address (exclusive) of compartment's stack for thread ``index``."""
    assert 0 <= index < MAX_THREADS, index
    base = slot_base(stack_slot(compartment)) + NULL_PAGE_SIZE + index * STACK_STRIDE
    return base, base + STACK_SIZE


def guarded_stack(address: int) -> int | None:
    """The thread index whose stack's guard page holds ``address`` (a stack slot's null page is the first one's),
    or None if it is no guard page."""
    slot = address >> SLOT_SHIFT
    if not COMPARTMENT_SLOTS <= slot < COMPARTMENT_SLOTS + SLOTS_PER_COMPARTMENT * MAX_COMPARTMENTS:
        return None
    if (slot - COMPARTMENT_SLOTS) % SLOTS_PER_COMPARTMENT:
        return None
    index, offset = divmod(address - slot_base(slot), STACK_STRIDE)
    return index if offset < GUARD_SIZE and index < MAX_THREADS else None


def gate_buffer_of(index: int) -> int:
    """Thread ``index``'s gate buffer: the same address in every compartment."""
    return GATE_BUFFER + index * NULL_PAGE_SIZE


def thread_info_of(index: int) -> int:
    """Thread ``index``'s ``struct twz_thread_info``: the same address in every compartment (its gs base)."""
    return THREAD_INFO + index * NULL_PAGE_SIZE
