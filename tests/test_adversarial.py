"""The adversarial property (issue 8, "Go beyond the list") and the canary property (issue 8, hole 5).

Hypothesis draws programs of four compartments from ``guests/prop`` (the program and three isolated libraries):
caller levels, which gates each compartment is bound to, what each initialiser does, and a script of nested
crossings, callbacks, re-entry and probes at random moments. ``prop_model.predictions`` says, from the security
rules alone, what every probe must get; the whole output, every report line and the exit status must match.
Runs are in process (``Monitor.run``): the same monitor the CLI drives, without a Python start-up per case.

``make campaign CASES=N`` runs these and the other properties for N cases each on every core (``campaign.py``).
"""

from __future__ import annotations

import io
import itertools

from conftest import guest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from prop_model import (
    BIND_VARIANTS,
    COMPARTMENTS,
    INIT_VARIANTS,
    Example,
    Guests,
    caller_isolation_key,
    examples,
    predictions,
)

from twzemu.monitor.monitor import Monitor
from twzemu.monitor.threads import Schedule
from twzemu.objects.store import ObjectStore
from twzemu.security.gates import IsolationLevel

PROP = Guests(guest("prop/driver").parent)
CI_CASES = {"adversarial": 250, "canaries": 120, "threads": 50}  # together under a minute in `make test`


def _run(example: Example, schedule: Schedule | None = None) -> tuple[int, str, str]:
    """``example`` run; with ``schedule``, its script runs in a thread of its own beside another that computes and
    calls the monitor, under that schedule."""
    out, err = io.BytesIO(), io.BytesIO()
    monitor = Monitor(
        ObjectStore.in_memory(),
        stdout=out,
        stderr=err,
        library_dirs=PROP.library_dirs(example.binds, example.inits),
        environment={},
        schedule=schedule,
    )
    monitor.caller_levels = {
        caller_isolation_key(c): IsolationLevel(level) for c, level in enumerate(example.caller_levels)
    }
    arguments = [example.script] if schedule is None else [example.script, "threads"]
    status = monitor.run(str(PROP.driver), arguments, timeout=30).status
    return status, out.getvalue().decode(errors="replace"), err.getvalue().decode(errors="replace")


def check(example: Example, schedule: Schedule | None = None) -> str:
    """Run ``example`` (under ``schedule``: see ``_run``) and compare it with every prediction the rules allow; the
    run's stdout if one matches."""
    status, stdout, stderr = _run(example, schedule)
    first = None
    for choices, prediction in predictions(example, PROP, threaded=schedule is not None):
        problem = prediction.mismatch(status, stdout, stderr)
        if problem is None:
            return stdout
        first = first or (choices, prediction, problem)
    assert first is not None
    choices, prediction, problem = first
    raise AssertionError(
        f"{problem}\nrun: {example.command_line(PROP)}\ngot (status {status}):\n{stdout}{stderr}"
        f"expected ({choices}):\n{prediction.render()}"
    )


# Issue 8's holes as examples, replayed before the drawn ones (every gate bound, no initialiser scripts):
ALL_BOUND = (0, 0, 0, 0)
HOLES = [
    # 1: node 1 reads the program's memory in a crossing at level callee, not in one at full nor after it returned,
    # and never the memory of node 2, which it learnt from the program
    Example((0, 0, 0, 0), ALL_BOUND, ALL_BOUND, "c11-{r0d w0h} c13-{r0h} c21d{Rd} a2d c11-{r2d}"),
    # 6: a message reaches only its receiver: node 1 forwards nothing it received to node 2
    Example((0, 0, 0, 0), ALL_BOUND, ALL_BOUND, "c10-{b20 h c23-{h}}"),
    # 7: node 2's initialiser calls node 1 (inits variant 1), whose initialiser must have run first
    Example((0, 0, 0, 0), ALL_BOUND, (0, 0, 1, 0), "c20-{}"),
    # found by `make campaign`: node 3 failed to initialise, so node 2's call to it is answered without entering;
    # the message it wrote is used up, and the reply it writes next (zeros, after the failed call) still reaches
    # the program (the engine left node 2's stale buffer writable: the write did not start a new message)
    Example((0, 0, 0, 0), (3, 0, 1, 0), (0, 0, 0, 1), "c20-{c33-{}} h"),
]


@settings(max_examples=CI_CASES["adversarial"])
@given(examples(PROP))
@example(HOLES[0])
@example(HOLES[1])
@example(HOLES[2])
@example(HOLES[3])
def test_every_probe_gets_what_the_rules_say(example):
    check(example)


@settings(max_examples=CI_CASES["threads"])
@given(examples(PROP), st.integers(0, 2**32 - 1), st.sampled_from([300, 3000, 30000]))
def test_every_probe_gets_what_the_rules_say_from_a_thread_preempted_anywhere(example, seed, quantum):
    """The same property with the script in a second thread, beside a third that computes and calls the monitor,
    under a seeded schedule (quanta of 1 to 2 x ``quantum`` instructions): being preempted anywhere — inside a
    crossing, an initialiser, a violation's unwinding — and entering compartments as a thread they have not seen
    changes nothing a probe gets."""
    check(example, Schedule(quantum, seed))


# Hole 5: X calls Y's gate at level none (Y runs on X's stack), Y calls the isolated Z, Z calls X's gate: X's new
# frame must go below Y's live frames, never over them.
HOLE_5 = Example((0, 0, 0, 0), ALL_BOUND, ALL_BOUND, "c10-{z2{c23-{c03-{z4{} S} S}}}")


@settings(max_examples=CI_CASES["canaries"])
@given(examples(PROP, calls_only=True))
@example(HOLE_5)
def test_no_crossing_overwrites_a_live_frame(example):
    stdout = check(example)
    assert "CANARY" not in stdout


def test_the_building_blocks_are_what_the_model_reads():
    """Variant 0 binds every gate of every other compartment; variants 1..8 give every pair each of the eight sets
    of levels bind.c lists; every gate is longer than the largest offset `g` calls it at (so it never lands on
    another gate's entry); every initialiser script is one of init.c's."""
    subsets = {frozenset(s) for s in ({0}, {1}, {2}, {3}, {0, 2}, {0, 3}, {1, 2}, set())}
    for c, other in itertools.permutations(COMPARTMENTS, 2):
        assert PROP.bound(c, 0)[other] == frozenset(range(4))
        assert {PROP.bound(c, v)[other] for v in range(1, BIND_VARIANTS)} == subsets
        assert all(not PROP.bound(c, v)[c] for v in range(BIND_VARIANTS))
    sizes = PROP.gate_sizes()
    assert len(sizes) == 16 and min(sizes.values()) > 4
    assert [PROP.init_script(c, 0) for c in COMPARTMENTS] == [""] * 4
    assert all(PROP.init_script(c, v) for c in COMPARTMENTS for v in range(1, INIT_VARIANTS))
