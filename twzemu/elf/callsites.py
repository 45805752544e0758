"""Return sites: the addresses just after a ``call`` instruction in an image's code.

A gate entry is legitimate only if the return address on the caller's stack is one of these (DESIGN.md "Gate
crossing", step 2): a ``jmp`` to a gate with a forged return address is refused. Computed once per image by a
linear sweep of its code sections with capstone (gcc does not put data inside ``.text``). It lives beside the
ELF reader because it is a fact of the file, like its symbols: the monitor hands the sites to the crossing
engine, which decides every gate entry with them.
"""

from __future__ import annotations

from capstone import CS_ARCH_X86, CS_MODE_64, Cs

from ..objects.layout import NULL_PAGE_SIZE
from .image import ElfImage, SegmentFlags, elf_errors

CODE_SECTIONS = (".text", ".plt", ".plt.got", ".plt.sec", ".init", ".fini")
_DISASSEMBLER = Cs(CS_ARCH_X86, CS_MODE_64)


def return_sites(image: ElfImage, base: int) -> frozenset[int]:
    sites: set[int] = set()
    for start, code in _code_ranges(image):
        offset = 0
        while offset < len(code):
            decoded = 0
            for address, size, mnemonic, _ in _DISASSEMBLER.disasm_lite(code[offset:], start + offset):
                decoded += size
                if mnemonic == "call":
                    sites.add(base + address + size)
            offset += decoded + 1  # skip a byte capstone cannot decode and go on
    return frozenset(sites)


def _code_ranges(image: ElfImage) -> list[tuple[int, bytes]]:
    with elf_errors(image.path):
        ranges = []
        for name in CODE_SECTIONS:
            section = image.elf.get_section_by_name(name)
            if section is not None and section["sh_type"] == "SHT_PROGBITS":
                ranges.append((section["sh_addr"], section.data()))
        if ranges:
            return ranges
    return [  # no section headers: every executable segment, past the null page
        (
            max(s.p_vaddr, NULL_PAGE_SIZE),
            image.data[s.p_offset + max(0, NULL_PAGE_SIZE - s.p_vaddr) : s.p_offset + s.p_filesz],
        )
        for s in image.segments
        if s.p_flags & SegmentFlags.X
    ]
