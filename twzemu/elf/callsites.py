"""Return sites: the addresses just after a ``call`` instruction in an image's code.

A gate entry is legitimate only if the return address on the caller's stack is one of these (DESIGN.md "Gate
crossing", step 2): a ``jmp`` to a gate with a forged return address is refused. Computed once per image by a
linear sweep of its code sections with capstone (gcc does not put data inside ``.text``). It lives beside the
ELF reader because it is a fact of the file, like its symbols: the monitor hands the sites to the crossing
engine, which decides every gate entry with them.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from ..cache import Json, json_int
from ..objects.layout import NULL_PAGE_SIZE
from .image import ElfImage, SegmentFlags, elf_errors

if TYPE_CHECKING:
    from capstone import Cs

CODE_SECTIONS = (".text", ".plt", ".plt.got", ".plt.sec", ".init", ".fini")


def return_sites(image: ElfImage, base: int) -> frozenset[int]:
    """Every return site of ``image`` loaded at ``base``; the scan's result is kept in the image's cache."""
    return frozenset(base + site for site in image.derived("return_sites", lambda: _scan(image), sorted, _decode))


def _decode(sites: Json) -> frozenset[int]:
    return frozenset(json_int(site) for site in sites)


def _scan(image: ElfImage) -> frozenset[int]:
    sites: set[int] = set()
    disassembler = _disassembler()
    for start, code in _code_ranges(image):
        offset = 0
        while offset < len(code):
            decoded = 0
            for address, size, mnemonic, _ in disassembler.disasm_lite(code[offset:], start + offset):
                decoded += size
                if mnemonic == "call":
                    sites.add(address + size)
            offset += decoded + 1  # skip a byte capstone cannot decode and go on
    return frozenset(sites)


@cache
def _disassembler() -> Cs:
    from capstone import CS_ARCH_X86, CS_MODE_64, Cs  # imported on first use: a cached run needs none of it

    return Cs(CS_ARCH_X86, CS_MODE_64)


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
