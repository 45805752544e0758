"""A function's C signature, read from the DWARF of the library defining it: what ``twzemu call`` converts its
arguments and its result by.

Each parameter and the result is a ``CType``: its C spelling (for messages: ``const char *``, ``long``) and what
the call does with it (``CKind``): an integer (signed or not), a pointer, a string (a pointer to ``char``), or
nothing (``void``). The type of a ``DW_TAG_formal_parameter`` (DWARF 5, 3.3) is followed through ``typedef``,
``const`` and ``volatile`` to a base or pointer type; a type this does not know (a struct by value, a float) is
``OTHER`` and cannot be passed.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..cache import Json, json_str
from .image import ElfImage, elf_errors

if TYPE_CHECKING:
    from elftools.dwarf.die import DIE


class CKind(enum.Enum):
    SIGNED = "signed"
    UNSIGNED = "unsigned"
    POINTER = "pointer"
    STRING = "string"
    VOID = "void"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CType:
    text: str  # as C spells it
    kind: CKind


@dataclass(frozen=True, slots=True)
class CParameter:
    name: str
    type: CType


@dataclass(frozen=True, slots=True)
class Signature:
    result: CType
    parameters: tuple[CParameter, ...]
    variadic: bool = False

    def __str__(self) -> str:
        parameters = ", ".join(f"{p.type.text} {p.name}".replace("* ", "*") for p in self.parameters)
        return f"{self.result.text}({parameters}{', ...' if self.variadic else ''})"


VOID = CType("void", CKind.VOID)
_MODIFIERS = {"DW_TAG_const_type": "const", "DW_TAG_volatile_type": "volatile"}


def signatures(image: ElfImage, names: Collection[str]) -> dict[str, Signature]:
    """The signature of each function in ``names`` that ``image`` defines and describes; others are absent. The
    answer for this set of names is kept in the image's cache (a repeated call reads no DWARF)."""
    wanted = frozenset(names)
    field = "signatures " + " ".join(sorted(wanted))
    return image.derived(field, lambda: _read(image, wanted), _encode, _decode)


def _ctype(value: Json) -> CType:
    text, kind = value
    return CType(json_str(text), CKind(json_str(kind)))


def _encode(found: dict[str, Signature]) -> Json:
    return {
        name: [[s.result.text, s.result.kind.value], [[p.name, p.type.text, p.type.kind.value] for p in s.parameters],
               s.variadic]
        for name, s in found.items()
    }  # fmt: skip


def _decode(value: Json) -> dict[str, Signature]:
    return {
        json_str(name): Signature(_ctype(result), tuple(CParameter(json_str(p[0]), _ctype(p[1:])) for p in params),
                                  bool(variadic))
        for name, (result, params, variadic) in value.items()
    }  # fmt: skip


def _read(image: ElfImage, wanted: frozenset[str]) -> dict[str, Signature]:
    found: dict[str, Signature] = {}
    elf = image.elf
    if not wanted or not elf.has_dwarf_info():
        return found
    with elf_errors(image.path):
        for unit in elf.get_dwarf_info().iter_CUs():
            for die in unit.get_top_DIE().iter_children():
                if die.tag != "DW_TAG_subprogram" or "DW_AT_declaration" in die.attributes:
                    continue
                name = die.attributes.get("DW_AT_name")
                if name is not None and name.value.decode("utf-8", "replace") in wanted:
                    found.setdefault(name.value.decode("utf-8", "replace"), _signature(die))
    return found


def _signature(die: DIE) -> Signature:
    parameters = []
    variadic = False
    for child in die.iter_children():
        if child.tag == "DW_TAG_unspecified_parameters":
            variadic = True
        elif child.tag == "DW_TAG_formal_parameter":
            name = child.attributes.get("DW_AT_name")
            label = name.value.decode("utf-8", "replace") if name is not None else f"arg{len(parameters) + 1}"
            parameters.append(CParameter(label, _type(child)))
    return Signature(_type(die), tuple(parameters), variadic)


def _type(die: DIE) -> CType:
    """The C type of ``die``'s ``DW_AT_type`` (none: ``void``)."""
    if "DW_AT_type" not in die.attributes:
        return VOID
    target = die.get_DIE_from_attribute("DW_AT_type")
    if target.tag in _MODIFIERS:
        inner = _type(target)
        return CType(f"{_MODIFIERS[target.tag]} {inner.text}", inner.kind)
    if target.tag == "DW_TAG_typedef":
        inner = _type(target)
        return CType(_name(target) or inner.text, inner.kind)
    if target.tag == "DW_TAG_pointer_type":
        pointee = _type(target)
        is_char = pointee.text.split()[-1] == "char" and pointee.kind in (CKind.SIGNED, CKind.UNSIGNED)
        return CType(f"{pointee.text} *", CKind.STRING if is_char else CKind.POINTER)
    if target.tag == "DW_TAG_base_type":
        name = _name(target) or "?"
        encoding = target.attributes.get("DW_AT_encoding")
        unsigned = encoding is not None and encoding.value in (0x02, 0x07, 0x08)  # DW_ATE_boolean, _unsigned(_char)
        if encoding is not None and encoding.value in (0x04, 0x03):  # float, complex float
            return CType(name, CKind.OTHER)
        return CType(name, CKind.UNSIGNED if unsigned else CKind.SIGNED)
    return CType(_name(target) or target.tag.removeprefix("DW_TAG_"), CKind.OTHER)


def _name(die: DIE) -> str | None:
    name = die.attributes.get("DW_AT_name")
    return None if name is None else name.value.decode("utf-8", "replace")
