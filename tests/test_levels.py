"""RFC 0008's trust table, every cell, on real guests: what each side of a crossing may read and write of the
other's memory, and whose stack the callee runs on (README "Isolation"; twzemu/security/levels.py)."""

from __future__ import annotations

import itertools

import pytest
from conftest import guest, twzemu

from twzemu.abi import IsolationLevel
from twzemu.security.levels import crossing_rules

LEVELS = ["none", "callee", "caller", "full"]
CELLS = list(itertools.product(LEVELS, LEVELS))  # (caller level, gate level)


def run(caller_level: str, gate_level: str, mode: str):
    return twzemu("run", "--caller-isolation", f"levels={caller_level}", str(guest("levels/levels")), gate_level, mode)


def rules(caller_level: str, gate_level: str):
    return crossing_rules(IsolationLevel.parse(caller_level), IsolationLevel.parse(gate_level))


@pytest.mark.parametrize(("caller_level", "gate_level"), CELLS)
def test_what_the_callee_may_do_to_the_caller(caller_level, gate_level):
    expected = rules(caller_level, gate_level)
    done = run(caller_level, gate_level, "callee")
    assert done.status == 0, done.stderr
    reads = "callee reads caller: 7" if expected.callee_reads_caller else "callee reads caller: -14"
    writes = (
        "callee writes caller: 0 (word now 4242)"
        if expected.callee_writes_caller
        else "callee writes caller: -14 (word now 7)"
    )
    stack = f"callee shares caller stack: {0 if expected.callee_stack_fresh else 1}"
    assert done.stdout.splitlines() == [reads, writes, stack]


@pytest.mark.parametrize(("caller_level", "gate_level"), CELLS)
@pytest.mark.parametrize("mode", ["caller-read", "caller-write"])
def test_what_the_caller_may_do_to_the_callee(caller_level, gate_level, mode):
    expected = rules(caller_level, gate_level)
    allowed = expected.caller_writes_callee if mode == "caller-write" else expected.caller_reads_callee
    done = run(caller_level, gate_level, mode)
    if allowed:
        assert done.status == 0, done.stderr
        assert done.stdout.strip() in ("caller reads callee: 42", "caller writes callee: 99")
    else:
        assert done.status == 139
        kind = "write" if mode == "caller-write" else "read"
        assert done.stderr.startswith(f"twzemu: security violation: {kind} data_word+0x0 ")
        assert f"in levels::liblevel_{gate_level}.so from levels at main+" in done.stderr


def test_bad_caller_isolation_is_a_usage_error():
    done = twzemu("run", "--caller-isolation", "levels=paranoid", str(guest("levels/levels")), "none", "callee")
    assert done.status == 2 and "unknown isolation level 'paranoid'" in done.stderr
