"""The virtual address map of a run: which slot holds what, in every compartment's address space.

A slot is 1 GiB (``slot n`` covers ``[n << 30, (n + 1) << 30)``); page 0 of every slot is the null page::

    slot              what                                     mapped in
    0, 1              nothing (a null pointer faults)          -
    2k+2, 2k+3        image k: text (R-X), data (RW-, NX)      its compartment; data also where the trust
                                                                table grants it
    ...
    0x3FD             thread information (R--: thread id,      every compartment: each its own object
                      caller compartment; twz_startup.h)
    0x3FE             the monitor's generated gate code (R-X)  compartment 0 only
    0x3FF             the gate buffer (RW-, read-only while    every compartment: each its own object
                      it holds a received message)
    B(c) + 0          compartment c's stack (STACK_SIZE)       c; and as granted
    B(c) + 1          compartment c's heap                     c; and as granted
    B(c) + 2          compartment c's thread area (TCB, TLS)   c; and as granted
    B(c) + 3          (unused)
                      where B(c) = 0x400 + 4 * (511 - c): the
                      monitor's (0) highest, then the program's
    PML4 slot 256     the machine's supervisor window          every address space, supervisor-only

Images are placed by the linker (``linker.link.FIRST_SLOT``); everything else here is the monitor's.
"""

from __future__ import annotations

from ..loader import STACK_SIZE, slot_base
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


def stack_bounds(compartment: int) -> tuple[int, int]:
    """The lowest and the highest address (exclusive) of compartment's stack."""
    base = slot_base(stack_slot(compartment)) + NULL_PAGE_SIZE
    return base, base + STACK_SIZE
