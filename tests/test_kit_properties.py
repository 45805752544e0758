"""The project's own isolation properties, written with ``twzemu.testing`` (issue 15): random gate calls into two
isolated libraries (``guests/build/isolation``), then random probes of memory by every compartment, all on one
machine restored between cases. Whatever was called, a compartment reaches (reads or writes) only its own
objects: the page tables of each map no other compartment's text, data, stack, heap or gate buffer."""

from __future__ import annotations

from conftest import guest
from hypothesis import given

from twzemu.mmu.space import Access
from twzemu.testing import Call, Library, Probe

LIBRARIES = [str(guest("isolation"))]
counter = Library("libcounter.so", library_dirs=LIBRARIES)
machine = counter.fixture()
GUEST_COMPARTMENTS = ["twzcall", "twzcall::libcounter.so"]
GATES = ("counter_add", "counter_calls_from", "counter_sum", "counter_total_address")


def owners(machine, probe: Probe) -> set[str | None]:
    """What the probe's first and last bytes lie in, as its compartment maps them."""
    last = Probe(probe.compartment, probe.address + probe.length - 1, 1)
    return {machine.object_at(probe), machine.object_at(last)}


@given(counter.calls(*GATES, max_size=4), counter.probes(GUEST_COMPARTMENTS))
def test_a_compartment_reaches_only_its_own_objects(machine, calls, probe):
    machine.run(calls)
    for access in (Access.READ, Access.WRITE):
        if machine.may(probe, access):
            assert all(
                owner is not None and owner.startswith(f"{probe.compartment}:") for owner in owners(machine, probe)
            ), f"{probe} may {access.name.lower()} {owners(machine, probe)}"


TOTAL = Call("counter_add", (0,))  # adds nothing: says the total


@given(counter.calls(*GATES, max_size=6))
def test_every_case_starts_from_the_snapshot(machine, calls):
    base = machine.run([TOTAL])[0]
    total = machine.run([*calls, TOTAL])[-1]
    added = sum(call.arguments[0] for call in calls if call.function == "counter_add")
    assert total == signed(base + added)
    assert machine.run([TOTAL])[0] == base  # nothing of the case is left


def signed(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value
