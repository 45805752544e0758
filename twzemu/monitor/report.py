"""One-line reports of what stopped a guest (DESIGN.md "Guest ABI": violation line, exit statuses).

``twzemu: security violation: <kind> <sym+0xoff> (0x<addr>) in <owner> from <executing> at <sym+0xoff>`` when
code touches an object that exists but its context may not access that way; ``twzemu: fault: …`` with the
same fields for the null page and for addresses no object occupies; other CPU exceptions name the exception:
``twzemu: fault: <exception> (<instruction>) at <sym+0xoff> (0x<rip>) in <executing>``, where an ``int n``
reads ``general protection (int 0x<n>)``. A guest page the machine could not back because RAM is full reads
``twzemu: fault: out of guest memory (<RAM size>; see --memory) at <sym+0xoff> (0x<rip>) in <executing>:
<read|write|execute> <sym+0xoff> (0x<addr>)`` (without the part after the colon when a monitor service, not
an instruction, needed the memory).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..linker.symbols import Symbolizer
from ..machine.events import Fault
from ..machine.x86 import Vector
from ..mmu.physmem import size_text
from ..mmu.space import Access

STATUS_KILLED = 139
STATUS_TIMEOUT = 124
STATUS_INTERRUPTED = 130

ACCESS_WORDS = {Access.READ: "read", Access.WRITE: "write", Access.FETCH: "execute"}


@dataclass(frozen=True, slots=True)
class Culprit:
    """Who owns the touched address and who executed the access (compartment names)."""

    owner: str  # a compartment, or "no object" / "the null page of <compartment>" for plain faults
    executing: str
    violation: bool  # the address belongs to an object the executing context may not access that way


def describe_fault(fault: Fault, culprit: Culprit, symbols: Symbolizer, instruction: str | None = None) -> str:
    """The report line; ``instruction`` (the faulting one, disassembled) is shown for CPU exceptions."""
    where = symbols.name(fault.rip)
    if fault.out_of_memory is not None:
        line = (f"twzemu: fault: out of guest memory ({size_text(fault.out_of_memory)}; see --memory) at {where} "
                f"({fault.rip:#x}) in {culprit.executing}")  # fmt: skip
        if fault.access is None or fault.address is None:
            return line
        return f"{line}: {ACCESS_WORDS[fault.access]} {symbols.name(fault.address)} ({fault.address:#x})"
    if fault.verb == "hypercall":
        target = f"hypercall {where} ({fault.rip:#x})"
        return f"twzemu: security violation: {target} in {culprit.owner} from {culprit.executing} at {where}"
    if fault.vector is Vector.PAGE_FAULT and fault.access is not None and fault.address is not None:
        verb = fault.verb or ACCESS_WORDS[fault.access]
        target = f"{verb} {symbols.name(fault.address)} ({fault.address:#x})"
        kind = "security violation" if culprit.violation else "fault"
        return f"twzemu: {kind}: {target} in {culprit.owner} from {culprit.executing} at {where}"
    what = fault.vector.description
    if fault.interrupt is not None:  # named by the machine: the disassembler would write `int 8`, not `int 0x8`
        what = f"{what} (int {fault.interrupt:#x})"
    elif fault.insn is not None:
        what = f"{fault.insn} refused ({what})"
    elif instruction is not None:
        what = f"{what} ({instruction})"
    return f"twzemu: fault: {what} at {where} ({fault.rip:#x}) in {culprit.executing}"
