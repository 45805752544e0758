"""Security contexts: what one compartment may do (RFC 0008 "Security Contexts"), one context per compartment.

A context holds at most one ``Capability`` per object and the gates its compartment exposes. An optional
``mask`` bounds every grant, like the global mask of a Twizzler context (``SecCtxBase.global_mask``:
Twizzler computes ``granted & permmask & (global_mask | ovrmask)``; twzemu has the one global bound). The
monitor builds each of a compartment's page tables from a context, so ``prot_of`` is exactly what a page of the
object allows there (the rule of a refused access follows from it: ``check.decide``).

``prot_of`` is one dict access: the masked rights of every object are kept ready, rebuilt when a capability or
the mask changes.
"""

from __future__ import annotations

from collections.abc import Iterator

from twzemu.errors import SecurityError
from twzemu.objects.layout import NO_PROT, Prot
from twzemu.objects.objid import ObjId
from twzemu.security.capability import Capability, normalise
from twzemu.security.gates import Gate
from twzemu.security.ids import CompartmentId


class SecurityContext:
    """The capabilities and gates of compartment ``compartment`` (named ``name`` in reports)."""

    __slots__ = ("_caps", "_gates", "_mask", "_prots", "compartment", "name")

    def __init__(self, compartment: CompartmentId, name: str, mask: Prot | None = None) -> None:
        self.compartment = compartment
        self.name = name
        self._caps: dict[ObjId, Capability] = {}
        self._prots: dict[ObjId, Prot] = {}  # the masked rights of every object with a non-empty result
        self._gates: dict[str, Gate] = {}
        self._mask = None if mask is None else normalise(mask)

    def __repr__(self) -> str:
        return f"<SecurityContext {self.compartment} {self.name}: {len(self._caps)} caps, {len(self._gates)} gates>"

    # -- capabilities --------------------------------------------------------------------------------

    def grant(self, capability: Capability) -> Capability | None:
        """Hold ``capability``, replacing any earlier one for its target (returned)."""
        previous = self._caps.get(capability.target)
        self._caps[capability.target] = capability
        self._refresh(capability.target)
        return previous

    def revoke(self, target: ObjId) -> Capability | None:
        """Drop the capability for ``target``; the one dropped, or None if there was none."""
        previous = self._caps.pop(target, None)
        self._prots.pop(target, None)
        return previous

    def capability(self, target: ObjId) -> Capability | None:
        """The capability held for ``target`` as granted (before the mask)."""
        return self._caps.get(target)

    def iter_capabilities(self) -> Iterator[Capability]:
        """Every capability held, in the order granted."""
        yield from self._caps.values()

    @property
    def num_capabilities(self) -> int:
        return len(self._caps)

    def prot_of(self, target: ObjId) -> Prot:
        """What this context may do to ``target``: its capability bounded by the mask; ``Prot()`` if nothing."""
        return self._prots.get(target, NO_PROT)

    @property
    def mask(self) -> Prot | None:
        """The upper bound of every grant (normalised: W or X implies R), or None for no bound."""
        return self._mask

    @mask.setter
    def mask(self, mask: Prot | None) -> None:
        self._mask = None if mask is None else normalise(mask)
        for target in self._caps:
            self._refresh(target)

    def _refresh(self, target: ObjId) -> None:
        prot = self._caps[target].prot
        if self._mask is not None:
            # Both sides are normalised and the capability is not W|X, so the result is R--, RW-, R-X or empty.
            prot &= self._mask
        if prot:
            self._prots[target] = prot
        else:
            self._prots.pop(target, None)

    # -- gates ---------------------------------------------------------------------------------------

    def expose(self, gate: Gate) -> None:
        """Offer ``gate`` to other compartments; it must belong to this compartment and be new here."""
        if gate.owner != self.compartment:
            raise SecurityError(f"{self.name} (compartment {self.compartment}) cannot expose {gate}: not its own")
        if gate.name in self._gates:
            raise SecurityError(f"{self.name} already exposes a gate named {gate.name}: {self._gates[gate.name]}")
        self._gates[gate.name] = gate

    @property
    def gates(self) -> tuple[Gate, ...]:
        """The gates exposed, in the order exposed."""
        return tuple(self._gates.values())

    def gate(self, name: str) -> Gate | None:
        """The exposed gate called ``name``."""
        return self._gates.get(name)
