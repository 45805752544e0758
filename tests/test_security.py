"""The security model (twzemu.security) against straightforward reference models, pure Python.

What a user would notice if these failed: a compartment that can touch an object its context does not grant
(or cannot touch one it does), a crossing allowed somewhere other than a gate's exact entry, a crossing whose
cost grows with the number of gates, an isolation level that grants more than a weaker one, or a violation
report that does not say which rule refused the access.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from twzemu import sdk
from twzemu.errors import SecurityError, UsageError
from twzemu.objects import MAX_OBJECT_SIZE, NULL_PAGE_SIZE, ObjId, Prot
from twzemu.security import (
    GATE_ALIGNMENT,
    PROGRAM,
    TRAMPOLINE_ALIGNMENT,
    AccessKind,
    Capability,
    CompartmentId,
    CrossingRules,
    Gate,
    GateTable,
    IsolationLevel,
    SecurityContext,
    Verdict,
    ViolationRule,
    combine,
    compartment_rules,
    crossing_rules,
    decide,
    normalise,
    table,
)
from twzemu.security import levels as levels_module

ROOT = Path(__file__).resolve().parent.parent
R, W, X = Prot.READ, Prot.WRITE, Prot.EXEC
ALL_PROTS = [Prot(bits) for bits in range(8)]
GRANTABLE = [prot for prot in ALL_PROTS if prot and not (prot & W and prot & X)]
LEVELS = list(IsolationLevel)

OBJECT_POOL = [ObjId(n) for n in (1, 2, 0x1234, 1 << 64, (1 << 128) - 1)]
compartments = st.integers(0, 5).map(CompartmentId)
object_ids = st.sampled_from(OBJECT_POOL)
data_kinds = st.sampled_from([AccessKind.READ, AccessKind.WRITE, AccessKind.EXECUTE])
offsets = st.one_of(st.integers(0, NULL_PAGE_SIZE - 1), st.integers(0, MAX_OBJECT_SIZE - 1))


# --- reference models: sets of letters, written independently of the code under test -----------------------


def letters(prot: Prot) -> set[str]:
    return {letter for letter, bit in (("r", R), ("w", W), ("x", X)) if prot & bit}


def as_page_grants(rights: set[str]) -> set[str]:
    """What an x86 page with these rights allows: w or x is also r."""
    return rights | {"r"} if rights & {"w", "x"} else set(rights)


KIND_LETTER = {AccessKind.READ: "r", AccessKind.WRITE: "w", AccessKind.EXECUTE: "x"}
REFUSAL = {"r": ViolationRule.NO_CAPABILITY, "w": ViolationRule.NOT_WRITABLE, "x": ViolationRule.NOT_EXECUTABLE}


def reference_access(
    grants: dict[ObjId, Prot], mask: Prot | None, target: ObjId | None, offset: int, kind: AccessKind
) -> ViolationRule | None:
    """The rule a refused access must be reported under, or None when the context allows it."""
    if target is None:
        return ViolationRule.UNMAPPED
    if offset % MAX_OBJECT_SIZE < NULL_PAGE_SIZE:
        return ViolationRule.NULL_PAGE
    rights = as_page_grants(letters(grants[target])) if target in grants else set()
    if mask is not None:
        rights &= as_page_grants(letters(mask))
    if not rights:
        return ViolationRule.NO_CAPABILITY
    wanted = KIND_LETTER[kind]
    return None if wanted in rights else REFUSAL[wanted]


# --- capabilities -------------------------------------------------------------------------------------------


@given(st.sampled_from(ALL_PROTS), object_ids)
def test_capability_adds_read_to_write_or_exec_and_refuses_wx_and_empty(prot: Prot, target: ObjId) -> None:
    if not prot:
        with pytest.raises(SecurityError, match="empty capability"):
            Capability(target, prot)
    elif prot & W and prot & X:
        with pytest.raises(SecurityError, match=r"W\^X"):
            Capability(target, prot)
    else:
        cap = Capability(target, prot)
        assert letters(cap.prot) == as_page_grants(letters(prot))
        assert cap.target == target and isinstance(cap.target, ObjId)


def test_capability_refuses_bits_that_are_not_rights_and_coerces_plain_int_targets() -> None:
    with pytest.raises(SecurityError, match="not READ, WRITE or EXEC"):
        Capability(ObjId(1), Prot(8))
    assert isinstance(Capability(7, R).target, ObjId)  # type: ignore[arg-type]


def test_capability_is_frozen_and_slotted() -> None:
    cap = Capability(ObjId(1), R)
    with pytest.raises(AttributeError):
        cap.prot = W  # type: ignore[misc]
    assert not hasattr(cap, "__dict__")


def test_normalise_keeps_masks_like_rwx_but_adds_read() -> None:
    assert normalise(W | X) == R | W | X
    assert normalise(Prot(0)) == Prot(0)


# --- security contexts and check_access ---------------------------------------------------------------------


@st.composite
def contexts(draw: st.DrawFn) -> tuple[SecurityContext, dict[ObjId, Prot], Prot | None]:
    grants = draw(st.dictionaries(object_ids, st.sampled_from(GRANTABLE), max_size=len(OBJECT_POOL)))
    mask = draw(st.none() | st.sampled_from(ALL_PROTS))
    context = SecurityContext(draw(compartments), "ctx", mask=mask)
    for target, prot in grants.items():
        context.grant(Capability(target, prot))
    return context, grants, mask


@given(contexts(), st.none() | object_ids, offsets, data_kinds)
def test_the_rule_of_a_refused_access_agrees_with_the_reference_model(
    made: tuple[SecurityContext, dict[ObjId, Prot], Prot | None],
    target: ObjId | None,
    offset: int,
    kind: AccessKind,
) -> None:
    """The monitor decides a refused read, write or execute from what the executing context holds."""
    context, grants, mask = made
    expected = reference_access(grants, mask, target, offset, kind)
    assume(expected is not None)  # the monitor only ever decides accesses the page tables refused
    held = Prot(0) if target is None else context.prot_of(target)
    null_page = offset % MAX_OBJECT_SIZE < NULL_PAGE_SIZE
    rule = decide(kind, target is not None, null_page, held)
    assert rule is expected
    assert rule.is_fault is (rule in {ViolationRule.NULL_PAGE, ViolationRule.UNMAPPED})


@given(contexts(), object_ids)
def test_prot_of_is_always_what_a_page_can_grant(
    made: tuple[SecurityContext, dict[ObjId, Prot], Prot | None], target: ObjId
) -> None:
    context, _, _ = made
    prot = context.prot_of(target)
    assert not prot or (prot & R and not (prot & W and prot & X))


def test_grant_replaces_revoke_removes_and_mask_bounds_every_grant() -> None:
    context = SecurityContext(PROGRAM, "prog")
    data, text = ObjId(10), ObjId(11)
    assert context.grant(Capability(data, R)) is None
    assert context.grant(Capability(data, R | W)) == Capability(data, R)
    context.grant(Capability(text, R | X))
    assert context.prot_of(data) == R | W and context.num_capabilities == 2
    context.mask = R
    assert context.prot_of(data) == R and context.prot_of(text) == R
    assert context.capability(data) == Capability(data, R | W)  # the grant itself is kept
    context.mask = Prot(0)
    assert context.prot_of(data) == Prot(0)
    context.mask = None
    assert context.prot_of(text) == R | X
    assert context.revoke(text) == Capability(text, R | X)
    assert context.revoke(text) is None
    assert context.prot_of(text) == Prot(0)
    assert [cap.target for cap in context.iter_capabilities()] == [data]


def test_the_null_page_of_any_object_is_a_fault_even_with_a_capability() -> None:
    for kind in (AccessKind.READ, AccessKind.WRITE, AccessKind.EXECUTE):
        assert decide(kind, True, True, R | W) is ViolationRule.NULL_PAGE
        assert decide(kind, False, False, Prot(0)) is ViolationRule.UNMAPPED
    assert decide(AccessKind.WRITE, True, False, R) is ViolationRule.NOT_WRITABLE
    assert decide(AccessKind.EXECUTE, True, False, R | W) is ViolationRule.NOT_EXECUTABLE


def test_access_kinds_are_the_words_of_the_violation_line() -> None:
    # DESIGN.md "Guest ABI": `<read|write|execute|enter|hypercall>` (a wrong return is an execute).
    assert [kind.value for kind in AccessKind] == ["read", "write", "execute", "enter", "hypercall"]
    assert [AccessKind.of_prot(bit) for bit in (R, W, X)] == [AccessKind.READ, AccessKind.WRITE, AccessKind.EXECUTE]


# --- gates and the gate table -------------------------------------------------------------------------------

GATE_SPACING = 0x40  # entries of generated gates are this far apart, so lengths up to it never overlap
alignments = st.sampled_from([GATE_ALIGNMENT, TRAMPOLINE_ALIGNMENT])


def gate_base(index: int) -> int:
    """Entry of the ``index``-th generated gate: spread over three text slots, past each null page."""
    slot = 1 + index % 3
    return slot * MAX_OBJECT_SIZE + NULL_PAGE_SIZE + (index // 3) * GATE_SPACING


@st.composite
def gate_tables(draw: st.DrawFn) -> tuple[GateTable, list[Gate]]:
    specs = draw(
        st.lists(
            st.tuples(st.integers(1, GATE_SPACING), compartments, st.sampled_from(LEVELS), alignments),
            min_size=1,
            max_size=24,
        )
    )
    gates = [
        Gate(f"g{index}", owner, gate_base(index), length, alignment, level)
        for index, (length, owner, level, alignment) in enumerate(specs)
    ]
    return GateTable(draw(st.permutations(gates))), gates


@st.composite
def probed_addresses(draw: st.DrawFn, gates: list[Gate]) -> int:
    near = draw(st.sampled_from(gates))
    return draw(
        st.one_of(
            st.integers(near.entry - 2, near.end + 2),
            st.integers(0, 4 * MAX_OBJECT_SIZE),
            st.just(near.entry),
        )
    )


@given(st.data(), gate_tables())
def test_the_gate_table_finds_exact_entries_and_the_gate_around_an_address(
    data: st.DataObject, made: tuple[GateTable, list[Gate]]
) -> None:
    table_, gates = made
    address = data.draw(probed_addresses(gates))
    around = [gate for gate in gates if gate.entry <= address < gate.end]
    assert table_.gate_at(address) == next((gate for gate in gates if gate.entry == address), None)
    assert table_.gate_containing(address) == (around[0] if around else None)


def test_a_gate_is_entered_only_at_its_aligned_entry() -> None:
    gate = Gate("check_password", CompartmentId(2), 2 * MAX_OBJECT_SIZE + 0x1040, 0x30, TRAMPOLINE_ALIGNMENT)
    assert gate.is_entry(gate.entry)
    for address in (gate.entry + 1, gate.entry + TRAMPOLINE_ALIGNMENT, gate.end - 1):  # misaligned, middle, last
        assert gate.contains(address) and not gate.is_entry(address)
    assert not gate.contains(gate.end)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "no name"),
        ({"alignment": 24}, "power of two"),
        ({"entry": MAX_OBJECT_SIZE + 0x1008, "alignment": TRAMPOLINE_ALIGNMENT}, "aligned"),
        ({"entry": MAX_OBJECT_SIZE + 0x10}, "null page"),
        ({"length": 0}, "does not fit"),
        ({"entry": 2 * MAX_OBJECT_SIZE - 0x10, "length": 0x20}, "does not fit"),
        ({"level": 7}, "unknown isolation level"),
    ],
)
def test_malformed_gates_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "g",
        "owner": CompartmentId(2),
        "entry": MAX_OBJECT_SIZE + 0x1000,
        "length": 0x10,
    }
    with pytest.raises(SecurityError, match=message):
        Gate(**(fields | kwargs))  # type: ignore[arg-type]


def test_gate_level_from_a_gate_record_int_becomes_an_isolation_level() -> None:
    gate = Gate("g", CompartmentId(2), MAX_OBJECT_SIZE + 0x1000, 0x10, level=1)  # type: ignore[arg-type]
    assert gate.level is IsolationLevel.CALLEE


@given(gate_tables(), st.integers(0, 23), st.integers(-GATE_SPACING, GATE_SPACING), st.integers(1, 2 * GATE_SPACING))
def test_overlapping_gates_are_refused_and_the_table_is_unchanged(
    made: tuple[GateTable, list[Gate]], index: int, shift: int, length: int
) -> None:
    table_, gates = made
    victim = gates[index % len(gates)]
    entry = victim.entry + shift - shift % GATE_ALIGNMENT
    assume(entry % MAX_OBJECT_SIZE >= NULL_PAGE_SIZE)
    candidate = Gate("intruder", CompartmentId(7), entry, length)
    overlaps = any(gate.entry < candidate.end and candidate.entry < gate.end for gate in gates)
    if overlaps:
        with pytest.raises(SecurityError, match="overlaps"):
            table_.add(candidate)
        assert table_.num_gates == len(gates)
    else:
        table_.add(candidate)
        assert table_.gate_at(entry) is candidate
    assert [gate.entry for gate in table_.iter_gates()] == sorted(gate.entry for gate in table_.iter_gates())


def test_a_gate_declared_twice_in_a_compartment_is_refused() -> None:
    lib = CompartmentId(2)
    gates = GateTable([Gate("open", lib, MAX_OBJECT_SIZE + 0x1000, 0x10)])
    with pytest.raises(SecurityError, match="declared twice"):
        gates.add(Gate("open", lib, MAX_OBJECT_SIZE + 0x2000, 0x10))
    gates.add(Gate("open", CompartmentId(3), 2 * MAX_OBJECT_SIZE + 0x1000, 0x10))  # another library may
    assert gates.gate_named(lib, "open") == gates.gate_at(MAX_OBJECT_SIZE + 0x1000)
    assert [gate.owner for gate in gates.gates_of(CompartmentId(3))] == [3] and gates.gates_of(CompartmentId(9)) == ()


def profiled(function: Callable[..., object], *args: object) -> list[tuple[str, str]]:
    """Every Python and C function entered while running ``function(*args)`` (``sys.setprofile`` events)."""
    events: list[tuple[str, str]] = []

    def profile(frame, event, arg) -> None:  # type: ignore[no-untyped-def]
        if event.endswith("call"):
            events.append((event, frame.f_code.co_name if event == "call" else arg.__qualname__))

    # A garbage collection inside the call would run unrelated finalizers (e.g. of machines other tests left
    # for the collector) and record their calls too: collect first, and keep the collector out meanwhile.
    gc.collect()
    gc.disable()
    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
        gc.enable()
    return events[:-1]  # the last one is the call to sys.setprofile(None)


def test_gate_lookups_do_the_same_work_for_one_gate_and_for_ten_thousand() -> None:
    # DESIGN.md "Performance budgets": per-event work is O(1) in the number of compartments and gates. The
    # calls a lookup makes (every Python and C function entered) must not depend on the table's size.
    many = [Gate(f"g{index}", CompartmentId(2 + index % 5000), gate_base(index), 0x10) for index in range(10_000)]
    small, large = GateTable(many[:1]), GateTable(many)
    entry, owner = many[0].entry, many[0].owner
    for tables in ((small, large), (large, small)):
        for function, args in (
            (GateTable.gate_at, (entry,)),
            (GateTable.gate_at, (entry + 3 * GATE_ALIGNMENT,)),
            (GateTable.gates_of, (owner,)),
        ):
            assert profiled(function, tables[0], *args) == profiled(function, tables[1], *args)
    assert profiled(large.gate_at, entry) == [("call", "gate_at"), ("c_call", "dict.get")]  # one dict lookup


def test_a_context_exposes_only_its_own_gates_once() -> None:
    lib = CompartmentId(2)
    context = SecurityContext(lib, "prog::libpasswd.so")
    gate = Gate("check", lib, MAX_OBJECT_SIZE + 0x1000, 0x10)
    context.expose(gate)
    assert context.gates == (gate,) and context.gate("check") is gate
    with pytest.raises(SecurityError, match="already exposes"):
        context.expose(gate)
    with pytest.raises(SecurityError, match="not its own"):
        context.expose(Gate("other", PROGRAM, MAX_OBJECT_SIZE + 0x2000, 0x10))


# --- verdicts -----------------------------------------------------------------------------------------------


@given(st.sampled_from(list(ViolationRule)), st.sampled_from(list(AccessKind)), st.integers(0, 1 << 47))
def test_every_verdict_names_its_rule_and_says_fault_or_violation(
    rule: ViolationRule, kind: AccessKind, address: int
) -> None:
    verdict = Verdict(rule, kind, address, "prog::libpasswd.so", "prog", 0x80001000)
    assert verdict.is_fault is (rule in {ViolationRule.NULL_PAGE, ViolationRule.UNMAPPED})
    assert rule.value and "\n" not in rule.value


def test_records_are_frozen_and_slotted() -> None:
    verdict = Verdict(ViolationRule.NO_CAPABILITY, AccessKind.READ, 0x1000, "a", "b", 0)
    gate = Gate("g", CompartmentId(2), MAX_OBJECT_SIZE + 0x1000, 0x10)
    for record in (verdict, gate, crossing_rules(LEVELS[0], LEVELS[0])):
        assert not hasattr(record, "__dict__")
        first = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, first, None)


# --- isolation levels and the trust table -------------------------------------------------------------------


def test_isolation_levels_equal_the_c_macros_of_twz_h() -> None:
    header = (sdk.INCLUDE / "twz.h").read_text()
    macros = dict(re.findall(r"#define TWZ_ISOLATE_(\w+) (\d+)", header))
    assert {name: int(value) for name, value in macros.items()} == {level.name: level.value for level in LEVELS}


def test_isolation_level_labels_parse_back_and_bad_ones_name_the_choices() -> None:
    assert [level.label for level in LEVELS] == ["none", "callee", "caller", "full"]
    for level in LEVELS:
        assert IsolationLevel.parse(level.label) is level
    with pytest.raises(UsageError, match="none, callee, caller, full"):
        IsolationLevel.parse("paranoid")


# caller level (rows) x gate level (columns) -> effective level: RFC 0008's trust relationships combined.
N, E, C, F = IsolationLevel.NONE, IsolationLevel.CALLEE, IsolationLevel.CALLER, IsolationLevel.FULL
EXPECTED_JOIN = {
    N: {N: N, E: E, C: C, F: F},
    E: {N: E, E: E, C: F, F: F},
    C: {N: C, E: F, C: C, F: F},
    F: {N: F, E: F, C: F, F: F},
}
# effective level -> (fresh callee stack, callee reads/writes caller, caller reads/writes callee)
EXPECTED_RULES = {
    N: (False, True, True, True, True),
    E: (True, True, True, False, False),
    C: (True, False, False, True, True),
    F: (True, False, False, False, False),
}


@pytest.mark.parametrize(("caller", "callee"), list(itertools.product(LEVELS, repeat=2)))
def test_every_cell_of_the_trust_table(caller: IsolationLevel, callee: IsolationLevel) -> None:
    rules = crossing_rules(caller, callee)
    assert rules.level is EXPECTED_JOIN[caller][callee] is combine(caller, callee)
    assert (
        rules.callee_stack_fresh,
        rules.callee_reads_caller,
        rules.callee_writes_caller,
        rules.caller_reads_callee,
        rules.caller_writes_callee,
    ) == EXPECTED_RULES[rules.level]
    # Whoever is distrusted by either side's choice is kept out, and only then.
    assert rules.caller_reads_callee is not (caller.callee_distrusts_caller or callee.callee_distrusts_caller)
    assert rules.callee_reads_caller is not (caller.caller_distrusts_callee or callee.caller_distrusts_callee)


def access_granted(rules: CrossingRules) -> set[str]:
    flags = {
        "callee reads caller": rules.callee_reads_caller,
        "callee writes caller": rules.callee_writes_caller,
        "caller reads callee": rules.caller_reads_callee,
        "caller writes callee": rules.caller_writes_callee,
    }
    return {name for name, granted in flags.items() if granted}


def test_the_trust_table_respects_x86_writes_imply_reads() -> None:
    for row in table():
        assert row.rules.callee_reads_caller or not row.rules.callee_writes_caller
        assert row.rules.caller_reads_callee or not row.rules.caller_writes_callee
        for prot in (row.rules.callee_prot_on_caller, row.rules.caller_prot_on_callee):
            assert prot in (Prot(0), R, R | W)
    with pytest.raises(SecurityError, match="without reading"):
        CrossingRules(F, True, False, True, False, False)


def test_more_isolation_never_grants_more_access() -> None:
    rows = table()
    assert len(rows) == len(LEVELS) ** 2
    for weaker, stronger in itertools.product(rows, repeat=2):
        if stronger.caller_level.covers(weaker.caller_level) and stronger.callee_level.covers(weaker.callee_level):
            assert access_granted(stronger.rules) <= access_granted(weaker.rules)
            assert stronger.rules.callee_stack_fresh or not weaker.rules.callee_stack_fresh


def test_any_isolation_keeps_the_caller_stack_from_a_distrusted_callee() -> None:
    # DESIGN.md "Gate crossing" step 3: the caller's stack is never writable from an isolated callee it does not
    # trust, so such a callee must run on its own stack.
    for row in table():
        if row.rules.level.caller_distrusts_callee:
            assert row.rules.callee_stack_fresh and not row.rules.callee_writes_caller


def test_compartment_rules_take_the_strictest_gate() -> None:
    assert compartment_rules(N, [N, E]).level is E
    assert compartment_rules(N, [E, C]).level is F
    assert compartment_rules(C, [N]).level is C
    assert compartment_rules(N, []).level is N


def test_capability_rights_follow_the_table() -> None:
    assert crossing_rules(N, E).callee_prot_on_caller == R | W
    assert crossing_rules(N, E).caller_prot_on_callee == Prot(0)
    assert crossing_rules(C, N).caller_prot_on_callee == R | W


def test_the_docstring_tables_are_the_data() -> None:
    # The README reuses the module docstring's tables verbatim: they must be what the code does.
    for part in levels_module.markdown_table().split("\n\n"):
        assert part in (levels_module.__doc__ or "")


def test_the_security_package_imports_neither_unicorn_nor_the_machine() -> None:
    probe = (
        "import sys, twzemu.security; "
        "print(sorted(m for m in sys.modules if m.startswith(('unicorn', 'twzemu.machine', 'twzemu.mmu'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
