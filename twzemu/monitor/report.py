"""One-line reports of what stopped a guest (DESIGN.md "Guest ABI": violation line, exit statuses).

A refused access arrives as a ``security.check.Verdict`` (``describe_verdict``); every other fault as the
machine's ``Fault`` (``describe_fault``).

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

from ..linker.symbols import Symbolizer
from ..machine.events import Fault
from ..mmu.physmem import size_text
from ..mmu.space import Access
from ..security.check import AccessKind, Verdict

STATUS_KILLED = 139
STATUS_TIMEOUT = 124
STATUS_INTERRUPTED = 130

ACCESS_WORDS = {Access.READ: "read", Access.WRITE: "write", Access.FETCH: "execute"}


def one_line(text: str) -> str:
    """``text`` as one line of printable characters. Names in reports come from ELF files (a library's soname,
    its symbols) that the adversary wrote: a newline or a terminal escape in one must not forge a second report
    line or drive the terminal, so anything unprintable is shown escaped (``\\n``, ``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe_verdict(verdict: Verdict, symbols: Symbolizer) -> str:
    """The line of a refused access: ``fault`` or ``security violation`` as the verdict's rule says."""
    where = symbols.name(verdict.at)
    if verdict.kind is AccessKind.HYPERCALL:
        target = f"hypercall {where} ({verdict.at:#x})"
    else:
        target = f"{verdict.kind.value} {symbols.name(verdict.address)} ({verdict.address:#x})"
    kind = "fault" if verdict.is_fault else "security violation"
    return f"twzemu: {kind}: {target} in {verdict.owner} from {verdict.executing} at {where}"


def describe_fault(fault: Fault, executing: str, symbols: Symbolizer, instruction: str | None = None) -> str:
    """The line of a fault that is not a refused access (a CPU exception, running out of memory);
    ``instruction`` (the faulting one, disassembled) is shown for CPU exceptions."""
    where = symbols.name(fault.rip)
    if fault.out_of_memory is not None:
        line = (
            f"twzemu: fault: out of guest memory ({size_text(fault.out_of_memory)}; see --memory) at {where} "
            f"({fault.rip:#x}) in {executing}"
        )
        if fault.access is None or fault.address is None:
            return line
        return f"{line}: {ACCESS_WORDS[fault.access]} {symbols.name(fault.address)} ({fault.address:#x})"
    what = fault.vector.description
    if fault.interrupt is not None:  # named by the machine: the disassembler would write `int 8`, not `int 0x8`
        what = f"{what} (int {fault.interrupt:#x})"
    elif fault.insn is not None:
        what = f"{fault.insn} refused ({what})"
    elif instruction is not None:
        what = f"{what} ({instruction})"
    return f"twzemu: fault: {what} at {where} ({fault.rip:#x}) in {executing}"
