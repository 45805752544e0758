"""Isolation properties on real guests, driven by Hypothesis (issue 4, "Hypothesis properties").

``guests/probe`` runs a list of operations against two isolated libraries, a and b: accesses to the data and
heap objects of every compartment, chains of gate calls along random paths, calls to a gate's entry at an offset,
and gate entries by jmp with a forged return address. A small model says what each must return: an access
succeeds exactly when the executing compartment owns the object (every crossing here is fully isolated), a chain
returns its path's value, only offset 0 is an entry, a forged return address passes only if it follows a call
instruction; anything refused returns TWZ_EFAULT with one report line, and the program always finishes outside
any gate (no crossing left behind).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from conftest import guest, twzemu
from hypothesis import given, settings
from hypothesis import strategies as st

from twzemu.elf.callsites import return_sites
from twzemu.monitor.monitor import Monitor
from twzemu.objects.store import ObjectStore

EFAULT = -14
MARK = {"a": 100, "b": 200}

compartments = st.sampled_from("pab")
libraries = st.sampled_from("ab")
accesses = st.tuples(st.sampled_from("RW"), libraries, compartments, st.sampled_from("dh")).map("".join)
chains = st.text(alphabet="ab", min_size=1, max_size=6).map(lambda path: "C" + path)
jumps = st.tuples(libraries, st.sampled_from([0, 0, 1, 2, 3, 4, 8, 16, 24, 32])).map(lambda j: f"J{j[0]}{j[1]}")
operations = st.lists(st.one_of(accesses, chains, jumps), min_size=1, max_size=24)


PROBE = Monitor(ObjectStore.in_memory()).link(str(guest("probe/probe")))  # linked once, for the models
GATES = {gate.name: gate.entry for gate in PROBE.gates}
ENTRIES = set(GATES.values())


def lands_on_a_gate(library: str, offset: int) -> bool:
    """Whether the other library's read gate + offset is some gate's entry (then the call is legitimate)."""
    other = "b" if library == "a" else "a"
    return GATES[f"probe_{other}_read"] + offset in ENTRIES


class Model:
    def __init__(self) -> None:
        self.memory = {("p", "d"): 7, ("p", "h"): 8, ("a", "d"): 100, ("a", "h"): 101, ("b", "d"): 200, ("b", "h"): 201}

    def run(self, op: str) -> int:
        kind = op[0]
        if kind in "RW":
            executor, owner, obj = op[1], op[2], op[3]
            if executor != owner:
                return EFAULT
            if kind == "W":
                self.memory[(owner, obj)] = 1000
                return 1000
            return self.memory[(owner, obj)]
        if kind == "C":
            return sum(MARK[letter] * (depth + 1) for depth, letter in enumerate(op[1:]))
        other = "b" if op[1] == "a" else "a"
        return self.memory[(other, "d")] if int(op[2:]) == 0 else EFAULT


def legitimate(op: str) -> bool:
    """Jumps that land on another gate's entry are ordinary gate calls, with that gate's result: not modelled."""
    return not (op[0] == "J" and int(op[2:]) != 0 and lands_on_a_gate(op[1], int(op[2:])))


@settings(max_examples=10)  # tests/test_kit_properties.py runs the accesses and jumps many more times, on one machine
@given(operations.map(lambda ops: [op for op in ops if legitimate(op)]))
def test_every_access_and_crossing_behaves_as_the_model_says(ops):
    done = twzemu("run", str(guest("probe/probe")), *ops)
    assert done.status == 0, done.stderr
    model = Model()
    expected = [str(model.run(op)) for op in ops] + ["done -1"]
    assert done.stdout.splitlines() == expected
    reports = done.stderr.splitlines()
    assert len(reports) == expected.count(str(EFAULT))
    assert all(re.match(r"twzemu: security violation: (read|write|enter|execute) ", line) for line in reports)


@settings(max_examples=10)
@given(st.integers(1, 64).filter(lambda offset: not lands_on_a_gate("a", offset)))
def test_a_mutated_gate_entry_is_always_caught(offset):
    done = twzemu("run", str(guest("probe/probe")), f"Ja{offset}", "Ja0")
    assert done.stdout.splitlines() == [str(EFAULT), "200", "done -1"]
    assert re.match(r"twzemu: security violation: (execute|enter) ", done.stderr)


def _text_and_return_sites(library: str) -> tuple[range, frozenset[int]]:
    lib = next(lib for lib in PROBE.libraries if lib.name == library)
    text = next(s for s in lib.loaded.image.segments if s.p_vaddr == 0)  # the R-X segment (headers in page 0)
    return range(lib.base + 0x1000, lib.base + text.p_memsz), return_sites(lib.loaded.image, lib.base)


TEXT_A, SITES_A = _text_and_return_sites("libprobea.so")


@settings(max_examples=12)
@given(st.one_of(st.sampled_from(sorted(SITES_A)), st.sampled_from(TEXT_A)))
def test_a_forged_return_address_is_caught_unless_it_follows_a_call(return_address):
    done = twzemu("run", "--timeout", "10", str(guest("probe/probe")), f"Fa{return_address:x}")
    entered = not done.stderr.startswith("twzemu: security violation: enter probe_b_read+0x0 ")
    assert entered == (return_address in SITES_A), done.stderr
    assert "Traceback" not in done.stderr


@settings(max_examples=10)
@given(operations.map(lambda ops: [op for op in ops if legitimate(op)]))
def test_traced_crossings_behave_exactly_as_the_engines(ops):
    """Without ``--trace`` the crossing engine (C) completes allowed crossings inside the fault hook; with it,
    each one comes through Python to be printed. The guest must see no difference, and every crossing but the
    final one into the monitor's exit returns."""
    fast = twzemu("run", str(guest("probe/probe")), *ops)
    with tempfile.TemporaryDirectory() as files:  # the timeline and the call graph watch the same crossings
        timeline, graph = Path(files, "trace.json"), Path(files, "graph.dot")
        traced = twzemu("run", "--trace", "--trace-json", str(timeline), "--graph", str(graph),
                        str(guest("probe/probe")), *ops)  # fmt: skip
        crossings = [e for e in json.loads(timeline.read_text())["traceEvents"] if e["ph"] == "X"]
        assert graph.read_text().startswith("digraph")
    assert (traced.status, traced.stdout) == (fast.status, fast.stdout)
    lines = traced.stderr.splitlines()
    assert [line for line in lines if not line.startswith("twzemu: trace: ")] == fast.stderr.splitlines()
    enters = sum(line.startswith("twzemu: trace: enter ") for line in lines)
    returns = sum(line.startswith("twzemu: trace: return ") for line in lines)
    assert enters == returns + 1 and lines[-1].startswith("twzemu: trace: enter T1 probe -> monitor __twz_monitor_exit")
    assert len(crossings) == enters  # every crossing once, the exit's marked unfinished
    assert [e["args"].get("unfinished") for e in crossings].count(True) == 1
