"""The debugger, above the monitor: a session over a run, the gdb remote stub, trace export.

Nothing below imports this package: the vocabulary reports and the debugger share (symbol names, instruction
text, return sites) lives on lower floors (``linker.symbols``, ``machine.disasm``, ``elf.callsites``).
"""
