"""RFC 0008's trust table as data: what each side of a gate crossing may touch of the other's memory.

Two levels meet at every crossing (DESIGN.md "Concepts"): the gate's, from its declaration (``TWZ_GATE_LEVEL``,
default ``full``), and the caller's, a load option (``--caller-isolation NAME=LEVEL``; ``none`` leaves the
decision to the gate). RFC 0008 lets each side ask for isolation and neither bypass the other's ("the caller can
never bypass the isolation by setting a different policy"), so a crossing runs at the *join* of the two: every
distrust either side states holds. The levels are bit sets (``gates.IsolationLevel``), so the join is their
bitwise OR:

| caller level / gate level | `none` | `callee` | `caller` | `full` |
|---|---|---|---|---|
| `none` | `none` | `callee` | `caller` | `full` |
| `callee` | `callee` | `callee` | `full` | `full` |
| `caller` | `caller` | `full` | `caller` | `full` |
| `full` | `full` | `full` | `full` | `full` |

A compartment's *memory* is its data objects, heap, stacks and TLS. At the effective level:

| effective level | callee's stack | callee → caller's memory | caller → callee's memory |
|---|---|---|---|
| `none` | the caller's | read, write | read, write |
| `callee` | fresh, its own | read, write | nothing |
| `caller` | fresh, its own | nothing | read, write |
| `full` | fresh, its own | nothing | nothing |

Why:

- ``callee`` (the callee does not trust the caller): the caller may neither read nor write the callee's memory
  (the service keeps its database to itself), and the callee runs on a fresh stack of its own, so a caller that
  aims ``rsp`` at the callee's data before the call cannot make the callee's own pushes corrupt it, and the
  callee's frames never land where the caller can read them (RFC 0008 "The stack"). The caller trusts the
  callee, so the callee may read and write the caller's memory, its stack included: a pointer to a buffer in
  the caller's frame works.
- ``caller`` (the caller does not trust the callee): the callee may neither read nor write the caller's memory,
  its stack included, so it needs a stack of its own; the callee trusts the caller, which may read and write
  the callee's memory.
- ``full``: both at once; DESIGN.md's "caller stack never writable from B" holds here and under ``caller``.
- ``none``: a plain library call on the caller's stack; both see each other's memory, as a program and its
  non-isolated libraries do.

Trust is all or nothing in each direction: the trusted side needs the other's memory read-write (buffers passed
by pointer, results written back), and a read-only grant would still leak what the distrusting side keeps
private. The converse could not be expressed anyway: a present x86 user page is always readable, so a write
grant is a read grant (``CrossingRules`` refuses a write without a read).

At every level, outside the table: text objects are never writable and are executable only in their own
compartment, so a call into another compartment always faults and becomes a crossing; each compartment has a
gate buffer of its own (``twz_gate_buffer``), and the crossing carries one message between the two sides'
buffers (``twzemu/sdk/include/twz.h``); ``rsp``, the callee-saved registers and the thread pointer of the caller
come back from the crossing record (DESIGN.md "Gate crossing").

When the rules apply (``twzemu/monitor/compartments.py`` builds the page tables):

- **per gate**: a crossing runs at the join of the caller's level and the level of the gate it crosses
  (``crossing_rules``); two gates of one library may run at different levels;
- **callee → caller, per crossing**: a callee the rules let see its caller runs, for the life of that
  crossing only, in page tables of its own that also map that caller's memory; before the crossing, after it,
  in its initialisers and in any crossing from someone else it sees nothing of that caller;
- **caller → callee, per binding**: a caller sees a callee's memory only if the linker bound it to at least one
  of the callee's gates, and only if every gate of the callee it is bound to allows it (``compartment_rules``
  over those gates' levels), so no gate's promise is weakened by a laxer gate of the same library;
- no third compartment ever gains anything from a pair's levels.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from twzemu.abi import IsolationLevel
from twzemu.errors import SecurityError
from twzemu.objects.layout import NO_PROT, Prot

_READ_WRITE = Prot.READ | Prot.WRITE


def combine(*levels: IsolationLevel) -> IsolationLevel:
    """The least level that honours every one of ``levels``: each side may ask for more isolation, never less."""
    result = IsolationLevel.NONE
    for level in levels:
        result = result.join(level)
    return result


@dataclass(frozen=True, slots=True)
class CrossingRules:
    """What a crossing at effective level ``level`` lets each side do to the other's memory."""

    level: IsolationLevel
    callee_stack_fresh: bool  # the callee runs on its own per-thread stack, not the caller's
    callee_reads_caller: bool
    callee_writes_caller: bool
    caller_reads_callee: bool
    caller_writes_callee: bool

    def __post_init__(self) -> None:
        # x86 user pages are always readable when present: a writable grant is a readable one.
        if self.callee_writes_caller and not self.callee_reads_caller:
            raise SecurityError(f"{self.level.label}: the callee cannot write the caller's memory without reading it")
        if self.caller_writes_callee and not self.caller_reads_callee:
            raise SecurityError(f"{self.level.label}: the caller cannot write the callee's memory without reading it")

    @property
    def callee_prot_on_caller(self) -> Prot:
        """The rights the callee's context gets on the caller's data objects (``Prot()``: none)."""
        return _prot(self.callee_reads_caller, self.callee_writes_caller)

    @property
    def caller_prot_on_callee(self) -> Prot:
        """The rights the caller's context gets on the callee's data objects (``Prot()``: none)."""
        return _prot(self.caller_reads_callee, self.caller_writes_callee)


