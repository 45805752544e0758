"""Access checks: pure functions from an access description to a ``Verdict`` naming the rule that decided.

Twizzler's kernel describes an access to check as ``AccessInfo{target, access_kind, exec_id, exec_off}``
(``src/kernel/src/security.rs``): which object, how, and which object and offset the instruction came from.
``AccessInfo`` here is the same record plus the executing compartment and the kinds of access the monitor
decides itself (entering a gate, returning across one, a hypercall). A ``Verdict`` says whether the access is
allowed and, either way, which ``ViolationRule`` decided, so every report and test can name the rule.

The words of ``AccessKind`` and the fault/violation split of ``ViolationRule`` are those of the violation line
(DESIGN.md "Guest ABI"): ``NULL_PAGE`` and ``UNMAPPED`` make a ``twzemu: fault: …`` line, every other refusal
a ``twzemu: security violation: …`` line.

Addresses and offsets: when ``target`` is an object, ``offset`` is the offset inside it; when it is None (no
object there, or the checker was only given an address), ``offset`` is the virtual address itself. Since an
object fills its slot (DESIGN.md "Concepts"), the low 30 bits of either are the offset inside the object, and
an offset below ``NULL_PAGE_SIZE`` is the null page, which no context may touch.

Cost: building a frozen record costs about a microsecond here, against a 5 us gate round trip. So when the
monitor passes no ``AccessInfo`` (it needs one only to report a refusal), the verdicts of the accesses every
crossing makes are built once and shared: allowed entries per (gate, caller) in the ``GateTable``, allowed
returns in a bounded cache, the monitor's own hypercalls as one constant. Refusals are built each time.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from twzemu.objects.layout import NULL_PAGE_SIZE, Prot
from twzemu.objects.objid import ObjId
from twzemu.security.context import SecurityContext
from twzemu.security.gates import OBJECT_OFFSET_MASK, Gate, GateTable
from twzemu.security.ids import MONITOR, CompartmentId


class AccessKind(enum.Enum):
    """How code touched an address; the value is the word of the violation line."""

    READ = "read"
    WRITE = "write"
    EXECUTE = "execute"
    ENTER = "enter"  # a fetch in another compartment's text: the start of a gate crossing
    RETURN = "return"  # a fetch in the caller's compartment at the end of a crossing
    HYPERCALL = "hypercall"  # a ``syscall`` instruction

    @classmethod
    def of_prot(cls, right: Prot) -> AccessKind:
        """The data access that needs the single right ``right`` (the MMU's ``Access`` values are ``Prot`` bits)."""
        return _KIND_OF_RIGHT[Prot(right)]


_KIND_OF_RIGHT = {Prot.READ: AccessKind.READ, Prot.WRITE: AccessKind.WRITE, Prot.EXEC: AccessKind.EXECUTE}


class ViolationRule(enum.Enum):
    """Which rule decided an access; the value is a short phrase for reports."""

    ALLOWED = "allowed"
    NO_CAPABILITY = "no capability for the object"
    NOT_WRITABLE = "object not writable"
    NOT_EXECUTABLE = "object not executable"
    NOT_A_GATE_ENTRY = "not a gate entry"
    NOT_AFTER_CALL = "return address does not follow a call"
    WRONG_RETURN = "return other than to the call site"
    HYPERCALL_OUTSIDE_MONITOR = "hypercall outside the monitor's gates"
    NULL_PAGE = "null page"
    UNMAPPED = "no object at that address"

    @property
    def is_fault(self) -> bool:
        """Whether a refusal by this rule is a plain fault (no object to protect), not a security violation."""
        return self in _FAULT_RULES


_FAULT_RULES = frozenset({ViolationRule.NULL_PAGE, ViolationRule.UNMAPPED})


@dataclass(frozen=True, slots=True)
class AccessInfo:
    """One access to decide: what was touched how, by whom, from where."""

    target: ObjId | None  # the object touched; None when no object is there (then ``offset`` is the address)
    offset: int  # offset inside ``target``, or the virtual address when ``target`` is None
    kind: AccessKind
    executing: CompartmentId  # whose context the access was made in
    exec_object: ObjId | None  # the object holding the instruction, if known
    exec_offset: int  # the instruction's offset inside ``exec_object``


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on ``info``: the rule that decided, the target's owner (for reports) and the gate entered."""

    rule: ViolationRule
    info: AccessInfo
    owner: CompartmentId | None = None  # the compartment that owns the target, when known
    gate: Gate | None = None  # for ENTER: the gate at the address, when there is one

    @property
    def allowed(self) -> bool:
        return self.rule is ViolationRule.ALLOWED

    @property
    def is_fault(self) -> bool:
        return self.rule.is_fault

    def summary(self) -> str:
        """One line without symbols, e.g. ``write 0x…+0x10 in compartment 2 from compartment 1: object not
        writable``; the monitor's report adds symbols and names."""
        info = self.info
        where = f"{info.offset:#x}" if info.target is None else f"{info.target}+{info.offset:#x}"
        owner = "no compartment" if self.owner is None else f"compartment {self.owner}"
        return f"{info.kind.value} {where} in {owner} from compartment {info.executing}: {self.rule.value}"


# The right each data access needs, and the rule that refuses it when a capability exists without that right.
# READ is never refused that way: every capability grants READ (capability.py).
_DATA_ACCESS = {
    AccessKind.READ: (Prot.READ, ViolationRule.NO_CAPABILITY),
    AccessKind.WRITE: (Prot.WRITE, ViolationRule.NOT_WRITABLE),
    AccessKind.EXECUTE: (Prot.EXEC, ViolationRule.NOT_EXECUTABLE),
}
_ALLOWED = ViolationRule.ALLOWED


def _in_null_page(offset_or_address: int) -> bool:
    return offset_or_address & OBJECT_OFFSET_MASK < NULL_PAGE_SIZE


def check_access(context: SecurityContext, info: AccessInfo, owner: CompartmentId | None = None) -> Verdict:
    """Decide a READ, WRITE or EXECUTE by ``context``'s compartment; ``owner`` owns the target (for reports).

    Rules in order: the null page of any object is never accessible (``NULL_PAGE``); no object there
    (``UNMAPPED``); no capability for the object, or one the mask empties (``NO_CAPABILITY``); a capability
    without the right (``NOT_WRITABLE``, ``NOT_EXECUTABLE``); else ``ALLOWED``.
    """
    needed = _DATA_ACCESS.get(info.kind)
    if needed is None:
        raise ValueError(f"check_access decides read, write and execute, not {info.kind.value}")
    if info.executing != context.compartment:
        raise ValueError(f"access by compartment {info.executing} checked against {context.name}'s context")
    if _in_null_page(info.offset):
        rule = ViolationRule.NULL_PAGE
    elif info.target is None:
        rule = ViolationRule.UNMAPPED
    else:
        prot = context.prot_of(info.target)
        if not prot:
            rule = ViolationRule.NO_CAPABILITY
        else:
            right, refusal = needed
            rule = _ALLOWED if prot & right else refusal
    return Verdict(rule, info, owner)


def check_entry(
    gates: GateTable,
    caller: CompartmentId,
    address: int,
    return_address_ok: bool,
    *,
    info: AccessInfo | None = None,
    owner: CompartmentId | None = None,
) -> Verdict:
    """Decide whether ``caller`` may enter another compartment at ``address`` (DESIGN.md "Gate crossing" step 2).

    ``address`` must be the exact, aligned entry of a gate of a compartment other than ``caller``
    (``NOT_A_GATE_ENTRY`` otherwise, ``NULL_PAGE`` for a null function pointer), and the return address on the
    caller's stack must follow a call instruction (``return_address_ok``, computed by the monitor, which can
    read the caller's code; ``NOT_AFTER_CALL`` otherwise). ``info`` describes the access for the report
    (default: just the address); the verdict's ``owner`` is the gate's owner when the address is inside a gate,
    else ``owner``. Without ``info``, an allowed entry's verdict is built once per (address, caller) and then
    reused: the crossing hot path is two dict lookups.
    """
    reusable = info is None  # the default record is the same for every call with this address and caller
    if info is None:
        known = gates.entry_verdicts.get((address, caller))
        if known is not None and return_address_ok:
            return known
        info = AccessInfo(None, address, AccessKind.ENTER, caller, None, 0)
    elif info.kind is not AccessKind.ENTER or info.executing != caller:
        raise ValueError(f"check_entry got {info.kind.value} by compartment {info.executing} for caller {caller}")
    if _in_null_page(address):
        return Verdict(ViolationRule.NULL_PAGE, info, owner)
    gate = gates.gate_at(address)
    if gate is None or gate.owner == caller or not gate.is_entry(address):
        around = gate if gate is not None else gates.gate_containing(address)
        return Verdict(ViolationRule.NOT_A_GATE_ENTRY, info, owner if around is None else around.owner, around)
    if not return_address_ok:
        return Verdict(ViolationRule.NOT_AFTER_CALL, info, gate.owner, gate)
    verdict = Verdict(_ALLOWED, info, gate.owner, gate)
    if reusable:
        gates.entry_verdicts[address, caller] = verdict
    return verdict


def check_return(
    executing: CompartmentId,
    address: int,
    expected: int,
    *,
    info: AccessInfo | None = None,
    owner: CompartmentId | None = None,
) -> Verdict:
    """Decide a callee's way out of a crossing: only to ``expected``, the crossing's return point (step 4).

    ``owner`` is the compartment ``address`` belongs to (for reports); ``WRONG_RETURN`` for anywhere else,
    ``NULL_PAGE`` for a return to the null page. Without ``info``, allowed verdicts are reused (see
    ``_allowed_return``).
    """
    if info is None:
        if address == expected:
            return _allowed_return(executing, address, owner)
        info = AccessInfo(None, address, AccessKind.RETURN, executing, None, 0)
    elif info.kind is not AccessKind.RETURN or info.executing != executing:
        raise ValueError(f"check_return got {info.kind.value} by compartment {info.executing} for {executing}")
    if address == expected:
        return Verdict(_ALLOWED, info, owner)
    rule = ViolationRule.NULL_PAGE if _in_null_page(address) else ViolationRule.WRONG_RETURN
    return Verdict(rule, info, owner)


# Return points are few (per thread and crossing depth) and every crossing ends at one: remember their verdicts.
_RETURN_VERDICTS = 1024


@functools.lru_cache(maxsize=_RETURN_VERDICTS)
def _allowed_return(executing: CompartmentId, address: int, owner: CompartmentId | None) -> Verdict:
    return Verdict(_ALLOWED, AccessInfo(None, address, AccessKind.RETURN, executing, None, 0), owner)


# The one allowed hypercall without a caller-supplied record: from the monitor's gate code.
_MONITOR_HYPERCALL = Verdict(_ALLOWED, AccessInfo(None, 0, AccessKind.HYPERCALL, MONITOR, None, 0), MONITOR)


def check_hypercall(executing: CompartmentId, in_monitor_gate: bool, *, info: AccessInfo | None = None) -> Verdict:
    """Decide a ``syscall``: accepted only from the monitor compartment's gate code (DESIGN.md "Guest ABI").

    ``info`` describes the ``syscall`` instruction for the report; without it the verdict names no address.
    """
    allowed = executing == MONITOR and in_monitor_gate
    if info is None:
        if allowed:
            return _MONITOR_HYPERCALL
        info = AccessInfo(None, 0, AccessKind.HYPERCALL, executing, None, 0)
    elif info.kind is not AccessKind.HYPERCALL or info.executing != executing:
        raise ValueError(f"check_hypercall got {info.kind.value} by compartment {info.executing} for {executing}")
    return Verdict(_ALLOWED if allowed else ViolationRule.HYPERCALL_OUTSIDE_MONITOR, info, MONITOR)
