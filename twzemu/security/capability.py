"""Capabilities: the right of one security context to touch one object (Twizzler's ``Cap``, without signatures).

A capability names a target object and the ``Prot`` it grants. On x86-64 a present user page is always
readable, so WRITE or EXEC implies READ: a capability is normalised by adding READ when it is built, which
is what the page tables will grant anyway. WRITE and EXEC together are refused (W^X, DESIGN.md "Testing"),
and so is an empty ``Prot()``: "no access" is expressed by granting no capability at all.

Twizzler signs each capability with its creator's key and lets several capabilities for one object add up
(``SecurityContext::lookup`` in ``src/kernel/src/security.rs`` ORs their protections). In twzemu only the
monitor creates capabilities, so there is no signature, and a context holds at most one capability per
object: adding up R-X and RW- would yield the W|X no page may have.
"""

from __future__ import annotations

from dataclasses import dataclass

from twzemu.errors import SecurityError
from twzemu.objects.layout import NO_PROT, Prot
from twzemu.objects.objid import ObjId

ALL_RIGHTS = Prot.READ | Prot.WRITE | Prot.EXEC
_IMPLY_READ = Prot.WRITE | Prot.EXEC


def normalise(prot: Prot) -> Prot:
    """``prot`` as a present x86 page grants it: READ added whenever WRITE or EXEC is there.

    Raises ``SecurityError`` for bits that are not ``Prot`` rights. W|X is not refused here (a mask may say
    "at most RWX"); ``Capability`` refuses it.
    """
    if int(prot) & ~int(ALL_RIGHTS):
        raise SecurityError(f"rights {int(prot):#x} have bits that are not READ, WRITE or EXEC")
    prot = Prot(prot)
    return prot | Prot.READ if prot & _IMPLY_READ else prot


@dataclass(frozen=True, slots=True)
class Capability:
    """The rights ``prot`` on object ``target``; ``prot`` is always R--, RW- or R-X once built."""

    target: ObjId
    prot: Prot

    def __post_init__(self) -> None:
        target = self.target if isinstance(self.target, ObjId) else ObjId(self.target)
        prot = normalise(self.prot)
        if prot == NO_PROT:
            raise SecurityError(f"empty capability for object {target}: grant none instead")
        if prot & _IMPLY_READ == _IMPLY_READ:
            raise SecurityError(f"capability for object {target} is writable and executable ({prot.letters}): W^X")
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "prot", prot)

    def __str__(self) -> str:
        return f"{self.target} {self.prot.letters}"
