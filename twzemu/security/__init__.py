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
* ``check`` — the decisions: ``AccessInfo`` in, ``Verdict`` out.

How a fault becomes a verdict:

1. The monitor builds each compartment's page tables from its ``SecurityContext`` (``prot_of`` of every object
   it maps, the other compartments' memory per ``levels``), so the MMU refuses exactly what the context does.
2. A refused access reaches the monitor as a page fault: an address, the access (read, write or fetch) and the
   instruction pointer. The monitor resolves the address to an object and offset (its slot map) and the
   instruction pointer likewise, and fills an ``AccessInfo`` (Twizzler's ``AccessInfo{target, access_kind,
   exec_id, exec_off}`` plus the executing compartment).
3. A read or write goes to ``check_access``. A fetch does too, and when it is refused in another compartment's
   text the monitor asks ``check_entry`` (a gate entry?), or ``check_return`` when it lands on the return
   point of the thread's innermost crossing; a ``syscall`` goes to ``check_hypercall``.
4. The ``Verdict`` names its ``ViolationRule``: ``ALLOWED``, a plain fault (``NULL_PAGE``, ``UNMAPPED``), or a
   violation the monitor reports with ``SecurityViolation`` (``twzemu.errors``, exit status 139) or unwinds as
from twzemu.abi import IsolationLevel
   DESIGN.md "What a violation does" says.
"""

from twzemu.security.capability import Capability, normalise
from twzemu.security.check import (
    AccessInfo,
    AccessKind,
    Verdict,
    ViolationRule,
    check_access,
    check_entry,
    check_hypercall,
    check_return,
)
from twzemu.security.context import SecurityContext
from twzemu.security.gates import GATE_ALIGNMENT, TRAMPOLINE_ALIGNMENT, Gate, GateTable
from twzemu.security.ids import MONITOR, PROGRAM, CompartmentId
from twzemu.security.levels import CrossingRules, TrustRow, combine, compartment_rules, crossing_rules, table

__all__ = [
    "GATE_ALIGNMENT",
    "MONITOR",
    "PROGRAM",
    "TRAMPOLINE_ALIGNMENT",
    "AccessInfo",
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
    "check_access",
    "check_entry",
    "check_hypercall",
    "check_return",
    "combine",
    "compartment_rules",
    "crossing_rules",
    "normalise",
    "table",
]
