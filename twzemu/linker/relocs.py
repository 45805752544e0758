"""The x86-64 relocation table: what each relocation type writes, as data.

A relocation names a *place* (``r_offset``), a *type* and usually a symbol; its type says which field it
writes and how the value is computed. The System V x86-64 psABI lists the types in §4.4.1, table 4.9
("Relocation Types"), with formulas in a small vocabulary:

* ``A`` the addend, ``B`` the load base of the object, ``P`` the place (its run-time address),
* ``S`` the value of the symbol the relocation names, ``Z`` its size,
* for thread-local storage (§"Thread-Local Storage" of the TLS ABI, Drepper's ``tls.pdf`` §4.3): the module
  id holding the symbol, the symbol's offset in that module's TLS block (``dtp_offset``), and that block's
  offset from the thread pointer (``tp_offset``; negative on x86-64, which uses TLS variant II).

``RECIPES`` binds every type a *dynamic* linker must handle to a ``Recipe``: field width, formula (a small
pure function of ``RelocInputs``) and the range the exact result must fit. ``compute(r_type, inputs)`` evaluates
one recipe and range-checks the exact integer *before* truncating it to the field, so an overflow can never be
hidden by the masking. Types that never reach a dynamic linker (the static linker resolves them), and the
dynamic types twzemu refuses (``COPY``, ``IRELATIVE``, TLS descriptors), are rejected by name with the reason;
a number that is no x86-64 type at all is rejected naming the number.

The types themselves, their field widths (psABI table 4.9's *Field* column) and how an implicit (``REL``)
addend reads are the ELF reader's vocabulary (``elf.relocs``): a recipe's width comes from there, so the column
is typed once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from ..elf.relocs import RelocType, field_width, reloc_types
from ..errors import LinkError, LinkErrorKind

_BITS_PER_BYTE = 8


class Fit(Enum):
    """The range the exact value of a formula must lie in (checked before truncation to the field).

    ``SIGNED_n``: -2**(n-1) <= v < 2**(n-1). ``UNSIGNED_n``: 0 <= v < 2**n. ``ANY_64``: either reading of a
    64-bit field (-2**63 <= v < 2**64), as for addresses, where a negative sum such as ``0 + -8`` wraps to the
    same bit pattern ld.so writes (BFD calls this ``complain_overflow_bitfield``). ``NOTHING``: no field.
    """

    NOTHING = (0, 0, 0)
    ANY_64 = (64, -(1 << 63), 1 << 64)
    SIGNED_64 = (64, -(1 << 63), 1 << 63)
    UNSIGNED_64 = (64, 0, 1 << 64)
    SIGNED_32 = (32, -(1 << 31), 1 << 31)
    UNSIGNED_32 = (32, 0, 1 << 32)

    def __init__(self, bits: int, low: int, high: int) -> None:
        self.bits = bits
        self.low = low  # inclusive
        self.high = high  # exclusive

    def holds(self, value: int) -> bool:
        return self.low <= value < self.high

    @property
    def description(self) -> str:
        words = {
            Fit.ANY_64: "a 64-bit field",
            Fit.SIGNED_64: "a signed 64-bit field",
            Fit.UNSIGNED_64: "an unsigned 64-bit field",
            Fit.SIGNED_32: "a signed 32-bit field (sign-extended to 64 bits)",
            Fit.UNSIGNED_32: "an unsigned 32-bit field (zero-extended to 64 bits)",
        }
        return words.get(self, "no field")


@dataclass(frozen=True, slots=True)
class RelocInputs:
    """Everything a formula may read (psABI §4.4 notation; TLS fields per Drepper's TLS ABI §4.3).

    ``S`` is the symbol's run-time address (0 for no symbol or an undefined weak one), except for TLS types,
    where the symbol's offset in its module's block is in ``dtp_offset``. ``module`` is the TLS module id
    (1-based; DTPMOD64 with no symbol means the relocating module itself), ``tp_offset`` the offset of that
    module's static TLS block from the thread pointer (negative: variant II places blocks below it).
    """

    S: int = 0
    A: int = 0
    P: int = 0
    B: int = 0
    Z: int = 0
    module: int = 0
    dtp_offset: int = 0
    tp_offset: int = 0


Formula = Callable[[RelocInputs], int]


@dataclass(frozen=True, slots=True)
class Recipe:
    """How one relocation type is applied: write ``formula(inputs)`` into ``width`` bytes after checking ``fit``.

    ``formula_text`` quotes psABI table 4.9 and ``uses`` names the ``RelocInputs`` fields it reads (messages
    show them). ``needs_symbol``: the value depends on the symbol ``r_sym`` names (``S``, ``Z``, or its TLS
    module and offsets), so the linker looks a non-zero ``r_sym`` up; ``r_sym`` 0 means ``S`` = ``Z`` = 0 and,
    for TLS types, the relocating module itself.
    """

    r_type: RelocType
    name: str
    width: int
    formula: Formula
    formula_text: str
    uses: tuple[str, ...]
    needs_symbol: bool
    fit: Fit


def _recipe(rtype: RelocType, text: str, uses: str, fit: Fit, formula: Formula) -> Recipe:
    """A row of psABI table 4.9: the field width comes from ``field_width``, the symbol need from the type."""
    width = field_width(rtype) or 0  # a RelocType always has a width
    return Recipe(rtype, rtype.elf_name, width, formula, text, tuple(uses.split()), rtype not in _SYMBOL_FREE, fit)


_SYMBOL_FREE = frozenset({RelocType.NONE, RelocType.RELATIVE})  # "B + A" and "none" ignore the symbol


def _tpoff(i: RelocInputs) -> int:
    return i.tp_offset + i.dtp_offset + i.A


_RECIPE_LIST = (
    # psABI table 4.9: "R_X86_64_NONE 0 none none"
    _recipe(RelocType.NONE, "none", "", Fit.NOTHING, lambda i: 0),
    # "R_X86_64_64 1 word64 S + A"
    _recipe(RelocType.R64, "S + A", "S A", Fit.ANY_64, lambda i: i.S + i.A),
    # "R_X86_64_PC32 2 word32 S + A - P" (signed: the CPU sign-extends a rel32)
    _recipe(RelocType.PC32, "S + A - P", "S A P", Fit.SIGNED_32, lambda i: i.S + i.A - i.P),
    # "R_X86_64_GLOB_DAT 6 word64 S"
    _recipe(RelocType.GLOB_DAT, "S", "S", Fit.ANY_64, lambda i: i.S),
    # "R_X86_64_JUMP_SLOT 7 word64 S"
    _recipe(RelocType.JUMP_SLOT, "S", "S", Fit.ANY_64, lambda i: i.S),
    # "R_X86_64_RELATIVE 8 word64 B + A"
    _recipe(RelocType.RELATIVE, "B + A", "B A", Fit.ANY_64, lambda i: i.B + i.A),
    # "R_X86_64_32 10 word32 S + A"; §4.4.1: "the linker must verify that the generated value for the
    # R_X86_64_32 (R_X86_64_32S) relocation zero-extends (sign-extends) to the original 64-bit value"
    _recipe(RelocType.R32, "S + A", "S A", Fit.UNSIGNED_32, lambda i: i.S + i.A),
    # "R_X86_64_32S 11 word32 S + A"
    _recipe(RelocType.R32S, "S + A", "S A", Fit.SIGNED_32, lambda i: i.S + i.A),
    # "R_X86_64_DTPMOD64 16 word64" — the ID of the module containing the symbol
    _recipe(RelocType.DTPMOD64, "module id", "module", Fit.UNSIGNED_64, lambda i: i.module),
    # "R_X86_64_DTPOFF64 17 word64" — the symbol's offset in its module's TLS block, plus the addend
    _recipe(RelocType.DTPOFF64, "@dtpoff(S) + A", "dtp_offset A", Fit.SIGNED_64, lambda i: i.dtp_offset + i.A),
    # "R_X86_64_TPOFF64 18 word64" — the symbol's offset from the thread pointer, plus the addend
    _recipe(RelocType.TPOFF64, "@tpoff(S) + A", "tp_offset dtp_offset A", Fit.SIGNED_64, _tpoff),
    # "R_X86_64_PC64 24 word64 S + A - P"
    _recipe(RelocType.PC64, "S + A - P", "S A P", Fit.SIGNED_64, lambda i: i.S + i.A - i.P),
    # "R_X86_64_SIZE32 32 word32 Z + A" (a size: unsigned)
    _recipe(RelocType.SIZE32, "Z + A", "Z A", Fit.UNSIGNED_32, lambda i: i.Z + i.A),
    # "R_X86_64_SIZE64 33 word64 Z + A"
    _recipe(RelocType.SIZE64, "Z + A", "Z A", Fit.ANY_64, lambda i: i.Z + i.A),
)

#: The types the dynamic linker applies, keyed by type.
RECIPES: dict[RelocType, Recipe] = {recipe.r_type: recipe for recipe in _RECIPE_LIST}


#: Types the static linker resolves (GOT/PLT construction, TLS code sequences, section-relative offsets).
_STATIC_ONLY_TYPES = reloc_types(
    "GOT32 PLT32 GOTPCREL R16 PC16 R8 PC8 TLSGD TLSLD DTPOFF32 GOTTPOFF TPOFF32 GOTOFF64 GOTPC32 GOT64 GOTPCREL64 "
    "GOTPC64 GOTPLT64 PLTOFF64 GOTPCRELX REX_GOTPCRELX"
)

_STATIC_ONLY = (
    "is a link-time relocation: the static linker resolves it and it never appears in a dynamic relocation table"
)
_TLSDESC = "TLS descriptors are not supported: build with -mtls-dialect=gnu (gcc's default on x86-64)"

#: Every other type, with the reason twzemu refuses it.
UNSUPPORTED: dict[RelocType, str] = {
    RelocType.COPY: "is not supported: build programs with -fPIC (twzemu cc does)",
    RelocType.IRELATIVE: "is not supported: GNU indirect functions (ifunc) need guest code to run while linking",
    RelocType.RELATIVE64: "is for the x32 (ILP32) ABI, which twzemu does not run",
    RelocType.TLSDESC: _TLSDESC,
    RelocType.GOTPC32_TLSDESC: _TLSDESC,
    RelocType.TLSDESC_CALL: _TLSDESC,
    **dict.fromkeys(_STATIC_ONLY_TYPES, _STATIC_ONLY),
}


def compute(r_type: int, inputs: RelocInputs) -> tuple[int, int]:
    """Evaluate the recipe of ``r_type``: the value truncated to the field, and the field width in bytes.

    Raises ``LinkError`` naming the type for a type twzemu does not apply (with the reason) or an unknown
    number, and for an exact value outside the field's range (with the formula and its inputs).
    """
    recipe = recipe_for(r_type)
    exact = recipe.formula(inputs)
    if recipe.width and not recipe.fit.holds(exact):
        raise LinkError(_overflow_message(recipe, exact, inputs))
    return exact & ((1 << (recipe.width * _BITS_PER_BYTE)) - 1), recipe.width


def recipe_for(r_type: int) -> Recipe:
    """The recipe of a supported type; ``LinkError`` naming the type (and why it is refused) otherwise."""
    try:
        known = RelocType(r_type)
    except ValueError:
        raise LinkError(f"unknown x86-64 relocation type {r_type}", LinkErrorKind.UNSUPPORTED) from None
    recipe = RECIPES.get(known)
    if recipe is None:
        raise LinkError(f"{known.elf_name} {UNSUPPORTED[known]}", LinkErrorKind.UNSUPPORTED)
    return recipe


def _overflow_message(recipe: Recipe, exact: int, inputs: RelocInputs) -> str:
    used = ", ".join(f"{field}={_signed_hex(getattr(inputs, field))}" for field in recipe.uses)
    return (
        f"{recipe.name} overflows: {recipe.formula_text} = {_signed_hex(exact)} ({used}) does not fit "
        f"{recipe.fit.description}"
    )


def _signed_hex(value: int) -> str:
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"
