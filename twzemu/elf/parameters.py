"""How many arguments a function takes, read from the DWARF debug information of the library defining it.

Why: a gate receives its arguments in rdi, rsi, rdx, rcx, r8 and r9 (psABI 3.2.3); a register the gate does not
take would carry whatever the caller last left in it into the callee's compartment. ``<twz.h>``'s
``TWZ_GATE(fn)`` cannot count ``fn``'s parameters (C has no way to), but a ``-g`` build describes every function
it defines as a ``DW_TAG_subprogram`` with one ``DW_TAG_formal_parameter`` child per parameter (DWARF 5,
section 3.3). A function that is not described there — no debug information, defined in assembly, declared
without a prototype (``DW_AT_prototyped`` absent) or variadic (``DW_TAG_unspecified_parameters``) — has no
known count, and its gate passes all six registers.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from ..cache import Json, json_int, json_str
from .image import ElfImage, elf_errors

if TYPE_CHECKING:
    from elftools.dwarf.die import DIE


def parameter_counts(image: ElfImage, names: Collection[str]) -> dict[str, int]:
    """The parameter count of each function in ``names`` that ``image`` defines and describes; others are absent.

    A malformed debug section is an ``ElfError`` naming the file, like any other malformed part. The answer for
    this set of names is kept in the image's cache."""
    wanted = frozenset(names)
    field = "parameters " + " ".join(sorted(wanted))
    return image.derived(field, lambda: _read(image, wanted), dict, _decode)


def _decode(counts: Json) -> dict[str, int]:
    return {json_str(name): json_int(count) for name, count in counts.items()}


def _read(image: ElfImage, wanted: frozenset[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    if not wanted:
        return counts
    elf = image.elf
    if not elf.has_dwarf_info():
        return counts
    with elf_errors(image.path):
        for unit in elf.get_dwarf_info().iter_CUs():
            for die in unit.get_top_DIE().iter_children():
                name = _defined_function(die)
                if name in wanted:
                    count = _parameters(die)
                    if count is not None:  # two descriptions (two units): the larger count passes more
                        counts[name] = max(count, counts.get(name, 0))
    return counts


def _defined_function(die: DIE) -> str | None:
    """The name of the prototyped function ``die`` defines (not just declares), else None."""
    if die.tag != "DW_TAG_subprogram" or "DW_AT_declaration" in die.attributes:
        return None
    name = die.attributes.get("DW_AT_name")
    prototyped = die.attributes.get("DW_AT_prototyped")
    if name is None or prototyped is None or not prototyped.value:
        return None
    return name.value.decode("utf-8", "replace")


def _parameters(die: DIE) -> int | None:
    count = 0
    for child in die.iter_children():
        if child.tag == "DW_TAG_unspecified_parameters":  # f(int, ...): any number
            return None
        count += child.tag == "DW_TAG_formal_parameter"
    return count
