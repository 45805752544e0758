"""Verdicts: what the monitor decided about an access that was refused, and the rule that refused it.

One path from a refusal to its report. The MMU (page tables built from each compartment's context) refuses a
read, write or fetch; the crossing engine refuses a gate entry and says why (``machine.engine.Refusal``); the
machine refuses a ``syscall`` outside the monitor's gate code. The monitor (``monitor.Run.verdict``) turns what
it knows — how the address was touched, whose object lies there, what the executing page tables hold for it, the
engine's reason — into a ``Verdict`` (``decide`` picks the rule), and ``monitor.report`` renders it as the line
of DESIGN.md "Guest ABI". Whether that line says ``fault`` or ``security violation`` is the rule's
(``ViolationRule.is_fault``): the null page and addresses no object occupies are plain faults; touching an object
that exists, in a way the executing context may not, is a violation.

Twizzler's kernel describes an access as ``AccessInfo{target, access_kind, exec_id, exec_off}``
(``src/kernel/src/security.rs``); a ``Verdict`` holds the same facts with the names reports need.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from twzemu.objects.layout import Prot


class AccessKind(enum.Enum):
    """How code touched an address; the value is the word of the violation line."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    ENTER = "enter"  # a call into another compartment the crossing engine refused
    HYPERCALL = "hypercall"  # a ``syscall`` instruction outside the monitor's gate code

    @classmethod
    def of_prot(cls, right: Prot) -> AccessKind:
        """The data access that needs the single right ``right`` (the MMU's ``Access`` values are ``Prot`` bits)."""
        return _KIND_OF_RIGHT[Prot(right)]


_KIND_OF_RIGHT = {Prot.READ: AccessKind.READ, Prot.WRITE: AccessKind.WRITE, Prot.EXEC: AccessKind.EXECUTE}


class ViolationRule(enum.Enum):
    """Which rule refused an access; the value is a short phrase for reports."""

    NO_CAPABILITY = "no capability for the object"
    NOT_WRITABLE = "object not writable"
    NOT_EXECUTABLE = "object not executable"
    NOT_AFTER_CALL = "return address does not follow a call"
    NO_FRAME = "no place the callee may write holds its frame"
    NO_COMPARTMENT = "no such compartment"
    HYPERCALL_OUTSIDE_MONITOR = "hypercall outside the monitor's gates"
    NULL_PAGE = "null page"
    UNMAPPED = "no object at that address"

    @property
    def is_fault(self) -> bool:
        """Whether a refusal by this rule is a plain fault (no object to protect), not a security violation."""
        return self in _FAULT_RULES


_FAULT_RULES = frozenset({ViolationRule.NULL_PAGE, ViolationRule.UNMAPPED})


@dataclass(frozen=True, slots=True)
class Verdict:
    """A refused access: how (``kind``) which address was touched, whose object it is (``owner``: a compartment
    name, or what lies there — ``gate buffer``, ``no object``, ``the null page of …``), by which compartment
    (``executing``), from which instruction (``at``), and the rule that refused it."""

    rule: ViolationRule
    kind: AccessKind
    address: int
    owner: str
    executing: str
    at: int

    @property
    def is_fault(self) -> bool:
        return self.rule.is_fault


def decide(kind: AccessKind, owned: bool, null_page: bool, held: Prot) -> ViolationRule:
    """The rule that refused a read, write or execute: the null page of any object is never accessible
    (``NULL_PAGE``); no object there (``UNMAPPED``); the executing page tables hold nothing for it
    (``NO_CAPABILITY``); or a right is missing (``NOT_WRITABLE``, ``NOT_EXECUTABLE``). ``held`` is what the
    executing context maps the object with, ``owned`` whether any compartment's object lies there."""
    if not owned:
        return ViolationRule.UNMAPPED
    if null_page:
        return ViolationRule.NULL_PAGE
    if not held:
        return ViolationRule.NO_CAPABILITY
    if kind is AccessKind.WRITE and not held & Prot.WRITE:
        return ViolationRule.NOT_WRITABLE
    if kind is AccessKind.EXECUTE and not held & Prot.EXEC:
        return ViolationRule.NOT_EXECUTABLE
    return ViolationRule.NO_CAPABILITY  # held with the right, yet refused: the page tables decide, not the context
