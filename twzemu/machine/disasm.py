"""Instructions decoded by capstone: as text for reports (``invalid opcode (wrfsbase rax)`` says what the guest
tried), and counted, a translated block at a time, for ``--quantum`` (the crossing engine calls capstone from C).

Why in ``machine/``: an instruction the CPU refused is the CPU's vocabulary, like the exception vectors of
``x86``; pure (it decodes bytes, it touches no Unicorn), it sits below the monitor, whose reports use it, and
below the debugger, which will show instructions too. Only a faulting or counted run needs it, so capstone is
imported on first use, not at start-up.
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


class InstructionCounter:
    """Capstone as the crossing engine counts a translated block's instructions with it, in C: the address of
    ``cs_disasm_iter``, a handle of its own to pass it (x86-64, no details) and room for one decoded instruction,
    which ``close`` frees. One per machine: machines may run in several threads at once, and capstone writes to its
    handle as it decodes."""

    def __init__(self) -> None:
        import ctypes

        from capstone import CS_ARCH_X86, CS_MODE_64, Cs, _cs

        def address(function: object) -> int:
            return ctypes.cast(function, ctypes.c_void_p).value or 0

        allocate = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_size_t)(address(_cs.cs_malloc))
        self._free = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)(address(_cs.cs_free))
        self._disassembler: Cs | None = Cs(CS_ARCH_X86, CS_MODE_64)
        self.handle: int = self._disassembler.csh.value
        self.disasm_iter = address(_cs.cs_disasm_iter)
        self.instruction: int | None = allocate(self.handle)
        if not self.instruction:
            raise MemoryError("capstone: no room for an instruction")

    def close(self) -> None:
        if self.instruction:
            self._free(self.instruction, 1)
            self.instruction = None
        self._disassembler = None  # capstone closes the handle with its last reference


@cache
def _disassembler() -> Cs:
    from capstone import CS_ARCH_X86, CS_MODE_64, Cs

    return Cs(CS_ARCH_X86, CS_MODE_64)
