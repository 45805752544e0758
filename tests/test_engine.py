"""The crossing engine (machine/engine.py over fastpath/crossing.c) driven directly: what it does with tables and
addresses a guest can influence (issue 8: bounds-check every index, write only through present, user, writable
leaves of the side it writes for)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twzemu.loader import ObjectBacking, slot_base
from twzemu.machine.cpustate import RSP
from twzemu.machine.engine import CrossingEngine, EngineCompartment, Lifecycle, Rule, Status
from twzemu.machine.machine import KERNEL_BASE, Machine
from twzemu.mmu.pte import Prot
from twzemu.mmu.space import Access, AddressSpace, FaultOutcome, FrameCache
from twzemu.monitor.crossing import context_of
from twzemu.monitor.layout import GATE_BUFFER, GATE_BUFFER_SLOT, stack_bounds, stack_slot
from twzemu.objects.store import ObjectStore
from twzemu.security.gates import Gate, IsolationLevel
from twzemu.security.ids import CompartmentId

RETURN_POINT = KERNEL_BASE + 0x800
TEXT_SLOT = 2
ENTRY = slot_base(TEXT_SLOT) + 0x1000
SAFE_RULES = {(c, g): Rule.FRESH_STACK for c in range(4) for g in range(4)}


@pytest.fixture
def machine() -> Iterator[Machine]:
    with Machine(64 << 20) as machine:
        yield machine


def compartment(
    machine: Machine, cache: FrameCache, store: ObjectStore, ident: int, stack_prot: Prot = Prot.READ | Prot.WRITE
) -> tuple[EngineCompartment, AddressSpace]:
    """A compartment with a stack (mapped with ``stack_prot``), a gate buffer and a text object."""
    space = machine.new_space(cache, f"c{ident}")
    space.map_object(GATE_BUFFER_SLOT, ObjectBacking(store.create()), Prot.READ | Prot.WRITE, (1,))
    space.map_object(stack_slot(ident), ObjectBacking(store.create()), stack_prot)
    space.map_object(TEXT_SLOT + 2 * ident, ObjectBacking(store.create()), Prot.READ | Prot.EXEC)
    base, top = stack_bounds(ident)
    record = EngineCompartment(
        ident,
        context_of(space),
        0,
        base,
        top,
        space.physical(base),
        space.physical(GATE_BUFFER),
        frozenset(),
        0,
        Lifecycle.READY,
    )
    return record, space


def engine_with(machine: Machine, records: list[EngineCompartment], gates: list[Gate]) -> CrossingEngine:
    engine = CrossingEngine(machine, 16, RETURN_POINT, 0, GATE_BUFFER)
    engine.install(records, gates, SAFE_RULES)
    return engine


def test_a_frame_is_never_written_through_a_read_only_leaf(machine: Machine) -> None:
    """The callee's stack is mapped read-only in its page tables: the engine refuses the call and writes
    nothing, although its own page walk could reach the frame."""
    cache, store = FrameCache(machine.frames), ObjectStore.in_memory()
    one, space = compartment(machine, cache, store, 1, Prot.READ)
    engine = engine_with(machine, [one], [])
    top = stack_bounds(1)[1]
    assert space.resolve_fault(top - 8, Access.READ) is FaultOutcome.BACKED  # present, user, read-only
    space.write_virtual(top - 8, b"\xaa" * 8)
    assert engine.call(1, ENTRY) is Status.REFUSED
    assert space.read_virtual(top - 8, 8) == b"\xaa" * 8
    assert engine.depth == 0


def test_a_frame_goes_where_the_callee_may_write(machine: Machine) -> None:
    cache, store = FrameCache(machine.frames), ObjectStore.in_memory()
    one, space = compartment(machine, cache, store, 1)
    engine = engine_with(machine, [one], [])
    top = stack_bounds(1)[1]
    status = engine.call(1, ENTRY)
    if status is Status.NEED_PAGE:  # not backed yet: the monitor backs it and asks again
        address, root = engine.need_page()
        assert (address, root) == (top - 8, space.tables.root)
        assert space.resolve_fault(address, Access.READ) is FaultOutcome.BACKED
        status = engine.call(1, ENTRY)
    assert status is Status.ENTERED
    assert space.read_virtual(top - 8, 8) == RETURN_POINT.to_bytes(8, "little")


def test_a_gate_of_a_compartment_that_does_not_exist_is_refused(machine: Machine) -> None:
    """A gate record whose owner is out of range (or has no page tables) is refused, never followed."""
    cache, store = FrameCache(machine.frames), ObjectStore.in_memory()
    one, space = compartment(machine, cache, store, 1)
    far = Gate("far", CompartmentId(9), ENTRY + 0x100, 1)
    hole = Gate("hole", CompartmentId(0), ENTRY + 0x200, 1)  # compartment 0 has no record here: its cr3 is 0
    engine = engine_with(machine, [one], [far, hole])
    engine.resume(1)
    top = stack_bounds(1)[1]
    space.write_virtual(top - 0x100, (ENTRY + 4).to_bytes(8, "little"))
    machine.cpu.gpr[RSP] = top - 0x100
    assert engine.transfer(far.entry) is Status.REFUSED
    assert engine.transfer(hole.entry) is Status.REFUSED
    assert engine.call(7, ENTRY) is Status.REFUSED
    assert engine.call(-1, ENTRY) is Status.REFUSED
    assert engine.depth == 0


def test_a_gate_level_out_of_range_is_refused_when_installed(machine: Machine) -> None:
    cache, store = FrameCache(machine.frames), ObjectStore.in_memory()
    one, _ = compartment(machine, cache, store, 1)
    with pytest.raises(Exception, match="isolation level 7"):  # the record refuses it first
        engine_with(machine, [one], [Gate("bad", CompartmentId(1), ENTRY, 1, level=IsolationLevel.FULL + 4)])
