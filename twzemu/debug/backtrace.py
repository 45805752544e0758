"""``monitor backtrace``: the frames of the current thread across crossings, unwound with each image's call frame
information, as the stub prints them.

Within a compartment a frame's caller comes from its image's CFI (the CFA rule, then the saved return address and
registers at offsets from it). A gate's frame returns to the monitor's return point; there the innermost live
crossing gives the caller's frame instead (pc after the call, and rsp, rbp, rbx, r12-r15 from its record), the same
rules ``unwind`` serves gdb.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from elftools.dwarf.callframe import FDE, RegisterRule

from ..errors import TwzEmuError
from ..machine.engine import Crossing
from . import unwind

LIMIT = 256  # frames: a corrupt stack ends the walk here
_GPR_DWARF = (0, 2, 1, 3, 7, 6, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15)  # x86 encoding order -> DWARF register number


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: its pc (a return address for every frame but the innermost), and the crossing it was called
    through when it is the first frame of a caller."""

    pc: int
    crossing: Crossing | None = None


@dataclass(frozen=True, slots=True)
class Image:
    path: str
    base: int
    end: int


class FrameRules:
    """Each image's FDEs by start address, read once per image."""

    def __init__(self, images: Sequence[Image]) -> None:
        self._images = sorted(images, key=lambda image: image.base)
        self._fdes: dict[str, tuple[list[int], list[FDE]]] = {}

    def row(self, pc: int) -> dict | None:
        """The decoded CFI row in force at ``pc``; None where nothing describes it."""
        image = next((image for image in self._images if image.base <= pc < image.end), None)
        if image is None:
            return None
        starts, fdes = self._table(image.path)
        offset = pc - image.base
        index = bisect.bisect_right(starts, offset) - 1
        if index < 0 or offset >= starts[index] + fdes[index].header["address_range"]:
            return None
        rows = [row for row in fdes[index].get_decoded().table if row["pc"] <= offset]
        return rows[-1] if rows else None

    def _table(self, path: str) -> tuple[list[int], list[FDE]]:
        if path not in self._fdes:
            fdes = sorted(unwind.frame_entries(path), key=lambda fde: fde.header["initial_location"])
            self._fdes[path] = ([fde.header["initial_location"] for fde in fdes], fdes)
        return self._fdes[path]


def registers_by_dwarf(gprs: Sequence[int]) -> dict[int, int]:
    """General registers in x86 encoding order -> by DWARF number."""
    return {number: value for number, value in zip(_GPR_DWARF, gprs, strict=True)}


def frames(
    pc: int,
    registers: dict[int, int],
    read_word: Callable[[int], int],
    rules: FrameRules,
    crossings: Sequence[Crossing],
    return_point: int,
) -> Iterator[Frame]:
    """The frames from ``pc`` outwards; ``crossings`` are the live ones, innermost first."""
    pending = list(crossings)
    crossed: Crossing | None = None
    lookup = pc
    for _ in range(LIMIT):
        yield Frame(pc, crossed)
        row = rules.row(lookup)
        if row is None:
            return
        cfa_rule = row["cfa"]
        if cfa_rule.reg is None or cfa_rule.reg not in registers:
            return
        cfa = registers[cfa_rule.reg] + cfa_rule.offset
        try:
            caller = {unwind.RSP: cfa}
            for number, rule in row.items():
                if isinstance(number, int) and rule.type == RegisterRule.OFFSET:
                    caller[number] = read_word(cfa + rule.arg)
                elif isinstance(number, int) and rule.type == RegisterRule.SAME_VALUE and number in registers:
                    caller[number] = registers[number]
        except TwzEmuError:
            return
        for number in (unwind.RBX, unwind.RBP, 12, 13, 14, 15):  # callee-saved: unchanged unless a rule says so
            caller.setdefault(number, registers.get(number, 0))
        return_address = caller.pop(unwind.RIP, 0)
        crossed = None
        if return_address == return_point:
            if not pending or pending[0].caller < 0:
                return  # the monitor called this compartment (an initialiser): no guest frame above
            crossed = pending.pop(0)
            return_address = crossed.return_address
            saved = crossed.saved
            caller = {unwind.RSP: crossed.rsp + 8, unwind.RBX: saved[0], unwind.RBP: saved[1]}
            caller.update(zip((12, 13, 14, 15), saved[2:6], strict=True))
        if return_address == 0:
            return
        pc, lookup, registers = return_address, return_address - 1, caller
