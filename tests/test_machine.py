"""The machine on real Unicorn: user mode with paging, fault delivery, the #1883 workaround, lifecycle."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twzemu.abi import Hypercall
from twzemu.loader import ObjectBacking, slot_base
from twzemu.machine.cpustate import RAX, RCX, RSP
from twzemu.machine.events import Fault, StopReason, Watch
from twzemu.machine.machine import Machine, assemble
from twzemu.machine.x86 import Vector
from twzemu.mmu.pte import Prot
from twzemu.mmu.space import Access, AddressSpace, FrameCache
from twzemu.objects.layout import PAGE_SIZE
from twzemu.objects.store import ObjectStore

TEXT_SLOT, STACK_SLOT, TARGET_SLOT = 2, 4, 6
TEXT = slot_base(TEXT_SLOT) + 0x1000
TARGET = slot_base(TARGET_SLOT) + 0x5000
EXIT = int(Hypercall.EXIT)

# Probe programs, one per access kind; each ends in the EXIT hypercall when the access succeeds.
PROBES = {
    Access.READ: f"mov rcx, {TARGET:#x}; mov rax, [rcx]; mov eax, {EXIT}; syscall",
    Access.WRITE: f"mov rcx, {TARGET:#x}; mov [rcx], rax; mov eax, {EXIT}; syscall",
    Access.FETCH: f"mov rcx, {TARGET:#x}; call rcx; mov eax, {EXIT}; syscall",
}
PROBE_OFFSET = {Access.READ: 0, Access.WRITE: 0x100, Access.FETCH: 0x200}
FAULT_COUNT = 10_000
FAULT_LOOP = TEXT + 0x400
FAULT_LOOP_SOURCE = f"""
        mov rdx, {FAULT_COUNT}
    again:
        mov rcx, {TARGET:#x}
        mov rax, [rcx]
        dec rdx
        jnz again
        mov eax, {EXIT}
        syscall
"""


class Guest:
    """A machine plus a fresh address space with probe text, a stack and (optionally) a target object."""

    def __init__(self, machine: Machine, store: ObjectStore) -> None:
        self.machine = machine
        self.store = store
        self.cache = FrameCache(machine.frames)
        self.text = store.create()
        for access, source in PROBES.items():
            self.text.write(0x1000 + PROBE_OFFSET[access], assemble(source, TEXT + PROBE_OFFSET[access]))
        self.text.write(FAULT_LOOP - slot_base(TEXT_SLOT), assemble(FAULT_LOOP_SOURCE, FAULT_LOOP))
        self.stack = store.create()

    def space(self, target_prot: Prot | None, present: bool) -> AddressSpace:
        m = self.machine
        space = m.new_space(self.cache, "probe")
        space.map_object(TEXT_SLOT, ObjectBacking(self.text), Prot.READ | Prot.EXEC)
        space.map_object(STACK_SLOT, ObjectBacking(self.stack), Prot.READ | Prot.WRITE)
        if target_prot is not None:
            target = self.store.create()
            target.write(TARGET - slot_base(TARGET_SLOT), b"\xc3")  # ret: a fetch that succeeds comes back
            eager = [(TARGET - slot_base(TARGET_SLOT)) // PAGE_SIZE] if present else []
            space.map_object(TARGET_SLOT, ObjectBacking(target), target_prot, eager_pages=eager)
        m.switch_space(space)
        m.cpu.gpr[RSP] = slot_base(STACK_SLOT) + 0x10_0000
        return space


@pytest.fixture(scope="module")
def machine():
    with Machine(64 << 20) as m:
        m.on_hypercall = lambda mach: mach.exit(0) if mach.cpu.gpr[RAX] == EXIT else None
        yield m


@pytest.fixture(scope="module")
def guest(machine):
    return Guest(machine, ObjectStore.in_memory())


def allowed(access: Access, prot: Prot | None) -> bool:
    """The reference model: x86 user pages are always readable; W and X need their bit."""
    if prot is None:
        return False
    return {Access.READ: True, Access.WRITE: bool(prot & Prot.WRITE), Access.FETCH: bool(prot & Prot.EXEC)}[access]


PROTS = [None, Prot.READ, Prot.READ | Prot.WRITE, Prot.READ | Prot.EXEC]


@given(access=st.sampled_from(list(Access)), prot=st.sampled_from(PROTS), present=st.booleans())
def test_user_access_faults_exactly_when_the_model_says(guest, machine, access, prot, present):
    guest.space(prot, present)
    stop = machine.run(TEXT + PROBE_OFFSET[access])
    if allowed(access, prot):
        assert stop.reason is StopReason.EXIT, stop
        return
    assert stop.reason is StopReason.FAULT
    fault = stop.fault
    assert (fault.vector, fault.address, fault.access) == (Vector.PAGE_FAULT, TARGET, access)
    # a denied page was present only if it was mapped and touched before
    assert fault.present == (present and prot is not None)


def test_guest_runs_at_cpl3_with_paging(machine, guest):
    guest.space(Prot.READ, present=False)
    machine.run(TEXT)
    uc = machine.uc
    from unicorn import x86_const as X

    assert uc.reg_read(X.UC_X86_REG_CS) & 3 == 3
    assert uc.reg_read(X.UC_X86_REG_CR0) & (1 << 31)
    assert not uc.reg_read(X.UC_X86_REG_CR4) & (1 << 16), "CR4.FSGSBASE must be clear"


def test_ten_thousand_faults_in_one_run_are_all_page_faults(machine, guest):
    """Unicorn 2.1.4 turns the 2nd fault into #DF and silently stops on the 3rd (issue #1883)."""
    guest.space(None, present=False)
    faults: list[tuple[Vector, int, Access]] = []
    skip = len(assemble("mov rax, [rcx]"))

    def on_fault(fault: Fault) -> bool:
        faults.append((fault.vector, fault.address, fault.access))
        machine.cpu.rip[0] = fault.rip + skip  # resume after the load, as a signal handler would
        return True

    machine.on_fault = on_fault
    try:
        stop = machine.run(FAULT_LOOP)
    finally:
        machine.on_fault = None
    assert stop.reason is StopReason.EXIT
    assert len(faults) == FAULT_COUNT
    assert set(faults) == {(Vector.PAGE_FAULT, TARGET, Access.READ)}


def test_hook_errors_stop_the_run_and_are_raised(machine, guest):
    guest.space(None, present=False)

    def broken(_fault: Fault) -> bool:
        raise RuntimeError("handler bug")

    machine.on_fault = broken
    try:
        with pytest.raises(RuntimeError, match="handler bug"):
            machine.run(TEXT + PROBE_OFFSET[Access.READ])
    finally:
        machine.on_fault = None


def test_single_step_runs_exactly_one_instruction(machine, guest):
    guest.space(Prot.READ, present=True)
    machine.cpu.rip[0] = TEXT
    stop = machine.step()
    assert stop.reason is StopReason.STEP
    assert machine.cpu.rip[0] == TEXT + len(assemble(f"mov rcx, {TARGET:#x}"))
    assert machine.cpu.gpr[RCX] == TARGET
    machine.step()
    assert machine.cpu.rip[0] == TEXT + len(assemble(f"mov rcx, {TARGET:#x}; mov rax, [rcx]"))


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_machine_cycles_do_not_grow_memory():
    def cycle() -> None:
        with Machine(16 << 20) as m:
            m.on_hypercall = lambda mach: None
            m.on_fault = lambda fault: False

    for _ in range(50):
        cycle()
    gc.collect()
    before = _rss_kib()
    for _ in range(1000):
        cycle()
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 16 * 1024, f"1000 machine cycles grew RSS by {grown} KiB"


def test_reducing_a_mapping_takes_effect_at_once(machine, guest):
    """A page the CPU already cached as writable faults after protect_slot: the TLB is flushed."""
    space = guest.space(Prot.READ | Prot.WRITE, present=True)
    assert machine.run(TEXT + PROBE_OFFSET[Access.WRITE]).reason is StopReason.EXIT
    space.protect_slot(TARGET_SLOT, Prot.READ)
    stop = machine.run(TEXT + PROBE_OFFSET[Access.WRITE])
    assert stop.reason is StopReason.FAULT
    assert (stop.fault.address, stop.fault.access, stop.fault.present) == (TARGET, Access.WRITE, True)
    space.unmap_slot(TARGET_SLOT)
    stop = machine.run(TEXT + PROBE_OFFSET[Access.READ])
    assert (stop.reason, stop.fault.present) == (StopReason.FAULT, False)


def test_a_watched_read_after_an_instruction_straddling_into_an_unbacked_page_still_stops(machine, guest):
    """Unicorn 2.1.4 silences every memory hook for the rest of a run once an access crossing into a page not
    yet present faults on its second page (``size_recur_mem`` is left set); the machine re-arms the hooks after
    each fault it handles while watchpoints are set. Here the instruction is a ``mov eax, imm32`` whose immediate
    lies on the next text page, backed only when touched."""
    space = guest.space(Prot.READ, present=True)
    straddle = TEXT + 3 * PAGE_SIZE - 3  # text pages 3 and 4 were never touched
    source = f"mov eax, 0x11223344; mov rcx, {TARGET:#x}; mov rax, [rcx]; mov eax, {EXIT}; syscall"
    guest.text.write(straddle - slot_base(TEXT_SLOT), assemble(source, straddle))
    physical = space.physical(TARGET)
    watch = Watch(TARGET, 8, on_write=False, on_read=True)
    remove = machine.watch({watch: (range(physical, physical + 8),)})
    try:
        stop = machine.run(straddle)
    finally:
        remove()
    assert stop.reason is StopReason.WATCHPOINT and stop.watch == watch
