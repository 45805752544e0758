"""Instructions as text for reports (capstone): ``invalid opcode (wrfsbase rax)`` says what the guest tried.

Why in ``machine/``: an instruction the CPU refused is the CPU's vocabulary, like the exception vectors of
``x86``; pure (it decodes bytes, it touches no Unicorn), it sits below the monitor, whose reports use it, and
below the debugger, which will show instructions too. Only a faulting run needs it, so capstone is imported on
first use, not at start-up.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from capstone import Cs


def instruction_at(code: bytes, address: int) -> str | None:
    """The first instruction of ``code`` (read at ``address``), or None if it does not decode."""
    from capstone import CsError

    try:
        for insn in _disassembler().disasm(code, address, 1):
            return f"{insn.mnemonic} {insn.op_str}".strip()
    except CsError:
        return None
    return None


def count_instructions(code: bytes, address: int) -> int:
    """How many instructions ``code`` (read at ``address``) holds, up to the first that does not decode."""
    return sum(1 for _ in _disassembler().disasm_lite(code, address))


@cache
def _disassembler() -> Cs:
    from capstone import CS_ARCH_X86, CS_MODE_64, Cs

    return Cs(CS_ARCH_X86, CS_MODE_64)
