"""Secure gates: the only ways into a compartment, and the table the monitor finds them in.

Data flow: a library declares a gate with ``TWZ_GATE(fn)`` / ``TWZ_GATE_LEVEL(fn, level)`` (``twzemu/sdk/include/
twz.h``); the linker turns each record of ``.twz_secgate_info`` into a ``Gate`` (the function's absolute entry
address and size once the library is placed); the monitor adds every gate to one ``GateTable`` and the owning
compartment's ``SecurityContext`` exposes it. When code of compartment A fetches an instruction from B's text,
the crossing engine finds the gate whose entry is exactly that address in its own hash table, built from this
table (one lookup, whatever the number of compartments and gates: DESIGN.md "Performance budgets"); the monitor
uses ``GateTable`` for names, reports and ``--verbose``.

Twizzler's kernel describes the gates of an object as one range, ``Gates{offset, length, align}`` in
``twizzler-security`` (any aligned address inside it is an entry), and aligns its trampolines to
``SECGATE_TRAMPOLINE_ALIGN`` (16) in ``secgate``. twzemu keeps one gate per function, as RFC 0008's
``#[secure_gate] fn`` reads: its entry is the one address allowed; the ``length`` bytes from it are the gate's
code (the function symbol's size), so a jump into the middle of a gate can be named as such; ``alignment`` is
what the entry must be aligned to (1 for a plain C function, ``TRAMPOLINE_ALIGNMENT`` for trampolines).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from twzemu.abi import IsolationLevel
from twzemu.errors import SecurityError
from twzemu.objects.layout import MAX_OBJECT_SIZE, NULL_PAGE_SIZE
from twzemu.security.ids import CompartmentId

# Slot n maps one object at n * MAX_OBJECT_SIZE (DESIGN.md "Concepts"): the low bits of an address are the
# offset inside its object, whose first page is the null page.
OBJECT_OFFSET_MASK = MAX_OBJECT_SIZE - 1
# A C gate is the function itself (TWZ_GATE emits a record, no trampoline) and gcc aligns functions only when
# optimising (-falign-functions at -O2), so by default an entry needs no alignment beyond being exact. Gates
# built from trampolines use secgate's SECGATE_TRAMPOLINE_ALIGN.
GATE_ALIGNMENT = 1
TRAMPOLINE_ALIGNMENT = 0x10

# Gates take their arguments in rdi, rsi, rdx, rcx, r8, r9 (psABI 3.2.3; DESIGN.md "Gate crossing" step 3).
ARGUMENT_REGISTERS = 6


def _is_power_of_two(value: int) -> bool:
    return value > 0 and not value & (value - 1)


@dataclass(frozen=True, slots=True)
class Gate:
    """One secure gate: ``owner``'s function ``name``, entered only at ``entry`` (an absolute virtual address)."""

    name: str
    owner: CompartmentId
    entry: int
    length: int
    alignment: int = GATE_ALIGNMENT
    level: IsolationLevel = IsolationLevel.FULL
    arity: int = ARGUMENT_REGISTERS  # how many argument registers pass; the others are zeroed on entry
    library: str = ""  # the image that defines it (its DT_NEEDED name; the program: its path), for reports

    def __post_init__(self) -> None:
        where = f"gate {self.name or '?'} at {self.entry:#x}"
        if not self.name:
            raise SecurityError(f"{where} has no name")
        if not _is_power_of_two(self.alignment):
            raise SecurityError(f"{where}: alignment {self.alignment} is not a power of two")
        if self.entry < 0 or self.entry % self.alignment:
            raise SecurityError(f"{where} is not a {self.alignment}-byte aligned address")
        if self.entry & OBJECT_OFFSET_MASK < NULL_PAGE_SIZE:
            raise SecurityError(f"{where} lies in the null page of its object")
        if not 0 <= self.arity <= ARGUMENT_REGISTERS:
            raise SecurityError(f"{where} takes {self.arity} arguments: a gate takes 0 to {ARGUMENT_REGISTERS}")
        if not 0 < self.length <= MAX_OBJECT_SIZE - (self.entry & OBJECT_OFFSET_MASK):
            raise SecurityError(f"{where}: length {self.length:#x} does not fit in its object")
        try:
            object.__setattr__(self, "level", IsolationLevel(self.level))
        except ValueError:
            raise SecurityError(f"{where} has unknown isolation level {self.level!r}") from None

    @property
    def end(self) -> int:
        """The first address after the gate's code."""
        return self.entry + self.length

    def contains(self, address: int) -> bool:
        """Whether ``address`` is inside the gate's code (its entry included)."""
        return self.entry <= address < self.end

    def is_entry(self, address: int) -> bool:
        """Whether a crossing may start at ``address``: exactly the entry, which is aligned."""
        return address == self.entry and not address % self.alignment

    def __str__(self) -> str:
        return f"{self.name} ({self.entry:#x}, compartment {self.owner}, {self.level.label})"


