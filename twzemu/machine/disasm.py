"""Instructions as text for reports (capstone): ``invalid opcode (wrfsbase rax)`` says what the guest tried.

Why in ``machine/``: an instruction the CPU refused is the CPU's vocabulary, like the exception vectors of
``x86``; pure (it decodes bytes, it touches no Unicorn), it sits below the monitor, whose reports use it, and
below the debugger, which will show instructions too.
"""

from __future__ import annotations

from capstone import CS_ARCH_X86, CS_MODE_64, Cs, CsError

_DISASSEMBLER = Cs(CS_ARCH_X86, CS_MODE_64)


def instruction_at(code: bytes, address: int) -> str | None:
    """The first instruction of ``code`` (read at ``address``), or None if it does not decode."""
    try:
        for insn in _DISASSEMBLER.disasm(code, address, 1):
            return f"{insn.mnemonic} {insn.op_str}".strip()
    except CsError:
        return None
    return None
