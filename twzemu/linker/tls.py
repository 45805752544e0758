"""TLS layout (x86-64 variant II): where each module's block sits below the thread pointer.

The linker needs the offsets for ``TPOFF64`` relocations; the monitor lays out each thread's area with them
(``monitor.startup.build_thread_area``). A library loaded at run time (``dlopen``) adds a module after the static
ones (``TlsLayout.extended``): a thread the compartment's C library creates later has its block at the offset given
here, a thread that existed gets one on its first access (``__tls_get_addr``), so only the dynamic models reach it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..elf.dynamic import TlsTemplate

TLS_MODULES_MAX = 64  # modules a compartment may have, static and loaded at run time (the runtime's table)


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


@dataclass(frozen=True, slots=True)
class TlsBlock:
    """One module's static TLS block: ``tp_offset`` bytes below the thread pointer (variant II)."""

    module: int
    tp_offset: int
    image: bytes  # the initialised part (.tdata); the rest up to ``memsz`` is zero (.tbss)
    memsz: int
    align: int
    static: bool = True  # laid out for every thread from the start (False: a module loaded at run time)


@dataclass(frozen=True, slots=True)
class TlsLayout:
    blocks: tuple[TlsBlock, ...]
    static_size: int  # bytes below the thread pointer
    align: int

    def block_of(self, module: int) -> TlsBlock:
        return self.blocks[module - 1]

    def extended(self, templates: Sequence[TlsTemplate], static: bool = False) -> TlsLayout:
        """This layout with a module for each of ``templates`` after the last (ids ``len(blocks) + 1``, …), laid out
        below the others as the C library lays out a new thread's TLS; ``static_size`` grows to cover them."""
        blocks = list(self.blocks)
        offset, max_align = self.static_size, self.align
        for module, template in enumerate(templates, start=len(blocks) + 1):
            align = max(template.align, 1)
            offset = align_up(offset + template.memsz, align)
            max_align = max(max_align, align)
            blocks.append(TlsBlock(module, offset, template.image, template.memsz, align, static))
        return TlsLayout(tuple(blocks), align_up(offset, max_align), max_align)


def layout_static_tls(templates: Sequence[TlsTemplate]) -> TlsLayout:
    """x86-64 TLS variant II (Drepper, "ELF Handling For Thread-Local Storage" §3.4.6): module m's block ends
    where module m-1's begins, each aligned, below the thread pointer. ``templates``: each module's ``PT_TLS``
    segment, module ids 1, 2, … in that order."""
    return TlsLayout((), 0, 16).extended(templates, static=True)