class GateTable:
    """Every gate of a run, by exact entry address (O(1)), by owner, and by (owner, name).

    ``gate_at`` is the per-crossing lookup: one dict access, whatever the table holds. ``add`` (at load
    time) keeps a sorted list of entries as well, to refuse overlapping gates in O(log n) comparisons and to
    name the gate around an address in error reports (``gate_containing``).
    """

    __slots__ = ("_by_entry", "_by_name", "_by_owner", "_entries")

    def __init__(self, gates: Iterable[Gate] = ()) -> None:
        self._by_entry: dict[int, Gate] = {}
        self._by_owner: dict[CompartmentId, list[Gate]] = {}
        self._by_name: dict[tuple[CompartmentId, str], Gate] = {}
        self._entries: list[int] = []  # sorted
        for gate in gates:
            self.add(gate)

    def __len__(self) -> int:
        return len(self._by_entry)

    @property
    def num_gates(self) -> int:
        return len(self._by_entry)

    def iter_gates(self) -> Iterator[Gate]:
        """Every gate, by entry address."""
        for entry in self._entries:
            yield self._by_entry[entry]

    def add(self, gate: Gate) -> None:
        """Record ``gate``; refuse a second gate of the same name in a compartment and any overlapping code."""
        twin = self._by_name.get((gate.owner, gate.name))
        if twin is not None:
            raise SecurityError(f"gate {gate.name} is declared twice in compartment {gate.owner}: {twin} and {gate}")
        index = bisect.bisect_right(self._entries, gate.entry)
        neighbours = self._entries[max(index - 1, 0) : index + 1]
        for entry in neighbours:
            other = self._by_entry[entry]
            if other.entry < gate.end and gate.entry < other.end:
                raise SecurityError(f"gate {gate} overlaps gate {other}")
        self._entries.insert(index, gate.entry)
        self._by_entry[gate.entry] = gate
        self._by_owner.setdefault(gate.owner, []).append(gate)
        self._by_name[gate.owner, gate.name] = gate

    def gate_at(self, address: int) -> Gate | None:
        """The gate whose entry is exactly ``address``, or None (a dict lookup: the crossing hot path)."""
        return self._by_entry.get(address)

    def gate_containing(self, address: int) -> Gate | None:
        """The gate whose code contains ``address`` (its entry or its middle), or None; for reports."""
        index = bisect.bisect_right(self._entries, address)
        if not index:
            return None
        gate = self._by_entry[self._entries[index - 1]]
        return gate if gate.contains(address) else None

    def gates_of(self, owner: CompartmentId) -> tuple[Gate, ...]:
        """The gates ``owner`` declared, in the order they were added."""
        return tuple(self._by_owner.get(owner, ()))

    def gate_named(self, owner: CompartmentId, name: str) -> Gate | None:
        """``owner``'s gate called ``name``, or None."""
        return self._by_name.get((owner, name))