def _prot(reads: bool, writes: bool) -> Prot:
    if writes:
        return _READ_WRITE
    return Prot.READ if reads else NO_PROT


def _rules_for(level: IsolationLevel) -> CrossingRules:
    # Trust is all or nothing in each direction: a trusted side needs its peer's memory read-write (buffers
    # passed by pointer, results written back), and a read-only grant would still leak what a distrusting
    # side protects. Any isolation at all gives the callee its own stack (see the module docstring).
    callee_trusted = not level.caller_distrusts_callee
    caller_trusted = not level.callee_distrusts_caller
    return CrossingRules(
        level=level,
        callee_stack_fresh=level is not IsolationLevel.NONE,
        callee_reads_caller=callee_trusted,
        callee_writes_caller=callee_trusted,
        caller_reads_callee=caller_trusted,
        caller_writes_callee=caller_trusted,
    )


_BY_LEVEL = {level: _rules_for(level) for level in IsolationLevel}
_BY_PAIR = {
    (caller, callee): _BY_LEVEL[caller.join(callee)] for caller, callee in itertools.product(IsolationLevel, repeat=2)
}


def crossing_rules(caller_level: IsolationLevel, callee_level: IsolationLevel) -> CrossingRules:
    """The rules of a crossing: the caller's level (a load option) joined with the gate's (its declaration)."""
    return _BY_PAIR[IsolationLevel(caller_level), IsolationLevel(callee_level)]


def compartment_rules(caller_level: IsolationLevel, gate_levels: Iterable[IsolationLevel]) -> CrossingRules:
    """The rules that hold for a caller at ``caller_level`` across all of ``gate_levels`` at once: the strictest.

    What a caller sees of a callee's memory is mapped in the caller's own page tables, outside any crossing, so
    it cannot depend on the gate called: the monitor grants it only as far as every gate of the callee the
    caller is bound to allows, and no gate's promise is weakened by a laxer gate of the same library.
    """
    return _BY_LEVEL[combine(caller_level, *gate_levels)]


@dataclass(frozen=True, slots=True)
class TrustRow:
    """One cell of the trust table: a caller level, a gate level and the rules they give."""

    caller_level: IsolationLevel
    callee_level: IsolationLevel
    rules: CrossingRules


def table() -> list[TrustRow]:
    """Every (caller level, gate level) combination, caller-major, with its rules."""
    return [TrustRow(caller, callee, rules) for (caller, callee), rules in _BY_PAIR.items()]


def _access(reads: bool, writes: bool) -> str:
    if writes:
        return "read, write"
    return "read" if reads else "nothing"


def markdown_table() -> str:
    """The two tables of the module docstring (and the README): levels combined, then what each level allows."""
    levels = list(IsolationLevel)
    lines = [
        "| caller level / gate level | " + " | ".join(f"`{level.label}`" for level in levels) + " |",
        "|---" * (len(levels) + 1) + "|",
    ]
    for caller in levels:
        cells = " | ".join(f"`{crossing_rules(caller, callee).level.label}`" for callee in levels)
        lines.append(f"| `{caller.label}` | {cells} |")
    lines += [
        "",
        "| effective level | callee's stack | callee → caller's memory | caller → callee's memory |",
        "|---|---|---|---|",
    ]
    for level in levels:
        rules = _BY_LEVEL[level]
        stack = "fresh, its own" if rules.callee_stack_fresh else "the caller's"
        callee = _access(rules.callee_reads_caller, rules.callee_writes_caller)
        caller = _access(rules.caller_reads_callee, rules.caller_writes_callee)
        lines.append(f"| `{level.label}` | {stack} | {callee} | {caller} |")
    return "\n".join(lines)
