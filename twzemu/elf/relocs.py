"""x86-64 relocation types as the ELF file spells them: their numbers, names and field widths.

This is the vocabulary the ELF reader needs to *read* a relocation table (``elf.dynamic``): which type a number
is, how many bytes its place holds (psABI §4.4.1, table 4.9, "Relocation Types", the *Field* column), and —
for ``REL``/``RELR`` entries, which keep their addend in the place itself — how those bytes read as an addend.
What each type *computes*, and which types twzemu refuses, is the linker's recipe table (``linker.relocs``),
built on this one.
"""

from __future__ import annotations

from enum import IntEnum

_WORD8, _WORD16, _WORD32, _WORD64 = 1, 2, 4, 8  # psABI field names word8 … word64, in bytes


class RelocType(IntEnum):
    """Every x86-64 relocation type (psABI table 4.9; numbers as in ``<elf.h>``).

    Members whose psABI name starts with a digit get an ``R`` prefix (``R64`` is ``R_X86_64_64``); ``elf_name``
    gives the full name readelf prints. 39 and 40 are reserved (formerly the MPX ``*_BND`` types).
    """

    NONE = 0
    R64 = 1
    PC32 = 2
    GOT32 = 3
    PLT32 = 4
    COPY = 5
    GLOB_DAT = 6
    JUMP_SLOT = 7
    RELATIVE = 8
    GOTPCREL = 9
    R32 = 10
    R32S = 11
    R16 = 12
    PC16 = 13
    R8 = 14
    PC8 = 15
    DTPMOD64 = 16
    DTPOFF64 = 17
    TPOFF64 = 18
    TLSGD = 19
    TLSLD = 20
    DTPOFF32 = 21
    GOTTPOFF = 22
    TPOFF32 = 23
    PC64 = 24
    GOTOFF64 = 25
    GOTPC32 = 26
    GOT64 = 27
    GOTPCREL64 = 28
    GOTPC64 = 29
    GOTPLT64 = 30
    PLTOFF64 = 31
    SIZE32 = 32
    SIZE64 = 33
    GOTPC32_TLSDESC = 34
    TLSDESC_CALL = 35
    TLSDESC = 36
    IRELATIVE = 37
    RELATIVE64 = 38
    GOTPCRELX = 41
    REX_GOTPCRELX = 42

    @property
    def elf_name(self) -> str:
        """The psABI name, e.g. ``R_X86_64_64`` for ``R64``."""
        name = self.name
        if name[0] == "R" and name[1].isdigit():
            name = name[1:]
        return f"R_X86_64_{name}"


def reloc_name(r_type: int) -> str:
    """``R_X86_64_…`` for a known type, ``relocation type N`` for any other number."""
    try:
        return RelocType(r_type).elf_name
    except ValueError:
        return f"relocation type {r_type}"


def reloc_types(names: str) -> tuple[RelocType, ...]:
    """The types named (member names, space-separated): how the tables here and in ``linker.relocs`` list them."""
    return tuple(RelocType[name] for name in names.split())


_WORD32_TYPES = reloc_types(
    "PC32 GOT32 PLT32 GOTPCREL R32 R32S TLSGD TLSLD DTPOFF32 GOTTPOFF TPOFF32 GOTPC32 SIZE32 GOTPC32_TLSDESC "
    "GOTPCRELX REX_GOTPCRELX"
)

#: psABI table 4.9 field of each type, in bytes (0: the type writes nothing; TLSDESC writes two word64s).
_FIELD_WIDTHS: dict[RelocType, int] = {
    **dict.fromkeys(reloc_types("R8 PC8"), _WORD8),
    **dict.fromkeys(reloc_types("R16 PC16"), _WORD16),
    **dict.fromkeys(_WORD32_TYPES, _WORD32),
    **dict.fromkeys(reloc_types("NONE COPY TLSDESC_CALL"), 0),
    RelocType.TLSDESC: 2 * _WORD64,
}  # every other type writes a word64


def field_width(r_type: int) -> int | None:
    """Bytes the type writes at its place (psABI table 4.9); ``None`` for a number that is no x86-64 type."""
    try:
        known = RelocType(r_type)
    except ValueError:
        return None
    return _FIELD_WIDTHS.get(known, _WORD64)


#: Narrow fields that hold unsigned values (``<elf.h>``: "Direct 32 bit zero extended", "Direct 16 bit zero
#: extended"; a size is unsigned); every other field's implicit addend is read sign-extended.
_ZERO_EXTENDED = frozenset({RelocType.R32, RelocType.R16, RelocType.SIZE32})


def implicit_addend(r_type: int, field: bytes) -> int:
    """The addend a ``REL`` entry keeps in the place itself (gABI "Relocation"): the field's content,
    sign-extended for signed fields (every 64-bit field reads as a signed ``Elf64_Sxword``, as ``r_addend``)."""
    signed = len(field) == _WORD64 or r_type not in _ZERO_EXTENDED
    return int.from_bytes(field, "little", signed=signed)
