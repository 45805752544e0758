"""The x86-64 relocation table against the psABI formulas (table 4.9), with exact overflow boundaries."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twzemu.elf.relocs import RelocType, field_width, implicit_addend, reloc_name
from twzemu.errors import LinkError
from twzemu.linker.relocs import RECIPES, UNSUPPORTED, RelocInputs, compute

# An independent reference, written straight from psABI table 4.9 and §4.4.1: type -> (formula, field bits,
# lowest and highest value the field may take).
U64, S64, BOTH64 = (0, 2**64 - 1), (-(2**63), 2**63 - 1), (-(2**63), 2**64 - 1)
S32, U32 = (-(2**31), 2**31 - 1), (0, 2**32 - 1)
REFERENCE = {
    RelocType.NONE: (lambda i: 0, 0, (0, 0)),
    RelocType.R64: (lambda i: i.S + i.A, 64, BOTH64),
    RelocType.PC32: (lambda i: i.S + i.A - i.P, 32, S32),
    RelocType.GLOB_DAT: (lambda i: i.S, 64, BOTH64),
    RelocType.JUMP_SLOT: (lambda i: i.S, 64, BOTH64),
    RelocType.RELATIVE: (lambda i: i.B + i.A, 64, BOTH64),
    RelocType.R32: (lambda i: i.S + i.A, 32, U32),
    RelocType.R32S: (lambda i: i.S + i.A, 32, S32),
    RelocType.DTPMOD64: (lambda i: i.module, 64, U64),
    RelocType.DTPOFF64: (lambda i: i.dtp_offset + i.A, 64, S64),
    RelocType.TPOFF64: (lambda i: i.tp_offset + i.dtp_offset + i.A, 64, S64),
    RelocType.PC64: (lambda i: i.S + i.A - i.P, 64, S64),
    RelocType.SIZE32: (lambda i: i.Z + i.A, 32, U32),
    RelocType.SIZE64: (lambda i: i.Z + i.A, 64, BOTH64),
}
THIRTY_TWO = (RelocType.R32, RelocType.R32S, RelocType.PC32, RelocType.SIZE32)
BOUNDARIES = (2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**32 - 1, 2**32, 0, -1)

addresses = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 2**33), st.integers(2**64 - 2**33, 2**64 - 1))
addends = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers(-(2**33), 2**33))
inputs = st.builds(
    RelocInputs,
    S=addresses,
    A=addends,
    P=addresses,
    B=addresses,
    Z=st.integers(0, 2**64 - 1),
    module=st.integers(0, 2**64),
    dtp_offset=st.integers(-(2**33), 2**64),
    tp_offset=st.integers(-(2**64), 2**33),
)


def expect(r_type: RelocType, i: RelocInputs) -> tuple[int, int] | None:
    """The reference: (value in the field, width) or None when the exact value is out of range."""
    formula, bits, (low, high) = REFERENCE[r_type]
    exact = formula(i)
    if bits and not low <= exact <= high:
        return None
    return exact % (1 << bits) if bits else 0, bits // 8


def check(r_type: RelocType, i: RelocInputs) -> None:
    wanted = expect(r_type, i)
    if wanted is None:
        with pytest.raises(LinkError, match=rf"{r_type.elf_name} overflows: .* does not fit"):
            compute(r_type, i)
    else:
        assert compute(r_type, i) == wanted


def test_the_reference_covers_exactly_the_supported_types():
    assert set(REFERENCE) == set(RECIPES)


@pytest.mark.parametrize("r_type", sorted(RECIPES))
@given(i=inputs)
def test_every_supported_type_matches_the_psabi_formula(r_type, i):
    check(r_type, i)


@pytest.mark.parametrize("r_type", THIRTY_TWO)
@pytest.mark.parametrize("value", BOUNDARIES)
@given(a=st.integers(-(2**40), 2**40), p=st.integers(0, 2**48))
def test_32_bit_fields_overflow_exactly_at_their_boundaries(r_type, value, a, p):
    # Solve the formula for the symbol so the exact value is `value`, whatever A and P are.
    s = value - a + (p if r_type is RelocType.PC32 else 0)
    i = RelocInputs(S=s, A=a, P=p, Z=value - a)
    check(r_type, i)
    signed = r_type in (RelocType.R32S, RelocType.PC32)
    fits = -(2**31) <= value < 2**31 if signed else 0 <= value < 2**32
    if fits:
        field, width = compute(r_type, i)
        assert width == 4 and int.from_bytes(field.to_bytes(4, "little"), "little", signed=signed) == value


def test_the_cle_precedence_bug_does_not_fool_the_check():
    # CLE tests `value >> 32 != 0 and value >> 31 != -1`-style expressions; an exact range check does not
    # accept -2**31 - 1 for 32S nor 2**31 for PC32, and accepts 2**32 - 1 for R32.
    with pytest.raises(LinkError, match="R_X86_64_32S overflows"):
        compute(RelocType.R32S, RelocInputs(S=0, A=-(2**31) - 1))
    with pytest.raises(LinkError, match="R_X86_64_PC32 overflows"):
        compute(RelocType.PC32, RelocInputs(S=2**31, P=0))
    with pytest.raises(LinkError, match="R_X86_64_32 overflows"):
        compute(RelocType.R32, RelocInputs(S=0, A=-1))
    assert compute(RelocType.R32, RelocInputs(S=2**32 - 1)) == (2**32 - 1, 4)


def test_overflow_message_shows_formula_and_inputs():
    with pytest.raises(LinkError) as caught:
        compute(RelocType.PC32, RelocInputs(S=0x1_0000_0000, A=-4, P=0x1000))
    assert str(caught.value) == (
        "R_X86_64_PC32 overflows: S + A - P = 0xffffeffc (S=0x100000000, A=-0x4, P=0x1000) does not fit a signed "
        "32-bit field (sign-extended to 64 bits)"
    )


def test_64_bit_addresses_wrap_like_ld_so():
    # An undefined weak symbol (S = 0) with a negative addend: the same bit pattern ld.so writes.
    assert compute(RelocType.R64, RelocInputs(S=0, A=-8)) == (2**64 - 8, 8)
    assert compute(RelocType.TPOFF64, RelocInputs(tp_offset=-0x40, dtp_offset=8, A=0)) == (2**64 - 0x38, 8)
    with pytest.raises(LinkError, match="R_X86_64_64 overflows"):
        compute(RelocType.R64, RelocInputs(S=2**64 - 1, A=1))


def test_every_type_is_either_applied_or_refused_with_a_reason():
    assert set(RECIPES) | set(UNSUPPORTED) == set(RelocType)
    assert not set(RECIPES) & set(UNSUPPORTED)


@pytest.mark.parametrize("r_type", sorted(UNSUPPORTED))
def test_unsupported_types_are_refused_by_name(r_type):
    with pytest.raises(LinkError, match=rf"^{r_type.elf_name} "):
        compute(r_type, RelocInputs())


def test_copy_and_ifunc_say_what_to_do():
    with pytest.raises(LinkError, match=r"R_X86_64_COPY is not supported: build programs with -fPIC"):
        compute(RelocType.COPY, RelocInputs())
    with pytest.raises(LinkError, match=r"R_X86_64_IRELATIVE .*ifunc"):
        compute(RelocType.IRELATIVE, RelocInputs())
    with pytest.raises(LinkError, match=r"R_X86_64_TLSDESC .*-mtls-dialect=gnu"):
        compute(RelocType.TLSDESC, RelocInputs())


@given(st.integers(0, 2**32 - 1).filter(lambda n: n not in RelocType._value2member_map_))
def test_unknown_type_numbers_are_named(number):
    with pytest.raises(LinkError, match=rf"^unknown x86-64 relocation type {number}$"):
        compute(number, RelocInputs())
    assert reloc_name(number) == f"relocation type {number}"
    assert field_width(number) is None


def test_names_and_widths_follow_the_psabi():
    assert RelocType.R64.elf_name == "R_X86_64_64"
    assert RelocType.R32S.elf_name == "R_X86_64_32S"
    assert RelocType.RELATIVE.elf_name == "R_X86_64_RELATIVE"
    assert reloc_name(RelocType.REX_GOTPCRELX) == "R_X86_64_REX_GOTPCRELX"
    widths = {
        RelocType.R8: 1,
        RelocType.PC16: 2,
        RelocType.PC32: 4,
        RelocType.GOTPCRELX: 4,
        RelocType.R64: 8,
        RelocType.TLSDESC: 16,
        RelocType.COPY: 0,
        RelocType.NONE: 0,
        RelocType.IRELATIVE: 8,
    }
    assert {t: field_width(t) for t in widths} == widths
    assert all(recipe.width == field_width(t) for t, recipe in RECIPES.items())
    assert all(recipe.name == t.elf_name for t, recipe in RECIPES.items())
    assert {t for t, recipe in RECIPES.items() if not recipe.needs_symbol} == {RelocType.NONE, RelocType.RELATIVE}


@given(st.integers(-(2**63), 2**63 - 1))
def test_implicit_addends_round_trip(addend):
    assert implicit_addend(RelocType.R64, addend.to_bytes(8, "little", signed=True)) == addend
    low = addend & 0xFFFF_FFFF
    assert implicit_addend(RelocType.R32, low.to_bytes(4, "little")) == low
    assert implicit_addend(RelocType.PC32, low.to_bytes(4, "little")) == low - (2**32 if low >= 2**31 else 0)
