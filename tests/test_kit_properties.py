"""The project's own isolation properties, written with ``twzemu.testing`` (issue 15), each case on one machine
restored to its snapshot: random gate calls into an isolated library (``guests/build/isolation``), then random
probes of memory by every compartment (whatever was called, a compartment reaches, reads or writes, only its own
objects); and the probe libraries' model (``tests/test_properties.py`` runs it through whole programs), here a
hundred cases in the time a few whole runs take."""

from __future__ import annotations

import pytest
from conftest import guest
from hypothesis import given
from hypothesis import strategies as st

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


# -- the probe libraries' model (tests/test_properties.py), case after case on one machine ----------------------------

probe = Library("libprobea.so", library_dirs=[str(guest("probe"))], others=["libprobeb.so"])
probes = probe.fixture()
MARK = {"a": 100, "b": 200}
LIBRARY = {"a": "libprobea.so", "b": "libprobeb.so"}
letters = st.sampled_from("ab")
# R/W<executor><owner><object>: a library's gate reads or writes a word of a library's data (d) or heap (h);
# J<library><offset>: a library calls the other's read gate at its entry + offset
accesses = st.tuples(st.sampled_from("RW"), letters, letters, st.sampled_from("dh"))
jumps = st.tuples(st.just("J"), letters, st.sampled_from([0, 0, 1, 2, 3, 4, 8, 16, 24, 32]))
steps = st.lists(st.one_of(accesses, jumps), min_size=1, max_size=12)


def lands_on_a_gate(machine, library: str, offset: int) -> bool:
    other = "b" if library == "a" else "a"
    entry = machine.session.address_of(LIBRARY[other], f"probe_{other}_read")
    gates = {g.entry for g in machine.session.boot().linked.gates}
    return offset != 0 and entry + offset in gates


@given(steps)
def test_every_access_and_jump_behaves_as_the_model_says(probes, ops):
    """Each case from the snapshot: an access succeeds exactly when the executing library owns the object (its value
    as the model keeps it; a write stores 1000), otherwise the callee's fault is reported and the call fails; only a
    gate's offset 0 is an entry."""
    from twzemu import GateSecurityError

    probes.restore()
    memory = {(x, o): MARK[x] + (o == "h") for x in "ab" for o in "dh"}
    for op in ops:
        kind, library = op[0], op[1]
        if kind == "J" and lands_on_a_gate(probes, library, op[2]):
            continue
        if kind == "J":
            other = "b" if library == "a" else "a"
            address = probes.call(f"probe_{other}_address", 0, library=LIBRARY[other])
            expected = memory[(other, "d")] if op[2] == 0 else None
            call = (f"probe_{library}_jump", op[2], address)
        else:
            owner, obj = op[2], op[3]
            address = probes.call(f"probe_{owner}_address", int(obj == "h"), library=LIBRARY[owner])
            allowed = library == owner
            if kind == "W" and allowed:
                memory[(owner, obj)] = 1000
            expected = memory[(owner, obj)] if allowed else None
            call = (f"probe_{library}_{'read' if kind == 'R' else 'write'}", address, *([1000] * (kind == "W")))
        if expected is None:
            with pytest.raises(GateSecurityError, match=r"twzemu: (security violation|fault): "):
                probes.call(*call, library=LIBRARY[library])
        else:
            assert probes.call(*call, library=LIBRARY[library]) == expected
