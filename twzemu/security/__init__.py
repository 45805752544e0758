"""The security model: who may read, write, execute and enter what. Pure Python: no Unicorn, no machine.

Vocabulary, bottom up:

* ``ids`` — ``CompartmentId`` (0 the monitor, 1 the program, then isolated libraries in load order);
* ``capability`` — ``Capability``: rights on one object, normalised as x86 pages grant them (W or X implies R;
  W|X refused);
* ``gates`` — ``Gate`` (a compartment's function, entered only at its exact, aligned entry), ``GateTable``
  (O(1) lookup by entry address); its ``IsolationLevel`` (RFC 0008's four trust levels) is ``twz.h``'s, so it
  lives in ``twzemu.abi``;
* ``context`` — ``SecurityContext``: one per compartment, its capabilities, mask and exposed gates;
* ``levels`` — the trust table: ``crossing_rules(caller level, gate level)`` says which side may touch which
  memory and whether the callee gets its own stack;
* ``check`` — ``Verdict``: a refused access and the ``ViolationRule`` that refused it (``decide``).

How a refusal becomes a verdict:

1. The monitor builds each compartment's page tables from its ``SecurityContext`` (``prot_of`` of every object
   it maps; what the trust table grants, per crossing and per binding: ``levels``), so the MMU refuses exactly
   what the context does; the crossing engine refuses a gate entry and says why; the machine refuses a
   ``syscall`` outside the monitor's gate code.
2. The monitor turns the refusal into a ``Verdict`` (``monitor.Run.verdict``): how the address was touched,
   whose object lies there (its slot map), what the executing page tables hold for it (``check.decide``).
3. ``monitor.report`` renders it; its rule says whether the line is a plain fault (``NULL_PAGE``, ``UNMAPPED``)
   or a security violation. Inside a crossing the crossing is unwound, elsewhere the program stops (DESIGN.md
   "What a violation does").
"""

from twzemu.abi import IsolationLevel
from twzemu.security.capability import Capability, normalise
from twzemu.security.check import AccessKind, Verdict, ViolationRule, decide
from twzemu.security.context import SecurityContext
from twzemu.security.gates import GATE_ALIGNMENT, TRAMPOLINE_ALIGNMENT, Gate, GateTable
from twzemu.security.ids import MONITOR, PROGRAM, CompartmentId
from twzemu.security.levels import CrossingRules, TrustRow, combine, compartment_rules, crossing_rules, table

__all__ = [
    "GATE_ALIGNMENT",
    "MONITOR",
    "PROGRAM",
    "TRAMPOLINE_ALIGNMENT",
    "AccessKind",
    "Capability",
    "CompartmentId",
    "CrossingRules",
    "Gate",
    "GateTable",
    "IsolationLevel",
    "SecurityContext",
    "TrustRow",
    "Verdict",
    "ViolationRule",
    "combine",
    "compartment_rules",
    "crossing_rules",
    "decide",
    "normalise",
    "table",
]
